//! `dtm plan`: show what apply would do.

use anyhow::Result;
use dtm_engine::plan::Mode;

use crate::args::Output;
use crate::exit::Exit;
use crate::render;
use crate::settings::WorkspaceSettings;

pub(super) fn run(settings: WorkspaceSettings, detailed_exitcode: bool) -> Result<Exit> {
    let (resolved, store) = super::open(settings)?;
    let plan = resolved.workspace.plan(&store.state, Mode::Apply)?;
    match resolved.output {
        Output::Json => {
            let mut doc = render::plan_json(&plan);
            doc["warnings"] = render::warnings_json(&resolved.workspace.warnings);
            render::json_out(&doc)?;
        }
        Output::Text => render::plan_text(&mut std::io::stdout().lock(), &plan)?,
    }
    Ok(if detailed_exitcode && plan.has_changes() {
        Exit::Changes
    } else {
        Exit::Ok
    })
}
