//! State storage for dtm.
//!
//! A backend stores one opaque state document (bytes the engine serialises) and a lock. It knows
//! nothing of plugins or of the document's shape; the engine owns both. Every backend offers the
//! same guarantees: a read returns a [`Version`] token, a write is a compare-and-swap against the
//! token the writer last saw, and a lock is exclusive, carries [`LockInfo`] about its holder and can
//! be released by id by someone else (`dtm state unlock ID`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "k8s")]
pub mod k8s;
mod kind;
pub mod local;
#[cfg(any(feature = "s3", feature = "k8s"))]
mod remote;
#[cfg(feature = "s3")]
pub mod s3;

use std::fmt;

use serde::{Deserialize, Serialize};

/// The largest state document (and local journal) a backend reads or writes: 64 MiB. States
/// hold thousands of tools in a few megabytes; a larger document is not one dtm wrote, and is
/// refused before it is read whole (see docs/state.md).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024 * 1024;

/// Opaque version token of a stored document (a file generation, an S3 ETag, a resourceVersion).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Version(pub String);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored document and the version it was read at.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The document bytes, exactly as written.
    pub bytes: Vec<u8>,
    /// Token to pass to [`Backend::write`] to replace exactly this version.
    pub version: Version,
}

/// Who holds a lock, recorded with it so a blocked user can see who to ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Lock id; `dtm state unlock ID` takes it.
    pub id: String,
    /// User name of the holder.
    pub who: String,
    /// Host name of the holder.
    pub host: String,
    /// Process id of the holder.
    pub pid: u32,
    /// The command that took the lock (`apply`, `destroy`, ...).
    pub operation: String,
    /// When the lock was taken, RFC 3339 UTC.
    pub created: String,
    /// dtm version of the holder.
    pub version: String,
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{} (pid {}, `dtm {}`, since {}, lock id {})",
            self.who, self.host, self.pid, self.operation, self.created, self.id
        )
    }
}

pub use kind::BackendKind;
/// A lock that [`Backend::lock`] took over because its holder is provably gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenOver {
    /// The holder the lock recorded.
    pub holder: LockInfo,
    /// How the backend knows the holder is gone (`process 4242 on this host is gone ...`).
    pub reason: String,
}

impl fmt::Display for TakenOver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "took over the lock left by {}: {}",
            self.holder, self.reason
        )
    }
}

/// The name of this host, as lock holders record it: the kernel's host name (`hostname`), or
/// `unknown-host`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Errors from any backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The lock is held by someone else.
    #[error("state {location} is locked by {holder}; wait for it to finish, or if that run is dead, release it with `dtm state unlock {}`", holder.id)]
    Locked {
        /// Where the state lives.
        location: String,
        /// The current holder (boxed to keep the error small).
        holder: Box<LockInfo>,
    },
    /// The lock is held, and the backend can tell that its holder is most likely no longer running
    /// (the local backend sees that the holder's OS file lock was released, but cannot check its
    /// process: it ran on another host, or a process with its id still runs; the remote backends
    /// see that the holder stopped renewing its lock). The lock stays until someone releases it:
    /// only a person can know that nothing else uses the state.
    #[error("state {location} is locked by {holder}, but {reason}; if nothing else is using this state, release the lock with `dtm state unlock {}`", holder.id)]
    StaleLock {
        /// Where the state lives.
        location: String,
        /// The recorded holder (boxed to keep the error small).
        holder: Box<LockInfo>,
        /// Why the lock is thought stale (`that process is no longer running`, ...).
        reason: String,
    },
    /// A compare-and-swap write found a different version than the writer last read.
    #[error(
        "state {location} was changed by someone else since it was read (expected version {expected}, found {found}); nothing was written, re-run the command"
    )]
    Conflict {
        /// Where the state lives.
        location: String,
        /// Version the writer expected.
        expected: String,
        /// Version found (or `none` if the document vanished).
        found: String,
    },
    /// `unlock` was given an id that does not match the current lock.
    #[error("state {location}: lock id {given} does not match the current lock ({current})")]
    LockMismatch {
        /// Where the state lives.
        location: String,
        /// The lock id `dtm state unlock` was given.
        given: String,
        /// The current lock, or `no lock`.
        current: String,
    },
    /// The backend's options are invalid.
    #[error("state backend `{backend}`: {message}")]
    Config {
        /// The backend, by the name configs use (`local`, `s3`, `k8s`).
        backend: String,
        /// What is wrong.
        message: String,
    },
    /// An I/O error on a local path.
    #[error("state {location}: {action}")]
    Io {
        /// Path or description.
        location: String,
        /// What was being done.
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The document is larger than the backend can store (nothing was written) or than any
    /// backend reads (it was left untouched); the message says which.
    #[error("state {location}: {message}")]
    TooLarge {
        /// Where the state lives.
        location: String,
        /// How large, what the limit is and what to do.
        message: String,
    },
    /// What the backend holds cannot be decoded (it was edited by hand or by another program);
    /// it was left untouched.
    #[error("state {location} cannot be decoded: {message}; it was left untouched")]
    Corrupt {
        /// Where the state lives.
        location: String,
        /// What is wrong with it.
        message: String,
    },
    /// A remote store failed or could not be reached.
    #[error("state {location}: {message}")]
    Remote {
        /// Where the state lives.
        location: String,
        /// What failed.
        message: String,
        /// Whether retrying might help.
        retryable: bool,
    },
}

/// Storage for one state document and its lock.
///
/// Implementations are blocking (remote backends drive their own runtime internally) and safe to
/// share between threads.
pub trait Backend: Send + Sync + fmt::Debug {
    /// Human-readable location, used in every message (`local file ./devstream.state`).
    fn location(&self) -> String;

    /// Reads the document, or `None` if nothing was ever written.
    fn read(&self) -> Result<Option<Snapshot>, BackendError>;

    /// Writes the document if the stored version is still `expected` (`None`: nothing stored yet).
    /// Returns the new version. On a mismatch returns [`BackendError::Conflict`] and writes nothing.
    fn write(&self, bytes: &[u8], expected: Option<&Version>) -> Result<Version, BackendError>;

    /// Takes the exclusive lock, or fails at once with [`BackendError::Locked`] (or
    /// [`BackendError::StaleLock`]). A backend that can prove that the holder of a lock is gone
    /// (the local one: a process on this host that no longer runs) takes its lock over and says
    /// so in the [`TakenOver`] it returns.
    fn lock(&self, info: &LockInfo) -> Result<Option<TakenOver>, BackendError>;

    /// Releases the lock if its id is `id`.
    fn unlock(&self, id: &str) -> Result<(), BackendError>;

    /// The current lock holder, if any.
    fn lock_info(&self) -> Result<Option<LockInfo>, BackendError>;

    /// Whether this backend keeps an append-only journal beside the document, which makes a small
    /// durable change cost one append instead of a rewrite of the whole document. Backends without
    /// one (the default) get full [`Backend::write`]s.
    fn supports_journal(&self) -> bool {
        false
    }

    /// Durably appends `record` (bytes without a newline) to the journal of the document stored
    /// at version `base`; a journal kept for another version is discarded first. Only the holder
    /// of the lock appends. Fails with [`BackendError::Conflict`] if the document is no longer at
    /// `base`. A [`Backend::write`] makes every earlier journal stale.
    fn append_journal(&self, base: &Version, record: &[u8]) -> Result<(), BackendError> {
        let _ = (base, record);
        Err(BackendError::Config {
            backend: self.location(),
            message: "this backend keeps no journal".into(),
        })
    }

    /// The journal records appended on top of `version`, oldest first (empty if none, or if the
    /// journal belongs to another version). A torn last record (a crash mid-append) is dropped.
    fn read_journal(&self, version: &Version) -> Result<Vec<Vec<u8>>, BackendError> {
        let _ = version;
        Ok(Vec::new())
    }
}
