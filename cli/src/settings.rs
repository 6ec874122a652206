//! Stage two of argument handling: flags + environment + config → one validated settings struct.
//! Nothing below this module reads the environment or argv.

use std::path::PathBuf;

use anyhow::Result;
use dtm_engine::config::{self, Config};
use dtm_engine::workspace::{Settings, Workspace};

use crate::args::{ConfigArgs, Output};

/// Everything a config-reading command needs.
#[derive(Debug)]
pub struct Resolved {
    /// The workspace: config + settings.
    pub workspace: Workspace,
    /// Output format.
    pub output: Output,
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
/// config's `pluginDir`; then `<dtm home>/plugins`; then the directory of the dtm executable, so a
/// build tree (`target/release/dtm` beside the plugin libraries cargo built) works as is.
pub fn plugin_dirs(flag: Option<&PathBuf>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = flag {
        dirs.push(d.clone());
    }
    dirs
}

/// Fallback plugin directories, searched after the config's `pluginDir`.
pub fn fallback_plugin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = dtm_home() {
        dirs.push(home.join("plugins"));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
    {
        dirs.push(dir);
    }
    dirs
}

/// Loads and validates the config named by `args` (without plugins).
pub fn load_config(args: &ConfigArgs) -> Result<Config> {
    let env = |name: &str| std::env::var(name).ok();
    Ok(config::load(&args.file, &env)?)
}

/// Resolves a config-reading command's settings.
pub fn resolve(args: &ConfigArgs) -> Result<Resolved> {
    let config = load_config(args)?;
    let settings = Settings {
        plugin_dirs: plugin_dirs(args.plugin_dir.as_ref()),
        fallback_plugin_dirs: fallback_plugin_dirs(),
        parallelism: usize::from(args.parallelism),
        default_timeout: args.timeout,
        lock_timeout: args.lock_timeout,
    };
    Ok(Resolved {
        workspace: Workspace::new(config, settings),
        output: args.output,
    })
}
