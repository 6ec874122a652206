//! The commented sample config that `dtm show config -p NAME` prints, built from the plugin's
//! manifest alone, so that it works the same for every plugin (Rust or C).
//!
//! The options schema (JSON Schema draft 2020-12, as schemars writes it or by hand) is walked
//! property by property, in the schema's order: `$ref`s are followed into `$defs`, `allOf` is
//! merged, and of a union (`anyOf`/`oneOf`, `Option<T>`'s `[T, null]`, `type: [string, null]`)
//! the non-null branch is shown, or the first one with the others named in a comment. Each key
//! gets its `description` as comments and a value from, in order: the example of an enclosing
//! value, its own `examples[0]`, `default`, `const`, the first `enum` value, or a placeholder of
//! its type. An array shows one item, a map one `key`.
//!
//! The uncommented part must be a valid config: a key is shown uncommented when it is required
//! or has an example of its own, except inside a value that has an example, where exactly the
//! keys of that example are. Every other key is shown commented out, with `# ` in front of it
//! and of its whole block, so removing that `# ` makes it part of the config.

use std::path::Path;

use dtm_plugin_protocol::Manifest;
use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// Comments are wrapped to lines of this many characters, indentation included...
const WIDTH: usize = 100;
/// ...but never to fewer than this many characters of text, however deep the key.
const MIN_TEXT: usize = 40;
/// How many `$ref`s and levels of nesting are followed; a recursive type ends as `{}` there.
const MAX_DEPTH: usize = 24;

/// The sample config for the plugin of manifest `m`, loaded from `library`, as YAML text.
pub(super) fn render(m: &Manifest, library: Option<&Path>) -> String {
    let mut out = comment(&format!("{} {}: {}", m.name, m.version, m.description), 0);
    if let Some(library) = library {
        out.push(format!("# library: {}", library.display()));
    }
    if !m.outputs.is_empty() {
        let outputs: Vec<String> = m
            .outputs
            .iter()
            .map(|o| format!("{} ({})", o.name, one_line(&o.description)))
            .collect();
        out.extend(comment(&format!("outputs: {}", outputs.join(", ")), 0));
    }
    out.extend(comment(
        "Optional keys are commented out: to set one, remove the `# ` in front of it and of its \
         block.",
        0,
    ));

    let sample = Sample {
        root: &m.options_schema,
    };
    let options = sample.resolve(&m.options_schema, None, 0);
    let mut value = if type_of(&options.schema).is_none() && options.example.is_none() {
        // A schema that accepts anything (`{}`): nothing to show but an empty map.
        Rendered::inline("{}")
    } else {
        sample.value(&options, None, Mode::Live, 4, 0)
    };
    if value.head.as_deref() == Some("null") {
        value = Rendered::inline("{}");
    }

    out.push("tools:".into());
    out.extend(comment("the plugin's name", 0));
    out.push(format!("- name: {}", scalar_text(&m.name)));
    let mut tool = Vec::new();
    tool.extend(comment(
        &format!(
            "your name for this instance; tools refer to it as {}.<instanceID>",
            m.name
        ),
        2,
    ));
    tool.push("instanceID: default".into());
    tool.extend(comment("tools to apply first, as name.instanceID", 2));
    tool.push("dependsOn: []".into());
    tool.extend(comment(
        "dtm: which versions of the plugin will do, as a semver requirement",
        2,
    ));
    tool.push(format!(
        "# version: {}",
        scalar_text(&version_requirement(&m.version))
    ));
    tool.extend(comment(
        "dtm: time limit of each step of this tool (default: the --timeout flag)",
        2,
    ));
    tool.push("# timeout: 30m".into());
    if let Some(description) = &options.description {
        tool.extend(comment(description, 2));
    }
    push_entry(&mut tool, "options", value);
    out.extend(tool.into_iter().map(|l| format!("  {l}")));
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// `0.1` for `0.1.3`, `1` for `1.2.0`: what a config would pin to stay compatible.
fn version_requirement(version: &str) -> String {
    let parts: Vec<&str> = version.split(['.', '-', '+']).collect();
    match parts.as_slice() {
        ["0", minor, ..] => format!("0.{minor}"),
        [major, ..] if !major.is_empty() => (*major).to_string(),
        _ => version.to_string(),
    }
}

/// Whether a key is part of the config or shown for reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Uncommented, unless the key's own rules say otherwise.
    Live,
    /// Inside a commented-out block: every key is shown, as it would be once uncommented.
    Off,
}

/// A value as YAML: `head` goes after `key: ` (a scalar or `{}`/`[]`), `body` on the lines
/// below, relative to the key's indentation plus two.
#[derive(Debug, Default)]
struct Rendered {
    head: Option<String>,
    body: Vec<String>,
}

impl Rendered {
    fn inline(text: impl Into<String>) -> Self {
        Self {
            head: Some(text.into()),
            body: Vec::new(),
        }
    }

    fn block(body: Vec<String>) -> Self {
        Self { head: None, body }
    }
}

/// A schema node with `$ref`, `allOf` and unions resolved.
#[derive(Debug, Default)]
struct Resolved {
    /// The outermost description.
    description: Option<String>,
    /// The outermost `examples[0]`.
    example: Option<Value>,
    /// The outermost non-null `default`.
    default: Option<Value>,
    /// The non-null branches of a union with more than one, described.
    alternatives: Vec<String>,
    /// What is left: the chosen branch's type, properties, items, enum...
    schema: Value,
}

/// The walk over one manifest's options schema.
#[derive(Debug)]
struct Sample<'a> {
    root: &'a Value,
}

impl Sample<'_> {
    /// The schema `$ref` points at, if it is local (`#`, `#/$defs/...`, `#/definitions/...`).
    fn lookup(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            Some(self.root)
        } else {
            self.root.pointer(pointer)
        }
    }

    /// Follows `$ref`, merges `allOf` and picks a union's branch (the one whose type fits
    /// `hint`, else the first non-null one), keeping the outermost annotations.
    fn resolve(&self, schema: &Value, hint: Option<&Value>, depth: usize) -> Resolved {
        let mut r = Resolved::default();
        let mut current = as_schema(schema);
        for _ in depth..MAX_DEPTH {
            note(&mut r, &current);
            let map = current.as_object().cloned().unwrap_or_default();
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                let target = self.lookup(reference).map(as_schema).unwrap_or_default();
                current = merge(target, &map, &["$ref"]);
                continue;
            }
            let union = ["anyOf", "oneOf"]
                .into_iter()
                .find_map(|k| map.get(k).and_then(Value::as_array).map(|b| (k, b)));
            if let Some((keyword, branches)) = union {
                let branches: Vec<&Value> = branches
                    .iter()
                    .filter(|b| !self.is_null(b, depth))
                    .collect();
                let Some(first) = branches.first() else {
                    current = merge(serde_json::json!({"type": "null"}), &map, &[keyword]);
                    continue;
                };
                let pick = hint
                    .and_then(|h| {
                        branches
                            .iter()
                            .find(|b| fits(&self.resolve(b, None, depth + 1).schema, h))
                    })
                    .unwrap_or(first);
                if branches.len() > 1 && r.alternatives.is_empty() {
                    r.alternatives = branches
                        .iter()
                        .map(|b| self.describe(b, depth + 1))
                        .collect();
                }
                current = merge(as_schema(pick), &map, &[keyword]);
                continue;
            }
            if let Some(all) = map.get("allOf").and_then(Value::as_array) {
                let mut merged = map.clone();
                merged.remove("allOf");
                let mut merged = Value::Object(merged);
                for part in all {
                    let part = as_schema(part);
                    if let Some(part) = part.as_object() {
                        merged = merge(merged, part, &[]);
                    }
                }
                current = merged;
                continue;
            }
            break;
        }
        r.schema = current;
        r
    }

    /// Whether a union branch stands for `null` (`Option`'s `None`).
    fn is_null(&self, branch: &Value, depth: usize) -> bool {
        depth < MAX_DEPTH && type_of(&self.resolve(branch, None, depth + 1).schema) == Some("null")
    }

    /// "a string (Run with `sh -c`)": one branch of a union, for a comment.
    fn describe(&self, branch: &Value, depth: usize) -> String {
        let r = self.resolve(branch, None, depth);
        let kind = match type_of(&r.schema) {
            Some("string") => "a string".to_string(),
            Some("integer") => "an integer".to_string(),
            Some("number") => "a number".to_string(),
            Some("boolean") => "true or false".to_string(),
            Some("object") => "a mapping".to_string(),
            Some("array") => {
                let items = r
                    .schema
                    .get("items")
                    .map(|i| self.resolve(i, None, depth + 1));
                match items.as_ref().and_then(|i| type_of(&i.schema)) {
                    Some("string") => "a list of strings".to_string(),
                    _ => "a list".to_string(),
                }
            }
            _ => "a value".to_string(),
        };
        match &r.description {
            Some(d) => format!("{kind} ({})", one_line(d).trim_end_matches('.')),
            None => kind,
        }
    }

    /// The value shown for a resolved node.
    fn value(
        &self,
        r: &Resolved,
        hint: Option<&Value>,
        mode: Mode,
        col: usize,
        depth: usize,
    ) -> Rendered {
        let given = hint.or(r.example.as_ref());
        if depth >= MAX_DEPTH {
            return given.map_or_else(|| Rendered::inline("{}"), json);
        }
        let default = r.default.as_ref().filter(|d| !is_empty(d));
        match type_of(&r.schema) {
            Some("object") => match given {
                Some(v) if !v.is_object() => json(v),
                _ => self.object(r, given.and_then(Value::as_object), mode, col, depth),
            },
            Some("array") => match given.or(default) {
                Some(Value::Array(items)) => self.array_of(&r.schema, items, mode, col, depth),
                Some(v) => json(v),
                None => self.array_sample(&r.schema, mode, col, depth),
            },
            kind => {
                let enumerated = r
                    .schema
                    .get("enum")
                    .and_then(Value::as_array)
                    .and_then(|e| e.iter().find(|v| !v.is_null()));
                match given.or(default).or(r.schema.get("const")).or(enumerated) {
                    Some(v) => json(v),
                    None => Rendered::inline(placeholder(kind)),
                }
            }
        }
    }

    /// A mapping: its properties in order, then the keys of its example that are not
    /// properties (a map's entries), or one sample entry.
    fn object(
        &self,
        r: &Resolved,
        given: Option<&Map<String, Value>>,
        mode: Mode,
        col: usize,
        depth: usize,
    ) -> Rendered {
        let schema = &r.schema;
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let extra = match schema.get("additionalProperties") {
            Some(Value::Bool(true)) => Some(Value::Object(Map::new())),
            Some(s @ Value::Object(_)) => Some(s.clone()),
            _ => None,
        };
        let mut body = Vec::new();
        for (key, property) in properties {
            let hint = given.and_then(|g| g.get(key));
            let child = self.resolve(property, hint, depth + 1);
            let is_required = required.contains(&key.as_str());
            let live = match (mode, given) {
                (Mode::Off, _) => true,
                (Mode::Live, Some(g)) => g.contains_key(key),
                (Mode::Live, None) => is_required || child.example.is_some(),
            };
            let child_mode = if live { mode } else { Mode::Off };
            // A commented-out key's lines get `# `: its value is two columns further right.
            let value_col = if live { col + 2 } else { col + 4 };
            let (comments, lines) = self.entry(
                key,
                &child,
                hint,
                child_mode,
                is_required,
                (col, value_col),
                depth + 1,
            );
            body.extend(comments);
            if live {
                body.extend(lines);
            } else {
                body.extend(lines.into_iter().map(|l| format!("# {l}")));
            }
        }
        let entries: Vec<(&String, &Value)> = match given {
            Some(g) => g
                .iter()
                .filter(|(k, _)| !properties.contains_key(*k))
                .collect(),
            None => Vec::new(),
        };
        for (key, v) in &entries {
            let item = extra.as_ref().map(|e| self.resolve(e, Some(v), depth + 1));
            let rendered = match &item {
                Some(item) => self.value(item, Some(v), mode, col + 2, depth + 1),
                None => json(v),
            };
            push_entry(&mut body, &scalar_text(key), rendered);
        }
        if properties.is_empty() && given.is_none() {
            let default = r
                .default
                .as_ref()
                .and_then(Value::as_object)
                .filter(|d| !d.is_empty());
            match (default, &extra) {
                (Some(default), _) => {
                    for (key, v) in default {
                        push_entry(&mut body, &scalar_text(key), json(v));
                    }
                }
                (None, Some(extra)) => {
                    let item = self.resolve(extra, None, depth + 1);
                    let rendered = if type_of(&item.schema).is_none() && item.example.is_none() {
                        Rendered::inline("\"\"")
                    } else {
                        self.value(&item, None, Mode::Off, col + 2, depth + 1)
                    };
                    let mut lines = Vec::new();
                    push_entry(&mut lines, "key", rendered);
                    match mode {
                        Mode::Off => body.extend(lines),
                        // A map nobody asked for stays empty; the entry only shows the shape.
                        Mode::Live => body.extend(lines.into_iter().map(|l| format!("# {l}"))),
                    }
                }
                (None, None) => {}
            }
        }
        if body.iter().any(|l| !l.starts_with('#')) {
            Rendered::block(body)
        } else {
            Rendered {
                head: Some("{}".into()),
                body,
            }
        }
    }

    /// The items of an example list, each with the items' schema.
    fn array_of(
        &self,
        schema: &Value,
        items: &[Value],
        mode: Mode,
        col: usize,
        depth: usize,
    ) -> Rendered {
        if items.is_empty() {
            return Rendered::inline("[]");
        }
        let item_schema = schema.get("items").cloned().unwrap_or_default();
        let mut body = Vec::new();
        for v in items {
            let r = self.resolve(&item_schema, Some(v), depth + 1);
            body.extend(seq_item(self.value(&r, Some(v), mode, col + 2, depth + 1)));
        }
        Rendered::block(body)
    }

    /// One sample item; uncommented only inside a commented-out block (a list nobody gave an
    /// example of stays empty).
    fn array_sample(&self, schema: &Value, mode: Mode, col: usize, depth: usize) -> Rendered {
        let Some(item_schema) = schema.get("items") else {
            return Rendered::inline("[]");
        };
        let r = self.resolve(item_schema, None, depth + 1);
        let item_col = if mode == Mode::Live { col + 4 } else { col + 2 };
        let lines = seq_item(self.value(&r, None, Mode::Off, item_col, depth + 1));
        match mode {
            Mode::Off => Rendered::block(lines),
            Mode::Live => Rendered {
                head: Some("[]".into()),
                body: lines.into_iter().map(|l| format!("# {l}")).collect(),
            },
        }
    }

    /// The comments of a key (description, `(required)`, the alternatives of a union, an enum's
    /// values, a default the value does not show) and its `key: value` lines, apart, so that
    /// the caller can comment the key out. `cols` are the columns of the comments and of the
    /// value's lines.
    #[allow(clippy::too_many_arguments, reason = "one walk's state, passed down")]
    fn entry(
        &self,
        key: &str,
        r: &Resolved,
        hint: Option<&Value>,
        mode: Mode,
        required: bool,
        cols: (usize, usize),
        depth: usize,
    ) -> (Vec<String>, Vec<String>) {
        let (col, value_col) = cols;
        let rendered = self.value(r, hint, mode, value_col, depth);
        let mut text = r.description.clone().unwrap_or_default();
        if required {
            text = if text.is_empty() {
                "(required)".into()
            } else {
                format!("{} (required)", text.trim_end())
            };
        }
        let mut lines = Vec::new();
        if !text.is_empty() {
            lines.extend(comment(&text, col));
        }
        if !r.alternatives.is_empty() {
            lines.extend(comment(
                &format!("one of: {}", r.alternatives.join("; ")),
                col,
            ));
        }
        if let Some(values) = r.schema.get("enum").and_then(Value::as_array)
            && values.len() > 1
        {
            let values: Vec<String> = values.iter().map(flow).collect();
            lines.extend(comment(&format!("one of: {}", values.join(", ")), col));
        }
        if let Some(default) = &r.default
            && !is_empty(default)
            && !default.is_object()
            && !default.is_array()
            && rendered.head.as_deref() != Some(flow(default).as_str())
        {
            lines.extend(comment(&format!("default: {}", flow(default)), col));
        }
        let mut entry = Vec::new();
        push_entry(&mut entry, &scalar_text(key), rendered);
        (lines, entry)
    }
}

/// Appends `key: head` and the body below it.
fn push_entry(lines: &mut Vec<String>, key: &str, rendered: Rendered) {
    match rendered.head {
        Some(head) => lines.push(format!("{key}: {head}")),
        None => lines.push(format!("{key}:")),
    }
    lines.extend(rendered.body.into_iter().map(|l| format!("  {l}")));
}

/// A list item: `- ` before the first line that is not a comment, the rest indented under it.
fn seq_item(rendered: Rendered) -> Vec<String> {
    let mut lines = Vec::new();
    match rendered.head {
        Some(head) => {
            lines.push(format!("- {head}"));
            lines.extend(rendered.body.into_iter().map(|l| format!("  {l}")));
        }
        None => {
            let first = rendered.body.iter().position(|l| !l.starts_with('#'));
            for (i, l) in rendered.body.into_iter().enumerate() {
                match first {
                    Some(f) if i < f => lines.push(l),
                    Some(f) if i == f => lines.push(format!("- {l}")),
                    _ => lines.push(format!("  {l}")),
                }
            }
        }
    }
    lines
}

/// Records the annotations of `node` that outer nodes did not already give.
fn note(r: &mut Resolved, node: &Value) {
    if r.description.is_none() {
        r.description = node
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    if r.example.is_none() {
        r.example = node
            .get("examples")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
            .cloned();
    }
    if r.default.is_none() {
        r.default = node.get("default").filter(|d| !d.is_null()).cloned();
    }
}

/// A schema as an object: `true` and `false` (and anything odd) become `{}`.
fn as_schema(schema: &Value) -> Value {
    if schema.is_object() {
        schema.clone()
    } else {
        Value::Object(Map::new())
    }
}

/// `base` with the keywords of `extra` (but `skip`) that it lacks; `properties` and `required`
/// are united.
fn merge(base: Value, extra: &Map<String, Value>, skip: &[&str]) -> Value {
    let mut out = match base {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for (key, value) in extra {
        if skip.contains(&key.as_str()) {
            continue;
        }
        match (key.as_str(), out.get_mut(key), value) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                for (k, v) in theirs {
                    mine.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for v in theirs {
                    if !mine.contains(v) {
                        mine.push(v.clone());
                    }
                }
            }
            (_, None, _) => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

/// The JSON type a schema describes: `type` (the first non-null one of a list), or what its
/// keywords imply.
fn type_of(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => return Some(t),
        Some(Value::Array(types)) => {
            let types: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            return types
                .iter()
                .find(|t| **t != "null")
                .or(types.first())
                .copied();
        }
        _ => {}
    }
    if schema.get("properties").is_some() || schema.get("additionalProperties").is_some() {
        return Some("object");
    }
    if schema.get("items").is_some() {
        return Some("array");
    }
    let value = schema.get("const").or_else(|| {
        schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
    })?;
    Some(match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    })
}

/// Whether `value` has the type `schema` describes (any value fits an untyped schema).
fn fits(schema: &Value, value: &Value) -> bool {
    matches!(
        (type_of(schema), value),
        (None, _)
            | (Some("string"), Value::String(_))
            | (Some("boolean"), Value::Bool(_))
            | (Some("number" | "integer"), Value::Number(_))
            | (Some("array"), Value::Array(_))
            | (Some("object"), Value::Object(_))
            | (Some("null"), Value::Null)
    )
}

/// Null, `""`, `{}` and `[]` say nothing as a sample value.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// The value of a key nobody gave one for.
fn placeholder(kind: Option<&str>) -> &'static str {
    match kind {
        Some("string") => "\"\"",
        Some("integer" | "number") => "0",
        Some("boolean") => "false",
        Some("object") => "{}",
        Some("array") => "[]",
        _ => "null",
    }
}

/// Any JSON value as YAML, block style.
fn json(value: &Value) -> Rendered {
    match value {
        Value::Array(items) if !items.is_empty() => {
            Rendered::block(items.iter().flat_map(|v| seq_item(json(v))).collect())
        }
        Value::Object(map) if !map.is_empty() => {
            let mut body = Vec::new();
            for (k, v) in map {
                push_entry(&mut body, &scalar_text(k), json(v));
            }
            Rendered::block(body)
        }
        _ => Rendered::inline(flow(value)),
    }
}

/// Any JSON value on one line: a YAML scalar, or JSON for a list or map (JSON is YAML).
fn flow(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_text(s),
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

/// Plain strings that YAML 1.1 reads as booleans: quoted, for the sake of other tools.
const YAML11_BOOLS: &[&str] = &[
    "y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF",
];

/// A string as a YAML scalar that reads back as that same string: plain where yaml-rust2 (the
/// parser dtm uses) reads it back unchanged as a value, a list item and a key, double-quoted
/// otherwise.
fn scalar_text(s: &str) -> String {
    let reads_back = |text: String, get: fn(&Yaml) -> Option<&str>| matches!(YamlLoader::load_from_str(&text).as_deref(), Ok([doc]) if get(doc) == Some(s));
    // Quoted too, for readers: strings that start like YAML syntax (`- -f` is valid, but odd).
    let plain = !s.is_empty()
        && s.trim() == s
        && !s.starts_with([
            '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%',
            '@', '`',
        ])
        && !s.contains(['\n', '\r', '\t'])
        && !YAML11_BOOLS.contains(&s)
        && reads_back(format!("k: {s}"), |doc| doc["k"].as_str())
        && reads_back(format!("- {s}"), |doc| doc[0].as_str())
        && reads_back(format!("{s}: v"), |doc| {
            doc.as_hash()?.keys().next()?.as_str()
        });
    if plain {
        s.to_string()
    } else {
        // A JSON string is a valid YAML double-quoted scalar.
        Value::String(s.to_string()).to_string()
    }
}

/// A description on one line: whitespace (line breaks included) collapsed.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` as `# ` comment lines for a key at column `col`: paragraphs (split at blank lines)
/// re-flowed to the width left.
fn comment(text: &str, col: usize) -> Vec<String> {
    let width = WIDTH.saturating_sub(col + 2).max(MIN_TEXT);
    let mut lines = Vec::new();
    for (i, paragraph) in text
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .enumerate()
    {
        if i > 0 {
            lines.push("#".to_string());
        }
        lines.extend(wrap(paragraph, width).into_iter().map(|l| format!("# {l}")));
    }
    lines
}

/// Greedy word wrap; a word longer than `width` gets a line of its own.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests unwrap what cannot fail")]

    use dtm_plugin_protocol::{Manifest, OutputSpec};
    use serde_json::{Value, json};
    use yaml_rust2::{Yaml, YamlLoader};

    use super::{WIDTH, render, scalar_text};

    fn manifest(schema: Value) -> Manifest {
        Manifest {
            name: "demo".into(),
            version: "0.3.1".into(),
            abi_version: 0,
            description: "Demonstrates samples".into(),
            options_schema: schema,
            outputs: vec![OutputSpec {
                name: "url".into(),
                description: "where it is".into(),
            }],
        }
    }

    fn to_json(y: &Yaml) -> Value {
        match y {
            Yaml::Real(_) => json!(y.as_f64().unwrap()),
            Yaml::Integer(i) => json!(i),
            Yaml::String(s) => json!(s),
            Yaml::Boolean(b) => json!(b),
            Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
            Yaml::Hash(h) => Value::Object(
                h.iter()
                    .map(|(k, v)| (k.as_str().unwrap().to_string(), to_json(v)))
                    .collect(),
            ),
            _ => Value::Null,
        }
    }

    /// The sample's text and the `options` it sets (parsed back as YAML).
    fn sample(schema: Value) -> (String, Value) {
        let text = render(&manifest(schema), None);
        let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let tool = to_json(&docs[0])["tools"][0].clone();
        assert_eq!(tool["name"], "demo", "{text}");
        assert_eq!(tool["instanceID"], "default", "{text}");
        (text, tool["options"].clone())
    }

    /// Roughly what schemars 1 writes for a struct with a nested struct, `Option`s, a map, a
    /// list and an enum.
    fn schemars_like() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Options",
            "description": "Options of a `demo` tool.",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "repo": {
                    "$ref": "#/$defs/Repo",
                    "description": "The repository.",
                    "examples": [{"name": "my-service", "private": true}]
                },
                "branch": {
                    "type": ["string", "null"],
                    "default": null,
                    "description": "Branch to use."
                },
                "mode": {
                    "type": ["string", "null"],
                    "default": null,
                    "description": "Permission bits.",
                    "examples": ["0644"]
                },
                "retries": {"type": "integer", "default": 3, "description": "How often."},
                "level": {"enum": ["info", "debug"], "description": "Log level."},
                "kind": {"const": "service"},
                "labels": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "default": {},
                    "description": "Labels."
                },
                "hosts": {
                    "type": "array",
                    "items": {"$ref": "#/$defs/Host"},
                    "description": "Hosts.",
                    "examples": [[{"name": "a.example.com", "port": 8443}]]
                },
                "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags."},
                "source": {
                    "anyOf": [{"$ref": "#/$defs/Repo"}, {"type": "null"}],
                    "description": "Where from."
                }
            },
            "required": ["repo", "kind"],
            "$defs": {
                "Repo": {
                    "type": "object",
                    "description": "A repository.",
                    "properties": {
                        "name": {"type": "string", "description": "Its name."},
                        "private": {"type": "boolean", "default": false},
                        "owner": {"type": ["string", "null"], "examples": ["my-org"]}
                    },
                    "required": ["name"]
                },
                "Host": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "port": {"type": "integer", "format": "uint16", "minimum": 0}
                    },
                    "required": ["name"]
                }
            }
        })
    }

    #[test]
    fn live_keys_are_required_or_exemplified_and_make_the_options() {
        let (text, options) = sample(schemars_like());
        assert_eq!(
            options,
            json!({
                "repo": {"name": "my-service", "private": true},
                "mode": "0644",
                "kind": "service",
                "hosts": [{"name": "a.example.com", "port": 8443}]
            }),
            "{text}"
        );
        // Descriptions (outer before `$defs`), the required mark, quoting.
        assert!(
            text.contains("    # The repository. (required)\n    repo:\n"),
            "{text}"
        );
        assert!(
            text.contains("      # Its name. (required)\n      name: my-service\n"),
            "{text}"
        );
        assert!(text.contains("    mode: \"0644\"\n"), "{text}");
        // The example of `repo` decides: `owner` has an example of its own, yet stays commented.
        assert!(text.contains("      # owner: my-org\n"), "{text}");
        // Optional keys: commented out, with a default, an enum value or a placeholder.
        assert!(
            text.contains("    # Branch to use.\n    # branch: \"\"\n"),
            "{text}"
        );
        assert!(text.contains("    # retries: 3\n"), "{text}");
        assert!(
            text.contains("    # Log level.\n    # one of: info, debug\n    # level: info\n"),
            "{text}"
        );
        // A map shows one entry, a list one item.
        assert!(
            text.contains("    # labels:\n    #   key: \"\"\n"),
            "{text}"
        );
        assert!(text.contains("    # tags:\n    #   - \"\"\n"), "{text}");
        // `Option<Repo>`: the struct behind the null branch, whole, under one `# `.
        assert!(
            text.contains("    # Where from.\n    # source:\n    #   # Its name. (required)\n    #   name: \"\"\n"),
            "{text}"
        );
        // Header: name, version, description and outputs; the instance's other keys.
        assert!(
            text.starts_with("# demo 0.3.1: Demonstrates samples\n# outputs: url (where it is)\n"),
            "{text}"
        );
        assert!(text.contains("  # version: \"0.3\"\n"), "{text}");
        assert!(
            text.contains("  # Options of a `demo` tool.\n  options:\n"),
            "{text}"
        );
    }

    #[test]
    fn uncommenting_a_block_gives_yaml_with_its_keys() {
        let (text, _) = sample(schemars_like());
        // Remove the `# ` in front of `source:` and of its block.
        let mut inside = false;
        let mut uncommented = String::new();
        for line in text.lines() {
            inside = line == "    # source:" || (inside && line.starts_with("    #   "));
            let line = match line.strip_prefix("    # ") {
                Some(rest) if inside => format!("    {rest}"),
                _ => line.to_string(),
            };
            uncommented.push_str(&line);
            uncommented.push('\n');
        }
        let docs = YamlLoader::load_from_str(&uncommented).unwrap();
        let options = to_json(&docs[0])["tools"][0]["options"].clone();
        assert_eq!(
            options["source"],
            json!({"name": "", "private": false, "owner": "my-org"}),
            "{uncommented}"
        );
    }

    #[test]
    fn a_root_example_decides_which_keys_are_live() {
        let mut schema = schemars_like();
        schema["examples"] =
            json!([{"repo": {"name": "x"}, "kind": "service", "tags": ["a", "b"]}]);
        let (text, options) = sample(schema);
        assert_eq!(
            options,
            json!({"repo": {"name": "x"}, "kind": "service", "tags": ["a", "b"]}),
            "{text}"
        );
        assert!(text.contains("    # mode: \"0644\"\n"), "{text}");
    }

    #[test]
    fn unions_show_one_branch_and_name_the_others() {
        let (text, options) = sample(json!({
            "type": "object",
            "properties": {
                "create": {
                    "$ref": "#/$defs/Command",
                    "description": "Creates it.",
                    "examples": [["touch", "x"]]
                },
                "delete": {
                    "anyOf": [{"$ref": "#/$defs/Command"}, {"type": "null"}],
                    "description": "Removes it."
                }
            },
            "required": ["create"],
            "$defs": {
                "Command": {
                    "anyOf": [
                        {"type": "string", "description": "Run with `sh -c`."},
                        {"type": "array", "items": {"type": "string"}, "description": "Program and arguments."}
                    ]
                }
            }
        }));
        // The example picks the branch it fits: a list.
        assert_eq!(options, json!({"create": ["touch", "x"]}), "{text}");
        assert!(
            text.contains(
                "# one of: a string (Run with `sh -c`); a list of strings (Program and arguments)\n"
            ),
            "{text}"
        );
        assert!(text.contains("    # delete: \"\"\n"), "{text}");
    }

    #[test]
    fn a_required_list_or_map_without_an_example_stays_empty() {
        let (text, options) = sample(json!({
            "type": "object",
            "properties": {
                "steps": {"type": "array", "items": {"type": "object", "properties": {"run": {"type": "string"}}, "required": ["run"]}},
                "env": {"type": "object", "additionalProperties": {"type": "integer"}}
            },
            "required": ["steps", "env"]
        }));
        assert_eq!(options, json!({"steps": [], "env": {}}), "{text}");
        assert!(
            text.contains("    steps: []\n      # # (required)\n      # - run: \"\"\n"),
            "{text}"
        );
        assert!(text.contains("    env: {}\n      # key: 0\n"), "{text}");
    }

    #[test]
    fn a_schema_that_takes_anything_gives_empty_options() {
        let (_, options) = sample(json!({}));
        assert_eq!(options, json!({}));
        let (_, options) = sample(json!(true));
        assert_eq!(options, json!({}));
    }

    #[test]
    fn recursive_types_end() {
        let (text, options) = sample(json!({
            "$ref": "#/$defs/Node",
            "$defs": {"Node": {
                "type": "object",
                "properties": {"child": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}}
            }}
        }));
        assert_eq!(options, json!({}), "{text}");
    }

    #[test]
    fn long_descriptions_wrap_and_keep_paragraphs() {
        let long = "word ".repeat(60);
        let (text, _) = sample(json!({
            "type": "object",
            "properties": {"a": {"type": "string", "description": format!("{long}\n\nSecond paragraph.")}}
        }));
        assert!(text.lines().all(|l| l.len() <= WIDTH), "{text}");
        assert!(text.contains("    #\n    # Second paragraph.\n"), "{text}");
    }

    #[test]
    fn strings_are_quoted_only_when_yaml_would_misread_them() {
        for plain in [
            "main",
            "my-service",
            "https://github.com/o/n",
            "echo hello",
            "$DTM_OPT_TAG",
        ] {
            assert_eq!(scalar_text(plain), plain);
        }
        for (s, quoted) in [
            ("", r#""""#),
            ("0644", r#""0644""#),
            ("true", r#""true""#),
            ("yes", r#""yes""#),
            ("a: b", r#""a: b""#),
            ("x # y", r#""x # y""#),
            ("[[ env \"T\" ]]", r#""[[ env \"T\" ]]""#),
            ("two\nlines", r#""two\nlines""#),
            ("0o17", r#""0o17""#),
        ] {
            assert_eq!(scalar_text(s), quoted, "{s:?}");
        }
    }
}
