//! `dtm verify`: exit 0 when reality matches the config, 2 when changes are pending, 1 on error.

use anyhow::Result;
use dtm_engine::plan::{Action, Mode};
use dtm_engine::text::{Plural, count};
use serde_json::json;

use crate::args::Output;
use crate::exit::Exit;
use crate::render;
use crate::settings::WorkspaceSettings;

/// `settings` are resolved with the lock file frozen: plugins must be exactly the locked builds.
pub(super) fn run(settings: WorkspaceSettings) -> Result<Exit> {
    let (resolved, store) = super::open(settings)?;
    let plan = resolved.workspace.plan(&store.state, Mode::Apply)?;
    let in_sync = !plan.has_changes();
    match resolved.output {
        Output::Json => {
            let mut doc = render::plan_json(&plan);
            doc["in_sync"] = json!(in_sync);
            doc["warnings"] = render::warnings_json(&resolved.workspace.warnings);
            render::json_out(&doc)?;
        }
        Output::Text => {
            let mut out = std::io::stdout().lock();
            if in_sync {
                use std::io::Write;
                writeln!(
                    out,
                    "In sync: {} {} the config.",
                    count(plan.changes.len(), "tool", "tools"),
                    Plural(plan.changes.len(), "matches", "match")
                )?;
            } else {
                render::plan_text(&mut out, &plan)?;
                use std::io::Write;
                let pending: Vec<String> = plan
                    .changes
                    .iter()
                    .filter(|c| c.action != Action::NoOp)
                    .map(|c| format!("{} ({})", c.key, c.action))
                    .collect();
                writeln!(
                    out,
                    "\nOut of sync: {} pending: {}. Run `dtm apply` to converge.",
                    count(pending.len(), "change", "changes"),
                    pending.join(", ")
                )?;
            }
        }
    }
    Ok(if in_sync { Exit::Ok } else { Exit::Changes })
}
