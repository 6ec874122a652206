//! `dtm init`: resolve, download and verify the config's plugins; write dtm.lock.

use std::io::Write;

use anyhow::Result;
use dtm_engine::registry::{LOCK_FILE_NAME, LockMode};
use dtm_engine::text::count;
use serde_json::json;

use crate::args::Output;
use crate::exit::Exit;
use crate::render;
use crate::settings::WorkspaceSettings;

/// `settings` are resolved with the lock file in `init` or `upgrade` mode.
pub(super) fn run(mut resolved: WorkspaceSettings) -> Result<Exit> {
    let upgrade = resolved.workspace.settings.registry.mode == LockMode::Upgrade;
    let lock_path = resolved.workspace.config.dir.join(LOCK_FILE_NAME);
    let started = std::time::Instant::now();
    let resolution = resolved.workspace.init_plugins();
    crate::render::warnings_text(&resolved.workspace.warnings)?;
    let resolution = resolution.map_err(|e| super::plugin_error(e, "cannot initialise plugins"))?;
    let elapsed = started.elapsed();
    match resolved.output {
        Output::Json => render::json_out(&json!({
            "lock_file": lock_path,
            "lock_written": resolution.lock_written,
            "warnings": render::warnings_json(&resolved.workspace.warnings),
            "plugins": resolution.plugins.iter().map(|p| json!({
                "name": p.name, "version": p.version, "path": p.path, "downloaded": p.downloaded,
            })).collect::<Vec<_>>(),
        }))?,
        Output::Text => {
            let mut out = std::io::stdout().lock();
            for p in &resolution.plugins {
                writeln!(
                    out,
                    "{:<20} {:<10} {}",
                    p.name,
                    p.version,
                    if p.downloaded {
                        "downloaded, verified"
                    } else {
                        "cached, verified"
                    }
                )?;
            }
            writeln!(
                out,
                "{} {} in {:.1}s; {} {}.",
                if upgrade { "Upgraded" } else { "Initialised" },
                count(resolution.plugins.len(), "plugin", "plugins"),
                elapsed.as_secs_f64(),
                if resolution.lock_written {
                    "wrote"
                } else {
                    "unchanged:"
                },
                lock_path.display()
            )?;
        }
    }
    Ok(Exit::Ok)
}
