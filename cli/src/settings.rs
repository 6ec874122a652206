//! Stage two of argument handling: flags + environment + config → one validated settings struct.
//! Nothing below this module reads the environment or argv.

use std::path::PathBuf;

use std::time::Duration;

use anyhow::{Context, Result};
use dtm_engine::config::{self, Config};
use dtm_engine::registry::{FetchOptions, LockMode, RegistrySettings, Resolver};
use dtm_engine::workspace::{EnvLookup, Settings, Workspace};
use serde::Deserialize;

use crate::args::{ConfigArgs, Output, RegistryFlags};

/// Everything a config-reading command needs.
#[derive(Debug)]
pub struct Resolved {
    /// The workspace: config + settings.
    pub workspace: Workspace,
    /// Output format.
    pub output: Output,
}

/// The user recorded as a lock's holder: `USER` (`USERNAME` on Windows), else `unknown`.
pub fn user_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// The dtm home: `DTM_HOME`, else `~/.dtm`.
pub fn dtm_home() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("DTM_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".dtm"))
}

/// Plugin directories in search order: `--plugin-dir`, then (appended later by the workspace) the
/// config's `pluginDir` (both development overrides of the lock file and cache); then, for
/// plugins no lock entry or registry covers, the directory of the dtm executable, so a build tree
/// (`target/release/dtm` beside the plugin libraries cargo built) works as is.
pub fn plugin_dirs(flag: Option<&PathBuf>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = flag {
        dirs.push(d.clone());
    }
    dirs
}

/// Fallback plugin directories, searched after the config's `pluginDir` and the registry.
pub fn fallback_plugin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
    {
        dirs.push(dir);
    }
    dirs
}

/// `<dtm home>/config.toml`: user-wide settings. Only `[registry]` so far.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HomeConfig {
    #[serde(default)]
    registry: HomeRegistry,
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

/// The file holding user-wide settings.
pub fn home_config_path() -> Option<PathBuf> {
    dtm_home().map(|h| h.join("config.toml"))
}

fn duration(value: &str, what: &str) -> Result<Duration> {
    humantime::parse_duration(value)
        .with_context(|| format!("{what}: `{value}` is not a duration (examples: 30s, 500ms, 2m)"))
}

/// Registry settings: `<dtm home>/config.toml`, overridden by `DTM_REGISTRY`,
/// `DTM_REGISTRY_TIMEOUT`, `DTM_REGISTRY_CONNECT_TIMEOUT`, `DTM_REGISTRY_RETRIES`,
/// `DTM_REGISTRY_BACKOFF` and `DTM_INSECURE_HTTP=1`, then by `insecure_flag`.
pub fn registry_settings(mode: LockMode, insecure_flag: bool) -> Result<RegistrySettings> {
    let home = dtm_home();
    let file = home_config_path();
    let cfg: HomeConfig = match file.as_ref().map(std::fs::read_to_string) {
        Some(Ok(text)) => {
            let path = file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            toml::from_str(&text).with_context(|| format!("cannot read {path}"))?
        }
        _ => HomeConfig::default(),
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let r = cfg.registry;
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
/// plugins`): the registry is `--registry` (a relative path is taken from the current directory)
/// or the default one, which may be none; the cache and trusted keys are the dtm home's. None
/// when there is no dtm home.
pub fn standalone_resolver(flags: &RegistryFlags) -> Result<Option<Resolver>> {
    let settings = registry_settings(LockMode::Auto, flags.insecure_http)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Ok(Resolver::new(
        settings,
        &cwd,
        flags.registry.as_deref(),
        None,
    )?)
}

/// Loads and validates the config named by `args` (without plugins).
pub fn load_config(args: &ConfigArgs) -> Result<Config> {
    let env = |name: &str| std::env::var(name).ok();
    Ok(config::load(&args.file, &env)?)
}

/// Resolves a config-reading command's settings, with the lock file treated as `mode` says.
pub fn resolve_with(args: &ConfigArgs, mode: LockMode) -> Result<Resolved> {
    let config = load_config(args)?;
    let settings = Settings {
        plugin_dirs: plugin_dirs(args.plugin_dir.as_ref()),
        fallback_plugin_dirs: fallback_plugin_dirs(),
        parallelism: usize::from(args.parallelism),
        default_timeout: args.timeout,
        lock_timeout: args.lock_timeout,
        registry: RegistrySettings {
            parallelism: usize::from(args.parallelism),
            ..registry_settings(mode, false)?
        },
        // Read only for the secrets of tools no longer in the config, when a step needs them.
        env: EnvLookup::new(|name| std::env::var(name).ok()),
        strict: args.strict,
    };
    Ok(Resolved {
        workspace: Workspace::new(config, settings),
        output: args.output,
    })
}
