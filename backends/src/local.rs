//! The local file backend: the state document is one file (DevStream's `stateFile`, default
//! `devstream.state` next to the config).
//!
//! Files kept beside the state file `F`:
//!
//! - `F.backup`: the previous version, always a complete document;
//! - `F.lock`: exists while a run holds the lock; holds the [`LockInfo`] as JSON and is held with
//!   an OS advisory lock (`flock`) by the holder for as long as it holds the lock, so a lock whose
//!   holder died can be told from a live one (and taken over, when the holder was a process on
//!   this host that no longer exists);
//! - `F.wlock`: an empty file that is never removed; a short OS lock on it serialises every
//!   compare-and-swap write and every lock/unlock between dtm processes (and between backend
//!   values in one process);
//! - `F.tmp`, `F.backup.tmp`, `F.lock.tmp`: staging files, only while the short lock is held.
//!
//! Why a separate short lock rather than reusing the run lock: a write is a compare-and-swap and
//! must be atomic with respect to *any* other writer, including one that does not hold (or does
//! not use) the run lock, and the run lock is held for a whole run, so it cannot serve as a brief
//! critical section for other processes. The short lock costs one `open` and one `flock` per write.
//!
//! The [`Version`] token is derived from the file's metadata (device, inode, size, modification
//! time in nanoseconds), so reading it costs one `stat`, whatever the document's size. A write
//! never changes a file in place: it renames a new file over the old one, and sets the new file's
//! modification time to be strictly later than the old one's, so no two versions written by dtm
//! share a token even when the file system reuses an inode number.

use std::ffi::OsString;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use fs4::{FileExt, TryLockError};
use serde_json::{Map, Value};

use crate::{
    Backend, BackendError, LockInfo, MAX_DOCUMENT_BYTES, Snapshot, TakenOver, Version, host_name,
};

/// The state file used when the config does not name one (DevStream's default).
pub const DEFAULT_STATE_FILE: &str = "devstream.state";

/// The lock id reported for a lock file that cannot be read or parsed; `dtm state unlock unknown`
/// removes such a file.
pub const UNKNOWN_LOCK_ID: &str = "unknown";

/// How long a write or a lock/unlock waits for another dtm process's short write lock. Holders keep
/// it for one write at most; waiting longer means that process is stuck or stopped (Ctrl-Z).
const WRITE_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// State in a local file. See the module documentation for the files it keeps and why.
#[derive(Debug)]
pub struct LocalBackend {
    path: PathBuf,
    /// The run lock this value holds, if any. Dropping it releases the OS lock.
    held: Mutex<Option<HeldLock>>,
    /// The open journal and the document version it belongs to.
    journal: Mutex<Option<(File, Version)>>,
}

/// First line of a journal file; `base` is the version of the document it applies to.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct JournalHeader {
    dtm_journal: u32,
    base: String,
}

/// A run lock held by this backend value: the open lock file keeps the OS lock.
#[derive(Debug)]
struct HeldLock {
    info: LockInfo,
    _file: File,
}

impl LocalBackend {
    /// A backend storing the state in `path`. Nothing is touched until the first call.
    pub fn new(path: PathBuf) -> LocalBackend {
        // Drops a trailing separator so that `F.lock` and friends are siblings of the file.
        let path = path.components().collect();
        LocalBackend {
            path,
            held: Mutex::new(None),
            journal: Mutex::new(None),
        }
    }

    /// A backend from the config's `state.options`, resolving a relative `stateFile` against the
    /// directory of the config file (as DevStream does). An absent, `null` or empty `stateFile`
    /// means [`DEFAULT_STATE_FILE`]. Any other option is an error.
    pub fn from_options(
        options: &Map<String, Value>,
        config_dir: &Path,
    ) -> Result<LocalBackend, BackendError> {
        let config_error = |message: String| BackendError::Config {
            backend: "local".to_owned(),
            message,
        };
        let mut state_file = DEFAULT_STATE_FILE;
        for (key, value) in options {
            if key != "stateFile" {
                let hint = if key.eq_ignore_ascii_case("statefile") {
                    " (did you mean `stateFile`?)".to_owned()
                } else {
                    String::new()
                };
                return Err(config_error(format!(
                    "unknown option `{key}`{hint}; the local backend takes only `stateFile`, the \
                     path of the state file (default `{DEFAULT_STATE_FILE}`)"
                )));
            }
            match value {
                Value::Null => {}
                Value::String(s) if s.is_empty() => {}
                Value::String(s) => state_file = s,
                other => {
                    return Err(config_error(format!(
                        "option `stateFile` must be a file path (a string), found {}",
                        json_type(other)
                    )));
                }
            }
        }
        let state_file = Path::new(state_file);
        let path = if state_file.is_absolute() {
            state_file.to_path_buf()
        } else {
            config_dir.join(state_file)
        };
        Ok(LocalBackend::new(path))
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file holding the previous version of the state.
    pub fn backup_path(&self) -> PathBuf {
        self.sibling(".backup")
    }

    /// The lock file, present while a run holds the lock.
    pub fn lock_path(&self) -> PathBuf {
        self.sibling(".lock")
    }

    fn write_lock_path(&self) -> PathBuf {
        self.sibling(".wlock")
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = OsString::from(self.path.as_os_str());
        name.push(suffix);
        PathBuf::from(name)
    }

    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }

    fn io_error(&self, action: String, source: io::Error) -> BackendError {
        BackendError::Io {
            location: self.location(),
            action,
            source,
        }
    }

    fn create_dir(&self) -> Result<(), BackendError> {
        let dir = self.dir();
        fs::create_dir_all(dir).map_err(|source| {
            let action = match fs::metadata(dir) {
                Ok(meta) if !meta.is_dir() => format!(
                    "creating directory {} (it exists and is not a directory)",
                    dir.display()
                ),
                _ => format!("creating directory {}", dir.display()),
            };
            self.io_error(action, source)
        })
    }

    /// Takes the short write lock, waiting for another holder up to [`WRITE_LOCK_TIMEOUT`]. The
    /// lock is released when the returned file is dropped.
    fn write_lock(&self) -> Result<File, BackendError> {
        let path = self.write_lock_path();
        let file = private_options(OpenOptions::new().read(true).write(true).create(true))
            .open(&path)
            .map_err(|e| self.io_error(format!("opening write lock {}", path.display()), e))?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match FileExt::try_lock(&file) {
                Ok(()) => return Ok(file),
                Err(TryLockError::WouldBlock) if start.elapsed() < WRITE_LOCK_TIMEOUT => {
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(self.io_error(
                        format!("waiting for write lock {}", path.display()),
                        io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "another dtm process has held it for more than {} s; it may be \
                                 stopped or stuck",
                                WRITE_LOCK_TIMEOUT.as_secs()
                            ),
                        ),
                    ));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(self.io_error(format!("locking write lock {}", path.display()), e));
                }
            }
        }
    }

    /// The current state file's metadata, `None` if there is none.
    fn current_metadata(&self) -> Result<Option<Metadata>, BackendError> {
        match fs::metadata(&self.path) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_error(format!("checking {}", self.path.display()), e)),
        }
    }

    /// Writes `bytes` to the staging file, makes it durable and returns its metadata. Called with
    /// the write lock held.
    fn stage(
        &self,
        tmp: &Path,
        bytes: &[u8],
        previous: Option<&Metadata>,
    ) -> Result<Metadata, BackendError> {
        let action = |what: &str| format!("{what} temporary file {}", tmp.display());
        let mut file = create_private(tmp).map_err(|e| self.io_error(action("creating"), e))?;
        file.write_all(bytes)
            .map_err(|e| self.io_error(action("writing"), e))?;
        if let Some(previous) = previous {
            self.set_later_mtime(&file, tmp, previous)?;
        }
        file.sync_all()
            .map_err(|e| self.io_error(action("flushing"), e))?;
        file.metadata()
            .map_err(|e| self.io_error(action("checking"), e))
    }

    /// Sets the staged file's modification time strictly after the previous version's, so that
    /// the new version's token differs from every earlier one even if an inode number is reused
    /// and the clock is coarse. Retries with coarser steps on file systems that round times.
    fn set_later_mtime(
        &self,
        file: &File,
        tmp: &Path,
        previous: &Metadata,
    ) -> Result<(), BackendError> {
        let Ok(previous) = previous.modified() else {
            // No modification times on this platform: the token cannot use them anyway.
            return Ok(());
        };
        let steps = [
            Duration::from_nanos(1),
            Duration::from_micros(1),
            Duration::from_millis(1),
            Duration::from_secs(1),
            Duration::from_secs(2),
        ];
        for step in steps {
            let wanted = SystemTime::now().max(previous + step);
            file.set_modified(wanted).map_err(|e| {
                self.io_error(format!("setting modification time of {}", tmp.display()), e)
            })?;
            let stored = file.metadata().and_then(|m| m.modified()).map_err(|e| {
                self.io_error(format!("checking temporary file {}", tmp.display()), e)
            })?;
            if stored > previous {
                return Ok(());
            }
        }
        // A file system that ignores modification times; the token still has inode and size.
        Ok(())
    }

    /// Replaces `F.backup` with the current state file, so that it is a complete document at every
    /// moment. Called with the write lock held.
    fn keep_backup(&self) -> Result<(), BackendError> {
        let backup = self.backup_path();
        let staging = self.sibling(".backup.tmp");
        self.remove_if_exists(&staging)?;
        if fs::hard_link(&self.path, &staging).is_ok() {
            // The link shares the state file's inode: make sure it is private even when the state
            // file was created by something other than dtm.
            restrict_mode(&staging).map_err(|e| {
                self.io_error(
                    format!("restricting permissions of {}", staging.display()),
                    e,
                )
            })?;
        } else {
            // File systems without hard links (and Linux's protected_hardlinks for files of other
            // users): copy instead.
            self.copy_private(&self.path, &staging)?;
        }
        fs::rename(&staging, &backup).map_err(|e| {
            self.io_error(
                format!("renaming {} to {}", staging.display(), backup.display()),
                e,
            )
        })
    }

    fn copy_private(&self, from: &Path, to: &Path) -> Result<(), BackendError> {
        let mut source = File::open(from)
            .map_err(|e| self.io_error(format!("opening {} to back it up", from.display()), e))?;
        let mut target = create_private(to)
            .map_err(|e| self.io_error(format!("creating backup {}", to.display()), e))?;
        io::copy(&mut source, &mut target)
            .and_then(|_| target.sync_all())
            .map_err(|e| {
                self.io_error(format!("copying {} to {}", from.display(), to.display()), e)
            })?;
        Ok(())
    }

    fn remove_if_exists(&self, path: &Path) -> Result<(), BackendError> {
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_error(format!("removing {}", path.display()), e)),
        }
    }

    fn sync_dir(&self) -> Result<(), BackendError> {
        sync_dir(self.dir())
            .map_err(|e| self.io_error(format!("flushing directory {}", self.dir().display()), e))
    }

    /// Reads the lock file: `None` if there is no lock; placeholder info if it cannot be read or
    /// parsed. Also returns the open file, to probe its OS lock.
    fn read_lock_file(&self) -> Result<Option<(LockInfo, Option<File>)>, BackendError> {
        let path = self.lock_path();
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => return Ok(None),
            Err(e) => {
                return Ok(Some((
                    unknown_holder(&format!(
                        "lock file {} cannot be opened: {e}",
                        path.display()
                    )),
                    None,
                )));
            }
        };
        let mut text = String::new();
        let info = match file.read_to_string(&mut text) {
            Err(e) => unknown_holder(&format!("lock file {} cannot be read: {e}", path.display())),
            Ok(_) => match serde_json::from_str::<LockInfo>(&text) {
                Ok(info) => info,
                Err(e) => unknown_holder(&format!(
                    "lock file {} is not a dtm lock: {e}",
                    path.display()
                )),
            },
        };
        Ok(Some((info, Some(file))))
    }

    /// What stands in the way of taking the lock, or `None` if there is no lock file. Called
    /// with the write lock held, so no dtm process is creating or removing the lock file
    /// meanwhile.
    fn existing_lock(&self) -> Result<Option<Existing>, BackendError> {
        let Some((holder, file)) = self.read_lock_file()? else {
            return Ok(None);
        };
        let location = self.location();
        // The holder keeps an OS lock on the file while it runs (and the OS drops it when the
        // process ends, however it ends). If we can take it, nobody is running. Our probe is
        // released when `file` is dropped, at the end of this function.
        let released = match file.as_ref().map(FileExt::try_lock) {
            Some(Ok(())) => true,
            Some(Err(TryLockError::WouldBlock)) => false,
            // Cannot tell: report the lock as held, the safe side.
            Some(Err(TryLockError::Error(_))) | None => false,
        };
        if !released {
            return Ok(Some(Existing::Held(BackendError::Locked {
                location,
                holder: Box::new(holder),
            })));
        }
        Ok(Some(match holder_gone(&holder) {
            Ok(reason) => Existing::Gone { holder, reason },
            Err(reason) => Existing::Held(BackendError::StaleLock {
                location,
                holder: Box::new(holder),
                reason,
            }),
        }))
    }

    /// Creates the lock file for `info` and takes its OS lock. Called with the write lock held and
    /// no lock file present.
    fn create_lock_file(&self, info: &LockInfo) -> Result<File, BackendError> {
        let path = self.lock_path();
        let staging = self.sibling(".lock.tmp");
        let mut text = serde_json::to_string_pretty(info).map_err(|e| {
            self.io_error(
                "encoding lock info".to_owned(),
                io::Error::new(io::ErrorKind::InvalidData, e),
            )
        })?;
        text.push('\n');

        // Preferred: write and lock a staging file, then publish it with a hard link, which fails
        // if the lock file exists (like O_EXCL). The lock file is thus never seen half-written
        // or without its OS lock, even by readers that do not take the write lock (`lock_info`).
        self.remove_if_exists(&staging)?;
        let file = self.new_locked_file(&staging, &text)?;
        let linked = fs::hard_link(&staging, &path);
        // Best effort: failing here must not lose a lock just taken; the next lock replaces it.
        let _ = fs::remove_file(&staging);
        match linked {
            Ok(()) => Ok(file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(self.lost_race()),
            Err(_) => {
                // No hard links on this file system: create the lock file itself exclusively.
                drop(file);
                match self.new_locked_file(&path, &text) {
                    Err(BackendError::Io { source, .. })
                        if source.kind() == io::ErrorKind::AlreadyExists =>
                    {
                        Err(self.lost_race())
                    }
                    other => other,
                }
            }
        }
    }

    /// The error for a lock file that appeared although we hold the write lock: something that
    /// does not take it (an older dtm, a person) created it.
    fn lost_race(&self) -> BackendError {
        match self.existing_lock() {
            Ok(Some(Existing::Held(error))) => error,
            // Not taken over: something that bypasses the write lock is at work here.
            Ok(Some(Existing::Gone { holder, reason })) => BackendError::StaleLock {
                location: self.location(),
                holder: Box::new(holder),
                reason,
            },
            Ok(None) => BackendError::Locked {
                location: self.location(),
                holder: Box::new(unknown_holder(
                    "the lock file appeared and vanished while locking",
                )),
            },
            Err(error) => error,
        }
    }

    /// Creates `path` exclusively with mode 0600, takes its OS lock and writes `text` durably.
    fn new_locked_file(&self, path: &Path, text: &str) -> Result<File, BackendError> {
        let action = |what: &str| format!("{what} lock file {}", path.display());
        let mut file = create_private(path).map_err(|e| self.io_error(action("creating"), e))?;
        let written = FileExt::try_lock(&file)
            .map_err(io::Error::from)
            .and_then(|()| file.write_all(text.as_bytes()))
            .and_then(|()| file.sync_all());
        if let Err(e) = written {
            drop(file);
            // Best effort: a lock file left behind here would read as stale, never as held.
            let _ = fs::remove_file(path);
            return Err(self.io_error(action("writing"), e));
        }
        Ok(file)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<HeldLock>> {
        // A panic while holding this mutex cannot leave the Option half-updated.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes the lock file if it still records `id`. Used when a holder lets go.
    fn release(&self, id: &str) -> Result<(), BackendError> {
        let _guard = self.write_lock()?;
        if let Some((current, _)) = self.read_lock_file()?
            && current.id == id
        {
            self.remove_if_exists(&self.lock_path())?;
            self.sync_dir()?;
        }
        Ok(())
    }
}

impl LocalBackend {
    /// Refuses `what` if it is larger than [`MAX_DOCUMENT_BYTES`].
    fn check_size(&self, size: u64, what: &str, outcome: &str) -> Result<(), BackendError> {
        if size <= MAX_DOCUMENT_BYTES as u64 {
            return Ok(());
        }
        Err(BackendError::TooLarge {
            location: self.location(),
            message: format!(
                "{what} is {size} bytes, more than the {} MiB a state may take (the limit); \
                 {outcome}. A state dtm wrote is never that large: forget tools with \
                 `dtm state rm`, or split the config",
                MAX_DOCUMENT_BYTES / (1024 * 1024)
            ),
        })
    }

    /// The journal file: `F.journal`.
    pub fn journal_path(&self) -> PathBuf {
        self.sibling(".journal")
    }

    fn discard_journal(&self) {
        let mut j = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        *j = None;
        // Best effort: a leftover journal names the old version and is ignored by readers.
        let _ = fs::remove_file(self.journal_path());
    }

    fn open_journal(&self, base: &Version) -> Result<File, BackendError> {
        let path = self.journal_path();
        let mut opts = fs::OpenOptions::new();
        opts.create(true).write(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts
            .open(&path)
            .map_err(|e| self.io_error(format!("creating {}", path.display()), e))?;
        let header = JournalHeader {
            dtm_journal: 1,
            base: base.0.clone(),
        };
        let mut line = serde_json::to_vec(&header).unwrap_or_default();
        line.push(b'\n');
        file.write_all(&line)
            .and_then(|()| file.sync_all())
            .map_err(|e| self.io_error(format!("writing {}", path.display()), e))?;
        // The new file's directory entry must survive a crash too.
        self.sync_dir()?;
        Ok(file)
    }
}

impl Backend for LocalBackend {
    fn supports_journal(&self) -> bool {
        true
    }

    fn append_journal(&self, base: &Version, record: &[u8]) -> Result<(), BackendError> {
        let current = self.current_metadata()?.as_ref().map(version_of);
        if current.as_ref() != Some(base) {
            return Err(BackendError::Conflict {
                location: self.location(),
                expected: base.to_string(),
                found: current.map_or_else(|| "none".to_owned(), |v| v.to_string()),
            });
        }
        if record.contains(&b'\n') {
            return Err(BackendError::Config {
                backend: self.location(),
                message: "a journal record must not contain a newline".into(),
            });
        }
        let mut j = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        if j.as_ref().is_none_or(|(_, v)| v != base) {
            *j = Some((self.open_journal(base)?, base.clone()));
        }
        let path = self.journal_path();
        let Some((file, _)) = j.as_mut() else {
            return Err(self.io_error(
                format!("opening {}", path.display()),
                io::Error::other("no journal"),
            ));
        };
        let mut line = Vec::with_capacity(record.len() + 1);
        line.extend_from_slice(record);
        line.push(b'\n');
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|e| self.io_error(format!("appending to {}", path.display()), e))
    }

    fn read_journal(&self, version: &Version) -> Result<Vec<Vec<u8>>, BackendError> {
        let path = self.journal_path();
        let read = File::open(&path).and_then(|file| {
            let size = file.metadata()?.len();
            Ok((file, size))
        });
        let (mut file, size) = match read {
            Ok(opened) => opened,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io_error(format!("reading {}", path.display()), e)),
        };
        self.check_size(size, "its journal", "it was left untouched")?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| self.io_error(format!("reading {}", path.display()), e))?;
        let mut lines = bytes.split_inclusive(|b| *b == b'\n');
        let Some(head) = lines.next() else {
            return Ok(Vec::new());
        };
        match serde_json::from_slice::<JournalHeader>(head.strip_suffix(b"\n").unwrap_or(head)) {
            Ok(h) if h.dtm_journal == 1 && h.base == version.0 => {}
            // Another version's journal (left by a crash after a full write), or a torn header.
            _ => return Ok(Vec::new()),
        }
        // A record without its newline was cut off by a crash mid-append: it never counted.
        Ok(lines
            .filter_map(|l| l.strip_suffix(b"\n"))
            .map(<[u8]>::to_vec)
            .collect())
    }

    fn location(&self) -> String {
        format!("local file {}", self.path.display())
    }

    fn read(&self) -> Result<Option<Snapshot>, BackendError> {
        let action = || format!("reading {}", self.path.display());
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_error(action(), e)),
        };
        // Taken from the open file, so it describes exactly the bytes read: writers replace the
        // file by renaming and never change it in place.
        let meta = file.metadata().map_err(|e| self.io_error(action(), e))?;
        self.check_size(meta.len(), "the state file", "it was left untouched")?;
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut bytes)
            .map_err(|e| self.io_error(action(), e))?;
        Ok(Some(Snapshot {
            bytes,
            version: version_of(&meta),
        }))
    }

    fn write(&self, bytes: &[u8], expected: Option<&Version>) -> Result<Version, BackendError> {
        self.check_size(bytes.len() as u64, "the new state", "nothing was written")?;
        self.create_dir()?;
        let _guard = self.write_lock()?;
        let current = self.current_metadata()?;
        let found = current.as_ref().map(version_of);
        if found.as_ref() != expected {
            return Err(BackendError::Conflict {
                location: self.location(),
                expected: expected.map_or_else(|| "none".to_owned(), Version::to_string),
                found: found.map_or_else(|| "none".to_owned(), |v| v.to_string()),
            });
        }

        let tmp = self.sibling(".tmp");
        self.remove_if_exists(&tmp)?;
        let result = self
            .stage(&tmp, bytes, current.as_ref())
            .and_then(|staged| {
                if current.is_some() {
                    self.keep_backup()?;
                }
                fs::rename(&tmp, &self.path).map_err(|e| {
                    self.io_error(
                        format!("renaming {} to {}", tmp.display(), self.path.display()),
                        e,
                    )
                })?;
                self.sync_dir()?;
                // The journal described the previous version; the new document contains it.
                self.discard_journal();
                // Renaming keeps inode, size and modification time: the staged file's token is the
                // new state file's.
                Ok(version_of(&staged))
            });
        if result.is_err() {
            // Best effort: the next write replaces a leftover anyway.
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn lock(&self, info: &LockInfo) -> Result<Option<TakenOver>, BackendError> {
        let mut held = self.held();
        self.create_dir()?;
        let _guard = self.write_lock()?;
        if let Some(own) = held.as_ref() {
            match self.read_lock_file()? {
                Some((current, _)) if current.id == own.info.id => {
                    return Err(BackendError::Locked {
                        location: self.location(),
                        holder: Box::new(own.info.clone()),
                    });
                }
                // Someone released our lock (`dtm state unlock`): we no longer hold it.
                _ => *held = None,
            }
        }
        let taken_over = match self.existing_lock()? {
            None => None,
            Some(Existing::Held(error)) => return Err(error),
            Some(Existing::Gone { holder, reason }) => {
                // Its holder can no longer use it, and no dtm can be creating or releasing it
                // meanwhile: we hold the write lock.
                self.remove_if_exists(&self.lock_path())?;
                Some(TakenOver { holder, reason })
            }
        };
        let file = self.create_lock_file(info)?;
        self.sync_dir()?;
        *held = Some(HeldLock {
            info: info.clone(),
            _file: file,
        });
        Ok(taken_over)
    }

    fn unlock(&self, id: &str) -> Result<(), BackendError> {
        let mut held = self.held();
        let no_lock = || BackendError::LockMismatch {
            location: self.location(),
            given: id.to_owned(),
            current: "no lock".to_owned(),
        };
        // Without a lock file there is nothing to serialise with (and no need to create the
        // write lock file, e.g. in a directory that does not exist).
        if self.read_lock_file()?.is_none() {
            *held = None;
            return Err(no_lock());
        }
        let _guard = self.write_lock()?;
        let Some((current, _)) = self.read_lock_file()? else {
            *held = None;
            return Err(no_lock());
        };
        if held.as_ref().is_some_and(|own| own.info.id != current.id) {
            // Someone released our lock and another run took it: ours is gone.
            *held = None;
        }
        if current.id != id {
            return Err(BackendError::LockMismatch {
                location: self.location(),
                given: id.to_owned(),
                current: current.to_string(),
            });
        }
        self.remove_if_exists(&self.lock_path())?;
        self.sync_dir()?;
        *held = None;
        Ok(())
    }

    fn lock_info(&self) -> Result<Option<LockInfo>, BackendError> {
        Ok(self.read_lock_file()?.map(|(info, _)| info))
    }
}

impl Drop for LocalBackend {
    /// Releases the run lock if this value holds it, so a run that returns early or unwinds from a
    /// panic does not leave a lock behind. If the process is killed, the lock file stays; the next
    /// run on this host takes it over, one elsewhere reports it as stale.
    fn drop(&mut self) {
        let held = self
            .held
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(held) = held {
            // Nowhere to report an error from drop; a lock left behind reads as stale.
            let _ = self.release(&held.info.id);
        }
    }
}

/// What an existing lock file means for a run that wants the lock.
#[derive(Debug)]
enum Existing {
    /// Its holder runs, or may: the error to report.
    Held(BackendError),
    /// Its holder is provably gone; why we know.
    Gone { holder: LockInfo, reason: String },
}

/// Whether the holder of a lock whose OS lock was released is provably gone (`Ok`, why), or
/// only probably (`Err`, why it cannot be checked). Provably means: the holder ran on this host,
/// and its process no longer exists (or is this very process, which does not hold the lock).
/// A holder on another host is left alone: on a network file system that does not carry OS
/// locks between machines, a released OS lock proves nothing.
fn holder_gone(holder: &LockInfo) -> Result<String, String> {
    let here = host_name();
    if holder.host != here {
        return Err(format!(
            "that process is no longer running (dtm takes over a lock by itself only when its \
             holder ran on this host, {here}, where it can check)"
        ));
    }
    if holder.pid == std::process::id() {
        return Ok(format!(
            "a process with its id ({}) ran on this host before this one and is gone",
            holder.pid
        ));
    }
    match process_exists(holder.pid) {
        Some(false) => Ok(format!(
            "process {} on this host ({here}) is gone and its OS lock was released",
            holder.pid
        )),
        Some(true) => Err(format!(
            "its OS lock is released, yet a process with its id ({}) still runs on this host \
             (another program that reused the id, or a dtm that lost its lock file)",
            holder.pid
        )),
        None => Err(format!(
            "that process is no longer running (dtm cannot check process {} here)",
            holder.pid
        )),
    }
}

/// Whether process `pid` exists on this host; `None` where that cannot be told.
#[cfg(unix)]
fn process_exists(pid: u32) -> Option<bool> {
    use nix::errno::Errno;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    // Pid 0 and negative pids name process groups, not a process.
    let pid = i32::try_from(pid).ok().filter(|&p| p > 0)?;
    // Signal "none" checks that the process exists without touching it.
    match kill(Pid::from_raw(pid), None) {
        // A killed process stays a zombie until its parent reaps it: it runs no more.
        Ok(()) => Some(!is_zombie(pid)),
        Err(Errno::ESRCH) => Some(false),
        // EPERM: it exists, and belongs to someone else.
        Err(_) => Some(true),
    }
}

/// Whether process `pid` has ended and waits to be reaped (Linux's `/proc`; elsewhere: no).
#[cfg(unix)]
fn is_zombie(pid: i32) -> bool {
    // The state follows the command name in parentheses, which may itself hold `)`.
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| matches!(state, "Z" | "X"))
    })
}

#[cfg(not(unix))]
fn process_exists(_pid: u32) -> Option<bool> {
    None
}

/// The token of the file described by `meta`.
fn version_of(meta: &Metadata) -> Version {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Version(format!(
            "{}.{:09}-{}-{}-{}",
            meta.mtime(),
            meta.mtime_nsec(),
            meta.dev(),
            meta.ino(),
            meta.size()
        ))
    }
    #[cfg(not(unix))]
    {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .unwrap_or_default();
        Version(format!(
            "{}.{:09}-{}",
            mtime.as_secs(),
            mtime.subsec_nanos(),
            meta.len()
        ))
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// `options` set to create files with mode 0600 on unix.
fn private_options(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn create_private(path: &Path) -> io::Result<File> {
    private_options(OpenOptions::new().write(true).create_new(true)).open(path)
}

fn restrict_mode(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if fs::metadata(path)?.permissions().mode() & 0o777 != 0o600 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Makes renames and removals in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened as files on Windows; NTFS journals renames.
        let _ = dir;
        Ok(())
    }
}

/// Placeholder holder info for a lock (file or object) that cannot be read or parsed.
pub(crate) fn unknown_holder(why: &str) -> LockInfo {
    LockInfo {
        id: UNKNOWN_LOCK_ID.to_owned(),
        who: "unknown".to_owned(),
        host: "unknown".to_owned(),
        pid: 0,
        operation: format!("? ({why})"),
        created: "unknown".to_owned(),
        version: "unknown".to_owned(),
    }
}
