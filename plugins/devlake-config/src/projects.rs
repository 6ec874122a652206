//! dtm's addition: DevLake projects (DevLake v0.15 and later), through `GET`/`PATCH`/`DELETE
//! /projects/NAME` and `POST /projects`, with the DORA metrics on or off.

use std::collections::BTreeMap;

use dtm_plugin_sdk::prelude::*;
use serde_json::{Map, Value, json};

use crate::api::DevLake;
use crate::options::Project;

fn path(name: &str) -> String {
    let mut out = String::from("/projects/");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn body(p: &Project) -> Value {
    json!({
        "name": p.name,
        "description": p.description,
        "enable": true,
        "metrics": [{"pluginName": "dora", "enable": p.enable_dora}],
    })
}

/// What the status keeps of a project as DevLake reports it.
fn shown(project: &Value) -> Value {
    let dora = project["metrics"].as_array().and_then(|m| {
        m.iter()
            .find(|m| m["pluginName"] == "dora")
            .map(|m| m["enable"].clone())
    });
    json!({
        "description": project.get("description").cloned().unwrap_or(Value::Null),
        "dora": dora.unwrap_or(json!(false)),
    })
}

/// The project as DevLake reports it; `None` when it does not exist.
pub fn get(ctx: &Ctx, lake: &DevLake, name: &str) -> Result<Option<Value>, PluginError> {
    let at = path(name);
    let (status, text) = lake.call(ctx, "GET", &at, None)?;
    match status {
        404 => Ok(None),
        _ => lake
            .answer("GET", &at, status, &text)
            .map(|v| Some(shown(&v))),
    }
}

/// Creates or updates each project.
pub fn apply(ctx: &Ctx, lake: &DevLake, projects: &[Project]) -> Result<(), PluginError> {
    for p in projects {
        let at = path(&p.name);
        let (method, target) = if get(ctx, lake, &p.name)?.is_some() {
            ("PATCH", at)
        } else {
            ("POST", "/projects".to_string())
        };
        let (status, text) = lake.call(ctx, method, &target, Some(&body(p)))?;
        lake.answer(method, &target, status, &text)?;
        if method == "POST" {
            ctx.info(format!("created the DevLake project `{}`", p.name));
        }
    }
    Ok(())
}

/// Deletes a project; `false` when it was gone already.
pub fn delete(ctx: &Ctx, lake: &DevLake, name: &str) -> Result<bool, PluginError> {
    let at = path(name);
    let (status, text) = lake.call(ctx, "DELETE", &at, None)?;
    match status {
        200 | 204 => Ok(true),
        404 => Ok(false),
        405 => Err(PluginError::unsupported(format!(
            "DELETE {}{at}: 405; this DevLake cannot delete projects through its API (v0.18 and later can): delete `{name}` in its UI",
            lake.base
        ))),
        _ => Err(lake.failure("DELETE", &at, status, &text)),
    }
}

/// The status part: each project of `names` as DevLake reports it (`null` when gone).
pub fn status(
    ctx: &Ctx,
    lake: &DevLake,
    names: &[String],
) -> Result<Map<String, Value>, PluginError> {
    let mut out = Map::new();
    for name in names {
        out.insert(name.clone(), get(ctx, lake, name)?.unwrap_or(Value::Null));
    }
    Ok(out)
}

/// The project names a status records.
pub fn recorded(status: &Value) -> Vec<String> {
    status["projects"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Names in `before` that `now` no longer lists.
pub fn dropped(before: &[String], now: &[Project]) -> Vec<String> {
    let now: BTreeMap<&str, ()> = now.iter().map(|p| (p.name.as_str(), ())).collect();
    before
        .iter()
        .filter(|n| !now.contains_key(n.as_str()))
        .cloned()
        .collect()
}
