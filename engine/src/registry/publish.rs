//! Making registries: signing keys, publishing built libraries into a directory registry, and
//! mirroring what a config needs into a new one.

use std::path::{Path, PathBuf};

use dtm_plugin_protocol::unpack_abi_version;
use minisign::{KeyPair, PublicKey, SecretKey, SecretKeyBox};

use super::cache::write_atomically;
use super::layout::{
    INDEX, Index, IndexBuild, IndexPlugin, IndexVersion, SUMS, SUMS_SIG, Sums, check_name_version,
    library_path, trusted_comment, version_dir,
};
use super::lockfile::LockFile;
use super::platform::Platform;
use super::resolve::{Resolver, Want};
use super::trust::key_id;
use super::{RegistryError, sha256_hex};
use crate::plugin::PluginHost;

/// The files of a key pair made by [`keygen`].
#[derive(Debug, Clone)]
pub struct KeyPairFiles {
    /// The secret key (`.key`), unencrypted, mode 0600.
    pub secret: PathBuf,
    /// The public key (`.pub`).
    pub public: PathBuf,
    /// Key id (16 hex digits).
    pub id: String,
}

/// Writes a new minisign key pair to `<stem>.key` and `<stem>.pub`; refuses to overwrite.
pub fn keygen(stem: &Path) -> Result<KeyPairFiles, RegistryError> {
    let secret = stem.with_extension("key");
    let public = stem.with_extension("pub");
    for p in [&secret, &public] {
        if p.exists() {
            return Err(RegistryError::BadKey {
                path: p.clone(),
                message: "already exists; refusing to overwrite a key (remove it first, or pass another path)".into(),
            });
        }
    }
    let sign_err = |e: minisign::PError| RegistryError::Sign {
        what: "a new key pair".into(),
        message: e.to_string(),
    };
    let KeyPair { pk, sk } = KeyPair::generate_unencrypted_keypair().map_err(sign_err)?;
    let id = key_id(pk.keynum());
    let sk_text = sk
        .to_box(Some(&format!("dtm plugin signing key {id}")))
        .map_err(sign_err)?
        .into_string();
    let pk_text = pk.to_box().map_err(sign_err)?.into_string();
    write_private(&secret, sk_text.as_bytes())?;
    write_atomically(&public, pk_text.as_bytes())?;
    Ok(KeyPairFiles { secret, public, id })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| RegistryError::io("cannot create", dir, e))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| RegistryError::io("cannot create", path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| RegistryError::io("cannot write", path, e))
}

/// Reads an unencrypted minisign secret key; returns it with its public key.
pub fn read_secret_key(path: &Path) -> Result<(SecretKey, PublicKey), RegistryError> {
    let bad = |message: String| RegistryError::BadKey {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let sk = SecretKeyBox::from_string(&text)
        .and_then(|b| b.into_unencrypted_secret_key())
        .map_err(|e| {
            bad(format!(
                "not an unencrypted minisign secret key ({e}); make one with `dtm plugin keygen`"
            ))
        })?;
    let pk = PublicKey::from_secret_key(&sk).map_err(|e| bad(e.to_string()))?;
    Ok((sk, pk))
}

/// What [`publish`] did.
#[derive(Debug, Clone, Default)]
pub struct PublishReport {
    /// `(name, version, platform, sha256)` per library.
    pub published: Vec<(String, String, String, String)>,
}

/// Publishes built plugin libraries into the directory registry `dir` (created if needed):
/// reads each library's manifest through the host, copies it to its place in the layout,
/// rewrites the version's `SHA256SUMS`, signs it with `sk`, and updates `index.json`.
///
/// Re-publishing a version for a platform with a different build is refused unless `force`:
/// lock files elsewhere pin the old hash.
pub fn publish(
    dir: &Path,
    sk: &SecretKey,
    pk: &PublicKey,
    libraries: &[PathBuf],
    platform: &Platform,
    force: bool,
) -> Result<PublishReport, RegistryError> {
    std::fs::create_dir_all(dir).map_err(|e| RegistryError::io("cannot create", dir, e))?;
    let _guard = lock_dir(dir)?;
    let host = PluginHost::default();
    let index_path = dir.join(INDEX);
    let mut index = read_index_or_new(&index_path)?;
    let mut report = PublishReport::default();
    for lib in libraries {
        let plugin = host.load(lib)?;
        let m = plugin.manifest();
        check_name_version(&m.name, &m.version)?;
        let (major, minor) = unpack_abi_version(m.abi_version);
        let abi = format!("{major}.{minor}");
        let bytes = std::fs::read(lib).map_err(|e| RegistryError::io("cannot read", lib, e))?;
        let sha = sha256_hex(&bytes);
        let file = platform.library_file_name(&m.name);
        let vdir = dir.join(version_dir(&m.name, &m.version));
        let sums_path = vdir.join(SUMS);
        let mut sums = if sums_path.is_file() {
            let text = std::fs::read_to_string(&sums_path)
                .map_err(|e| RegistryError::io("cannot read", &sums_path, e))?;
            Sums::parse(&text, &sums_path.display().to_string())?
        } else {
            Sums::default()
        };
        let key = (platform.to_string(), file.clone());
        if let Some(old) = sums.entries.get(&key)
            && old != &sha
            && !force
        {
            return Err(RegistryError::BadLibrary {
                path: lib.clone(),
                message: format!(
                    "`{}` {} is already published for {platform} with sha256 {old}; bump the plugin's version (lock files pin published builds), or pass --force",
                    m.name, m.version
                ),
            });
        }
        write_atomically(
            &dir.join(library_path(&m.name, &m.version, platform, &file)),
            &bytes,
        )?;
        sums.entries.insert(key, sha.clone());
        sign_sums(&vdir, &sums, sk, pk, &m.name, &m.version, &abi)?;
        let entry = index
            .plugins
            .entry(m.name.clone())
            .or_insert_with(IndexPlugin::default);
        let newest = entry
            .versions
            .keys()
            .filter_map(|v| semver::Version::parse(v).ok())
            .max();
        if newest.is_none_or(|n| semver::Version::parse(&m.version).is_ok_and(|v| v >= n)) {
            entry.description = m.description.clone();
        }
        let version = entry
            .versions
            .entry(m.version.clone())
            .or_insert_with(IndexVersion::default);
        version.abi = abi;
        version.builds.insert(
            platform.to_string(),
            IndexBuild {
                file,
                size: bytes.len() as u64,
                sha256: sha.clone(),
            },
        );
        report
            .published
            .push((m.name.clone(), m.version.clone(), platform.to_string(), sha));
    }
    write_atomically(&index_path, index.to_json().as_bytes())?;
    Ok(report)
}

/// Writes `SHA256SUMS` and its signature into a version directory.
pub fn sign_sums(
    vdir: &Path,
    sums: &Sums,
    sk: &SecretKey,
    pk: &PublicKey,
    name: &str,
    version: &str,
    abi: &str,
) -> Result<(), RegistryError> {
    let text = sums.to_text();
    let comment = trusted_comment(name, version, abi);
    let sig = minisign::sign(
        Some(pk),
        sk,
        std::io::Cursor::new(text.as_bytes()),
        Some(&comment),
        Some(&format!(
            "signature from dtm plugin signing key {}",
            key_id(pk.keynum())
        )),
    )
    .map_err(|e| RegistryError::Sign {
        what: vdir.join(SUMS).display().to_string(),
        message: e.to_string(),
    })?;
    write_atomically(&vdir.join(SUMS), text.as_bytes())?;
    write_atomically(&vdir.join(SUMS_SIG), sig.into_string().as_bytes())
}

fn lock_dir(dir: &Path) -> Result<std::fs::File, RegistryError> {
    let p = dir.join(".publish.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| RegistryError::io("cannot open", &p, e))?;
    fs4::FileExt::lock(&f).map_err(|e| RegistryError::io("cannot lock", &p, e))?;
    Ok(f)
}

/// What [`mirror`] copied.
#[derive(Debug, Clone, Default)]
pub struct MirrorReport {
    /// `(name, version, builds copied)`.
    pub copied: Vec<(String, String, usize)>,
    /// Bytes of libraries copied.
    pub bytes: u64,
}

/// Copies exactly the plugin versions `wants` resolve to (the locked version when `lock` has
/// one) from the resolver's registry into the directory registry `to`: every build listed in
/// the signed checksums, verified on the way, with the checksums and signature byte for byte,
/// and an index of just those versions.
pub fn mirror(
    resolver: &Resolver,
    wants: &[Want],
    lock: &LockFile,
    to: &Path,
) -> Result<MirrorReport, RegistryError> {
    std::fs::create_dir_all(to).map_err(|e| RegistryError::io("cannot create", to, e))?;
    let _guard = lock_dir(to)?;
    let fetch = resolver.fetcher()?.ok_or_else(|| RegistryError::BadUrl {
        url: String::new(),
        message: "no registry to mirror from: set config.pluginRegistry or the default registry"
            .into(),
    })?;
    let index_path = to.join(INDEX);
    let mut index = read_index_or_new(&index_path)?;
    let source_index = resolver.index().ok();
    let mut report = MirrorReport::default();
    for want in wants {
        let version = match lock.plugins.get(&want.name) {
            Some(e) => e.version.clone(),
            None => resolver.pick(want)?.0,
        };
        let (sums, abi, sums_bytes, sig_bytes) = resolver.verified_sums(&want.name, &version)?;
        let vdir = to.join(version_dir(&want.name, &version));
        let mut builds = std::collections::BTreeMap::new();
        for ((platform, file), sha) in &sums.entries {
            let Some(p) = Platform::parse(platform) else {
                continue;
            };
            let rel = library_path(&want.name, &version, &p, file);
            let url = fetch.url(&rel);
            let bytes = fetch.get(&rel, &mut |_, _| {})?;
            let actual = sha256_hex(&bytes);
            if &actual != sha {
                return Err(RegistryError::HashMismatch {
                    name: want.name.clone(),
                    version: version.clone(),
                    url,
                    expected: sha.clone(),
                    actual,
                    source_of_truth: super::Promise::SignedSums,
                });
            }
            write_atomically(&to.join(&rel), &bytes)?;
            report.bytes += bytes.len() as u64;
            builds.insert(
                platform.clone(),
                IndexBuild {
                    file: file.clone(),
                    size: bytes.len() as u64,
                    sha256: sha.clone(),
                },
            );
        }
        write_atomically(&vdir.join(SUMS), &sums_bytes)?;
        write_atomically(&vdir.join(SUMS_SIG), &sig_bytes)?;
        let entry = index.plugins.entry(want.name.clone()).or_default();
        if let Some(src) = source_index
            .as_ref()
            .and_then(|i| i.plugins.get(&want.name))
        {
            entry.description = src.description.clone();
        }
        report
            .copied
            .push((want.name.clone(), version.clone(), builds.len()));
        entry.versions.insert(version, IndexVersion { abi, builds });
    }
    write_atomically(&index_path, index.to_json().as_bytes())?;
    Ok(report)
}

/// The registry index at `path`, or an empty one when the registry is new.
fn read_index_or_new(path: &Path) -> Result<Index, RegistryError> {
    if !path.is_file() {
        return Ok(Index {
            format: super::layout::INDEX_FORMAT,
            ..Index::default()
        });
    }
    let bytes = std::fs::read(path).map_err(|e| RegistryError::io("cannot read", path, e))?;
    Index::parse(&bytes, &path.display().to_string())
}
