//! Walking the parsed node trees into the config types, reporting every problem with its place.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::load::Loader;
use super::refs::find_refs;
use super::suggest::{did_you_mean, hint};
use super::template::SECRET_OPEN;
use super::yaml::{Kind, Node, Pos, Style, plain_value};
use super::{OutputRef, SecretSource, StateConfig, Tool};
use crate::names::{is_dns1123_label, is_dns1123_subdomain};

/// Top-level keys of a config file.
pub(crate) const TOP_KEYS: &[&str] = &["config", "vars", "tools", "apps", "pipelineTemplates"];
const CONFIG_KEYS: &[&str] = &[
    "state",
    "pluginDir",
    "pluginRegistry",
    "pluginRegistryKey",
    "strict",
];
const STATE_KEYS: &[&str] = &["backend", "options"];
const TOOL_KEYS: &[&str] = &[
    "name",
    "instanceID",
    "dependsOn",
    "options",
    "version",
    "timeout",
];
const TEMPLATE_KEYS: &[&str] = &["name", "type", "options"];
/// What an `instanceID` (and an app's name, which becomes one) must look like.
pub(crate) const INSTANCE_ID_RULE: &str = "must be a DNS-1123 subdomain: lower-case letters, \
    digits, '-' and '.', each dot-separated part starting and ending with a letter or digit, at \
    most 253 characters";
/// State backends dtm knows.
pub(crate) const BACKENDS: &[&str] = dtm_backends::BackendKind::NAMES;

/// What the files say, merged, before apps are expanded and the tool graph is checked.
#[derive(Debug, Default)]
pub(crate) struct Raw {
    pub state: Option<StateConfig>,
    pub state_pos: Option<Pos>,
    pub plugin_dir: Option<String>,
    pub plugin_dir_pos: Option<Pos>,
    pub plugin_registry: Option<String>,
    pub plugin_registry_pos: Option<Pos>,
    pub plugin_registry_key: Option<String>,
    pub plugin_registry_key_pos: Option<Pos>,
    pub strict: Option<bool>,
    pub strict_pos: Option<Pos>,
    pub tools: Vec<ToolSrc>,
    /// `apps:` items with their index in their file's list.
    pub apps: Vec<(Node, usize)>,
    /// `pipelineTemplates:` by name: (type, options, where).
    pub templates: HashMap<String, Template>,
    pub template_names: Vec<String>,
}

/// One `pipelineTemplates:` item.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub plugin: String,
    pub options: Option<Node>,
    pub pos: Pos,
}

/// A tool plus where its parts were written, for the graph checks.
#[derive(Debug)]
pub(crate) struct ToolSrc {
    pub tool: Tool,
    pub pos: Pos,
    /// Explicit `dependsOn` entries.
    pub deps: Vec<(String, Pos)>,
    /// Position of each of `tool.refs`.
    pub ref_pos: Vec<Pos>,
}

/// Everything needed to build a tool, wherever it comes from (`tools:` or `apps:`).
#[derive(Debug)]
pub(crate) struct ToolParts<'a> {
    pub plugin: String,
    pub plugin_pos: Pos,
    pub instance_id: String,
    pub id_pos: Pos,
    pub deps: Vec<(String, Pos)>,
    pub version: Option<semver::VersionReq>,
    pub timeout: Option<std::time::Duration>,
    pub options: Option<&'a Node>,
    pub pos: Pos,
    /// Path for messages, e.g. `tools[3]` or `apps[0].ci[1]`.
    pub path: String,
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Loader<'_> {
    /// The entries of a mapping, or a diagnostic. Null counts as an empty mapping when
    /// `null_ok`.
    pub(super) fn entries<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [(Node, Node)]> {
        match &node.kind {
            Kind::Map(entries) => Some(entries),
            _ if node.is_null() => Some(&[]),
            _ => {
                self.diags.push(
                    Some(node.pos),
                    path,
                    format!("expected a mapping, found {}", node.type_name()),
                );
                None
            }
        }
    }

    /// The items of a list (null is an empty list), or a diagnostic.
    pub(super) fn items<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        what: &str,
    ) -> Option<&'n [Node]> {
        match &node.kind {
            Kind::Seq(items) => Some(items),
            _ if node.is_null() => Some(&[]),
            _ => {
                self.diags.push(
                    Some(node.pos),
                    path,
                    format!("expected a list of {what}, found {}", node.type_name()),
                );
                None
            }
        }
    }

    /// Reports keys not in `allowed` (with a suggestion) and returns the key texts.
    pub(super) fn check_keys<'n>(
        &mut self,
        entries: &'n [(Node, Node)],
        allowed: &[&str],
        path: &str,
    ) -> Vec<(&'n str, &'n Node)> {
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let Some(key) = k.as_scalar() else {
                self.diags.push(Some(k.pos), path, "keys must be strings");
                continue;
            };
            if allowed.contains(&key) {
                out.push((key, v));
            } else {
                let full = join_path(path, key);
                self.diags.push(
                    Some(k.pos),
                    full,
                    format!(
                        "unknown key `{key}`{}; expected one of: {}",
                        hint(key, allowed.iter().copied()),
                        allowed.join(", ")
                    ),
                );
            }
        }
        out
    }

    /// A scalar as a string (secrets revealed), or a diagnostic.
    pub(super) fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.kind {
            Kind::Scalar(s, _) if !node.is_null() => Some(self.secrets.reveal(s)),
            _ => {
                self.diags.push(
                    Some(node.pos),
                    path,
                    format!("expected a string, found {}", node.type_name()),
                );
                None
            }
        }
    }

    /// A node as JSON with secrets revealed (for options outside tools, e.g. state backend).
    pub(super) fn plain_json(&mut self, node: &Node) -> Value {
        match &node.kind {
            Kind::Scalar(s, Style::Plain) => plain_value(&self.secrets.reveal(s)),
            Kind::Scalar(s, Style::Quoted) => Value::String(self.secrets.reveal(s)),
            Kind::Seq(items) => Value::Array(items.iter().map(|n| self.plain_json(n)).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .filter_map(|(k, v)| Some((self.secrets.reveal(k.as_scalar()?), v)))
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|(k, v)| (k, self.plain_json(v)))
                    .collect(),
            ),
        }
    }

    /// Decodes one file's root mapping into `raw`.
    pub(super) fn decode_root(&mut self, root: &Node, has_vars_section: bool, raw: &mut Raw) {
        if root.is_null() {
            return;
        }
        let Some(entries) = root.as_map() else {
            self.diags.push(
                Some(root.pos),
                "",
                format!(
                    "expected a mapping with keys {}, found {}",
                    TOP_KEYS.join(", "),
                    root.type_name()
                ),
            );
            return;
        };
        for (key, value) in self.check_keys(entries, TOP_KEYS, "") {
            match key {
                "config" => self.decode_config(value, raw),
                "vars" if !has_vars_section => {
                    self.diags.push(
                        Some(value.pos),
                        "vars",
                        "write `vars:` as a block key at the start of a line; variables are \
                         read before the rest of the file",
                    );
                }
                "tools" => {
                    let Some(items) = self.items(value, "tools", "tools") else {
                        continue;
                    };
                    for (i, item) in items.iter().enumerate() {
                        if let Some(tool) = self.decode_tool(item, &format!("tools[{i}]")) {
                            raw.tools.push(tool);
                        }
                    }
                }
                "apps" => {
                    let Some(items) = self.items(value, "apps", "apps") else {
                        continue;
                    };
                    raw.apps
                        .extend(items.iter().enumerate().map(|(i, n)| (n.clone(), i)));
                }
                "pipelineTemplates" => self.decode_templates(value, raw),
                _ => {}
            }
        }
    }

    fn once(&mut self, what: &str, first: Option<Pos>, at: Pos) -> bool {
        match first {
            Some(first) => {
                let first = self.diags.loc(first);
                self.diags.push(
                    Some(at),
                    what,
                    format!("`{what}` is set in more than one place (first at {first})"),
                );
                false
            }
            None => true,
        }
    }

    fn decode_config(&mut self, node: &Node, raw: &mut Raw) {
        let Some(entries) = self.entries(node, "config") else {
            return;
        };
        for (key, value) in self.check_keys(entries, CONFIG_KEYS, "config") {
            match key {
                "state" if self.once("config.state", raw.state_pos, value.pos) => {
                    raw.state_pos = Some(value.pos);
                    raw.state = self.decode_state(value);
                }
                "pluginDir" if self.once("config.pluginDir", raw.plugin_dir_pos, value.pos) => {
                    raw.plugin_dir_pos = Some(value.pos);
                    raw.plugin_dir = self.string(value, "config.pluginDir");
                }
                "pluginRegistry"
                    if self.once("config.pluginRegistry", raw.plugin_registry_pos, value.pos) =>
                {
                    raw.plugin_registry_pos = Some(value.pos);
                    let url = self.string(value, "config.pluginRegistry");
                    let known = ["https://", "http://", "file://"];
                    if let Some(url) = &url
                        && !known.iter().any(|s| url.starts_with(s))
                    {
                        self.diags.push(
                            Some(value.pos),
                            "config.pluginRegistry",
                            format!(
                                "`{url}` is not a registry URL: expected https://, http:// or \
                                 file://"
                            ),
                        );
                    }
                    raw.plugin_registry = url;
                }
                "pluginRegistryKey"
                    if self.once(
                        "config.pluginRegistryKey",
                        raw.plugin_registry_key_pos,
                        value.pos,
                    ) =>
                {
                    raw.plugin_registry_key_pos = Some(value.pos);
                    raw.plugin_registry_key = self.string(value, "config.pluginRegistryKey");
                }
                "strict" if self.once("config.strict", raw.strict_pos, value.pos) => {
                    raw.strict_pos = Some(value.pos);
                    let flag = match &value.kind {
                        Kind::Scalar(text, Style::Plain) => plain_value(text).as_bool(),
                        _ => None,
                    };
                    match flag {
                        Some(b) => raw.strict = Some(b),
                        None => self.diags.push(
                            Some(value.pos),
                            "config.strict",
                            format!("expected true or false, found {}", value.type_name()),
                        ),
                    }
                }
                _ => {}
            }
        }
    }

    fn decode_state(&mut self, node: &Node) -> Option<StateConfig> {
        let entries = self.entries(node, "config.state")?;
        let mut backend = "local".to_owned();
        let mut options = Map::new();
        for (key, value) in self.check_keys(entries, STATE_KEYS, "config.state") {
            match key {
                "backend" => {
                    if let Some(b) = self.string(value, "config.state.backend") {
                        if !BACKENDS.contains(&b.as_str()) {
                            self.diags.push(
                                Some(value.pos),
                                "config.state.backend",
                                format!(
                                    "unknown state backend `{b}`{}; expected one of: {}",
                                    hint(&b, BACKENDS.iter().copied()),
                                    BACKENDS.join(", ")
                                ),
                            );
                        }
                        backend = b;
                    }
                }
                "options" if self.entries(value, "config.state.options").is_some() => {
                    if let Value::Object(map) = self.plain_json(value) {
                        options = map;
                    }
                }
                _ => {}
            }
        }
        Some(StateConfig {
            backend,
            options,
            loc: Some(self.diags.loc(node.pos)),
        })
    }

    fn decode_templates(&mut self, node: &Node, raw: &mut Raw) {
        let Some(items) = self.items(node, "pipelineTemplates", "pipeline templates") else {
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let path = format!("pipelineTemplates[{i}]");
            let Some(entries) = self.entries(item, &path) else {
                continue;
            };
            let mut name = None;
            let mut plugin = None;
            let mut options = None;
            for (key, value) in self.check_keys(entries, TEMPLATE_KEYS, &path) {
                match key {
                    // Names and types are read as written: expressions in them are not bound.
                    "name" => name = self.string(value, &join_path(&path, "name")),
                    "type" => plugin = self.string(value, &join_path(&path, "type")),
                    "options" => options = Some(value.clone()),
                    _ => {}
                }
            }
            let Some(name) = name else {
                self.diags.push(
                    Some(item.pos),
                    &path,
                    "missing `name` of the pipeline template",
                );
                continue;
            };
            let Some(plugin) = plugin else {
                self.diags.push(
                    Some(item.pos),
                    &path,
                    "missing `type` (the plugin, e.g. github-actions)",
                );
                continue;
            };
            if let Some(first) = raw.templates.get(&name) {
                let first = self.diags.loc(first.pos);
                self.diags.push(
                    Some(item.pos),
                    &path,
                    format!("duplicate pipeline template `{name}` (first at {first})"),
                );
                continue;
            }
            raw.template_names.push(name.clone());
            raw.templates.insert(
                name,
                Template {
                    plugin,
                    options,
                    pos: item.pos,
                },
            );
        }
    }

    fn decode_tool(&mut self, node: &Node, path: &str) -> Option<ToolSrc> {
        let entries = self.entries(node, path)?;
        let mut plugin = None;
        let mut instance_id = None;
        let mut deps = Vec::new();
        let mut version = None;
        let mut timeout = None;
        let mut options = None;
        for (key, value) in self.check_keys(entries, TOOL_KEYS, path) {
            let key_path = join_path(path, key);
            match key {
                "name" => plugin = self.string(value, &key_path).map(|s| (s, value.pos)),
                "instanceID" => {
                    instance_id = self.string(value, &key_path).map(|s| (s, value.pos));
                }
                "dependsOn" => self.depends_on(value, &key_path, &mut deps),
                "version" => version = self.version_req(value, key_path),
                "timeout" => timeout = self.tool_timeout(value, key_path),
                "options" => options = Some(value),
                _ => {}
            }
        }
        // A key that is there but unreadable, or misspelled, has been reported already.
        let has = |key: &str| {
            entries.iter().any(|(k, _)| {
                k.as_scalar()
                    .is_some_and(|k| k == key || did_you_mean(k, [key]).is_some())
            })
        };
        let Some((plugin, plugin_pos)) = plugin else {
            if !has("name") {
                self.diags.push(
                    Some(node.pos),
                    join_path(path, "name"),
                    "missing `name` (the plugin this tool uses)",
                );
            }
            return None;
        };
        let Some((instance_id, id_pos)) = instance_id else {
            if !has("instanceID") {
                self.diags.push(
                    Some(node.pos),
                    join_path(path, "instanceID"),
                    format!("tool `{plugin}` is missing `instanceID`"),
                );
            }
            return None;
        };
        self.build_tool(ToolParts {
            plugin,
            plugin_pos,
            instance_id,
            id_pos,
            deps,
            version,
            timeout,
            options,
            pos: node.pos,
            path: path.to_owned(),
        })
    }

    /// A tool's `dependsOn`: `name.instanceID` strings, each with its position.
    fn depends_on(&mut self, value: &Node, key_path: &str, deps: &mut Vec<(String, Pos)>) {
        let Some(items) = self.items(value, key_path, "`name.instanceID` strings") else {
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{key_path}[{i}]");
            if item.as_scalar().is_some() && !item.is_null() {
                if let Some(s) = self.string(item, &item_path) {
                    deps.push((s, item.pos));
                }
            } else {
                self.diags.push(
                    Some(item.pos),
                    item_path,
                    format!(
                        "expected a `name.instanceID` string, found {}",
                        item.type_name()
                    ),
                );
            }
        }
    }

    /// A tool's plugin `version` requirement (semver).
    fn version_req(&mut self, value: &Node, key_path: String) -> Option<semver::VersionReq> {
        let text = self.string(value, &key_path)?;
        match semver::VersionReq::parse(&text) {
            Ok(req) => Some(req),
            Err(e) => {
                self.diags.push(
                    Some(value.pos),
                    key_path,
                    format!(
                        "invalid version requirement `{text}`: {e} (examples: `0.3`, \
                         `>=0.1, <0.3`, `=1.2.0`)"
                    ),
                );
                None
            }
        }
    }

    /// A tool's `timeout`: a duration longer than zero.
    fn tool_timeout(&mut self, value: &Node, key_path: String) -> Option<std::time::Duration> {
        let text = self.string(value, &key_path)?;
        match humantime::parse_duration(&text) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.diags.push(
                    Some(value.pos),
                    key_path,
                    "timeout must be longer than zero",
                );
                None
            }
            Err(e) => {
                self.diags.push(
                    Some(value.pos),
                    key_path,
                    format!("invalid timeout `{text}`: {e} (examples: `90s`, `5m`, `1h 30m`)"),
                );
                None
            }
        }
    }

    /// Checks the names and converts the options of a tool from `tools:` or `apps:`.
    pub(super) fn build_tool(&mut self, parts: ToolParts<'_>) -> Option<ToolSrc> {
        let rule = "must be a DNS-1123 label: lower-case letters, digits and '-', starting and \
                    ending with a letter or digit, at most 63 characters";
        if !is_dns1123_label(&parts.plugin) {
            self.diags.push(
                Some(parts.plugin_pos),
                join_path(&parts.path, "name"),
                format!("invalid plugin name `{}`: {rule}", parts.plugin),
            );
        }
        if !is_dns1123_subdomain(&parts.instance_id) {
            self.diags.push(
                Some(parts.id_pos),
                join_path(&parts.path, "instanceID"),
                format!(
                    "invalid instanceID `{}`: {INSTANCE_ID_RULE}",
                    parts.instance_id
                ),
            );
        }
        let key = format!("{}.{}", parts.plugin, parts.instance_id);
        let mut conv = OptionsOut::default();
        let options = match parts.options {
            None => Value::Object(Map::new()),
            Some(node) if node.is_null() => Value::Object(Map::new()),
            Some(node) => {
                if node.as_map().is_none() {
                    self.diags.push(
                        Some(node.pos),
                        join_path(&parts.path, "options"),
                        format!("expected a mapping, found {}", node.type_name()),
                    );
                    Value::Object(Map::new())
                } else {
                    let mut pointer = String::new();
                    let mut dotted = format!("{key}.options");
                    self.convert(node, &mut pointer, &mut dotted, &mut conv)
                }
            }
        };
        let loc = self.diags.loc(parts.pos);
        Some(ToolSrc {
            tool: Tool {
                plugin: parts.plugin,
                instance_id: parts.instance_id,
                depends_on: Vec::new(),
                version: parts.version,
                timeout: parts.timeout,
                options,
                secret_paths: conv.secret_paths,
                secret_values: conv.secret_values,
                secret_sources: conv.secret_sources,
                refs: conv.refs,
                loc,
                option_locs: conv.locs,
                key_locs: conv.key_locs,
            },
            pos: parts.pos,
            deps: parts.deps,
            ref_pos: conv.ref_pos,
        })
    }

    /// Tool options to JSON: secrets revealed and recorded, output references recorded, every
    /// value's position kept.
    fn convert(
        &mut self,
        node: &Node,
        pointer: &mut String,
        dotted: &mut String,
        out: &mut OptionsOut,
    ) -> Value {
        out.locs.insert(pointer.clone(), self.diags.loc(node.pos));
        match &node.kind {
            Kind::Scalar(text, style) => {
                for span in find_refs(text) {
                    match span.parsed {
                        Ok((tool, key)) => {
                            out.refs.push(OutputRef {
                                tool,
                                key,
                                pointer: pointer.clone(),
                                loc: self.diags.loc(node.pos),
                            });
                            out.ref_pos.push(node.pos);
                        }
                        Err(message) => self.diags.push(Some(node.pos), dotted.clone(), message),
                    }
                }
                let revealed = if text.contains(SECRET_OPEN) {
                    let mut found = Vec::new();
                    let clear = self.secrets.reveal_into(text, &mut found);
                    out.secret_paths.push(pointer.clone());
                    out.secret_sources.push(SecretSource {
                        pointer: pointer.clone(),
                        parts: self.secrets.source_parts(text),
                    });
                    for i in found {
                        let value = self.secrets.value(i);
                        if !out.secret_values.iter().any(|v| v == value) {
                            out.secret_values.push(value.to_owned());
                        }
                    }
                    clear
                } else {
                    text.clone()
                };
                match style {
                    Style::Plain => plain_value(&revealed),
                    Style::Quoted => Value::String(revealed),
                }
            }
            Kind::Seq(items) => {
                let mut array = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let (p_len, d_len) = (pointer.len(), dotted.len());
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    dotted.push_str(&format!("[{i}]"));
                    array.push(self.convert(item, pointer, dotted, out));
                    pointer.truncate(p_len);
                    dotted.truncate(d_len);
                }
                Value::Array(array)
            }
            Kind::Map(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    let Some(key) = k.as_scalar() else {
                        self.diags
                            .push(Some(k.pos), dotted.clone(), "option keys must be strings");
                        continue;
                    };
                    let key = self.secrets.reveal(key);
                    let (p_len, d_len) = (pointer.len(), dotted.len());
                    pointer.push('/');
                    pointer.push_str(&escape_pointer(&key));
                    dotted.push('.');
                    dotted.push_str(&key);
                    out.key_locs.insert(pointer.clone(), self.diags.loc(k.pos));
                    let value = self.convert(v, pointer, dotted, out);
                    pointer.truncate(p_len);
                    dotted.truncate(d_len);
                    map.insert(key, value);
                }
                Value::Object(map)
            }
        }
    }
}

#[derive(Debug, Default)]
struct OptionsOut {
    secret_paths: Vec<String>,
    secret_values: Vec<String>,
    secret_sources: Vec<SecretSource>,
    refs: Vec<OutputRef>,
    ref_pos: Vec<Pos>,
    locs: BTreeMap<String, super::Loc>,
    key_locs: BTreeMap<String, super::Loc>,
}

/// `a.b` + `c` → `a.b.c`; `` + `c` → `c`.
pub(crate) fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for ok in ["a", "golang-github", "default", "a1", "0"] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", long.as_str()] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
    }
}
