//! `dtm.lock`: the exact plugin builds a config uses, next to the config, meant to be committed.
//!
//! TOML, written by dtm in one fixed order (plugins by name, platforms by name) so that a change
//! reads well in a diff:
//!
//! ```toml
//! version = 1
//!
//! [plugins.file]
//! version = "0.1.0"
//! abi = "1.0"
//!
//! [plugins.file.sha256]
//! linux-x86_64 = "9f2c…"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::RegistryError;
use super::cache::write_atomically;
use super::layout::check_name_version;
use super::platform::Platform;

/// The lock file's name.
pub const LOCK_FILE_NAME: &str = "dtm.lock";
const FORMAT: u32 = 1;

/// One locked plugin.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// The exact version pinned (never a requirement).
    pub version: String,
    /// Its plugin ABI (`major.minor`).
    pub abi: String,
    /// Platform → SHA-256 of that platform's library, from the signed checksums.
    pub sha256: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    version: u32,
    #[serde(default)]
    plugins: BTreeMap<String, LockEntry>,
}

/// A lock file, loaded or new.
#[derive(Debug, Clone)]
pub struct LockFile {
    /// Where it is (or will be written).
    pub path: PathBuf,
    /// Locked plugins by name.
    pub plugins: BTreeMap<String, LockEntry>,
    /// Whether the file existed when loaded.
    pub existed: bool,
    original: String,
}

impl LockFile {
    /// Loads `<dir>/dtm.lock`, or an empty lock when there is none.
    pub fn load(dir: &Path) -> Result<LockFile, RegistryError> {
        let path = dir.join(LOCK_FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(LockFile {
                    path,
                    plugins: BTreeMap::new(),
                    existed: false,
                    original: String::new(),
                });
            }
            Err(e) => return Err(RegistryError::io("cannot read", &path, e)),
        };
        let bad = |message: String| RegistryError::BadLock {
            path: path.clone(),
            message,
        };
        let raw: Raw = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if raw.version != FORMAT {
            return Err(bad(format!(
                "lock format {} is not supported (this dtm writes format {FORMAT})",
                raw.version
            )));
        }
        for (name, e) in &raw.plugins {
            check_name_version(name, &e.version).map_err(|err| bad(err.to_string()))?;
            for (p, h) in &e.sha256 {
                if Platform::parse(p).is_none() {
                    return Err(bad(format!("plugin `{name}`: bad platform `{p}`")));
                }
                if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(bad(format!("plugin `{name}`: `{h}` is not a SHA-256")));
                }
            }
        }
        Ok(LockFile {
            path,
            plugins: raw.plugins,
            existed: true,
            original: text,
        })
    }

    /// The file's text as dtm writes it.
    pub fn to_text(&self) -> String {
        let mut s = String::from(
            "# dtm.lock: the exact plugin builds this config uses. Written by `dtm init`; commit it.\n\
             # `dtm init --upgrade` moves to the newest versions the config allows.\n",
        );
        s.push_str(&format!("version = {FORMAT}\n"));
        for (name, e) in &self.plugins {
            // Names, versions and platforms were checked to be plain tokens; hashes are hex.
            s.push_str(&format!(
                "\n[plugins.{name}]\nversion = \"{}\"\nabi = \"{}\"\n\n[plugins.{name}.sha256]\n",
                e.version, e.abi
            ));
            for (p, h) in &e.sha256 {
                s.push_str(&format!("{p} = \"{h}\"\n"));
            }
        }
        s
    }

    /// Whether writing would change the file.
    pub fn changed(&self) -> bool {
        !self.existed || self.to_text() != self.original
    }

    /// Writes the file (atomically) when its content changed; returns whether it wrote.
    pub fn save(&mut self) -> Result<bool, RegistryError> {
        if !self.changed() {
            return Ok(false);
        }
        let text = self.to_text();
        write_atomically(&self.path, text.as_bytes())?;
        self.original = text;
        self.existed = true;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_deterministically() {
        let dir = tempfile::tempdir().unwrap();
        let mut lock = LockFile::load(dir.path()).unwrap();
        assert!(!lock.existed);
        for n in ["zeta", "alpha"] {
            lock.plugins.insert(
                n.into(),
                LockEntry {
                    version: "1.2.3".into(),
                    abi: "1.0".into(),
                    sha256: [
                        ("linux-x86_64".to_string(), "b".repeat(64)),
                        ("darwin-aarch64".to_string(), "a".repeat(64)),
                    ]
                    .into(),
                },
            );
        }
        assert!(lock.save().unwrap());
        let again = LockFile::load(dir.path()).unwrap();
        assert_eq!(again.plugins, lock.plugins);
        assert!(!again.changed());
        let text = again.to_text();
        assert!(text.find("[plugins.alpha]").unwrap() < text.find("[plugins.zeta]").unwrap());
    }

    #[test]
    fn refuses_paths_in_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(LOCK_FILE_NAME),
            "version = 1\n[plugins.x]\nversion = \"../../etc\"\nabi = \"1.0\"\n[plugins.x.sha256]\n",
        )
        .unwrap();
        let err = LockFile::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("../../etc"), "{err}");
    }
}
