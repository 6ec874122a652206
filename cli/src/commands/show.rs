//! `dtm show config` and `dtm show status`.

mod sample;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use dtm_engine::plan::display_value;
use dtm_engine::plugin::{LoadedPlugin, PluginHost, library_file_name};
use dtm_engine::registry::{Resolved, Version, VersionReq, Want};
use dtm_engine::workspace::load_resolved;
use serde_json::{Value, json};

use crate::args::{ConfigArgs, Output, RegistryFlags};
use crate::exit::Exit;
use crate::render;
use crate::settings::{self, PluginSettings, WorkspaceSettings};

/// A plugin's commented sample config, or its manifest with `-o json`, or its options schema
/// with `schema`. The plugin is found as [`find_plugin`] says.
pub(super) fn plugin(
    args: &ConfigArgs,
    registry: &RegistryFlags,
    name: &str,
    requirement: Option<&VersionReq>,
    schema: bool,
    settings: &PluginSettings,
) -> Result<Exit> {
    let p = find_plugin(
        args.plugin_dir.as_ref(),
        registry,
        name,
        requirement,
        settings,
    )?;
    let m = p.manifest();
    if schema {
        render::json_out(&m.options_schema)?;
        return Ok(Exit::Ok);
    }
    match args.output {
        Output::Json => render::json_out(&serde_json::to_value(m)?)?,
        Output::Text => {
            let text = sample::render(m, Some(p.path()));
            std::io::stdout().lock().write_all(text.as_bytes())?;
        }
    }
    Ok(Exit::Ok)
}

/// Finds plugin `name` outside any config, the way a config finds its plugins: the first of
/// `--plugin-dir` (a development override) and the directory of the dtm executable (a build
/// tree), then the newest build in the plugin cache, then the newest version in the registry
/// (`--registry`, else the default one), verified and cached exactly as `dtm init` does. A
/// library in a directory whose version `requirement` does not allow is passed over.
fn find_plugin(
    flag: Option<&PathBuf>,
    registry: &RegistryFlags,
    name: &str,
    requirement: Option<&VersionReq>,
    settings: &PluginSettings,
) -> Result<Arc<LoadedPlugin>> {
    let host = PluginHost::default();
    let file = library_file_name(name);
    let mut dirs = settings::plugin_dirs(flag);
    dirs.extend(settings::fallback_plugin_dirs());
    let mut passed_over = Vec::new();
    for dir in &dirs {
        if !dir.join(&file).is_file() {
            continue;
        }
        let p = host.load_named(name, std::slice::from_ref(dir))?;
        let version = &p.manifest().version;
        match requirement {
            Some(req) if !Version::parse(version).is_ok_and(|v| req.matches(&v)) => passed_over
                .push(format!(
                    "{} is version {version}, which `{req}` does not allow",
                    p.path().display()
                )),
            _ => return Ok(p),
        }
    }
    let mut looked = format!(
        "{file} in {}",
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !passed_over.is_empty() {
        looked.push_str(&format!(" ({})", passed_over.join("; ")));
    }
    let Some(resolver) = settings.standalone_resolver(registry)? else {
        bail!(
            "plugin `{name}` not found: looked for {looked}; there is no dtm home (set DTM_HOME or \
             HOME) for a plugin cache or registry; pass --plugin-dir DIR holding the library"
        );
    };
    let cache = resolver.cache().root().display().to_string();
    if let Some(build) = resolver
        .cache()
        .newest(name, resolver.platform(), requirement)
    {
        let build = Resolved {
            name: build.name,
            version: build.version,
            path: build.path,
            downloaded: false,
        };
        return Ok(load_resolved(&host, &build)?);
    }
    let Some(url) = resolver.registry().map(|r| r.display()) else {
        bail!(
            "plugin `{name}` not found: looked for {looked} and in the plugin cache {cache}{}, and \
             no registry is configured; run ./install.sh (it publishes this workspace's plugins \
             into a signed local registry and makes it the default), pass --registry URL, or pass \
             --plugin-dir DIR holding the library",
            requirement
                .map(|r| format!(" (for a version `{r}` allows)"))
                .unwrap_or_default()
        );
    };
    let want = Want {
        name: name.to_string(),
        requirements: requirement
            .map(|r| vec![("--version".to_string(), r.clone())])
            .unwrap_or_default(),
        configured: true,
    };
    let context = || {
        format!(
            "plugin `{name}` not found: looked for {looked} and in the plugin cache {cache}, \
             then asked registry {url}"
        )
    };
    let build = resolver.fetch_one(&want).with_context(context)?;
    load_resolved(&host, &build).with_context(context)
}

/// The resolved config with secrets masked, option keys in each plugin's spelling (for the
/// plugins that can be loaded without resolving anything new) and keys a plugin does not know
/// left out, as they would go to the plugins. `settings` are resolved with the lock file frozen.
pub(super) fn config(mut resolved: WorkspaceSettings) -> Result<Exit> {
    let warnings = resolved.workspace.load_available_plugins();
    render::warnings_text(&warnings)?;
    let cfg = &resolved.workspace.config;
    let tools: Vec<Value> = cfg
        .tools
        .iter()
        .map(|t| {
            let mut options = t.options.clone();
            for p in &t.secret_paths {
                if let Some(v) = options.pointer_mut(p) {
                    *v = json!("(sensitive)");
                }
            }
            json!({
                "name": t.plugin,
                "instanceID": t.instance_id,
                "dependsOn": t.depends_on,
                "version": t.version.as_ref().map(ToString::to_string),
                "timeout": t.timeout.map(|d| humantime::format_duration(d).to_string()),
                "options": options,
            })
        })
        .collect();
    let doc = json!({
        "files": cfg.files,
        "state": { "backend": cfg.state.backend, "options": cfg.state.options },
        "pluginDir": cfg.plugin_dir,
        "tools": tools,
        "warnings": render::warnings_json(&warnings),
    });
    render::json_out(&doc)?;
    Ok(Exit::Ok)
}

/// Recorded state plus live status per tool.
pub(super) fn status(settings: WorkspaceSettings, id: Option<&str>) -> Result<Exit> {
    let (resolved, store) = super::open(settings)?;
    let keys: Vec<String> = match id {
        Some(id) => {
            if !store.state.resources.contains_key(id) {
                bail!(
                    "`{id}` is not recorded in state {}; `dtm state list` shows what is",
                    store.location()
                );
            }
            vec![id.to_string()]
        }
        None => store.state.resources.keys().cloned().collect(),
    };
    let live = resolved.workspace.read_live(&store.state, &keys)?;
    let mut docs = Vec::new();
    for k in &keys {
        let Some(r) = store.state.resources.get(k) else {
            continue;
        };
        let live_v = match live.get(k) {
            Some(dtm_engine::plan::Live::Present(s)) => json!({"present": true, "status": s}),
            Some(dtm_engine::plan::Live::Absent) => json!({"present": false}),
            _ => json!(null),
        };
        docs.push(json!({
            "id": k,
            "plugin": r.plugin,
            "plugin_version": r.plugin_version,
            "lifecycle": r.lifecycle,
            "last_error": r.last_error,
            "updated": r.updated,
            "options": display_value(&r.options),
            "status": r.status,
            "outputs": r.outputs,
            "live": live_v,
            "drift": matches!(live.get(k), Some(dtm_engine::plan::Live::Present(s)) if *s != r.status) || matches!(live.get(k), Some(dtm_engine::plan::Live::Absent)),
        }));
    }
    match resolved.output {
        Output::Json => render::json_out(&json!({
            "tools": docs,
            "warnings": render::warnings_json(&resolved.workspace.warnings),
        }))?,
        Output::Text => {
            let mut out = std::io::stdout().lock();
            if docs.is_empty() {
                writeln!(out, "No tools recorded in {}.", store.location())?;
            }
            for d in docs {
                writeln!(
                    out,
                    "{} ({} {}): {}{}",
                    d["id"].as_str().unwrap_or(""),
                    d["plugin"].as_str().unwrap_or(""),
                    d["plugin_version"].as_str().unwrap_or(""),
                    d["lifecycle"].as_str().unwrap_or(""),
                    if d["drift"] == json!(true) {
                        ", DRIFTED"
                    } else {
                        ""
                    }
                )?;
                if let Some(e) = d["last_error"].as_str() {
                    writeln!(out, "  last error: {e}")?;
                }
                writeln!(out, "  outputs: {}", d["outputs"])?;
                writeln!(out, "  status:  {}", d["status"])?;
                writeln!(out, "  live:    {}", d["live"])?;
            }
        }
    }
    Ok(Exit::Ok)
}
