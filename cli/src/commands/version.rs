//! `dtm version`.

use std::io::Write;

use anyhow::Result;
use dtm_plugin_protocol::{ABI_MAJOR, ABI_MINOR};
use serde_json::json;

use crate::args::Output;
use crate::exit::Exit;
use crate::render;

pub(super) fn run(output: Output) -> Result<Exit> {
    let version = env!("CARGO_PKG_VERSION");
    match output {
        Output::Json => render::json_out(
            &json!({ "version": version, "plugin_abi": format!("{ABI_MAJOR}.{ABI_MINOR}") }),
        )?,
        Output::Text => writeln!(
            std::io::stdout(),
            "dtm {version} (plugin ABI {ABI_MAJOR}.{ABI_MINOR})"
        )?,
    }
    Ok(Exit::Ok)
}
