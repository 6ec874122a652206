//! `dtm list plugins`: every plugin dtm can load, from the plugin directories, the plugin cache
//! and the registry, with its version and where it comes from.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use dtm_engine::plugin::PluginHost;
use dtm_engine::registry::{Resolved, Resolver, Want};
use dtm_engine::text::Chain;
use dtm_engine::workspace::load_resolved;
use serde_json::{Value, json};

use crate::args::{Output, RegistryFlags};
use crate::exit::Exit;
use crate::render;
use crate::settings::{self, PluginSettings};

/// Where a listed plugin comes from; its JSON name is the row's `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A plugin directory (`--plugin-dir`, the executable's directory).
    Dir,
    /// The plugin cache in the dtm home (verified builds).
    Cache,
    /// The registry's index (the version `dtm init` or `dtm show config -p` would fetch).
    Registry,
}

impl Source {
    fn key(self) -> &'static str {
        match self {
            Source::Dir => "dir",
            Source::Cache => "cache",
            Source::Registry => "registry",
        }
    }
}

/// One listed plugin. Every field is in the JSON row, null when unknown.
struct Row {
    name: Option<String>,
    version: Option<String>,
    description: Option<String>,
    source: Source,
    /// The library (directories and cache); None for the registry.
    path: Option<PathBuf>,
    /// Why it cannot be loaded or fetched.
    error: Option<String>,
}

impl Row {
    fn json(&self) -> Value {
        json!({
            "name": self.name, "version": self.version, "description": self.description,
            "source": self.source.key(), "path": self.path, "error": self.error,
        })
    }
}

pub(super) fn plugins(
    flag: Option<&PathBuf>,
    registry: &RegistryFlags,
    output: Output,
    settings: &PluginSettings,
) -> Result<Exit> {
    let mut dirs = settings::plugin_dirs(flag);
    dirs.extend(settings::fallback_plugin_dirs());
    let host = PluginHost::default();
    let mut rows = dir_rows(&host, &dirs);
    let resolver = settings.standalone_resolver(registry)?;
    let mut warnings = Vec::new();
    if let Some(resolver) = &resolver {
        rows.extend(cache_rows(&host, resolver));
        match registry_rows(resolver) {
            Ok(r) => rows.extend(r),
            Err(w) => warnings.push(w),
        }
    }
    for w in &warnings {
        writeln!(std::io::stderr(), "warning: {w}")?;
    }
    let cache = resolver.as_ref().map(|r| r.cache().root().to_path_buf());
    let registry_url = resolver
        .as_ref()
        .and_then(|r| r.registry().map(|u| u.display()));
    match output {
        Output::Json => render::json_out(&json!({
            "dirs": dirs,
            "cache": cache,
            "registry": registry_url,
            "warnings": warnings,
            "plugins": rows.iter().map(Row::json).collect::<Vec<_>>(),
        }))?,
        Output::Text => {
            let mut out = std::io::stdout().lock();
            if rows.is_empty() {
                let mut places: Vec<String> =
                    dirs.iter().map(|d| d.display().to_string()).collect();
                if let Some(c) = &cache {
                    places.push(format!("the plugin cache {}", c.display()));
                }
                let last = match &registry_url {
                    Some(u) => format!("registry {u}"),
                    None => "a registry (none is configured)".into(),
                };
                writeln!(
                    out,
                    "No plugins found in {} or {last}. Run ./install.sh to publish this \
                     workspace's plugins into a local registry, or pass --plugin-dir DIR or \
                     --registry URL.",
                    places.join(", ")
                )?;
            }
            let mut heading = String::new();
            for r in &rows {
                let h = match (r.source, &r.path) {
                    (Source::Dir, Some(p)) => format!(
                        "Found in {}:",
                        p.parent()
                            .map(|d| d.display().to_string())
                            .unwrap_or_default()
                    ),
                    (Source::Cache, _) => format!(
                        "Installed in {}:",
                        cache
                            .as_ref()
                            .map(|c| c.display().to_string())
                            .unwrap_or_default()
                    ),
                    _ => format!("Published in {}:", registry_url.as_deref().unwrap_or("")),
                };
                if h != heading {
                    writeln!(out, "{h}")?;
                    heading = h;
                }
                match &r.error {
                    Some(e) => writeln!(
                        out,
                        "  {:<24} {:<10} error: {e}",
                        r.name.as_deref().unwrap_or("(unloadable)"),
                        r.version.as_deref().unwrap_or("-"),
                    )?,
                    None => writeln!(
                        out,
                        "  {:<24} {:<10} {}",
                        r.name.as_deref().unwrap_or(""),
                        r.version.as_deref().unwrap_or(""),
                        r.description.as_deref().unwrap_or("")
                    )?,
                }
            }
        }
    }
    Ok(Exit::Ok)
}

/// Every plugin library in `dirs`; of libraries with the same file name, the first directory's.
fn dir_rows(host: &PluginHost, dirs: &[PathBuf]) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for path in files {
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            let is_plugin = (file.starts_with("libdtm_plugin_") || file.starts_with("dtm_plugin_"))
                && [".so", ".dylib", ".dll"].iter().any(|e| file.ends_with(e));
            if !is_plugin || !seen.insert(file.to_string()) {
                continue;
            }
            rows.push(match host.load(&path) {
                Ok(p) => Row {
                    name: Some(p.manifest().name.clone()),
                    version: Some(p.manifest().version.clone()),
                    description: Some(p.manifest().description.clone()),
                    source: Source::Dir,
                    path: Some(path),
                    error: None,
                },
                Err(e) => Row {
                    name: None,
                    version: None,
                    description: None,
                    source: Source::Dir,
                    path: Some(path),
                    error: Some(Chain::of(&e).to_string()),
                },
            });
        }
    }
    rows
}

/// Every build in the plugin cache for this platform (builds for others cannot be loaded here;
/// `dtm plugin list` shows them).
fn cache_rows(host: &PluginHost, resolver: &Resolver) -> Vec<Row> {
    let platform = resolver.platform().to_string();
    resolver
        .cache()
        .list()
        .into_iter()
        .filter(|b| b.platform == platform)
        .map(|b| {
            let build = Resolved {
                name: b.name.clone(),
                version: b.version.clone(),
                path: b.path.clone(),
                downloaded: false,
            };
            // Never open a cached file that changed since it was verified.
            let loaded = match resolver.cache().verify(&b) {
                Ok(true) => load_resolved(host, &build).map_err(|e| Chain::of(&e).to_string()),
                Ok(false) => Err(format!(
                    "{} no longer has the SHA-256 it was cached with ({}); not loaded: remove it \
                     (a `dtm init` that needs it downloads it again)",
                    b.path.display(),
                    b.sha256
                )),
                Err(e) => Err(Chain::of(&e).to_string()),
            };
            Row {
                description: loaded
                    .as_ref()
                    .ok()
                    .map(|p| p.manifest().description.clone()),
                error: loaded.err(),
                name: Some(b.name),
                version: Some(b.version),
                source: Source::Cache,
                path: Some(b.path),
            }
        })
        .collect()
}

/// Each plugin the registry publishes, at the version `dtm show config -p` would fetch for this
/// platform and plugin ABI (or why there is none). Err: a warning, when the index cannot be read.
fn registry_rows(resolver: &Resolver) -> Result<Vec<Row>, String> {
    let Some(url) = resolver.registry().map(|u| u.display()) else {
        return Ok(Vec::new());
    };
    let index = resolver.index().map_err(|e| {
        format!(
            "cannot read registry {url} ({}); listing only the plugins found locally",
            Chain::of(&e)
        )
    })?;
    Ok(index
        .plugins
        .iter()
        .map(|(name, p)| {
            let want = Want {
                name: name.clone(),
                requirements: Vec::new(),
                configured: false,
            };
            let picked = resolver.pick(&want);
            Row {
                name: Some(name.clone()),
                version: match &picked {
                    Ok((v, _)) => Some(v.clone()),
                    Err(_) => index.versions(name).first().map(|(v, _)| v.to_string()),
                },
                description: Some(p.description.clone()),
                source: Source::Registry,
                path: None,
                error: picked.err().map(|e| Chain::of(&e).to_string()),
            }
        })
        .collect())
}
