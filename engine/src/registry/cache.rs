//! The plugin cache, root being `<dtm home>/plugins`:
//! `<root>/<name>/<version>/<os>-<arch>/<sha256>/<library file>`.
//!
//! Entries are content-addressed: a version republished with other bytes (`dtm plugin publish
//! --force` after a rebuild) gets an entry beside the old build instead of replacing it, so a lock
//! file elsewhere that pins the old build keeps loading it. A caller always asks for the hash it
//! trusts (the registry's signed checksums, or the lock file) and gets only a file that has it.
//!
//! A file is only ever put in place by a rename after its hash matched, so a reader never sees a
//! partial or unverified library. Downloads of one entry are serialised between processes by an
//! OS lock on `<entry>/.lock`; the second process finds the file present and downloads nothing.
//! A library's hash is checked before every use, through its verified stamp (`stamp`) when the
//! file has not changed since it was last hashed.
//!
//! Caches written before content addressing hold `<root>/<name>/<version>/<os>-<arch>/<library
//! file>`; such a file is hashed once and moved into the entry of its hash the first time the
//! cache meets it.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::layout::{check_name_version, safe_component};
use super::platform::Platform;
use super::stamp::{self, Verified};
use super::{Promise, RegistryError, sha256_file, sha256_hex};

/// A plugin cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// One cached build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedBuild {
    /// The plugin, by the name configs give it.
    pub name: String,
    /// The plugin version, as published (`1.2.0`).
    pub version: String,
    /// The platform the build is for (`linux-x86_64`).
    pub platform: String,
    /// SHA-256 (hex) the build is filed under; [`Cache::verify`] checks the file still has it.
    pub sha256: String,
    /// The library.
    pub path: PathBuf,
}

/// What [`Cache::find`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The build, with its hash.
    Here(PathBuf),
    /// Not in the cache.
    Missing,
    /// A file was there with other content (changed after dtm cached it); it was removed.
    Discarded(PathBuf),
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
    /// The plugin, by the name configs give it.
    pub name: &'a str,
    /// The plugin version, as published (`1.2.0`).
    pub version: &'a str,
    /// The platform the build is for (`linux-x86_64`).
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

    /// `<root>/<name>/<version>/<platform>`; refuses names that would leave the root.
    fn platform_dir(
        &self,
        name: &str,
        version: &str,
        platform: &Platform,
    ) -> Result<PathBuf, RegistryError> {
        check_name_version(name, version)?;
        let platform = platform.to_string();
        safe_component("platform", &platform)?;
        Ok(self.root.join(name).join(version).join(platform))
    }

    /// Where a build lives; refuses names that would leave the root.
    pub fn library_path(&self, build: &BuildRef<'_>) -> Result<PathBuf, RegistryError> {
        let dir = self.platform_dir(build.name, build.version, build.platform)?;
        if !is_sha256(build.sha256) {
            return Err(RegistryError::UnsafeName {
                what: "SHA-256",
                value: build.sha256.to_string(),
            });
        }
        safe_component("library file name", build.file)?;
        Ok(dir.join(build.sha256.to_ascii_lowercase()).join(build.file))
    }

    /// The cached file of `build` if it is present with its hash. A present file with another
    /// hash is removed (it cannot have been put there by dtm) and `None` returned. A build of the
    /// old layout is moved into its entry first.
    pub fn lookup(&self, build: &BuildRef<'_>) -> Result<Option<PathBuf>, RegistryError> {
        Ok(match self.find(build)? {
            Found::Here(path) => Some(path),
            Found::Missing | Found::Discarded(_) => None,
        })
    }

    /// Like [`Cache::lookup`], but says when a file was there and was discarded because its
    /// content no longer had its hash, so that the caller can tell the user.
    pub fn find(&self, build: &BuildRef<'_>) -> Result<Found, RegistryError> {
        let path = self.library_path(build)?;
        if !path.is_file() {
            let dir = self.platform_dir(build.name, build.version, build.platform)?;
            return Ok(self
                .adopt_legacy(&dir, build.file)?
                .filter(|(sha, _)| sha.eq_ignore_ascii_case(build.sha256))
                .map_or(Found::Missing, |(_, at)| Found::Here(at)));
        }
        if check(&path, build.sha256)?.is_some() {
            return Ok(Found::Here(path));
        }
        let _guard = self.lock_entry(&path)?;
        // Re-check under the lock: another process may just have replaced it.
        if path.is_file() && check(&path, build.sha256)?.is_some() {
            return Ok(Found::Here(path));
        }
        remove_library(&path)?;
        Ok(Found::Discarded(path))
    }

    /// Whether a cached build still has the hash it is filed under (through its stamp when the
    /// file is unchanged since it was last hashed). For builds found by [`Cache::list`] or
    /// [`Cache::newest`], before loading them.
    pub fn verify(&self, build: &CachedBuild) -> Result<bool, RegistryError> {
        Ok(check(&build.path, &build.sha256)?.is_some())
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
            sha256,
            ..
        } = build;
        let path = self.library_path(&build)?;
        let _guard = self.lock_entry(&path)?;
        if path.is_file() && check(&path, sha256)?.is_some() {
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
        lock_dir(library.parent().unwrap_or(&self.root))
    }

    /// Files a library of the old layout (`<platform dir>/<file>`) under the hash it has: it is
    /// hashed under the lock the old layout used for it and moved to `<platform dir>/<sha256>/`.
    /// Returns its hash and where it is now: still the old path when it cannot be moved (a
    /// read-only cache). `None` when there is no such file.
    fn adopt_legacy(
        &self,
        platform_dir: &Path,
        file: &str,
    ) -> Result<Option<(String, PathBuf)>, RegistryError> {
        let old = platform_dir.join(file);
        if !old.is_file() {
            return Ok(None);
        }
        // Without the lock (a read-only cache), nobody can be moving it either.
        let _guard = lock_dir(platform_dir).ok();
        if !old.is_file() {
            // Another process moved it meanwhile.
            return Ok(None);
        }
        let sha = sha256_file(&old).map_err(|e| RegistryError::io("cannot read", &old, e))?;
        let new = platform_dir.join(&sha).join(file);
        let moved = new
            .parent()
            .is_some_and(|dir| std::fs::create_dir_all(dir).is_ok())
            && std::fs::rename(&old, &new).is_ok();
        Ok(Some((sha, if moved { new } else { old })))
    }

    /// The newest cached build of `name` for `platform` that `requirement` allows and that still
    /// has its hash; without a requirement, releases are preferred over pre-releases, as
    /// [`super::Resolver::pick`] does. Of several builds of one version (republished with other
    /// bytes), the one cached last. Only files named as the platform names the plugin's library
    /// count.
    pub fn newest(
        &self,
        name: &str,
        platform: &Platform,
        requirement: Option<&semver::VersionReq>,
    ) -> Option<CachedBuild> {
        let file = platform.library_file_name(name);
        let platform = platform.to_string();
        let mut builds: Vec<(semver::Version, Option<std::time::SystemTime>, CachedBuild)> = self
            .list()
            .into_iter()
            .filter(|b| {
                b.name == name
                    && b.platform == platform
                    && b.path.file_name().is_some_and(|f| *f == *file)
            })
            .filter_map(|b| Some((semver::Version::parse(&b.version).ok()?, b)))
            .filter(|(v, _)| requirement.is_none_or(|r| r.matches(v)))
            .map(|(v, b)| {
                let cached = std::fs::metadata(&b.path).and_then(|m| m.modified()).ok();
                (v, cached, b)
            })
            .collect();
        // Releases first unless a requirement decides; then newest version; then newest file.
        builds.sort_by(|a, b| {
            let release = |v: &semver::Version| requirement.is_some() || v.pre.is_empty();
            release(&b.0)
                .cmp(&release(&a.0))
                .then_with(|| b.0.cmp(&a.0))
                .then_with(|| b.1.cmp(&a.1))
        });
        builds
            .into_iter()
            .map(|(_, _, b)| b)
            .find(|b| self.verify(b).unwrap_or(false))
    }

    /// Every cached build, sorted. Builds of the old layout are moved into their entries (or,
    /// in a read-only cache, listed where they are).
    pub fn list(&self) -> Vec<CachedBuild> {
        let mut out = Vec::new();
        let entries = |p: &Path| -> Vec<(String, PathBuf)> {
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
        for (name, np) in entries(&self.root) {
            for (version, vp) in entries(&np) {
                for (platform, pp) in entries(&vp) {
                    let build = |sha256: String, path: PathBuf| CachedBuild {
                        name: name.clone(),
                        version: version.clone(),
                        platform: platform.clone(),
                        sha256,
                        path,
                    };
                    let mut here = Vec::new();
                    for (file, fp) in entries(&pp) {
                        if fp.is_file()
                            && let Ok(Some((sha, at))) = self.adopt_legacy(&pp, &file)
                            && at == fp
                        {
                            // Not movable: listed where it is.
                            here.push(build(sha, at));
                        }
                    }
                    for (sha, sp) in entries(&pp) {
                        if !is_sha256(&sha) || !sp.is_dir() {
                            continue;
                        }
                        for (_, fp) in entries(&sp) {
                            if fp.is_file() {
                                here.push(build(sha.clone(), fp));
                            }
                        }
                    }
                    here.sort_by(|a, b| a.path.cmp(&b.path));
                    out.extend(here);
                }
            }
        }
        out
    }
}

/// Whether `s` is a SHA-256 in hex, as entry directories are named.
fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// [`stamp::verify`] with the error naming the file.
fn check(library: &Path, sha256: &str) -> Result<Option<Verified>, RegistryError> {
    stamp::verify(library, sha256).map_err(|e| RegistryError::io("cannot read", library, e))
}

/// Removes a library and its stamp.
fn remove_library(library: &Path) -> Result<(), RegistryError> {
    std::fs::remove_file(library).map_err(|e| RegistryError::io("cannot remove", library, e))?;
    stamp::remove(library)
        .map_err(|e| RegistryError::io("cannot remove", stamp::stamp_path(library), e))
}

/// Takes the OS lock on `<dir>/.lock`, creating both as needed.
fn lock_dir(dir: &Path) -> Result<EntryLock, RegistryError> {
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

    fn here() -> Platform {
        Platform::current()
    }

    /// Files `bytes` as a build of `file` `version` for `platform`, under their hash.
    fn put(cache: &Cache, version: &str, platform: &Platform, file: &str, bytes: &[u8]) -> PathBuf {
        let sha = sha256_hex(bytes);
        let p = cache
            .library_path(&BuildRef {
                name: "file",
                version,
                platform,
                file,
                sha256: &sha,
            })
            .unwrap();
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn build<'a>(
        version: &'a str,
        platform: &'a Platform,
        file: &'a str,
        sha256: &'a str,
    ) -> BuildRef<'a> {
        BuildRef {
            name: "file",
            version,
            platform,
            file,
            sha256,
        }
    }

    fn install(cache: &Cache, file: &str, bytes: &[u8]) -> PathBuf {
        let sha = sha256_hex(bytes);
        let origin = Origin {
            url: "test://",
            promised_by: Promise::SignedSums,
        };
        cache
            .install(build("0.1.0", &here(), file, &sha), origin, || {
                Ok(bytes.to_vec())
            })
            .unwrap()
    }

    /// Checks `library` until it is stamped: a file changed in the current clock tick is hashed
    /// but not stamped (see `stamp`). On a slow machine an earlier check (the one `install`
    /// makes) may have stamped it already, and the first check here finds the stamp.
    fn stamped(library: &Path, sha256: &str) {
        let started = std::time::Instant::now();
        while !matches!(
            check(library, sha256).unwrap(),
            Some(Verified::Hashed { stamped: true } | Verified::Stamp)
        ) {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "never stamped"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(check(library, sha256).unwrap(), Some(Verified::Stamp));
    }

    #[test]
    fn newest_prefers_releases_and_honours_the_requirement() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let here = here();
        let other = Platform::parse(if here.to_string() == "windows-x86_64" {
            "linux-x86_64"
        } else {
            "windows-x86_64"
        })
        .unwrap();
        let lib = here.library_file_name("file");
        put(&cache, "0.1.0", &here, &lib, b"0.1.0");
        put(&cache, "0.2.0", &here, &lib, b"0.2.0");
        put(&cache, "0.3.0-rc.1", &here, &lib, b"rc");
        put(
            &cache,
            "0.4.0",
            &other,
            &other.library_file_name("file"),
            b"0.4.0",
        );
        put(&cache, "0.5.0", &here, "not-the-library.so", b"0.5.0");
        // A newer build whose file no longer has its hash is passed over, not loaded.
        let changed = put(&cache, "0.6.0", &here, &lib, b"0.6.0");
        std::fs::write(changed, b"0.6.1").unwrap();
        let newest = |req: Option<&str>| {
            let req = req.map(|r| semver::VersionReq::parse(r).unwrap());
            cache.newest("file", &here, req.as_ref()).map(|b| b.version)
        };
        assert_eq!(newest(None).as_deref(), Some("0.2.0"));
        assert_eq!(newest(Some("0.1")).as_deref(), Some("0.1.0"));
        assert_eq!(
            newest(Some(">=0.3.0-rc.1, <0.4")).as_deref(),
            Some("0.3.0-rc.1")
        );
        assert_eq!(newest(Some("0.4")), None);
        assert_eq!(newest(Some("0.6")), None);
        assert_eq!(cache.newest("exec", &here, None), None);
    }

    #[test]
    fn a_republished_build_does_not_evict_the_one_a_lock_pins() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let lib = here().library_file_name("file");
        let (x, y) = (b"build x".as_slice(), b"build y, rebuilt".as_slice());
        let (sx, sy) = (sha256_hex(x), sha256_hex(y));
        let px = install(&cache, &lib, x);
        let py = install(&cache, &lib, y);
        assert_ne!(px, py);
        // Each hash finds its own build; neither lookup removes the other.
        let platform = here();
        assert_eq!(
            cache.lookup(&build("0.1.0", &platform, &lib, &sx)).unwrap(),
            Some(px.clone())
        );
        assert_eq!(
            cache.lookup(&build("0.1.0", &platform, &lib, &sy)).unwrap(),
            Some(py.clone())
        );
        assert_eq!(
            cache.lookup(&build("0.1.0", &platform, &lib, &sx)).unwrap(),
            Some(px.clone())
        );
        assert_eq!(std::fs::read(&px).unwrap(), x);
        let listed: Vec<(String, PathBuf)> = cache
            .list()
            .into_iter()
            .map(|b| (b.sha256, b.path))
            .collect();
        let mut expected = vec![(sx, px), (sy, py.clone())];
        expected.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(listed, expected);
        // Of two builds of one version, `newest` takes the one cached last.
        let newest = cache.newest("file", &platform, None).unwrap();
        assert_eq!(newest.path, py);
    }

    #[test]
    fn a_library_that_lost_its_hash_is_removed_with_its_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let lib = here().library_file_name("file");
        let path = install(&cache, &lib, b"good");
        let sha = sha256_hex(b"good");
        stamped(&path, &sha);
        std::fs::write(&path, b"evil, and longer").unwrap();
        let platform = here();
        assert_eq!(
            cache
                .lookup(&build("0.1.0", &platform, &lib, &sha))
                .unwrap(),
            None
        );
        assert!(!path.exists());
        assert!(!stamp::stamp_path(&path).exists());
        assert!(
            cache
                .library_path(&build("0.1.0", &platform, &lib, "../x"))
                .is_err()
        );
    }

    #[test]
    fn builds_of_the_old_layout_are_filed_under_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let platform = here();
        let lib = platform.library_file_name("file");
        let old_dir = dir.path().join("file/0.1.0").join(platform.to_string());
        std::fs::create_dir_all(&old_dir).unwrap();
        std::fs::write(old_dir.join(&lib), b"old build").unwrap();
        let sha = sha256_hex(b"old build");
        // Asked for another build (the registry republished), the old one is kept, by its hash.
        let other = sha256_hex(b"new build");
        assert_eq!(
            cache
                .lookup(&build("0.1.0", &platform, &lib, &other))
                .unwrap(),
            None
        );
        assert!(!old_dir.join(&lib).exists());
        let moved = old_dir.join(&sha).join(&lib);
        assert_eq!(std::fs::read(&moved).unwrap(), b"old build");
        assert_eq!(
            cache
                .lookup(&build("0.1.0", &platform, &lib, &sha))
                .unwrap(),
            Some(moved.clone())
        );

        // `list` files them too; asked for directly, the old file is found at once.
        std::fs::write(old_dir.join(&lib), b"older build").unwrap();
        let listed: Vec<String> = cache.list().into_iter().map(|b| b.sha256).collect();
        let mut expected = vec![sha.clone(), sha256_hex(b"older build")];
        expected.sort();
        assert_eq!(listed, expected);
        std::fs::write(old_dir.join(&lib), b"oldest build").unwrap();
        let oldest = sha256_hex(b"oldest build");
        assert_eq!(
            cache
                .lookup(&build("0.1.0", &platform, &lib, &oldest))
                .unwrap(),
            Some(old_dir.join(&oldest).join(&lib))
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_stamp_spares_the_hash_only_while_the_file_is_unchanged() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let lib = here().library_file_name("file");
        let content = b"a plugin library".to_vec();
        let sha = sha256_hex(&content);
        let path = install(&cache, &lib, &content);
        let mtime = || std::fs::metadata(&path).unwrap().modified().unwrap();

        // The same bytes with another modification time: hashed again (and stamped again).
        stamped(&path, &sha);
        let original = mtime();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(original - std::time::Duration::from_secs(60))
            .unwrap();
        assert!(matches!(
            check(&path, &sha).unwrap(),
            Some(Verified::Hashed { .. })
        ));

        // The same bytes in another file (another inode), modification time restored: hashed.
        stamped(&path, &sha);
        let original = mtime();
        let copy = path.with_extension("copy");
        std::fs::write(&copy, &content).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&copy)
            .unwrap()
            .set_modified(original)
            .unwrap();
        std::fs::rename(&copy, &path).unwrap();
        assert_eq!(mtime(), original);
        assert!(matches!(
            check(&path, &sha).unwrap(),
            Some(Verified::Hashed { .. })
        ));

        // Another size: refused.
        stamped(&path, &sha);
        let mut longer = content.clone();
        longer.push(b'!');
        std::fs::write(&path, &longer).unwrap();
        assert_eq!(check(&path, &sha).unwrap(), None);

        // Other bytes, same size, same inode, modification time restored: size, mtime and inode
        // are all as stamped, yet the change is seen (the change time moved) and refused.
        std::fs::write(&path, &content).unwrap();
        stamped(&path, &sha);
        let before = std::fs::metadata(&path).unwrap();
        let original = mtime();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.write_all_at(b"A", 0).unwrap();
        f.set_modified(original).unwrap();
        drop(f);
        let after = std::fs::metadata(&path).unwrap();
        {
            use std::os::unix::fs::MetadataExt;
            assert_eq!(
                (
                    after.len(),
                    after.mtime(),
                    after.mtime_nsec(),
                    after.ino(),
                    after.dev()
                ),
                (
                    before.len(),
                    before.mtime(),
                    before.mtime_nsec(),
                    before.ino(),
                    before.dev()
                )
            );
        }
        assert_ne!(std::fs::read(&path).unwrap(), content);
        assert_eq!(check(&path, &sha).unwrap(), None);
        let platform = here();
        assert_eq!(
            cache
                .lookup(&build("0.1.0", &platform, &lib, &sha))
                .unwrap(),
            None
        );
        assert!(!path.exists());
    }
}
