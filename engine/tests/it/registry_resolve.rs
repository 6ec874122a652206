//! Version resolution, ABI refusal, lock modes and path safety against a real directory registry
//! holding the real `file` plugin (published through the engine's own publish path), plus a few
//! versions fabricated by re-signing its checksums under other version numbers.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use std::path::PathBuf;

use dtm_engine::plugin::library_file_name;
use dtm_engine::registry::{
    BuildRef, Index, IndexBuild, IndexVersion, LockFile, LockMode, Platform, RegistrySettings,
    Resolver, Sums, Want, keygen, publish, read_secret_key, sha256_hex, sign_sums,
};

fn lib(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let p = dir.join(library_file_name(name));
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` first",
        p.display()
    );
    p
}

struct Reg {
    dir: tempfile::TempDir,
}

impl Reg {
    /// A home trusting a new key, and a registry with `file` 0.1.0 (real) plus 0.2.0, 1.0.0 and
    /// 1.1.0-rc.1 (ABI 1) and 2.0.0 (ABI 2), fabricated.
    fn new() -> Self {
        let r = Reg {
            dir: tempfile::tempdir().unwrap(),
        };
        let keys = keygen(&r.home().join("keys/signing")).unwrap();
        std::fs::create_dir_all(r.home().join("trusted-keys")).unwrap();
        std::fs::copy(&keys.public, r.home().join("trusted-keys/k.pub")).unwrap();
        let (sk, pk) = read_secret_key(&keys.secret).unwrap();
        let platform = Platform::current();
        publish(&r.registry(), &sk, &pk, &[lib("file")], &platform, false).unwrap();
        let bytes = std::fs::read(lib("file")).unwrap();
        let file = platform.library_file_name("file");
        let index_path = r.registry().join("index.json");
        let mut index = Index::parse(&std::fs::read(&index_path).unwrap(), "index").unwrap();
        for (version, abi) in [
            ("0.2.0", "1.0"),
            ("1.0.0", "1.3"),
            ("1.1.0-rc.1", "1.0"),
            ("2.0.0", "2.0"),
        ] {
            let vdir = r.registry().join("plugins/file").join(version);
            let pdir = vdir.join(platform.to_string());
            std::fs::create_dir_all(&pdir).unwrap();
            std::fs::write(pdir.join(&file), &bytes).unwrap();
            let mut sums = Sums::default();
            sums.entries
                .insert((platform.to_string(), file.clone()), sha256_hex(&bytes));
            sign_sums(&vdir, &sums, &sk, &pk, "file", version, abi).unwrap();
            let mut iv = IndexVersion {
                abi: abi.into(),
                ..IndexVersion::default()
            };
            iv.builds.insert(
                platform.to_string(),
                IndexBuild {
                    file: file.clone(),
                    size: bytes.len() as u64,
                    sha256: sha256_hex(&bytes),
                },
            );
            index
                .plugins
                .get_mut("file")
                .unwrap()
                .versions
                .insert(version.into(), iv);
        }
        std::fs::write(&index_path, index.to_json()).unwrap();
        std::fs::create_dir_all(r.project()).unwrap();
        r
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    fn registry(&self) -> PathBuf {
        self.dir.path().join("registry")
    }
    fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    fn resolver(&self, mode: LockMode) -> Resolver {
        let settings = RegistrySettings {
            home: Some(self.home()),
            default_registry: Some(format!("file://{}", self.registry().display())),
            mode,
            parallelism: 4,
            ..RegistrySettings::default()
        };
        Resolver::new(settings, &self.project(), None, None)
            .unwrap()
            .unwrap()
    }

    fn resolve(&self, mode: LockMode, req: Option<&str>) -> Result<String, String> {
        let want = Want {
            name: "file".into(),
            requirements: req
                .map(|r| vec![("file.a".to_string(), semver::VersionReq::parse(r).unwrap())])
                .unwrap_or_default(),
            configured: true,
        };
        let mut lock = LockFile::load(&self.project()).unwrap();
        let r = self
            .resolver(mode)
            .resolve(&[want], &mut lock, "dtm.yaml")
            .map_err(|e| e.to_string())?;
        assert_eq!(r.plugins.len(), 1);
        Ok(r.plugins[0].version.clone())
    }

    fn locked(&self) -> Option<String> {
        LockFile::load(&self.project())
            .unwrap()
            .plugins
            .get("file")
            .map(|e| e.version.clone())
    }
}

#[test]
fn highest_matching_release_for_this_abi() {
    let r = Reg::new();
    // 2.0.0 needs ABI 2 and 1.1.0-rc.1 is a pre-release: the newest usable is 1.0.0.
    assert_eq!(r.resolve(LockMode::Upgrade, None).unwrap(), "1.0.0");
    assert_eq!(r.resolve(LockMode::Upgrade, Some("<0.2")).unwrap(), "0.1.0");
    assert_eq!(r.resolve(LockMode::Upgrade, Some("^0.2")).unwrap(), "0.2.0");
    assert_eq!(
        r.resolve(LockMode::Upgrade, Some(">=1.1.0-rc.1, <2"))
            .unwrap(),
        "1.1.0-rc.1"
    );
    let err = r
        .resolve(LockMode::Upgrade, Some(">=5"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no version") && err.contains("2.0.0, 1.1.0-rc.1, 1.0.0"),
        "{err}"
    );
}

#[test]
fn another_abi_major_is_refused_naming_what_to_use() {
    let r = Reg::new();
    let err = r
        .resolve(LockMode::Upgrade, Some("=2.0.0"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("built for plugin ABI 2.0"), "{err}");
    assert!(
        err.contains("use a dtm release that speaks plugin ABI 2.x"),
        "{err}"
    );
    // Refused before anything was downloaded.
    assert!(!r.home().join("plugins/file/2.0.0").exists());
}

#[test]
fn lock_modes() {
    let r = Reg::new();
    assert_eq!(r.resolve(LockMode::Auto, Some("<1")).unwrap(), "0.2.0");
    assert_eq!(r.locked().as_deref(), Some("0.2.0"));
    // The lock holds even when the requirement allows newer versions.
    assert_eq!(r.resolve(LockMode::Auto, None).unwrap(), "0.2.0");
    assert_eq!(r.resolve(LockMode::Init, None).unwrap(), "0.2.0");
    assert_eq!(r.resolve(LockMode::Frozen, None).unwrap(), "0.2.0");
    // A requirement the pin no longer meets: an error outside init, a re-resolve in init.
    let err = r
        .resolve(LockMode::Auto, Some("<0.2"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pins 0.2.0") && err.contains("dtm init --upgrade"),
        "{err}"
    );
    assert_eq!(r.resolve(LockMode::Init, Some("<0.2")).unwrap(), "0.1.0");
    assert_eq!(r.locked().as_deref(), Some("0.1.0"));
    // --upgrade moves to the newest allowed.
    assert_eq!(r.resolve(LockMode::Upgrade, None).unwrap(), "1.0.0");
    assert_eq!(r.locked().as_deref(), Some("1.0.0"));
}

#[test]
fn frozen_without_a_lock_entry_fails() {
    let r = Reg::new();
    let err = r.resolve(LockMode::Frozen, None).unwrap_err();
    assert!(
        err.contains("is not in") && err.contains("dtm init"),
        "{err}"
    );
}

#[test]
fn names_from_a_registry_that_would_escape_the_cache_are_refused() {
    let r = Reg::new();
    // A checksums line naming a path outside the version's platform directory.
    let vdir = r.registry().join("plugins/file/0.1.0");
    let (sk, pk) = read_secret_key(&r.home().join("keys/signing.key")).unwrap();
    std::fs::write(
        vdir.join("SHA256SUMS"),
        format!("{}  linux-x86_64/../../../../evil.so\n", "a".repeat(64)),
    )
    .unwrap();
    // Sign it properly: the check must not rely on the signature alone.
    let text = std::fs::read_to_string(vdir.join("SHA256SUMS")).unwrap();
    let sig = minisign_sign(&sk, &pk, &text);
    std::fs::write(vdir.join("SHA256SUMS.minisig"), sig).unwrap();
    let err = r
        .resolve(LockMode::Upgrade, Some("=0.1.0"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("refusing") && err.contains("evil.so"), "{err}");
    assert!(!r.dir.path().join("evil.so").exists());
    // Versions in the index that are not plain semver are ignored.
    let cache = dtm_engine::registry::Cache::new(r.home().join("plugins"));
    assert!(
        cache
            .library_path(&BuildRef {
                name: "file",
                version: "../0.1.0",
                platform: &Platform::current(),
                file: "x.so",
                sha256: &"a".repeat(64),
            })
            .is_err()
    );
}

fn minisign_sign(sk: &minisign::SecretKey, pk: &minisign::PublicKey, text: &str) -> String {
    minisign::sign(
        Some(pk),
        sk,
        std::io::Cursor::new(text.as_bytes()),
        Some("dtm-plugin name=file version=0.1.0 abi=1.0"),
        None,
    )
    .unwrap()
    .into_string()
}
