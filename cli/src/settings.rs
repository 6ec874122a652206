//! Stage two of argument handling, as uv's `settings.rs` does it: every command's settings are
//! resolved once, by one `XSettings::resolve(args, environment)` that also reads the files it
//! needs (the config, the dtm home's `config.toml`), into one struct the command then runs with.
//!
//! The process environment is read once, by [`Environment::capture`] at start; this module is the
//! only place that reads it (clippy's `disallowed-methods` keeps `std::env::var` out of every other
//! module), and nothing below the CLI reads the environment or argv at all: the engine gets what
//! it needs in [`Settings`] (secrets' variables through an [`EnvLookup`] over the snapshot).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use dtm_engine::config::{self, Config};
use dtm_engine::registry::{FetchOptions, LockMode, RegistrySettings, Resolver};
use dtm_engine::workspace::{EnvLookup, Settings, Workspace};
use serde::Deserialize;

use crate::args::{ConfigArgs, Output, RegistryFlags};

/// The process environment, read once at start: what the settings of every command are
/// resolved from besides flags and files.
#[derive(Debug, Clone, Default)]
pub(crate) struct Environment {
    vars: Arc<HashMap<OsString, OsString>>,
}

impl Environment {
    /// Reads the environment of this process.
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place dtm reads its environment"
    )]
    pub(crate) fn capture() -> Self {
        Self {
            vars: Arc::new(std::env::vars_os().collect()),
        }
    }

    /// An environment holding only `vars` (tests).
    #[cfg(test)]
    pub(crate) fn from_vars<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            vars: Arc::new(
                vars.into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// The value of `name`, if it is set and valid Unicode (as `std::env::var` reads it).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(OsStr::new(name)).and_then(|v| v.to_str())
    }

    /// The value of `name`, if it is set to something.
    fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// The value of `name` as the OS holds it, if set and not empty.
    fn non_empty_os(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .get(OsStr::new(name))
            .map(OsString::as_os_str)
            .filter(|v| !v.is_empty())
    }

    /// Whether `NO_COLOR` asks for text without colors.
    pub(crate) fn no_color(&self) -> bool {
        self.vars.contains_key(OsStr::new("NO_COLOR"))
    }

    /// The user recorded as a lock's holder: `USER` (`USERNAME` on Windows), else `unknown`.
    pub(crate) fn user_name(&self) -> String {
        self.get("USER")
            .or_else(|| self.get("USERNAME"))
            .unwrap_or("unknown")
            .to_owned()
    }

    /// The dtm home: `DTM_HOME`, else `~/.dtm`.
    pub(crate) fn dtm_home(&self) -> Option<PathBuf> {
        if let Some(h) = self.non_empty_os("DTM_HOME") {
            return Some(PathBuf::from(h));
        }
        self.non_empty_os("HOME")
            .map(|h| PathBuf::from(h).join(".dtm"))
    }

    /// A lookup the engine reads variables through (secrets of tools no longer in the config).
    pub(crate) fn lookup(&self) -> EnvLookup {
        let env = self.clone();
        EnvLookup::new(move |name| env.get(name).map(str::to_owned))
    }

    /// Loads and validates the config named by `args` (without plugins).
    pub(crate) fn load_config(&self, args: &ConfigArgs) -> Result<Config> {
        let env = |name: &str| self.get(name).map(str::to_owned);
        Ok(config::load(&args.file, &env)?)
    }

    /// Registry settings: `<dtm home>/config.toml`, overridden by `DTM_REGISTRY`,
    /// `DTM_REGISTRY_TIMEOUT`, `DTM_REGISTRY_CONNECT_TIMEOUT`, `DTM_REGISTRY_RETRIES`,
    /// `DTM_REGISTRY_BACKOFF` and `DTM_INSECURE_HTTP=1`, then by `insecure_flag`.
    pub(crate) fn registry_settings(
        &self,
        mode: LockMode,
        insecure_flag: bool,
    ) -> Result<RegistrySettings> {
        let home = self.dtm_home();
        let r = HomeConfig::load(home.as_ref())?.registry;
        let env = |name: &str| self.non_empty(name).map(str::to_owned);
        let mut fetch = FetchOptions::default();
        if let Some(v) = env("DTM_REGISTRY_TIMEOUT").or(r.timeout) {
            fetch.timeout = duration(&v, "registry timeout")?;
        }
        if let Some(v) = env("DTM_REGISTRY_CONNECT_TIMEOUT").or(r.connect_timeout) {
            fetch.connect_timeout = duration(&v, "registry connect timeout")?;
        }
        if let Some(v) = env("DTM_REGISTRY_BACKOFF").or(r.backoff) {
            fetch.backoff = duration(&v, "registry backoff")?;
        }
        if let Some(v) = env("DTM_REGISTRY_RETRIES") {
            fetch.retries = v
                .parse()
                .with_context(|| format!("DTM_REGISTRY_RETRIES: `{v}` is not a number"))?;
        } else if let Some(n) = r.retries {
            fetch.retries = n;
        }
        fetch.insecure_http = insecure_flag
            || env("DTM_INSECURE_HTTP").is_some_and(|v| v != "0")
            || r.insecure_http.unwrap_or(false);
        Ok(RegistrySettings {
            home,
            default_registry: env("DTM_REGISTRY").or(r.url),
            fetch,
            mode,
            events: Some(crate::downloads::sink()),
            parallelism: 8,
        })
    }

    /// A resolver for commands that read no config (`plugin search`, `show config -p`, `list
    /// plugins`): the registry is `--registry` (a relative path is taken from the current
    /// directory) or the default one, which may be none; the cache and trusted keys are the dtm
    /// home's. None when there is no dtm home.
    pub(crate) fn standalone_resolver(&self, flags: &RegistryFlags) -> Result<Option<Resolver>> {
        let settings = self.registry_settings(LockMode::Auto, flags.insecure_http)?;
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        Ok(Resolver::new(
            settings,
            &cwd,
            flags.registry.as_deref(),
            None,
        )?)
    }
}

/// How a command that changes the state takes its lock.
#[derive(Debug, Clone)]
pub(crate) struct LockSettings {
    /// Recorded as the lock's holder.
    pub user: String,
    /// How long to wait for someone else's lock (`--lock-timeout`).
    pub wait: Duration,
}

impl LockSettings {
    /// From `--lock-timeout` and the user's name.
    pub(crate) fn resolve(args: &ConfigArgs, env: &Environment) -> Self {
        Self {
            user: env.user_name(),
            wait: args.lock_timeout,
        }
    }
}

/// For commands that only read the config: `dtm graph`, `dtm show config` (both print one
/// format whatever `--output` says).
#[derive(Debug)]
pub(crate) struct ConfigSettings {
    /// The validated config.
    pub config: Config,
}

impl ConfigSettings {
    /// Loads the config `-f` names.
    pub(crate) fn resolve(args: &ConfigArgs, env: &Environment) -> Result<Self> {
        Ok(Self {
            config: env.load_config(args)?,
        })
    }
}

/// For `dtm state ...`: the config (for its backend), the output format and the lock.
#[derive(Debug)]
pub(crate) struct StateSettings {
    /// The validated config.
    pub config: Config,
    /// Output format.
    pub output: Output,
    /// How to take the state lock.
    pub lock: LockSettings,
}

impl StateSettings {
    /// Loads the config `-f` names; reads `--output` and `--lock-timeout`.
    pub(crate) fn resolve(args: &ConfigArgs, env: &Environment) -> Result<Self> {
        Ok(Self {
            config: env.load_config(args)?,
            output: args.output,
            lock: LockSettings::resolve(args, env),
        })
    }
}

/// Everything a command that loads plugins needs: `init`, `plan`, `apply`, `delete`,
/// `destroy`, `verify`.
#[derive(Debug)]
pub(crate) struct WorkspaceSettings {
    /// The workspace: config + engine settings.
    pub workspace: Workspace,
    /// Output format.
    pub output: Output,
    /// How to take the state lock.
    pub lock: LockSettings,
}

impl WorkspaceSettings {
    /// Loads the config and resolves the engine's settings, the lock file treated as `mode`
    /// says; `insecure_http` is `dtm init --insecure-http`.
    pub(crate) fn resolve(
        args: &ConfigArgs,
        mode: LockMode,
        insecure_http: bool,
        env: &Environment,
    ) -> Result<Self> {
        let config = env.load_config(args)?;
        let mut registry = env.registry_settings(mode, false)?;
        registry.parallelism = usize::from(args.parallelism);
        registry.fetch.insecure_http |= insecure_http;
        let settings = Settings {
            plugin_dirs: plugin_dirs(args.plugin_dir.as_ref()),
            fallback_plugin_dirs: fallback_plugin_dirs(),
            parallelism: usize::from(args.parallelism),
            default_timeout: args.timeout,
            lock_timeout: args.lock_timeout,
            registry,
            // Read only for the secrets of tools no longer in the config, when a step needs them.
            env: env.lookup(),
            strict: args.strict,
        };
        Ok(Self {
            workspace: Workspace::new(config, settings),
            output: args.output,
            lock: LockSettings::resolve(args, env),
        })
    }
}

/// For `dtm plugin ...`, `dtm list plugins` and `dtm show config -p`: the dtm home, and how to
/// reach registries.
#[derive(Debug, Clone)]
pub(crate) struct PluginSettings {
    /// The dtm home (plugin cache, trusted keys, `config.toml`), if there is one.
    pub home: Option<PathBuf>,
    env: Environment,
}

impl PluginSettings {
    /// The dtm home from the environment; registry settings are read when a command asks.
    pub(crate) fn resolve(env: &Environment) -> Self {
        Self {
            home: env.dtm_home(),
            env: env.clone(),
        }
    }

    /// The dtm home, or an error saying how to have one.
    pub(crate) fn require_home(&self) -> Result<PathBuf> {
        self.home
            .clone()
            .context("no dtm home: set DTM_HOME or HOME")
    }

    /// See [`Environment::registry_settings`].
    pub(crate) fn registry_settings(&self, mode: LockMode) -> Result<RegistrySettings> {
        self.env.registry_settings(mode, false)
    }

    /// See [`Environment::standalone_resolver`].
    pub(crate) fn standalone_resolver(&self, flags: &RegistryFlags) -> Result<Option<Resolver>> {
        self.env.standalone_resolver(flags)
    }

    /// Loads a config (`dtm plugin mirror -f`).
    pub(crate) fn load_config(&self, args: &ConfigArgs) -> Result<Config> {
        self.env.load_config(args)
    }
}

/// Plugin directories in search order: `--plugin-dir`, then (appended later by the workspace) the
/// config's `pluginDir` (both development overrides of the lock file and cache); then, for
/// plugins no lock entry or registry covers, the directory of the dtm executable, so a build tree
/// (`target/release/dtm` beside the plugin libraries cargo built) works as is.
pub(crate) fn plugin_dirs(flag: Option<&PathBuf>) -> Vec<PathBuf> {
    flag.into_iter().cloned().collect()
}

/// Fallback plugin directories, searched after the config's `pluginDir` and the registry.
pub(crate) fn fallback_plugin_dirs() -> Vec<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .into_iter()
        .collect()
}

/// `<dtm home>/config.toml`: user-wide settings. Only `[registry]` so far.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HomeConfig {
    #[serde(default)]
    registry: HomeRegistry,
}

impl HomeConfig {
    /// Reads `<home>/config.toml`; none (or an unreadable one) is the default.
    fn load(home: Option<&PathBuf>) -> Result<Self> {
        let Some(path) = home.map(|h| h.join("config.toml")) else {
            return Ok(Self::default());
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("cannot read {}", path.display()))
            }
            Err(_) => Ok(Self::default()),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HomeRegistry {
    /// Default registry for configs without `pluginRegistry`.
    url: Option<String>,
    timeout: Option<String>,
    connect_timeout: Option<String>,
    retries: Option<u32>,
    backoff: Option<String>,
    insecure_http: Option<bool>,
}

fn duration(value: &str, what: &str) -> Result<Duration> {
    humantime::parse_duration(value)
        .with_context(|| format!("{what}: `{value}` is not a duration (examples: 30s, 500ms, 2m)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_home_and_user_come_from_the_captured_environment() {
        let env = Environment::from_vars([("HOME", "/h"), ("USER", "ann"), ("DTM_HOME", "")]);
        assert_eq!(env.dtm_home(), Some(PathBuf::from("/h/.dtm")));
        assert_eq!(env.user_name(), "ann");
        let env = Environment::from_vars([("DTM_HOME", "/d")]);
        assert_eq!(env.dtm_home(), Some(PathBuf::from("/d")));
        assert_eq!(env.user_name(), "unknown");
    }
}
