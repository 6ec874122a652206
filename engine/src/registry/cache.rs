//! The plugin cache: `<root>/<name>/<version>/<os>-<arch>/<library file>`, root being
//! `<dtm home>/plugins`.
//!
//! A file is only ever put in place by a rename after its hash matched, so a reader never sees a
//! partial or unverified library. Downloads of one entry are serialised between processes by an
//! OS lock on `<entry>/.lock`; the second process finds the file present and downloads nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::layout::{check_name_version, safe_component};
use super::platform::Platform;
use super::{Promise, RegistryError, sha256_file, sha256_hex};

/// A plugin cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// One cached build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedBuild {
    /// Plugin name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Platform (`linux-x86_64`).
    pub platform: String,
    /// The library.
    pub path: PathBuf,
}

/// Who to blame in a hash mismatch.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    /// Where the bytes came from.
    pub url: &'a str,
    /// Which document promised the expected hash.
    pub promised_by: Promise,
}

/// One build, as the cache files it.
#[derive(Debug, Clone, Copy)]
pub struct BuildRef<'a> {
    /// Plugin name.
    pub name: &'a str,
    /// Version.
    pub version: &'a str,
    /// Platform.
    pub platform: &'a Platform,
    /// Library file name.
    pub file: &'a str,
    /// Expected SHA-256 (hex).
    pub sha256: &'a str,
}

impl Cache {
    /// A cache rooted at `root` (created on first install).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a build lives; refuses names that would leave the root.
    pub fn library_path(
        &self,
        name: &str,
        version: &str,
        platform: &Platform,
        file: &str,
    ) -> Result<PathBuf, RegistryError> {
        check_name_version(name, version)?;
        safe_component("platform", &platform.to_string())?;
        safe_component("library file name", file)?;
        Ok(self
            .root
            .join(name)
            .join(version)
            .join(platform.to_string())
            .join(file))
    }

    /// The cached file if it is present with hash `sha256`. A present file with another hash is
    /// removed (it cannot have been put there by dtm) and `None` returned.
    pub fn lookup(
        &self,
        name: &str,
        version: &str,
        platform: &Platform,
        file: &str,
        sha256: &str,
    ) -> Result<Option<PathBuf>, RegistryError> {
        let path = self.library_path(name, version, platform, file)?;
        if !path.is_file() {
            return Ok(None);
        }
        let actual = sha256_file(&path).map_err(|e| RegistryError::io("cannot read", &path, e))?;
        if actual.eq_ignore_ascii_case(sha256) {
            return Ok(Some(path));
        }
        let _guard = self.lock_entry(&path)?;
        // Re-check under the lock: another process may just have replaced it.
        let actual = sha256_file(&path).map_err(|e| RegistryError::io("cannot read", &path, e))?;
        if actual.eq_ignore_ascii_case(sha256) {
            return Ok(Some(path));
        }
        std::fs::remove_file(&path).map_err(|e| RegistryError::io("cannot remove", &path, e))?;
        Ok(None)
    }

    /// Puts a build in the cache unless it is there already: under the entry's lock, calls
    /// `fetch` for the bytes, checks them against `sha256`, writes a temporary file and renames
    /// it into place. Returns the library path.
    pub fn install(
        &self,
        build: BuildRef<'_>,
        origin: Origin<'_>,
        fetch: impl FnOnce() -> Result<Vec<u8>, RegistryError>,
    ) -> Result<PathBuf, RegistryError> {
        let BuildRef {
            name,
            version,
            platform,
            file,
            sha256,
        } = build;
        let path = self.library_path(name, version, platform, file)?;
        let _guard = self.lock_entry(&path)?;
        if path.is_file()
            && sha256_file(&path)
                .map_err(|e| RegistryError::io("cannot read", &path, e))?
                .eq_ignore_ascii_case(sha256)
        {
            return Ok(path);
        }
        let bytes = fetch()?;
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(sha256) {
            return Err(RegistryError::HashMismatch {
                name: name.to_string(),
                version: version.to_string(),
                url: origin.url.to_string(),
                expected: sha256.to_string(),
                actual,
                source_of_truth: origin.promised_by,
            });
        }
        write_atomically(&path, &bytes)?;
        Ok(path)
    }

    fn lock_entry(&self, library: &Path) -> Result<EntryLock, RegistryError> {
        let dir = library.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(|e| RegistryError::io("cannot create", dir, e))?;
        let lock_path = dir.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| RegistryError::io("cannot open", &lock_path, e))?;
        fs4::FileExt::lock(&file).map_err(|e| RegistryError::io("cannot lock", &lock_path, e))?;
        Ok(EntryLock(file))
    }

    /// The newest cached build of `name` for `platform` that `requirement` allows; without a
    /// requirement, releases are preferred over pre-releases, as [`super::Resolver::pick`] does.
    /// Only files named as the platform names the plugin's library count. The hash is not
    /// checked: nothing enters the cache unverified (see [`Cache::install`]).
    pub fn newest(
        &self,
        name: &str,
        platform: &Platform,
        requirement: Option<&semver::VersionReq>,
    ) -> Option<CachedBuild> {
        let file = platform.library_file_name(name);
        let platform = platform.to_string();
        let mut builds: Vec<(semver::Version, CachedBuild)> = self
            .list()
            .into_iter()
            .filter(|b| {
                b.name == name
                    && b.platform == platform
                    && b.path.file_name().is_some_and(|f| *f == *file)
            })
            .filter_map(|b| Some((semver::Version::parse(&b.version).ok()?, b)))
            .filter(|(v, _)| requirement.is_none_or(|r| r.matches(v)))
            .collect();
        builds.sort_by(|a, b| b.0.cmp(&a.0));
        let pick = builds
            .iter()
            .position(|(v, _)| requirement.is_some() || v.pre.is_empty())
            .unwrap_or(0);
        builds.into_iter().nth(pick).map(|(_, b)| b)
    }

    /// Every cached build, sorted.
    pub fn list(&self) -> Vec<CachedBuild> {
        let mut out = Vec::new();
        let dirs = |p: &Path| -> Vec<(String, PathBuf)> {
            let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_str()?.to_string();
                    (!name.starts_with('.')).then(|| (name, e.path()))
                })
                .collect();
            v.sort();
            v
        };
        for (name, np) in dirs(&self.root) {
            for (version, vp) in dirs(&np) {
                for (platform, pp) in dirs(&vp) {
                    for (_, fp) in dirs(&pp) {
                        if fp.is_file() {
                            out.push(CachedBuild {
                                name: name.clone(),
                                version: version.clone(),
                                platform: platform.clone(),
                                path: fp,
                            });
                        }
                    }
                }
            }
        }
        out
    }
}

/// Holds an entry's OS lock until dropped (closing the file releases it).
struct EntryLock(#[allow(dead_code, reason = "held for its lock")] std::fs::File);

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| RegistryError::io("cannot create", dir, e))?;
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        crate::state::random_hex(4)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(RegistryError::io("cannot write", path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_prefers_releases_and_honours_the_requirement() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let here = Platform::current();
        let other = Platform::parse(if here.to_string() == "windows-x86_64" {
            "linux-x86_64"
        } else {
            "windows-x86_64"
        })
        .unwrap();
        let put = |version: &str, platform: &Platform, file: &str| {
            let p = cache.library_path("file", version, platform, file).unwrap();
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        };
        let lib = here.library_file_name("file");
        put("0.1.0", &here, &lib);
        put("0.2.0", &here, &lib);
        put("0.3.0-rc.1", &here, &lib);
        put("0.4.0", &other, &other.library_file_name("file"));
        put("0.5.0", &here, "not-the-library.so");
        let newest = |req: Option<&str>| {
            let req = req.map(|r| semver::VersionReq::parse(r).unwrap());
            cache.newest("file", &here, req.as_ref()).map(|b| b.version)
        };
        assert_eq!(newest(None).as_deref(), Some("0.2.0"));
        assert_eq!(newest(Some("0.1")).as_deref(), Some("0.1.0"));
        assert_eq!(newest(Some(">=0.3.0-rc.1")).as_deref(), Some("0.3.0-rc.1"));
        assert_eq!(newest(Some("0.4")), None);
        assert_eq!(cache.newest("exec", &here, None), None);
    }
}
