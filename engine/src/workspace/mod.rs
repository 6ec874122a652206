//! A config bound to its plugins and its state backend: the operations the CLI commands use.

mod known;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "k8s")]
use dtm_backends::k8s::KubeBackend;
use dtm_backends::local::LocalBackend;
#[cfg(feature = "s3")]
use dtm_backends::s3::S3Backend;
use dtm_backends::{Backend, BackendError, BackendKind, LockInfo};
use dtm_plugin_protocol::{Manifest, Operation, Response};
use serde_json::Value;

use crate::config::{CheckOptions, Config, ConfigError, Diagnostic};
use crate::plan::{Live, Mode, Plan};
use crate::plugin::{CallContext, HostError, LoadedPlugin, PluginHost, request};
use crate::registry::{LockFile, LockMode, RegistryError, RegistrySettings, Resolver, wants_for};
use crate::state::State;
use crate::store::{StateStore, StoreError};
use crate::text::{Chain, count, indented_lines, quoted_list};

/// Settings resolved from the command line, environment and config, once, by the caller.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where plugin libraries are looked for first, in order (`--plugin-dir`).
    pub plugin_dirs: Vec<PathBuf>,
    /// Searched after the config's `pluginDir` (the dtm home's plugins, the executable's directory).
    pub fallback_plugin_dirs: Vec<PathBuf>,
    /// Concurrent plugin calls.
    pub parallelism: usize,
    /// Step timeout for tools without their own `timeout`.
    pub default_timeout: Duration,
    /// How long to wait for a state lock held by someone else.
    pub lock_timeout: Duration,
    /// Plugin registry, cache and lock file settings (see [`crate::registry`]).
    pub registry: RegistrySettings,
    /// Environment variables, for the secrets of tools no longer in the config (rebuilt from
    /// the variables state says they came from).
    pub env: EnvLookup,
    /// Option keys a plugin does not know are errors, not warnings (`--strict`; the config's
    /// `config.strict` also turns this on).
    pub strict: bool,
}

/// Looks up environment variables. The engine reads none itself: the caller says where they come
/// from (the CLI: the process environment), as it does for [`crate::config::load`].
#[derive(Clone)]
pub struct EnvLookup(Arc<LookupFn>);

type LookupFn = dyn Fn(&str) -> Option<String> + Send + Sync;

impl EnvLookup {
    /// A lookup through `f`.
    pub fn new(f: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }
}

/// No variables at all.
impl Default for EnvLookup {
    fn default() -> Self {
        Self::new(|_| None)
    }
}

impl std::fmt::Debug for EnvLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvLookup")
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            plugin_dirs: Vec::new(),
            fallback_plugin_dirs: Vec::new(),
            parallelism: 10,
            default_timeout: Duration::from_secs(30 * 60),
            lock_timeout: Duration::ZERO,
            registry: RegistrySettings::default(),
            env: EnvLookup::default(),
            strict: false,
        }
    }
}

/// Errors from workspace operations.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A plugin could not be loaded or called.
    #[error(transparent)]
    Host(#[from] HostError),
    /// State could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Plugin resolution, download or verification failed (boxed: its variants are large).
    #[error(transparent)]
    Registry(Box<RegistryError>),
    /// A plugin's version does not satisfy the tool's requirement.
    #[error(
        "{tool}: requires plugin `{plugin}` {requirement}, but the plugin found ({path}) is version {found}"
    )]
    PluginVersion {
        /// The tool instance, as `name.instanceID`.
        tool: String,
        /// The plugin, by the name configs give it.
        plugin: String,
        /// The version requirement that could not be met, as written.
        requirement: String,
        /// The version that was found instead.
        found: String,
        /// The library that was loaded.
        path: String,
    },
    /// Plugins rejected the options of some tools.
    #[error("{} with invalid options:\n{}", count(.0.len(), "tool", "tools"), indented_lines(.0.iter().map(Chain::of)))]
    InvalidOptions(Vec<HostError>),
    /// Reading live status failed for some tools.
    #[error("cannot read the live status of {}:\n{}", count(.0.len(), "tool", "tools"), indented_lines(.0.iter().map(Chain::of)))]
    Read(Vec<HostError>),
    /// The state backend is not available in this build.
    #[error(
        "state backend `{}` is not supported by this dtm; use one of {}",
        .0,
        quoted_list(BackendKind::ALL)
    )]
    UnsupportedBackend(String),
    /// The config names a backend this dtm was built without (a slim build).
    #[error(
        "state backend `{0}` is not in this build of dtm (it was built without the `{0}` cargo \
         feature); use a build with it, or the `local` backend"
    )]
    BackendNotBuilt(BackendKind),
}

impl From<RegistryError> for EngineError {
    fn from(e: RegistryError) -> Self {
        EngineError::Registry(Box::new(e))
    }
}

/// Loads a verified build from the cache and checks that it is the plugin and version it was
/// published and locked as (the cache files builds by name and version).
pub fn load_resolved(
    host: &PluginHost,
    r: &crate::registry::Resolved,
) -> Result<Arc<LoadedPlugin>, EngineError> {
    let plugin = host.load(&r.path)?;
    let m = plugin.manifest();
    if m.name != r.name || m.version != r.version {
        return Err(RegistryError::BadLibrary {
            path: r.path.clone(),
            message: format!(
                "this build says it is `{}` {}, but it was published and locked as `{}` {}; the registry is inconsistent",
                m.name, m.version, r.name, r.version
            ),
        }
        .into());
    }
    Ok(plugin)
}

/// Opens the backend a config names.
pub fn open_backend(config: &Config) -> Result<Box<dyn Backend>, EngineError> {
    let (options, dir) = (&config.state.options, &config.dir);
    let name = config.state.backend.as_str();
    Ok(match BackendKind::from_name(name) {
        Some(BackendKind::Local) => Box::new(LocalBackend::from_options(options, dir)?),
        #[cfg(feature = "s3")]
        Some(BackendKind::S3) => Box::new(S3Backend::from_options(options, dir)?),
        #[cfg(feature = "k8s")]
        Some(BackendKind::Kubernetes) => Box::new(KubeBackend::from_options(options, dir)?),
        #[cfg(not(all(feature = "s3", feature = "k8s")))]
        Some(kind) => return Err(EngineError::BackendNotBuilt(kind)),
        None => return Err(EngineError::UnsupportedBackend(name.to_string())),
    })
}

/// A loaded config with its plugins.
#[derive(Debug)]
pub struct Workspace {
    /// The validated config the workspace runs.
    pub config: Config,
    /// How to run: plugin directories, parallelism, timeouts, the registry.
    pub settings: Settings,
    /// Loaded plugins by name.
    pub plugins: HashMap<String, Arc<LoadedPlugin>>,
    /// What checking the config against its plugins warned about (option keys dtm ignored), in
    /// file order; set by [`Workspace::load_plugins`], also when it fails.
    pub warnings: Vec<Diagnostic>,
    host: PluginHost,
}

impl Workspace {
    /// Binds a config to settings; loads nothing yet.
    pub fn new(config: Config, settings: Settings) -> Self {
        Self {
            config,
            settings,
            plugins: HashMap::new(),
            warnings: Vec::new(),
            host: PluginHost::default(),
        }
    }

    /// The plugin directories to search: `--plugin-dir`, the config's `pluginDir`, fallbacks.
    pub fn plugin_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = self.settings.plugin_dirs.clone();
        if let Some(d) = &self.config.plugin_dir {
            dirs.push(d.clone());
        }
        dirs.extend(self.settings.fallback_plugin_dirs.iter().cloned());
        dirs
    }

    /// The development override directories: `--plugin-dir`, then the config's `pluginDir`.
    /// A plugin found there is loaded as is, without the lock file or the registry.
    pub fn override_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = self.settings.plugin_dirs.clone();
        if let Some(d) = &self.config.plugin_dir {
            dirs.push(d.clone());
        }
        dirs
    }

    /// Loads every plugin the config names, plus `extra` (plugins of resources only in state),
    /// checks version requirements, and validates the config against the plugins' manifests
    /// (bringing option keys to each plugin's spelling and taking out keys it does not know; see
    /// [`crate::config::validate_against_plugins`]).
    ///
    /// Each plugin comes from the first of: the override directories (development); the lock
    /// file and the plugin cache, resolving and downloading from the registry what is missing
    /// (see [`crate::registry`]); the fallback directories, for plugins no lock entry or
    /// registry covers.
    pub fn load_plugins(
        &mut self,
        extra: impl IntoIterator<Item = String>,
    ) -> Result<(), EngineError> {
        let dirs = self.plugin_dirs();
        let mut names: BTreeSet<String> =
            self.config.tools.iter().map(|t| t.plugin.clone()).collect();
        let configured = names.clone();
        names.extend(extra);
        let overrides = self.override_dirs();
        let mut pending = Vec::new();
        for name in names {
            if self.plugins.contains_key(&name) {
                continue;
            }
            let file = crate::plugin::library_file_name(&name);
            if overrides.iter().any(|d| d.join(&file).is_file()) {
                let p = self.host.load_named(&name, &overrides)?;
                self.plugins.insert(name, p);
            } else {
                pending.push(name);
            }
        }
        let pending = self.load_from_registry(pending, &configured)?;
        for name in pending {
            match self.host.load_named(&name, &dirs) {
                Ok(p) => {
                    self.plugins.insert(name, p);
                }
                // An unknown plugin named by the config is reported by validation below, with
                // its location; anything else is an error now.
                Err(HostError::NotFound { .. }) if configured.contains(&name) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.check_against_plugins()?;
        for tool in &self.config.tools {
            if let (Some(req), Some(p)) = (&tool.version, self.plugins.get(&tool.plugin)) {
                let found = semver::Version::parse(&p.manifest().version).ok();
                if !found.as_ref().is_some_and(|v| req.matches(v)) {
                    return Err(EngineError::PluginVersion {
                        tool: tool.key(),
                        plugin: tool.plugin.clone(),
                        requirement: req.to_string(),
                        found: p.manifest().version.clone(),
                        path: p.path().display().to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Checks the config against the loaded plugins' manifests (see
    /// [`crate::config::validate_against_plugins`]) and keeps the warnings in `self.warnings`.
    fn check_against_plugins(&mut self) -> Result<(), EngineError> {
        let manifests: BTreeMap<String, Manifest> = self
            .plugins
            .iter()
            .map(|(k, p)| (k.clone(), p.manifest().clone()))
            .collect();
        let mut options = CheckOptions {
            strict: self.settings.strict || self.config.strict,
            ..CheckOptions::default()
        };
        // Only a config naming a plugin dtm cannot find needs the look around.
        if self
            .config
            .tools
            .iter()
            .any(|t| !manifests.contains_key(&t.plugin))
        {
            options.known_plugins = self.known_plugin_names();
            options.searched = Some(self.searched_places());
        }
        let check = crate::config::validate_against_plugins(&mut self.config, &manifests, &options);
        self.warnings.clone_from(&check.warnings);
        check.into_result()?;
        Ok(())
    }

    /// Loads what it can of the plugins the config names, and brings the config's option keys
    /// to their spelling, for showing the config: nothing fails, and no lock file is written.
    /// A tool whose plugin cannot be loaded keeps its options as written. Returns the warnings
    /// of [`crate::config::validate_against_plugins`].
    pub fn load_available_plugins(&mut self) -> Vec<Diagnostic> {
        let names: BTreeSet<String> = self.config.tools.iter().map(|t| t.plugin.clone()).collect();
        let overrides = self.override_dirs();
        // Locked builds only: showing a config resolves nothing new and writes no lock.
        let frozen = RegistrySettings {
            mode: LockMode::Frozen,
            ..self.settings.registry.clone()
        };
        let resolver = Resolver::new(
            frozen,
            &self.config.dir,
            self.config.plugin_registry.as_deref(),
            self.config.plugin_registry_key.as_deref(),
        )
        .ok()
        .flatten();
        let mut lock = LockFile::load(&self.config.dir).ok();
        for name in names {
            let file = crate::plugin::library_file_name(&name);
            let from_dirs = |dirs: &[PathBuf]| {
                dirs.iter()
                    .any(|d| d.join(&file).is_file())
                    .then(|| self.host.load_named(&name, dirs).ok())
                    .flatten()
            };
            let locked = match (&resolver, &mut lock) {
                (Some(r), Some(lock)) if lock.plugins.contains_key(&name) => {
                    let wants = wants_for(std::iter::empty(), [name.clone()]);
                    r.resolve(&wants, lock, "")
                        .ok()
                        .and_then(|res| res.plugins.into_iter().next())
                        .and_then(|built| load_resolved(&self.host, &built).ok())
                }
                _ => None,
            };
            let plugin = from_dirs(&overrides)
                .or(locked)
                .or_else(|| from_dirs(&self.settings.fallback_plugin_dirs));
            if let Some(p) = plugin {
                self.plugins.insert(name, p);
            }
        }
        let manifests: BTreeMap<String, Manifest> = self
            .plugins
            .iter()
            .map(|(k, p)| (k.clone(), p.manifest().clone()))
            .collect();
        let check = crate::config::validate_against_plugins(
            &mut self.config,
            &manifests,
            &CheckOptions::default(),
        );
        check.warnings
    }

    /// Resolves `names` through the lock file, the cache and the registry and loads what that
    /// yields; returns the names left for the plugin directories.
    fn load_from_registry(
        &mut self,
        names: Vec<String>,
        configured: &BTreeSet<String>,
    ) -> Result<Vec<String>, EngineError> {
        if names.is_empty() {
            return Ok(names);
        }
        let Some(resolver) = Resolver::new(
            self.settings.registry.clone(),
            &self.config.dir,
            self.config.plugin_registry.as_deref(),
            self.config.plugin_registry_key.as_deref(),
        )?
        else {
            return Ok(names);
        };
        let mut lock = LockFile::load(&self.config.dir)?;
        let (names, mut unpublished) = split_unpublished(&resolver, &lock, names, configured);
        let tools = self
            .config
            .tools
            .iter()
            .filter(|t| names.contains(&t.plugin))
            .map(|t| (t.plugin.as_str(), t.key(), t.version.as_ref()));
        let extra = names.iter().filter(|n| !configured.contains(*n)).cloned();
        let wants = wants_for(tools, extra);
        let config_arg = match self.config.files.as_slice() {
            [one] => one.display().to_string(),
            _ => self.config.dir.display().to_string(),
        };
        let resolution = resolver.resolve(&wants, &mut lock, &config_arg)?;
        for r in resolution.plugins {
            let plugin = load_resolved(&self.host, &r)?;
            self.plugins.insert(r.name, plugin);
        }
        unpublished.extend(resolution.unhandled);
        Ok(unpublished)
    }

    /// `dtm init`: resolves every plugin the config names through the registry (ignoring the
    /// override directories), downloads and verifies what the cache lacks, writes the lock file
    /// (in the mode `settings.registry.mode` says), loads the plugins and validates the config
    /// against them.
    pub fn init_plugins(&mut self) -> Result<crate::registry::Resolution, EngineError> {
        let resolver = Resolver::new(
            self.settings.registry.clone(),
            &self.config.dir,
            self.config.plugin_registry.as_deref(),
            self.config.plugin_registry_key.as_deref(),
        )?
        .ok_or_else(|| RegistryError::BadUrl {
            url: String::new(),
            message: "no dtm home (set DTM_HOME or HOME) to keep the plugin cache in".into(),
        })?;
        if resolver.registry().is_none() {
            return Err(RegistryError::BadUrl {
                url: String::new(),
                message: "no registry is configured: set config.pluginRegistry, DTM_REGISTRY, or `url` under [registry] in <dtm home>/config.toml (./install.sh sets up a local one)".into(),
            }
            .into());
        }
        let mut lock = LockFile::load(&self.config.dir)?;
        let configured: BTreeSet<String> =
            self.config.tools.iter().map(|t| t.plugin.clone()).collect();
        let names = configured.iter().cloned().collect();
        let (names, _) = split_unpublished(&resolver, &lock, names, &configured);
        let tools = self
            .config
            .tools
            .iter()
            .filter(|t| names.contains(&t.plugin))
            .map(|t| (t.plugin.as_str(), t.key(), t.version.as_ref()));
        let wants = wants_for(tools, std::iter::empty());
        let config_arg = match self.config.files.as_slice() {
            [one] => one.display().to_string(),
            _ => self.config.dir.display().to_string(),
        };
        let resolution = resolver.resolve(&wants, &mut lock, &config_arg)?;
        for r in &resolution.plugins {
            let plugin = load_resolved(&self.host, r)?;
            self.plugins.insert(r.name.clone(), plugin);
        }
        self.check_against_plugins()?;
        Ok(resolution)
    }

    /// Opens the state store.
    pub fn open_state(&self) -> Result<StateStore, EngineError> {
        Ok(StateStore::open(open_backend(&self.config)?)?)
    }

    /// Reads the live status of `keys` (resources in state) in parallel.
    pub fn read_live(
        &self,
        state: &State,
        keys: &[String],
    ) -> Result<HashMap<String, Live>, EngineError> {
        let tools: HashMap<String, &crate::config::Tool> =
            self.config.tools.iter().map(|t| (t.key(), t)).collect();
        let jobs: Vec<&String> = keys
            .iter()
            .filter(|k| state.resources.contains_key(*k))
            .collect();
        let results = parallel_map(&jobs, self.settings.parallelism, |key| {
            self.read_one(state, key, tools.get(*key).copied())
        });
        let mut live = HashMap::new();
        let mut errors = Vec::new();
        for (key, r) in jobs.into_iter().zip(results) {
            match r {
                Ok(l) => {
                    live.insert(key.clone(), l);
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(live)
        } else {
            Err(EngineError::Read(errors))
        }
    }

    /// Asks each tool's plugin to `validate` its options (resolved against the outputs recorded
    /// in `state`), in parallel, and reports every problem at once. Tools whose options refer to
    /// outputs not known yet are checked when they run.
    pub fn validate_options(&self, state: &State) -> Result<(), EngineError> {
        let jobs: Vec<&crate::config::Tool> = self.config.tools.iter().collect();
        let results = parallel_map(&jobs, self.settings.parallelism, |tool| {
            let (options, complete) = crate::plan::resolve_from_state(tool, state);
            let Some(plugin) = self.plugins.get(&tool.plugin).filter(|_| complete) else {
                return Ok(());
            };
            // Options applied successfully before and unchanged since need no second opinion.
            let unchanged = state.resources.get(&tool.key()).is_some_and(|r| {
                r.lifecycle == crate::state::Lifecycle::Completed
                    && state
                        .options_match(&r.options, &state.redact(&options, &tool.secret_sources))
            });
            if unchanged {
                return Ok(());
            }
            let req = request(
                Operation::Validate,
                &tool.key(),
                options,
                Value::Null,
                BTreeMap::new(),
                Value::Null,
                &self.config.dir,
            );
            let ctx = CallContext {
                timeout: Some(tool.timeout.unwrap_or(self.settings.default_timeout)),
                secrets: tool.secret_values.clone(),
                ..CallContext::default()
            };
            // Only a verdict counts here; a plugin failing to answer fails its own step later,
            // without stopping independent tools.
            match plugin.run(&req, &ctx) {
                Ok(Response::Invalid { problems }) => Err(HostError::Invalid {
                    instance: tool.key(),
                    problems,
                }),
                _ => Ok(()),
            }
        });
        let errors: Vec<HostError> = results.into_iter().filter_map(Result::err).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::InvalidOptions(errors))
        }
    }

    fn read_one(
        &self,
        state: &State,
        key: &str,
        tool: Option<&crate::config::Tool>,
    ) -> Result<Live, HostError> {
        let Some(res) = state.resources.get(key) else {
            return Ok(Live::Unknown);
        };
        let Some(plugin) = self.plugins.get(&res.plugin) else {
            return Ok(Live::Unknown);
        };
        let (options, secrets) = match tool {
            Some(t) => (
                crate::plan::resolve_from_state(t, state).0,
                t.secret_values.clone(),
            ),
            // No longer in the config: the recorded options, secrets rebuilt from the
            // environment. Without them the plugin could only be given hashes; leave the status
            // unknown and let the step that needs them say which variable to set.
            None => match state.restore(&res.options, &|name| self.settings.env.get(name)) {
                Ok(restored) => (restored.options, restored.secrets),
                Err(_) => return Ok(Live::Unknown),
            },
        };
        let req = request(
            Operation::Read,
            key,
            options,
            res.status.clone(),
            res.outputs.clone(),
            Value::Null,
            &self.config.dir,
        );
        let ctx = CallContext {
            timeout: Some(
                tool.and_then(|t| t.timeout)
                    .unwrap_or(self.settings.default_timeout),
            ),
            secrets,
            ..CallContext::default()
        };
        match plugin.run(&req, &ctx)? {
            Response::Done { status, .. } => Ok(Live::Present(status)),
            Response::Absent => Ok(Live::Absent),
            _ => Ok(Live::Unknown),
        }
    }

    /// Reads live status for everything relevant to `mode` and plans.
    pub fn plan(&self, state: &State, mode: Mode) -> Result<Plan, EngineError> {
        // Deleting needs no valid options; converging does, before anything runs.
        if mode == Mode::Apply {
            self.validate_options(state)?;
        }
        let keys: Vec<String> = state.resources.keys().cloned().collect();
        let live = self.read_live(state, &keys)?;
        let mut plan = crate::plan::plan(&self.config, state, &live, mode);
        // Say now, not halfway through the apply, when a tool no longer in the config cannot be
        // deleted because the variables its secrets come from are not set.
        for c in &mut plan.changes {
            if c.action != crate::plan::Action::Delete
                || self.config.tools.iter().any(|t| t.key() == c.key)
            {
                continue;
            }
            if let Some(res) = state.resources.get(&c.key)
                && let Err(e) = state.restore(&res.options, &|name| self.settings.env.get(name))
            {
                c.reasons
                    .push(crate::plan::Reason::SecretsNotSet(e.to_string()));
            }
        }
        Ok(plan)
    }
}

/// Of `names`, those the registry can resolve (locked, published, or not named by the config),
/// and the configured plugins it cannot (neither locked nor published). Those are left for the
/// plugin directories; if these lack them too, validation reports each with the tool that wants
/// it. When the registry's index cannot be read, all go to the registry, which says why.
fn split_unpublished(
    resolver: &Resolver,
    lock: &LockFile,
    names: Vec<String>,
    configured: &BTreeSet<String>,
) -> (Vec<String>, Vec<String>) {
    let resolvable = |n: &String| !configured.contains(n) || lock.plugins.contains_key(n);
    // Locked plugins need no index: a run with everything locked and cached asks no server.
    if names.iter().all(resolvable) {
        return (names, Vec::new());
    }
    let index = match resolver.registry().map(|_| resolver.index()) {
        Some(Ok(index)) => index,
        _ => return (names, Vec::new()),
    };
    names
        .into_iter()
        .partition(|n| resolvable(n) || !index.versions(n).is_empty())
}

use std::sync::Mutex;

/// Runs `f` over `items` on up to `workers` threads; results in the order of `items`.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1).min(items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { return };
                    let r = f(item);
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Holder information for a lock taken now by this process; `who` is the user, as the caller
/// knows it (the engine reads no environment).
pub fn lock_info(operation: &str, who: &str) -> LockInfo {
    LockInfo {
        id: crate::state::random_hex(8),
        who: who.to_string(),
        host: hostname(),
        pid: std::process::id(),
        operation: operation.to_string(),
        created: crate::state::now_rfc3339(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// The same name the local backend compares a holder's host with.
fn hostname() -> String {
    dtm_backends::host_name()
}
