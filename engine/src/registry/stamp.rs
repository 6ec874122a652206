//! Verified stamps: hashing a cached library once, not on every run.
//!
//! After a cached library's SHA-256 was computed and matched, a stamp beside it
//! (`<entry>/.verified`) records that hash together with the file's size, modification and
//! change times (nanoseconds), inode and device. A later check whose `stat` of the file is
//! exactly the recorded one takes the hash from the stamp instead of reading 6 MiB; any other
//! `stat` means a re-hash (and a fresh stamp). This is the trust model of git's index: a write to
//! the file changes its change time (ctime, which no user call can set back, unlike the
//! modification time), a replacement changes its inode, so content cannot change under an
//! unchanged stamp.
//!
//! Timestamps have a granularity (a clock tick on Linux, seconds on some filesystems): a write in
//! the same tick as the stat would leave the times as they were. So a stamp is only written when
//! the file's last change is strictly older than a probe file created, on the same filesystem,
//! *before* the file was read. Any write after that probe lands in a later tick, changes the
//! ctime and invalidates the stamp; a file changed too recently is simply hashed again next time
//! (git's "racily clean" entries).
//!
//! Without a change time and an inode in the standard library (non-Unix), no stamp is written or
//! trusted: every check hashes.
//!
//! A stamp detects changes; it does not stop someone who can write the cache, who can rewrite
//! the stamp as well (as they could replace the library between a hash check and its load, or add
//! a trusted key to the dtm home). The dtm home must be writable only by its owner.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::sha256_file;

/// The stamp's name in an entry directory (one library per entry).
pub(crate) const STAMP_FILE: &str = ".verified";

/// How a library was found to have the expected hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verified {
    /// Its stamp matched its `stat`: not read at all.
    Stamp,
    /// Hashed (and stamped when it had not changed too recently).
    Hashed {
        /// Whether a stamp was written.
        stamped: bool,
    },
}

/// Whether the file at `library` has SHA-256 `sha256` (hex): from its stamp when that still
/// describes the file, otherwise by hashing it, stamping it when it matches. `Ok(None)`: another
/// hash. Failing to write a stamp (a read-only cache) is not an error.
pub(crate) fn verify(library: &Path, sha256: &str) -> std::io::Result<Option<Verified>> {
    let sha256 = sha256.to_ascii_lowercase();
    let stamp = stamp_path(library);
    if let Some(stat) = Stat::of(&std::fs::metadata(library)?)
        && std::fs::read_to_string(&stamp).is_ok_and(|text| text == stat.stamp(&sha256))
    {
        return Ok(Some(Verified::Stamp));
    }
    // Probe before the stat, and both before a byte is read (see the module docs).
    let probe = Probe::create(stamp.parent().unwrap_or(Path::new(".")));
    let stat = Stat::of(&std::fs::metadata(library)?);
    if !sha256_file(library)?.eq_ignore_ascii_case(&sha256) {
        return Ok(None);
    }
    let stamped = match (probe, stat) {
        (Some(probe), Some(stat)) if stat.changed_before(probe.time) => {
            probe.commit(&stat.stamp(&sha256), &stamp)
        }
        _ => false,
    };
    Ok(Some(Verified::Hashed { stamped }))
}

/// Where the stamp of `library` lives.
pub(crate) fn stamp_path(library: &Path) -> PathBuf {
    library.parent().unwrap_or(Path::new(".")).join(STAMP_FILE)
}

/// Removes the stamp of `library`, if any.
pub(crate) fn remove(library: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(stamp_path(library)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What a stamp records of a file, and compares exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    inode: u64,
    device: u64,
}

impl Stat {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Option<Stat> {
        use std::os::unix::fs::MetadataExt;
        Some(Stat {
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
            device: meta.dev(),
        })
    }

    #[cfg(not(unix))]
    fn of(_: &std::fs::Metadata) -> Option<Stat> {
        None
    }

    /// Whether the file last changed strictly before `time` (seconds, nanoseconds).
    fn changed_before(&self, time: (i64, i64)) -> bool {
        self.ctime < time
    }

    /// The stamp's text for this stat and hash.
    fn stamp(&self, sha256: &str) -> String {
        format!(
            "dtm verified stamp 1\nsha256 {sha256}\nsize {}\nmtime {}.{:09}\nctime {}.{:09}\ninode {}\ndevice {}\n",
            self.size,
            self.mtime.0,
            self.mtime.1,
            self.ctime.0,
            self.ctime.1,
            self.inode,
            self.device
        )
    }
}

/// A new temporary file in the entry directory: its creation time is the filesystem's clock
/// before the library is read; it becomes the stamp, or is removed.
struct Probe {
    path: PathBuf,
    file: std::fs::File,
    time: (i64, i64),
}

impl Probe {
    fn create(dir: &Path) -> Option<Probe> {
        if !cfg!(unix) {
            return None;
        }
        let path = dir.join(format!(
            "{STAMP_FILE}.{}.{}.tmp",
            std::process::id(),
            crate::state::random_hex(4)
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .ok()?;
        // From here on, dropping the probe removes the file.
        let mut probe = Probe {
            path,
            file,
            time: (0, 0),
        };
        probe.time = Stat::of(&probe.file.metadata().ok()?)?.ctime;
        Some(probe)
    }

    /// Writes `text` and renames the probe over `stamp`; whether that worked.
    fn commit(mut self, text: &str, stamp: &Path) -> bool {
        self.file.write_all(text.as_bytes()).is_ok() && std::fs::rename(&self.path, stamp).is_ok()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // Gone already when it was renamed into place.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_text_names_every_field() {
        let s = Stat {
            size: 6,
            mtime: (1, 5),
            ctime: (2, 7),
            inode: 3,
            device: 4,
        };
        assert_eq!(
            s.stamp("ab"),
            "dtm verified stamp 1\nsha256 ab\nsize 6\nmtime 1.000000005\nctime 2.000000007\ninode 3\ndevice 4\n"
        );
        assert!(s.changed_before((2, 8)) && s.changed_before((3, 0)));
        assert!(!s.changed_before((2, 7)) && !s.changed_before((1, 9)));
    }
}
