//! A state document bound to the backend it came from, with compare-and-swap saves.
//!
//! Two ways to persist: [`StateStore::save`] writes the whole document (compare-and-swap), and
//! [`StateStore::save_changes`] appends just the changed resources to the backend's journal when
//! it has one (one small durable append instead of a rewrite of everything, which keeps a long
//! apply linear), falling back to a full write otherwise. [`StateStore::compact`] folds the
//! journal back into the document; readers replay the journal on open, so a crash between an
//! append and the compaction loses nothing.

use std::collections::BTreeMap;

use dtm_backends::{Backend, BackendError, LockInfo, MAX_DOCUMENT_BYTES, TakenOver, Version};
use serde::{Deserialize, Serialize};

use crate::state::{FORMAT_VERSION, Resource, State, StateError};

/// Errors from loading or saving state.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The stored document is unusable.
    #[error(transparent)]
    State(#[from] StateError),
}

/// One journal record: the resources changed by one durable step.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    /// Serial of the document after this record.
    serial: u64,
    /// Resources created or changed.
    #[serde(default)]
    put: BTreeMap<String, Resource>,
    /// Resources removed.
    #[serde(default)]
    remove: Vec<String>,
}

/// Journal size (bytes) below which appending is always preferred to a full write; above it, a
/// full write happens once the journal outgrows twice the document.
const JOURNAL_MIN_LIMIT: usize = 4 * 1024 * 1024;

/// The state of one config, as read from its backend, plus what is needed to write it back.
#[derive(Debug)]
pub struct StateStore {
    backend: Box<dyn Backend>,
    version: Option<Version>,
    /// The document; mutate it, then [`StateStore::save`] or [`StateStore::save_changes`].
    pub state: State,
    /// Whether the document exists in the backend.
    pub exists: bool,
    /// Bytes appended to the journal since the last full write.
    journal_bytes: usize,
    /// Size of the last full document read or written.
    snapshot_bytes: usize,
}

impl StateStore {
    /// Reads the state (an empty one if none was ever written), replaying its journal.
    pub fn open(backend: Box<dyn Backend>) -> Result<Self, StoreError> {
        let mut store = Self {
            backend,
            version: None,
            state: State::new(),
            exists: false,
            journal_bytes: 0,
            snapshot_bytes: 0,
        };
        store.reload()?;
        Ok(store)
    }

    /// Re-reads the document and replays its journal (after taking the lock, to see the latest).
    pub fn reload(&mut self) -> Result<(), StoreError> {
        let location = self.backend.location();
        let Some(snap) = self.backend.read()? else {
            self.version = None;
            self.exists = false;
            self.journal_bytes = 0;
            self.snapshot_bytes = 0;
            return Ok(());
        };
        let mut state = State::from_bytes(&snap.bytes, &location)?;
        let mut journal_bytes = 0;
        for raw in self.backend.read_journal(&snap.version)? {
            journal_bytes += raw.len() + 1;
            let corrupt = |message: String| StateError::Corrupt {
                location: format!("{location} (journal)"),
                message,
            };
            if crate::state::nests_deeper_than(&raw, crate::state::MAX_DEPTH) {
                return Err(corrupt(format!(
                    "a record nests more than {} levels deep (the limit)",
                    crate::state::MAX_DEPTH
                ))
                .into());
            }
            let record: Record =
                crate::state::from_json_slice(&raw).map_err(|e| corrupt(e.to_string()))?;
            state.serial = record.serial;
            for key in record.remove {
                state.resources.remove(&key);
            }
            state.resources.extend(record.put);
        }
        self.state = state;
        self.snapshot_bytes = snap.bytes.len();
        self.journal_bytes = journal_bytes;
        self.version = Some(snap.version);
        self.exists = true;
        Ok(())
    }

    /// Writes the whole document, refusing to overwrite a version someone else wrote meanwhile.
    pub fn save(&mut self) -> Result<(), StoreError> {
        self.state.serial += 1;
        self.state.dtm_version = env!("CARGO_PKG_VERSION").to_string();
        // A document read in an older format is written back in the current one (everything an
        // older format holds is still understood).
        let read_as = self.state.format_version;
        self.state.format_version = FORMAT_VERSION;
        let bytes = self.state.to_bytes();
        let written = if bytes.len() > MAX_DOCUMENT_BYTES {
            Err(BackendError::TooLarge {
                location: self.backend.location(),
                message: format!(
                    "the state would be {} bytes, more than the {} MiB a state may take (the \
                     limit); nothing was written. Forget tools with `dtm state rm`, or split the \
                     config",
                    bytes.len(),
                    MAX_DOCUMENT_BYTES / (1024 * 1024)
                ),
            })
        } else {
            self.backend.write(&bytes, self.version.as_ref())
        };
        match written {
            Ok(v) => {
                self.version = Some(v);
                self.exists = true;
                self.snapshot_bytes = bytes.len();
                self.journal_bytes = 0;
                Ok(())
            }
            Err(e) => {
                self.state.serial -= 1;
                self.state.format_version = read_as;
                Err(e.into())
            }
        }
    }

    /// Makes the current values of `keys` durable: keys present in the document as changed,
    /// absent ones as removed. Appends to the journal when the backend keeps one and it is still
    /// small next to the document; otherwise writes the whole document.
    pub fn save_changes<'k>(
        &mut self,
        keys: impl IntoIterator<Item = &'k String>,
    ) -> Result<(), StoreError> {
        // Never more than a document may take: the journal is read back whole.
        let limit = JOURNAL_MIN_LIMIT
            .max(self.snapshot_bytes * 2)
            .min(MAX_DOCUMENT_BYTES / 2);
        // A document in an older format is rewritten whole first: a journal on top of it would
        // hold records in the current format.
        let base = self.version.clone().filter(|_| {
            self.backend.supports_journal()
                && self.journal_bytes < limit
                && self.state.format_version == FORMAT_VERSION
        });
        let Some(base) = base else {
            return self.save();
        };
        let mut record = Record {
            serial: self.state.serial + 1,
            put: BTreeMap::new(),
            remove: Vec::new(),
        };
        for key in keys {
            match self.state.resources.get(key) {
                Some(r) => {
                    record.put.insert(key.clone(), r.clone());
                }
                None => record.remove.push(key.clone()),
            }
        }
        // A record holds only JSON-representable data, so this cannot fail.
        let bytes = serde_json::to_vec(&record).unwrap_or_default();
        if self.journal_bytes + bytes.len() + 1 > MAX_DOCUMENT_BYTES {
            // The journal would outgrow what can be read back: fold it in instead.
            return self.save();
        }
        self.backend.append_journal(&base, &bytes)?;
        self.state.serial = record.serial;
        self.journal_bytes += bytes.len() + 1;
        Ok(())
    }

    /// Folds the journal into the document with one full write (nothing to do if it is empty).
    pub fn compact(&mut self) -> Result<(), StoreError> {
        if self.journal_bytes == 0 {
            return Ok(());
        }
        self.save()
    }

    /// The backend.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// Where the state lives.
    pub fn location(&self) -> String {
        self.backend.location()
    }

    /// Takes the backend's lock, waiting up to `wait` (polling) if someone else holds it.
    /// Returns the lock it took over, if its holder was provably gone (say so to the user).
    pub fn lock(
        &self,
        info: &LockInfo,
        wait: std::time::Duration,
    ) -> Result<Option<TakenOver>, BackendError> {
        lock_waiting(self.backend(), info, wait)
    }
}

/// Takes `backend`'s lock, polling for up to `wait` while someone else holds it. Returns the
/// lock it took over, if its holder was provably gone.
pub fn lock_waiting(
    backend: &dyn Backend,
    info: &LockInfo,
    wait: std::time::Duration,
) -> Result<Option<TakenOver>, BackendError> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match backend.lock(info) {
            Err(BackendError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            other => return other,
        }
    }
}
