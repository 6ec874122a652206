//! `dtm verify`: exit 0 when reality matches the config, 2 when changes are pending, 1 on error.

use anyhow::Result;
use dtm_engine::plan::{Action, Mode};
use dtm_engine::registry::LockMode;
use serde_json::json;

use crate::args::{ConfigArgs, Output};
use crate::exit::Exit;
use crate::render;

pub fn run(args: &ConfigArgs) -> Result<Exit> {
    // Frozen: plugins must be exactly the locked builds; verify never resolves or writes the lock.
    let (resolved, store) = super::open_with(args, LockMode::Frozen)?;
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
                    "In sync: {} tool{} the config.",
                    plan.changes.len(),
                    if plan.changes.len() == 1 {
                        " matches"
                    } else {
                        "s match"
                    }
                )?;
            } else {
                render::plan_text(&mut out, &plan)?;
                use std::io::Write;
                let pending: Vec<String> = plan
                    .changes
                    .iter()
                    .filter(|c| c.action != Action::NoOp)
                    .map(|c| format!("{} ({})", c.key, c.action.as_str()))
                    .collect();
                writeln!(
                    out,
                    "\nOut of sync: {} change{} pending: {}. Run `dtm apply` to converge.",
                    pending.len(),
                    if pending.len() == 1 { "" } else { "s" },
                    pending.join(", ")
                )?;
            }
        }
    }
    Ok(if in_sync { Exit::Ok } else { Exit::Changes })
}
