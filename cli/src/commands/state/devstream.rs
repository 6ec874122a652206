//! Converting a DevStream state file into dtm's resources.
//!
//! DevStream (v0.10+) keeps its state as YAML, one entry per tool keyed `name_instanceID`:
//!
//! ```yaml
//! repo-scaffolding_golang-github:
//!   name: repo-scaffolding
//!   instanceID: golang-github
//!   dependsOn: []
//!   options: { ... }
//!   resourceStatus: { ..., outputs: { ... } }
//! ```
//!
//! Each entry becomes a completed dtm resource: its status is `resourceStatus`, its outputs
//! `resourceStatus.outputs`; `dependsOn` already uses dtm's `name.instanceID` form.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use dtm_engine::state::{HistoryEntry, Lifecycle, Resource};
use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// The resources recorded in DevStream state `text` (read from `file`), by `name.instanceID`.
pub(super) fn convert(text: &str, file: &str, now: &str) -> Result<BTreeMap<String, Resource>> {
    let documents = match YamlLoader::load_from_str(text) {
        Ok(documents) => documents,
        Err(error) => bail!("{file} is not a DevStream state file: invalid YAML: {error}"),
    };
    let entries = match documents.into_iter().next() {
        None | Some(Yaml::Null) => bail!("{file} records no tools; there is nothing to import"),
        Some(Yaml::Hash(entries)) => entries,
        Some(_) => bail!(
            "{file} is not a DevStream state file: expected a map of `name_instanceID` entries"
        ),
    };
    let mut resources = BTreeMap::new();
    for (key, entry) in entries {
        let key = key
            .as_str()
            .map_or_else(|| to_json(&key).to_string(), str::to_owned);
        let Value::Object(entry) = to_json(&entry) else {
            bail!("{file}: entry `{key}` is not a map");
        };
        let field = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_owned);
        let (name, instance) = match (field("name"), field("instanceID")) {
            (Some(name), Some(instance)) => (name, instance),
            _ => match key.split_once('_') {
                Some((name, instance)) => (name.to_owned(), instance.to_owned()),
                None => bail!(
                    "{file}: entry `{key}` has no `name` and `instanceID`, and its key is not \
                     `name_instanceID`"
                ),
            },
        };
        if name.is_empty() || instance.is_empty() {
            bail!("{file}: entry `{key}` has an empty `name` or `instanceID`");
        }
        let depends_on = match entry.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => {
                        bail!("{file}: entry `{key}`: `dependsOn` holds {other}, not a string")
                    }
                })
                .collect::<Result<_>>()?,
            Some(_) => bail!("{file}: entry `{key}`: `dependsOn` must be a list"),
        };
        let status = entry.get("resourceStatus").cloned().unwrap_or(Value::Null);
        let outputs = status
            .get("outputs")
            .and_then(Value::as_object)
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let id = format!("{name}.{instance}");
        if resources.contains_key(&id) {
            bail!("{file}: `{id}` is recorded twice");
        }
        resources.insert(
            id,
            Resource {
                plugin: name,
                instance_id: instance,
                plugin_version: String::new(),
                depends_on,
                options: entry.get("options").cloned().unwrap_or(Value::Null),
                status,
                outputs,
                lifecycle: Lifecycle::Completed,
                pending: None,
                last_error: None,
                created: now.to_owned(),
                updated: now.to_owned(),
                history: vec![HistoryEntry {
                    at: now.to_owned(),
                    operation: "import".to_owned(),
                    result: format!("ok (from DevStream state {file})"),
                }],
            },
        );
    }
    if resources.is_empty() {
        bail!("{file} records no tools; there is nothing to import");
    }
    Ok(resources)
}

fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::Number((*i).into()),
        Yaml::Real(text) => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(text.clone()), Value::Number),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let key = match key {
                    Yaml::String(s) => s.clone(),
                    other => match to_json(other) {
                        Value::String(s) => s,
                        value => value.to_string(),
                    },
                };
                map.insert(key, to_json(value));
            }
            Value::Object(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_entries_with_status_outputs_and_dependencies() {
        let text = "\
repo-scaffolding_golang-github:
  name: repo-scaffolding
  instanceID: golang-github
  dependsOn: []
  options:
    destinationRepo: {owner: alice, repo: demo}
  resourceStatus:
    owner: alice
    outputs: {repo: demo, url: 'https://example.invalid/alice/demo'}
githubactions-golang_default:
  name: githubactions-golang
  instanceID: default
  dependsOn: [\"repo-scaffolding.golang-github\"]
  options: {language: {name: go, version: 1.22}}
  resourceStatus: {workflows: 2}
";
        let resources = convert(text, "devstream.state", "2026-01-01T00:00:00Z").unwrap();
        let scaffold = &resources["repo-scaffolding.golang-github"];
        assert_eq!(scaffold.lifecycle, Lifecycle::Completed);
        assert_eq!(scaffold.status["owner"], "alice");
        assert_eq!(scaffold.outputs["repo"], "demo");
        assert_eq!(scaffold.options["destinationRepo"]["owner"], "alice");
        let actions = &resources["githubactions-golang.default"];
        assert_eq!(actions.depends_on, vec!["repo-scaffolding.golang-github"]);
        assert_eq!(actions.options["language"]["version"], 1.22);
        assert!(actions.outputs.is_empty());
    }

    #[test]
    fn refuses_what_is_not_a_devstream_state() {
        for (text, expected) in [
            ("", "records no tools"),
            ("- a\n- b\n", "expected a map"),
            ("a: [unclosed", "invalid YAML"),
            ("justakey:\n  options: {}\n", "not `name_instanceID`"),
        ] {
            let error = convert(text, "f", "now").unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
