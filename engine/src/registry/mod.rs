//! Plugin distribution: registries, signatures, the plugin cache and the lock file `dtm.lock`.
//!
//! A registry is a base URL (`https://`, `file://`, or `http://` on loopback) laid out as
//! docs/registry.md describes, so any static file server or plain directory is one:
//!
//! ```text
//! index.json                                      what is published (advisory, unsigned)
//! plugins/<name>/<version>/SHA256SUMS             `<sha256>  <os>-<arch>/<library file>` lines
//! plugins/<name>/<version>/SHA256SUMS.minisig     minisign signature over SHA256SUMS
//! plugins/<name>/<version>/<os>-<arch>/<library file>
//! ```
//!
//! Trust flows one way: a signature by a trusted key vouches for `SHA256SUMS` (and, through its
//! trusted comment, for the plugin name, version and ABI); `SHA256SUMS` vouches for each library.
//! The index only helps to find versions. A library enters the cache (`cache`, content-addressed
//! by hash) only after its hash matched, is checked again before each use (cheaply, through a
//! verified stamp: `stamp`), and the lock file (`lockfile`) pins the hashes so later runs load
//! exactly the same build. `resolve` ties these together for the workspace and `dtm init`; `publish` builds and
//! mirrors registries.

mod cache;
mod fetch;
mod layout;
mod lockfile;
mod platform;
mod publish;
mod resolve;
mod stamp;
mod trust;

use std::path::PathBuf;

pub use cache::{BuildRef, Cache, CachedBuild, Found, Origin};
pub use fetch::{Fetch, FetchError, FetchOptions, RegistryUrl, open_registry};
pub use layout::{Index, IndexBuild, IndexPlugin, IndexVersion, Sums, safe_component};
pub use lockfile::{LOCK_FILE_NAME, LockEntry, LockFile};
pub use platform::{Platform, library_file_name_for};
pub use publish::{
    KeyPairFiles, MirrorReport, PublishReport, keygen, mirror, publish, read_secret_key, sign_sums,
};
pub use resolve::{
    Event, EventSink, LockMode, RegistrySettings, Resolution, Resolved, Resolver, Want, wants_for,
};
/// Versions and version requirements, as manifests, tools' `version:` and [`Want`] use them.
pub use semver::{Version, VersionReq};
pub use trust::{BUILTIN_KEYS, TrustedKey, TrustedKeys, key_id};

/// The id (16 hex digits) of a minisign public key, as minisign prints it.
pub fn trust_key_id(key: &minisign::PublicKey) -> String {
    key_id(key.keynum())
}

/// Errors from registries, signatures, the cache and the lock file. Each names the plugin,
/// version, URL or file involved and, where there is one, what to do next.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry URL is not usable.
    #[error("registry `{url}`: {message}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// A download failed (after retries, where retrying made sense).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A registry document (index, checksums, signature) is malformed.
    #[error("{url}: malformed {what}: {message}")]
    Malformed {
        /// Where it came from.
        url: String,
        /// Which document.
        what: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A plugin name, version, platform or file name would escape the cache or registry layout.
    #[error(
        "refusing {what} `{value}`: it must be a single plain path component (no `/`, `\\`, `..`, or leading `.`)"
    )]
    UnsafeName {
        /// What kind of name.
        what: &'static str,
        /// The value that is not a valid name or version.
        value: String,
    },
    /// The registry does not publish the plugin.
    #[error("plugin `{name}` is not published in registry {registry}{hint}")]
    UnknownPlugin {
        /// The plugin, by the name configs give it.
        name: String,
        /// The registry that was asked, as the config or `--registry` names it.
        registry: String,
        /// A suggestion, possibly empty.
        hint: String,
    },
    /// No published version satisfies the requirement.
    #[error(
        "plugin `{name}`: no version in {registry} matches `{requirement}`; published: {published}"
    )]
    NoMatchingVersion {
        /// The plugin, by the name configs give it.
        name: String,
        /// The version requirement that could not be met, as written.
        requirement: String,
        /// The registry that was asked, as the config or `--registry` names it.
        registry: String,
        /// Published versions, newest first.
        published: String,
    },
    /// Matching versions exist but none speaks this dtm's plugin ABI major.
    #[error(
        "plugin `{name}` {version} is built for plugin ABI {abi}, but this dtm ({dtm}) speaks ABI {host}: use a dtm release that speaks plugin ABI {abi_major}.x, or require a version of `{name}` built for ABI {host_major}.x"
    )]
    AbiMismatch {
        /// The plugin, by the name configs give it.
        name: String,
        /// The plugin version, as published (`1.2.0`).
        version: String,
        /// The build's ABI (`major.minor`).
        abi: String,
        /// Its major.
        abi_major: u16,
        /// This dtm's version.
        dtm: String,
        /// Host ABI (`major.minor`).
        host: String,
        /// Host ABI major.
        host_major: u16,
    },
    /// The version has no build for this platform.
    #[error(
        "plugin `{name}` {version} has no build for {platform} in {registry} (builds: {available}); publish one or pick another version"
    )]
    NoBuild {
        /// The plugin, by the name configs give it.
        name: String,
        /// The plugin version, as published (`1.2.0`).
        version: String,
        /// The platform dtm runs on (`linux-x86_64`).
        platform: String,
        /// The registry that was asked, as the config or `--registry` names it.
        registry: String,
        /// Platforms that have builds.
        available: String,
    },
    /// The checksums file has no signature.
    #[error(
        "plugin `{name}` {version}: signature {url} is missing; refusing an unsigned build (the registry must publish SHA256SUMS.minisig)"
    )]
    MissingSignature {
        /// The plugin, by the name configs give it.
        name: String,
        /// The plugin version, as published (`1.2.0`).
        version: String,
        /// Where the signature of the checksums was fetched from.
        url: String,
    },
    /// The signature was made by a key dtm does not trust.
    #[error(
        "plugin `{name}` {version}: {url} is signed by key {key_id}, which is not trusted; trust it by putting its public key in {trust_dir} or setting config.pluginRegistryKey"
    )]
    UntrustedKey {
        /// The plugin, by the name configs give it.
        name: String,
        /// The plugin version, as published (`1.2.0`).
        version: String,
        /// Where the signature of the checksums was fetched from.
        url: String,
        /// The signing key's id (hex).
        key_id: String,
        /// Where trusted keys are read from.
        trust_dir: String,
    },
    /// The signature does not verify.
    #[error("plugin `{name}` {version}: bad signature {url} (key {key_id}): {message}")]
    BadSignature {
        /// The plugin, by the name configs give it.
        name: String,
        /// The plugin version, as published (`1.2.0`).
        version: String,
        /// Where the signature of the checksums was fetched from.
        url: String,
        /// Key id (hex).
        key_id: String,
        /// What failed.
        message: String,
    },
    /// A file's SHA-256 is not the one the signed checksums or the lock file promise.
    #[error(
        "plugin `{name}` {version}: checksum mismatch for {url}: expected sha256 {expected} ({source_of_truth}), got {actual}; the file was discarded"
    )]
    HashMismatch {
        /// The plugin, by the name configs give it.
        name: String,
        /// The plugin version, as published (`1.2.0`).
        version: String,
        /// Where the file came from.
        url: String,
        /// The SHA-256 the signed checksums or the lock file promise.
        expected: String,
        /// The SHA-256 of the bytes that were received.
        actual: String,
        /// Which document promised `expected`.
        source_of_truth: Promise,
    },
    /// The lock file pins a build that the registry no longer vouches for.
    #[error(
        "plugin `{name}` {version}: dtm.lock pins sha256 {locked} for {platform}, but the registry's signed SHA256SUMS says {published}; run `dtm init --upgrade` if the change is expected"
    )]
    LockDiffers {
        /// The plugin, by the name configs give it.
        name: String,
        /// The plugin version, as published (`1.2.0`).
        version: String,
        /// The platform the build is for (`linux-x86_64`).
        platform: String,
        /// Hash in the lock file.
        locked: String,
        /// Hash in the registry.
        published: String,
    },
    /// The lock file does not cover a plugin the config needs (frozen mode).
    #[error("plugin `{name}` is not in {lock}; run `dtm init -f {config}` to add it")]
    NotLocked {
        /// The plugin, by the name configs give it.
        name: String,
        /// The lock file (`dtm.lock`) that pins the plugin.
        lock: PathBuf,
        /// The config path as given.
        config: String,
    },
    /// The locked version no longer satisfies the config's requirement.
    #[error(
        "{tool}: requires plugin `{name}` {requirement}, but {lock} pins {version}; run `dtm init --upgrade` to move the lock"
    )]
    LockedVersionUnwanted {
        /// The tool instance, as `name.instanceID`.
        tool: String,
        /// The plugin, by the name configs give it.
        name: String,
        /// The version requirement the config states, as written.
        requirement: String,
        /// The version the lock file pins.
        version: String,
        /// The lock file (`dtm.lock`) that pins the plugin.
        lock: PathBuf,
    },
    /// The lock has no hash for this platform.
    #[error(
        "plugin `{name}` {version}: {lock} has no build for {platform}; run `dtm init` on this platform to add its hash"
    )]
    LockMissingPlatform {
        /// The plugin, by the name configs give it.
        name: String,
        /// The plugin version, as published (`1.2.0`).
        version: String,
        /// The platform dtm runs on (`linux-x86_64`).
        platform: String,
        /// The lock file (`dtm.lock`) that pins the plugin.
        lock: PathBuf,
    },
    /// A locked build is not in the cache and no registry is configured to fetch it from.
    #[error(
        "plugin `{name}` {version} is locked in {lock} but not in the plugin cache ({cache}), and no registry is configured; set config.pluginRegistry or the default registry in the dtm home"
    )]
    NoRegistry {
        /// The plugin, by the name configs give it.
        name: String,
        /// The plugin version, as published (`1.2.0`).
        version: String,
        /// The lock file (`dtm.lock`) that pins the plugin.
        lock: PathBuf,
        /// The plugin cache directory that was searched.
        cache: PathBuf,
    },
    /// The lock file cannot be parsed.
    #[error("{}: {message}; fix it or delete it and run `dtm init`", path.display())]
    BadLock {
        /// The lock file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A key file cannot be read or parsed.
    #[error("key {}: {message}", path.display())]
    BadKey {
        /// The key file (or `config.pluginRegistryKey`).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Signing failed.
    #[error("cannot sign {what}: {message}")]
    Sign {
        /// What was being signed.
        what: String,
        /// The signing library's message.
        message: String,
    },
    /// The plugin library is not what it claims to be.
    #[error("{}: {message}", path.display())]
    BadLibrary {
        /// The library.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The plugin host refused a library.
    #[error(transparent)]
    Host(#[from] crate::plugin::HostError),
    /// A filesystem operation failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done ("cannot write", ...).
        action: &'static str,
        /// The path the operation was on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Several plugins failed; every failure is listed.
    #[error("{} plugins failed:\n{}", .0.len(), crate::text::indented_lines(.0.iter().map(crate::text::Chain::of)))]
    Many(Vec<RegistryError>),
}

/// Which document promised a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promise {
    /// The registry's signed `SHA256SUMS`.
    SignedSums,
    /// The lock file (`dtm.lock`) that pins the plugin.
    LockFile,
}

impl std::fmt::Display for Promise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Promise::SignedSums => "signed SHA256SUMS",
            Promise::LockFile => "dtm.lock",
        })
    }
}

impl RegistryError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        RegistryError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// One error for a list: itself when there is one, `Many` otherwise.
    pub(crate) fn collect(mut errors: Vec<RegistryError>) -> Result<(), RegistryError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(RegistryError::Many(errors)),
        }
    }
}

/// Hex SHA-256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
