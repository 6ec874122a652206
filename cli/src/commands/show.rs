//! `dtm show config` and `dtm show status`.

mod sample;

use std::io::Write;

use anyhow::{Result, bail};
use dtm_engine::plan::display_value;
use dtm_engine::plugin::PluginHost;
use serde_json::{Value, json};

use crate::args::{ConfigArgs, Output};
use crate::exit::Exit;
use crate::render;
use crate::settings;

/// The resolved config with secrets masked; with `plugin`, that plugin's sample config (or its
/// manifest with `-o json`, or its options schema with `schema`).
pub fn config(args: &ConfigArgs, plugin: Option<&str>, schema: bool) -> Result<Exit> {
    if let Some(name) = plugin {
        let mut dirs = settings::plugin_dirs(args.plugin_dir.as_ref());
        dirs.extend(settings::fallback_plugin_dirs());
        let p = PluginHost::default().load_named(name, &dirs)?;
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
        return Ok(Exit::Ok);
    }
    let cfg = settings::load_config(args)?;
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
    });
    render::json_out(&doc)?;
    Ok(Exit::Ok)
}

/// Recorded state plus live status per tool.
pub fn status(args: &ConfigArgs, id: Option<&str>) -> Result<Exit> {
    let (resolved, store) = super::open(args)?;
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
        Output::Json => render::json_out(&json!({ "tools": docs }))?,
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
