//! `dtm list plugins`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use dtm_engine::plugin::PluginHost;
use serde_json::json;

use crate::args::Output;
use crate::exit::Exit;
use crate::render;
use crate::settings;

pub fn plugins(flag: Option<&PathBuf>, output: Output) -> Result<Exit> {
    let mut dirs = settings::plugin_dirs(flag);
    dirs.extend(settings::fallback_plugin_dirs());
    let host = PluginHost::default();
    let mut rows = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for dir in &dirs {
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
                Ok(p) => json!({
                    "name": p.manifest().name, "version": p.manifest().version,
                    "description": p.manifest().description, "path": path,
                }),
                Err(e) => json!({ "path": path, "error": e.to_string() }),
            });
        }
    }
    match output {
        Output::Json => render::json_out(&json!({ "dirs": dirs, "plugins": rows }))?,
        Output::Text => {
            let mut out = std::io::stdout().lock();
            if rows.is_empty() {
                writeln!(
                    out,
                    "No plugins found in {}.",
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
            }
            for r in rows {
                match r.get("error") {
                    Some(e) => {
                        writeln!(out, "{:<24} {}", "(unloadable)", e.as_str().unwrap_or(""))?
                    }
                    None => writeln!(
                        out,
                        "{:<24} {:<10} {}",
                        r["name"].as_str().unwrap_or(""),
                        r["version"].as_str().unwrap_or(""),
                        r["description"].as_str().unwrap_or("")
                    )?,
                }
            }
        }
    }
    Ok(Exit::Ok)
}
