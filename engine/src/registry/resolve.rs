//! Resolution: which build of each plugin a config uses, and making sure it is in the cache,
//! verified, before anything opens it.
//!
//! For each plugin: a lock entry whose build is cached with the locked hash is used as is (no
//! request at all). A locked build missing from the cache is downloaded, and must match both the
//! registry's signed checksums and the lock. An unlocked plugin is resolved from the registry's
//! index (highest version matching the tool's requirement, for this dtm's ABI), verified, cached
//! and added to the lock. Builds are fetched in parallel.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dtm_plugin_protocol::{ABI_MAJOR, ABI_MINOR};

use super::cache::{BuildRef, Cache, Found, Origin};
use super::fetch::{Fetch, FetchFailure, FetchOptions, RegistryUrl, open_registry};
use super::layout::{
    INDEX, Index, IndexVersion, SUMS, SUMS_SIG, Sums, check_name_version, library_path, parse_abi,
    parse_trusted_comment, version_dir,
};
use super::lockfile::{LockEntry, LockFile};
use super::platform::Platform;
use super::trust::TrustedKeys;
use super::{FetchError, Promise, RegistryError};

/// Something worth showing while resolving.
#[derive(Debug, Clone)]
pub enum Event {
    /// A note for the user.
    Info(String),
    /// Something the user should know (e.g. insecure HTTP).
    Warning(String),
    /// A failed attempt that will be retried.
    Retry {
        /// The URL that was requested.
        url: String,
        /// Attempt that failed (1-based).
        attempt: u32,
        /// Delay before the next one.
        wait: Duration,
        /// Why it failed.
        reason: String,
    },
    /// A library download starts.
    DownloadStart {
        /// `name version`.
        id: String,
        /// Where from.
        url: String,
    },
    /// Bytes arrived.
    DownloadProgress {
        /// `name version`.
        id: String,
        /// Bytes so far.
        done: u64,
        /// Size, if known.
        total: Option<u64>,
    },
    /// A download ended (successfully or not).
    DownloadEnd {
        /// `name version`.
        id: String,
        /// How many bytes were received.
        bytes: u64,
        /// How long it took.
        elapsed: Duration,
        /// Whether it succeeded.
        ok: bool,
    },
}

/// Receives [`Event`]s, from several threads.
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// How the lock file is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockMode {
    /// Use locked builds; resolve and add plugins the lock lacks (a first `apply` does `init`).
    #[default]
    Auto,
    /// `dtm init`: like `Auto`, and also re-resolve locked versions the config no longer
    /// allows, and drop entries for plugins the config no longer names.
    Init,
    /// `dtm init --upgrade`: resolve every plugin afresh to the newest allowed version.
    Upgrade,
    /// Only locked builds: a plugin the lock lacks is an error (`dtm verify`); never writes.
    Frozen,
}

/// Registry-related settings, resolved by the caller from flags, environment and files.
#[derive(Clone, Default)]
pub struct RegistrySettings {
    /// The dtm home: cache in `plugins/`, trusted keys in `trusted-keys/`. None: no registry
    /// support (plugins only from directories).
    pub home: Option<PathBuf>,
    /// Registry used when the config names none (`<dtm home>/config.toml`, `DTM_REGISTRY`).
    pub default_registry: Option<String>,
    /// Timeouts, retries, insecure HTTP.
    pub fetch: FetchOptions,
    /// Lock file treatment.
    pub mode: LockMode,
    /// Where progress goes.
    pub events: Option<EventSink>,
    /// Concurrent downloads.
    pub parallelism: usize,
}

impl fmt::Debug for RegistrySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrySettings")
            .field("home", &self.home)
            .field("default_registry", &self.default_registry)
            .field("fetch", &self.fetch)
            .field("mode", &self.mode)
            .field("parallelism", &self.parallelism)
            .finish_non_exhaustive()
    }
}

/// A plugin a config needs.
#[derive(Debug, Clone)]
pub struct Want {
    /// The plugin, by the name configs give it.
    pub name: String,
    /// Version requirement (the strictest tool's; several tools' requirements all apply).
    pub requirements: Vec<(String, semver::VersionReq)>,
    /// Whether the config names it (as opposed to a resource only in state).
    pub configured: bool,
}

/// A build ready to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The plugin, by the name configs give it.
    pub name: String,
    /// The plugin version, as published (`1.2.0`).
    pub version: String,
    /// The verified library in the cache.
    pub path: PathBuf,
    /// Whether it was downloaded by this run.
    pub downloaded: bool,
}

/// The outcome of [`Resolver::resolve`].
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// Plugins served from the cache.
    pub plugins: Vec<Resolved>,
    /// Plugins the registry machinery does not handle (no lock entry, no registry): the caller
    /// looks for them in its plugin directories.
    pub unhandled: Vec<String>,
    /// Whether the lock file was written.
    pub lock_written: bool,
}

/// Resolves plugins against one registry, the cache and the trusted keys.
pub struct Resolver {
    settings: RegistrySettings,
    cache: Cache,
    trusted: TrustedKeys,
    platform: Platform,
    registry: Option<RegistryUrl>,
    fetch: Mutex<Option<Arc<dyn Fetch>>>,
    index: Mutex<Option<Arc<Index>>>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("cache", &self.cache)
            .field("registry", &self.registry)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver for a config in `config_dir` whose `pluginRegistry`/`pluginRegistryKey` are
    /// `registry`/`key`. Returns None when there is no dtm home (nowhere to cache).
    pub fn new(
        settings: RegistrySettings,
        config_dir: &Path,
        registry: Option<&str>,
        key: Option<&str>,
    ) -> Result<Option<Self>, RegistryError> {
        let Some(home) = settings.home.clone() else {
            return Ok(None);
        };
        let url = match (registry, &settings.default_registry) {
            (Some(r), _) => Some(RegistryUrl::parse(
                r,
                config_dir,
                settings.fetch.insecure_http,
            )?),
            (None, Some(r)) => Some(RegistryUrl::parse(r, &home, settings.fetch.insecure_http)?),
            (None, None) => None,
        };
        let registry = url.map(|(u, warning)| {
            if let (Some(w), Some(ev)) = (warning, &settings.events) {
                ev(Event::Warning(w));
            }
            u
        });
        Ok(Some(Self {
            cache: Cache::new(home.join("plugins")),
            trusted: TrustedKeys::load(Some(&home.join("trusted-keys")), key)?,
            platform: Platform::current(),
            registry,
            settings,
            fetch: Mutex::new(None),
            index: Mutex::new(None),
        }))
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The trusted keys.
    pub fn trusted(&self) -> &TrustedKeys {
        &self.trusted
    }

    /// The registry, if one is configured.
    pub fn registry(&self) -> Option<&RegistryUrl> {
        self.registry.as_ref()
    }

    /// The platform builds are resolved for.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The cached build, warning when a cached file had changed and was discarded (it is then
    /// fetched again, or the resolution fails).
    fn cached(&self, build: &BuildRef<'_>) -> Result<Option<PathBuf>, RegistryError> {
        Ok(match self.cache.find(build)? {
            Found::Here(path) => Some(path),
            Found::Missing => None,
            Found::Discarded(path) => {
                self.emit(Event::Warning(format!(
                    "the cached {} {} at {} had changed since dtm verified it (sha256 {} \
                     expected); it was removed and will be fetched again",
                    build.name,
                    build.version,
                    path.display(),
                    build.sha256
                )));
                None
            }
        })
    }

    fn emit(&self, e: Event) {
        if let Some(ev) = &self.settings.events {
            ev(e);
        }
    }

    /// The registry's fetcher, opened on first use.
    pub fn fetcher(&self) -> Result<Option<Arc<dyn Fetch>>, RegistryError> {
        let Some(url) = &self.registry else {
            return Ok(None);
        };
        let mut slot = self.fetch.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = slot.as_ref() {
            return Ok(Some(f.clone()));
        }
        let f: Arc<dyn Fetch> = Arc::from(open_registry(
            url,
            &self.settings.fetch,
            self.settings.events.clone(),
        )?);
        *slot = Some(f.clone());
        Ok(Some(f))
    }

    fn require_fetcher(&self) -> Result<Arc<dyn Fetch>, RegistryError> {
        self.fetcher()?.ok_or_else(|| RegistryError::BadUrl {
            url: String::new(),
            message: "no registry is configured: set config.pluginRegistry, DTM_REGISTRY, or `registry` in <dtm home>/config.toml".into(),
        })
    }

    /// The registry's index, fetched once.
    pub fn index(&self) -> Result<Arc<Index>, RegistryError> {
        let fetch = self.require_fetcher()?;
        let mut slot = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = slot.as_ref() {
            return Ok(i.clone());
        }
        let bytes = fetch.get(INDEX, &mut |_, _| {})?;
        let index = Arc::new(Index::parse(&bytes, &fetch.url(INDEX))?);
        *slot = Some(index.clone());
        Ok(index)
    }

    /// Fetches a version's checksums and signature, checks the signature against the trusted
    /// keys and that it was made for this plugin, version and a compatible ABI. Returns the
    /// checksums, the ABI (`major.minor`) and the raw files (for mirroring).
    pub fn verified_sums(
        &self,
        name: &str,
        version: &str,
    ) -> Result<(Sums, String, Vec<u8>, Vec<u8>), RegistryError> {
        check_name_version(name, version)?;
        let fetch = self.require_fetcher()?;
        let dir = version_dir(name, version);
        let sums_rel = format!("{dir}/{SUMS}");
        let sig_rel = format!("{dir}/{SUMS_SIG}");
        let sums_url = fetch.url(&sums_rel);
        let sig_url = fetch.url(&sig_rel);
        let sums_bytes = fetch.get(&sums_rel, &mut |_, _| {})?;
        let sig_bytes = match fetch.get(&sig_rel, &mut |_, _| {}) {
            Ok(b) => b,
            Err(FetchError {
                failure: FetchFailure::NotFound,
                ..
            }) => {
                return Err(RegistryError::MissingSignature {
                    name: name.into(),
                    version: version.into(),
                    url: sig_url,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let sig_text = String::from_utf8_lossy(&sig_bytes);
        let comment = self
            .trusted
            .verify(&sums_bytes, &sig_text, name, version, &sig_url)?;
        let bad = |message: String| RegistryError::BadSignature {
            name: name.into(),
            version: version.into(),
            url: sig_url.clone(),
            key_id: super::trust::key_id(
                minisign::SignatureBox::from_string(&sig_text)
                    .map(|s| s.keynum().to_vec())
                    .unwrap_or_default()
                    .as_slice(),
            ),
            message,
        };
        let Some((n, v, abi)) = parse_trusted_comment(&comment) else {
            return Err(bad(format!(
                "its trusted comment `{comment}` does not describe a dtm plugin build"
            )));
        };
        if n != name || v != version {
            return Err(bad(format!(
                "it was made for `{n}` {v}, not `{name}` {version}"
            )));
        }
        self.check_abi(name, version, &abi)?;
        let text = String::from_utf8(sums_bytes.clone()).map_err(|_| RegistryError::Malformed {
            url: sums_url.clone(),
            what: "SHA256SUMS",
            message: "not UTF-8".into(),
        })?;
        let sums = Sums::parse(&text, &sums_url)?;
        Ok((sums, abi, sums_bytes, sig_bytes))
    }

    fn check_abi(&self, name: &str, version: &str, abi: &str) -> Result<(), RegistryError> {
        let major = parse_abi(abi).map(|(m, _)| m);
        if major == Some(ABI_MAJOR) {
            return Ok(());
        }
        Err(RegistryError::AbiMismatch {
            name: name.into(),
            version: version.into(),
            abi: abi.into(),
            abi_major: major.unwrap_or(0),
            dtm: env!("CARGO_PKG_VERSION").into(),
            host: format!("{ABI_MAJOR}.{ABI_MINOR}"),
            host_major: ABI_MAJOR,
        })
    }

    /// Picks the highest published version of `want` that its requirements allow and that speaks
    /// this dtm's ABI.
    pub fn pick(&self, want: &Want) -> Result<(String, IndexVersion), RegistryError> {
        let index = self.index()?;
        let registry = self
            .registry
            .as_ref()
            .map(RegistryUrl::display)
            .unwrap_or_default();
        let versions = index.versions(&want.name);
        if versions.is_empty() {
            return Err(RegistryError::UnknownPlugin {
                name: want.name.clone(),
                registry,
                hint: "; `dtm plugin search` lists what it publishes".into(),
            });
        }
        let allowed = |v: &semver::Version| {
            if want.requirements.is_empty() {
                v.pre.is_empty()
            } else {
                want.requirements.iter().all(|(_, r)| r.matches(v))
            }
        };
        let mut matching: Vec<_> = versions.iter().filter(|(v, _)| allowed(v)).collect();
        if matching.is_empty() && want.requirements.is_empty() {
            // Only pre-releases are published: take the newest.
            matching = versions.iter().collect();
        }
        let Some(newest) = matching.first() else {
            return Err(RegistryError::NoMatchingVersion {
                name: want.name.clone(),
                requirement: want
                    .requirements
                    .iter()
                    .map(|(_, r)| r.to_string())
                    .collect::<Vec<_>>()
                    .join(" and "),
                registry,
                published: versions
                    .iter()
                    .map(|(v, _)| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let chosen = matching
            .iter()
            .find(|(_, iv)| parse_abi(&iv.abi).is_some_and(|(m, _)| m == ABI_MAJOR));
        let Some((version, iv)) = chosen else {
            let (v, iv) = newest;
            return Err(match self.check_abi(&want.name, &v.to_string(), &iv.abi) {
                Err(e) => e,
                Ok(()) => RegistryError::Malformed {
                    url: registry,
                    what: "index",
                    message: format!("unreadable ABI `{}` for `{}` {v}", iv.abi, want.name),
                },
            });
        };
        let platform = self.platform.to_string();
        if !iv.builds.is_empty() && !iv.builds.contains_key(&platform) {
            return Err(RegistryError::NoBuild {
                name: want.name.clone(),
                version: version.to_string(),
                platform,
                registry,
                available: iv.builds.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        Ok((version.to_string(), (*iv).clone()))
    }

    /// Resolves one plugin outside any config, for commands such as `dtm show config -p`: the
    /// version [`Resolver::pick`] chooses for `want`, its signed checksums verified and its
    /// build taken from the cache or downloaded into it, exactly as [`Resolver::resolve`] does
    /// for a plugin the lock lacks. No lock file is read or written.
    pub fn fetch_one(&self, want: &Want) -> Result<Resolved, RegistryError> {
        let (version, _) = self.pick(want)?;
        Ok(self.download(&want.name, &version, None)?.0)
    }

    /// Resolves `wants` against the lock, the cache and the registry; downloads what is
    /// missing in parallel; updates and writes the lock (unless frozen).
    pub fn resolve(
        &self,
        wants: &[Want],
        lock: &mut LockFile,
        config_arg: &str,
    ) -> Result<Resolution, RegistryError> {
        let mode = self.settings.mode;
        let mut resolution = Resolution::default();
        let mut jobs: Vec<Job> = Vec::new();
        let mut errors = Vec::new();
        for want in wants {
            let locked = lock
                .plugins
                .get(&want.name)
                .filter(|_| mode != LockMode::Upgrade);
            let unwanted = locked.and_then(|e| {
                let v = semver::Version::parse(&e.version).ok()?;
                want.requirements
                    .iter()
                    .find(|(_, r)| !r.matches(&v))
                    .cloned()
            });
            match (locked, unwanted) {
                (Some(e), Some((tool, req))) if mode != LockMode::Init => {
                    errors.push(RegistryError::LockedVersionUnwanted {
                        tool,
                        name: want.name.clone(),
                        requirement: req.to_string(),
                        version: e.version.clone(),
                        lock: lock.path.clone(),
                    });
                }
                (Some(e), None) => jobs.push(Job::Locked {
                    name: want.name.clone(),
                    entry: e.clone(),
                }),
                _ => {
                    if mode == LockMode::Frozen {
                        if lock.existed || self.registry.is_some() {
                            errors.push(RegistryError::NotLocked {
                                name: want.name.clone(),
                                lock: lock.path.clone(),
                                config: config_arg.to_string(),
                            });
                        } else {
                            resolution.unhandled.push(want.name.clone());
                        }
                    } else if self.registry.is_none() {
                        resolution.unhandled.push(want.name.clone());
                    } else {
                        match self.pick(want) {
                            Ok((version, _)) => jobs.push(Job::Fresh {
                                name: want.name.clone(),
                                version,
                            }),
                            Err(e) => errors.push(e),
                        }
                    }
                }
            }
        }
        RegistryError::collect(errors)?;

        let results = self.run_jobs(&jobs, &lock.path);
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok((resolved, entry)) => {
                    if mode != LockMode::Frozen {
                        lock.plugins.insert(resolved.name.clone(), entry);
                    }
                    resolution.plugins.push(resolved);
                }
                Err(e) => errors.push(e),
            }
        }
        RegistryError::collect(errors)?;
        if matches!(mode, LockMode::Init | LockMode::Upgrade) {
            lock.plugins
                .retain(|name, _| wants.iter().any(|w| w.configured && &w.name == name));
        }
        if mode != LockMode::Frozen && !lock.plugins.is_empty() {
            resolution.lock_written = lock.save()?;
        }
        resolution.plugins.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(resolution)
    }

    fn run_jobs(
        &self,
        jobs: &[Job],
        lock_path: &Path,
    ) -> Vec<Result<(Resolved, LockEntry), RegistryError>> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results = Mutex::new(Vec::with_capacity(jobs.len()));
        let workers = self
            .settings
            .parallelism
            .clamp(1, 16)
            .min(jobs.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { return };
                        let r = self.run_job(job, lock_path);
                        results.lock().unwrap_or_else(|p| p.into_inner()).push(r);
                    }
                });
            }
        });
        results.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    fn run_job(&self, job: &Job, lock_path: &Path) -> Result<(Resolved, LockEntry), RegistryError> {
        let platform = self.platform.to_string();
        match job {
            Job::Locked { name, entry } => {
                self.check_abi(name, &entry.version, &entry.abi)?;
                let file = self.platform.library_file_name(name);
                if let Some(sha) = entry.sha256.get(&platform) {
                    // The locked build, even if the registry has published another since.
                    if let Some(path) = self.cached(&BuildRef {
                        name,
                        version: &entry.version,
                        platform: &self.platform,
                        file: &file,
                        sha256: sha,
                    })? {
                        return Ok((
                            Resolved {
                                name: name.clone(),
                                version: entry.version.clone(),
                                path,
                                downloaded: false,
                            },
                            entry.clone(),
                        ));
                    }
                } else if self.settings.mode == LockMode::Frozen || self.registry.is_none() {
                    return Err(RegistryError::LockMissingPlatform {
                        name: name.clone(),
                        version: entry.version.clone(),
                        platform,
                        lock: lock_path.to_path_buf(),
                    });
                }
                if self.registry.is_none() {
                    return Err(RegistryError::NoRegistry {
                        name: name.clone(),
                        version: entry.version.clone(),
                        lock: lock_path.to_path_buf(),
                        cache: self.cache.root().to_path_buf(),
                    });
                }
                self.download(name, &entry.version, Some(entry))
            }
            Job::Fresh { name, version } => self.download(name, version, None),
        }
    }

    /// Verifies the version's checksums, then takes the build from the cache or downloads it.
    fn download(
        &self,
        name: &str,
        version: &str,
        locked: Option<&LockEntry>,
    ) -> Result<(Resolved, LockEntry), RegistryError> {
        let platform = self.platform.to_string();
        let (sums, abi, _, _) = self.verified_sums(name, version)?;
        let registry = self
            .registry
            .as_ref()
            .map(RegistryUrl::display)
            .unwrap_or_default();
        let Some((file, sha)) = sums.for_platform(&platform) else {
            return Err(RegistryError::NoBuild {
                name: name.into(),
                version: version.into(),
                platform,
                registry,
                available: sums
                    .by_platform()
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let expected_file = self.platform.library_file_name(name);
        if file != expected_file {
            return Err(RegistryError::Malformed {
                url: format!("{registry}/{}/{SUMS}", version_dir(name, version)),
                what: "SHA256SUMS",
                message: format!(
                    "the {platform} build of `{name}` must be named {expected_file}, not {file}"
                ),
            });
        }
        let entry = lock_entry(name, version, abi, &sums, &platform, sha, locked)?;
        let build = BuildRef {
            name,
            version,
            platform: &self.platform,
            file,
            sha256: sha,
        };
        if let Some(path) = self.cached(&build)? {
            return Ok((
                Resolved {
                    name: name.into(),
                    version: version.into(),
                    path,
                    downloaded: false,
                },
                entry,
            ));
        }
        let (path, downloaded) = self.fetch_build(build)?;
        Ok((
            Resolved {
                name: name.into(),
                version: version.into(),
                path,
                downloaded,
            },
            entry,
        ))
    }

    /// Downloads a build into the cache (which checks its hash before keeping it), reporting
    /// progress; returns where it is and whether it had to be downloaded.
    fn fetch_build(&self, build: BuildRef<'_>) -> Result<(PathBuf, bool), RegistryError> {
        let fetch = self.require_fetcher()?;
        let rel = library_path(build.name, build.version, &self.platform, build.file);
        let url = fetch.url(&rel);
        let id = format!("{} {}", build.name, build.version);
        let mut downloaded = false;
        let path = self.cache.install(
            build,
            Origin {
                url: &url,
                promised_by: Promise::SignedSums,
            },
            || {
                downloaded = true;
                self.emit(Event::DownloadStart {
                    id: id.clone(),
                    url: url.clone(),
                });
                let started = Instant::now();
                let r = fetch.get(&rel, &mut |done, total| {
                    self.emit(Event::DownloadProgress {
                        id: id.clone(),
                        done,
                        total,
                    })
                });
                self.emit(Event::DownloadEnd {
                    id: id.clone(),
                    bytes: r.as_ref().map(|b| b.len() as u64).unwrap_or(0),
                    elapsed: started.elapsed(),
                    ok: r.is_ok(),
                });
                Ok(r?)
            },
        )?;
        Ok((path, downloaded))
    }
}

/// The lock entry for a verified version: this platform's hash pinned, other platforms' pins
/// kept as `locked` had them. A locked hash other than the published one is an error.
fn lock_entry(
    name: &str,
    version: &str,
    abi: String,
    sums: &Sums,
    platform: &str,
    sha: &str,
    locked: Option<&LockEntry>,
) -> Result<LockEntry, RegistryError> {
    let Some(l) = locked else {
        return Ok(LockEntry {
            version: version.into(),
            abi,
            sha256: sums.by_platform(),
        });
    };
    if let Some(pinned) = l.sha256.get(platform)
        && !pinned.eq_ignore_ascii_case(sha)
    {
        return Err(RegistryError::LockDiffers {
            name: name.into(),
            version: version.into(),
            platform: platform.into(),
            locked: pinned.clone(),
            published: sha.to_string(),
        });
    }
    let mut sha256 = l.sha256.clone();
    sha256.insert(platform.into(), sha.to_string());
    Ok(LockEntry {
        version: version.into(),
        abi,
        sha256,
    })
}

enum Job {
    Locked { name: String, entry: LockEntry },
    Fresh { name: String, version: String },
}

/// Collects the wants of a set of tools: one per plugin, with every tool's requirement.
pub fn wants_for<'a>(
    tools: impl IntoIterator<Item = (&'a str, String, Option<&'a semver::VersionReq>)>,
    extra: impl IntoIterator<Item = String>,
) -> Vec<Want> {
    let mut by_name: BTreeMap<String, Want> = BTreeMap::new();
    for (plugin, tool, req) in tools {
        let w = by_name.entry(plugin.to_string()).or_insert_with(|| Want {
            name: plugin.to_string(),
            requirements: Vec::new(),
            configured: true,
        });
        if let Some(r) = req {
            w.requirements.push((tool, r.clone()));
        }
    }
    for name in extra {
        by_name.entry(name.clone()).or_insert(Want {
            name,
            requirements: Vec::new(),
            configured: false,
        });
    }
    by_name.into_values().collect()
}
