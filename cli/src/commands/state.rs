//! `dtm state list | show | unlock`.

use std::io::Write;

use anyhow::{Result, bail};
use dtm_engine::plan::display_value;
use dtm_engine::workspace::open_backend;
use serde_json::json;

use crate::args::{ConfigArgs, Output};
use crate::exit::Exit;
use crate::render;
use crate::settings;

fn open(args: &ConfigArgs) -> Result<dtm_engine::store::StateStore> {
    let cfg = settings::load_config(args)?;
    Ok(dtm_engine::store::StateStore::open(open_backend(&cfg)?)?)
}

pub fn list(args: &ConfigArgs) -> Result<Exit> {
    let store = open(args)?;
    let lock = store.backend().lock_info()?;
    match args.output {
        Output::Json => {
            let tools: Vec<_> = store
                .state
                .resources
                .iter()
                .map(|(k, r)| json!({"id": k, "plugin": r.plugin, "plugin_version": r.plugin_version, "lifecycle": r.lifecycle, "updated": r.updated}))
                .collect();
            render::json_out(&json!({
                "location": store.location(), "exists": store.exists, "serial": store.state.serial,
                "lineage": store.state.lineage, "lock": lock, "tools": tools,
            }))?;
        }
        Output::Text => {
            let mut out = std::io::stdout().lock();
            if !store.exists {
                writeln!(out, "No state at {} yet.", store.location())?;
            }
            for (k, r) in &store.state.resources {
                let lc = serde_json::to_value(r.lifecycle)?;
                writeln!(
                    out,
                    "{k:<40} {:<10} {}",
                    lc.as_str().unwrap_or(""),
                    r.updated
                )?;
            }
            if let Some(l) = lock {
                writeln!(out, "\nlocked by {l}")?;
            }
        }
    }
    Ok(Exit::Ok)
}

pub fn show(args: &ConfigArgs, id: &str) -> Result<Exit> {
    let store = open(args)?;
    let Some(r) = store.state.resources.get(id) else {
        bail!(
            "`{id}` is not recorded in state {}; `dtm state list` shows what is",
            store.location()
        );
    };
    let mut v = serde_json::to_value(r)?;
    v["options"] = display_value(&r.options);
    render::json_out(&v)?;
    Ok(Exit::Ok)
}

pub fn unlock(args: &ConfigArgs, lock_id: &str) -> Result<Exit> {
    let store = open(args)?;
    store.backend().unlock(lock_id)?;
    writeln!(
        std::io::stdout(),
        "Released lock {lock_id} on {}.",
        store.location()
    )?;
    Ok(Exit::Ok)
}
