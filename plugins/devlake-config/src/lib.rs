//! The `devlake-config` plugin: DevLake's data connections (per DevLake plugin: GitHub, GitLab,
//! Jira, ...) and projects through DevLake's REST API, kept as the config lists them. See
//! `docs/plugins/devlake-config.md`.
#![forbid(unsafe_code)]

pub mod api;
pub mod options;
pub mod projects;

use std::collections::BTreeMap;

use dtm_plugin_sdk::prelude::*;
use serde_json::{Map, Value, json};

use api::DevLake;
use options::Options;

/// `plugin/name`, the key of a connection in the status.
fn key(plugin: &str, name: &str) -> String {
    format!("{plugin}/{name}")
}

/// The connections a status records: key → (plugin, id).
fn recorded(status: &Value) -> BTreeMap<String, (String, u64)> {
    status["connections"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let plugin = k.split_once('/')?.0.to_string();
                    Some((k.clone(), (plugin, v["id"].as_u64()?)))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What the status keeps of a connection as DevLake reports it: nothing secret (DevLake masks
/// secrets anyway) and nothing that changes by itself (its timestamps).
fn shown(connection: &Value) -> Value {
    let field = |k: &str| connection.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "id": field("id"),
        "name": field("name"),
        "endpoint": field("endpoint"),
        "proxy": field("proxy"),
        "rateLimitPerHour": field("rateLimitPerHour"),
        "username": field("username"),
    })
}

fn find<'a>(live: &'a [Value], id: Option<u64>, name: &str) -> Option<&'a Value> {
    id.and_then(|id| live.iter().find(|c| c["id"].as_u64() == Some(id)))
        .or_else(|| live.iter().find(|c| c["name"].as_str() == Some(name)))
}

fn devlake(req: &Req<Options>) -> Result<DevLake, PluginError> {
    DevLake::new(&req.options.devlake_addr, req.options.api_key.clone())
}

/// The status: each connection of `keys` as DevLake reports it now (`null` when it is gone).
fn status(
    ctx: &Ctx,
    lake: &DevLake,
    keys: &BTreeMap<String, (String, Option<u64>)>,
    project_names: &[String],
) -> Result<Value, PluginError> {
    let mut lists: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut out = Map::new();
    for (k, (plugin, id)) in keys {
        if !lists.contains_key(plugin) {
            lists.insert(plugin.clone(), lake.list(ctx, plugin)?);
        }
        let name = k.split_once('/').map_or("", |(_, n)| n);
        let live = lists.get(plugin).map(Vec::as_slice).unwrap_or_default();
        let found = find(live, *id, name).map(shown).unwrap_or(Value::Null);
        out.insert(k.clone(), found);
    }
    let projects = projects::status(ctx, lake, project_names)?;
    Ok(json!({ "devlakeAddr": lake.base, "connections": out, "projects": projects }))
}

fn done(status: Value) -> Done {
    let ids: Map<String, Value> = status["connections"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v["id"].clone()))
                .collect()
        })
        .unwrap_or_default();
    Done::new(status).output("connectionIds", Value::Object(ids))
}

/// Creates or updates every connection and project of the options, then deletes the ones dtm
/// made that the options no longer list (projects first: they may use the connections).
fn converge(ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
    let lake = devlake(req)?;
    let before = recorded(&req.status);
    let keys = apply_connections(ctx, &lake, req, &before)?;
    projects::apply(ctx, &lake, &req.options.projects)?;
    for name in projects::dropped(&projects::recorded(&req.status), &req.options.projects) {
        if projects::delete(ctx, &lake, &name)? {
            ctx.info(format!(
                "deleted the DevLake project `{name}`, no longer in the options"
            ));
        }
    }
    for (k, (plugin, id)) in &before {
        if !keys.contains_key(k) && lake.delete(ctx, plugin, *id)? {
            ctx.info(format!(
                "deleted the DevLake connection `{k}`, no longer in the options"
            ));
        }
    }
    let names: Vec<String> = req
        .options
        .projects
        .iter()
        .map(|p| p.name.clone())
        .collect();
    Ok(done(status(ctx, &lake, &keys, &names)?).into())
}

/// Creates or updates the connections; their keys with DevLake's ids.
fn apply_connections(
    ctx: &Ctx,
    lake: &DevLake,
    req: &Req<Options>,
    before: &BTreeMap<String, (String, u64)>,
) -> Result<BTreeMap<String, (String, Option<u64>)>, PluginError> {
    let mut keys = BTreeMap::new();
    for plugin in &req.options.plugins {
        let live = lake.list(ctx, &plugin.name)?;
        for c in &plugin.connections {
            let k = key(&plugin.name, &c.name);
            let known = before.get(&k).map(|(_, id)| *id);
            let answer = match find(&live, known, &c.name).and_then(|e| e["id"].as_u64()) {
                Some(id) => lake.update(ctx, &plugin.name, id, &c.body())?,
                None => {
                    let made = lake.create(ctx, &plugin.name, &c.body())?;
                    ctx.info(format!(
                        "created the DevLake {} connection `{}`",
                        plugin.name, c.name
                    ));
                    made
                }
            };
            keys.insert(k, (plugin.name.clone(), answer["id"].as_u64()));
        }
    }
    Ok(keys)
}

/// The `devlake-config` plugin.
#[derive(Debug, Default)]
pub struct DevLakeConfig;

impl Plugin for DevLakeConfig {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "devlake-config",
            env!("CARGO_PKG_VERSION"),
            "DevLake data connections (GitHub, GitLab, Jira, ...) and projects through DevLake's REST API",
        )
        .output(
            "connectionIds",
            "DevLake's ID of each connection, by `plugin/name`",
        )
    }

    fn options_example() -> Option<Value> {
        Some(options::example())
    }

    fn validate(&self, _ctx: &Ctx, options: &Options) -> Result<(), Vec<Problem>> {
        let problems = options.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn create(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        converge(ctx, req)
    }

    fn read(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Option<Done>, PluginError> {
        let lake = devlake(req)?;
        let mut keys: BTreeMap<String, (String, Option<u64>)> = recorded(&req.status)
            .into_iter()
            .map(|(k, (p, id))| (k, (p, Some(id))))
            .collect();
        if keys.is_empty() {
            for p in &req.options.plugins {
                for c in &p.connections {
                    keys.insert(key(&p.name, &c.name), (p.name.clone(), None));
                }
            }
        }
        let mut names = projects::recorded(&req.status);
        if req.status.is_null() {
            names = req
                .options
                .projects
                .iter()
                .map(|p| p.name.clone())
                .collect();
        }
        let status = status(ctx, &lake, &keys, &names)?;
        let all_gone = ["connections", "projects"].iter().all(|part| {
            status[*part]
                .as_object()
                .is_none_or(|m| m.values().all(Value::is_null))
        });
        Ok((!all_gone).then(|| done(status)))
    }

    fn update(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        converge(ctx, req)
    }

    fn delete(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        let lake = devlake(req)?;
        let mut names = projects::recorded(&req.status);
        if req.status.is_null() {
            names = req
                .options
                .projects
                .iter()
                .map(|p| p.name.clone())
                .collect();
        }
        for name in names {
            if projects::delete(ctx, &lake, &name)? {
                ctx.info(format!("deleted the DevLake project `{name}`"));
            }
        }
        let mut targets: Vec<(String, String, Option<u64>)> = recorded(&req.status)
            .into_iter()
            .map(|(k, (p, id))| (k, p, Some(id)))
            .collect();
        if targets.is_empty() {
            for p in &req.options.plugins {
                for c in &p.connections {
                    targets.push((key(&p.name, &c.name), p.name.clone(), None));
                }
            }
        }
        for (k, plugin, id) in targets {
            let id = match id {
                Some(id) => Some(id),
                None => {
                    let live = lake.list(ctx, &plugin)?;
                    let name = k.split_once('/').map_or("", |(_, n)| n);
                    find(&live, None, name).and_then(|c| c["id"].as_u64())
                }
            };
            match id {
                Some(id) if lake.delete(ctx, &plugin, id)? => {
                    ctx.info(format!("deleted the DevLake connection `{k}`"));
                }
                _ => ctx.info(format!("the DevLake connection `{k}` is gone already")),
            }
        }
        Ok(Done::default().into())
    }
}

dtm_plugin_sdk::export_plugin!(DevLakeConfig, DevLakeConfig);

#[cfg(test)]
mod tests;
