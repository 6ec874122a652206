//! Option keys against the plugin's JSON Schema, before the schema is checked and before the
//! options go to the plugin.
//!
//! DevStream decoded options with a decoder that ignores case (`baseUrl` is `baseURL`) and
//! ignores keys it does not know. dtm's plugins deserialize strictly and publish
//! `additionalProperties: false`, so the engine does what DevStream's decoder did, visibly:
//!
//! - a key that differs from a property only in case, or that is one of the property's other
//!   spellings (the schema keyword [`ALIASES_KEYWORD`]), is renamed to the property's name; a key
//!   spelled exactly as the property wins over its other spellings;
//! - a key an object's schema does not allow (`additionalProperties: false`) is taken out and
//!   reported, so that the caller can warn (or, under `--strict`, refuse).
//!
//! Keys of free-form mappings (`additionalProperties` with a schema, or no schema at all) are
//! user data and never touched. The walk follows the value, resolving `$ref`, `allOf`, `anyOf`,
//! `oneOf`, `items` and `additionalProperties` as it goes.

use serde_json::{Map, Value};

/// The keyword of an object schema that names other spellings of its properties, as a mapping
/// from the other spelling to the property: `{"x-aliases": {"initalTag": "tag"}}`.
pub const ALIASES_KEYWORD: &str = "x-aliases";

/// How deep `$ref`/`allOf`/`anyOf`/`oneOf` are followed for one value (a cycle of references
/// without data in between would otherwise never end).
const MAX_SCHEMA_DEPTH: usize = 32;

/// A key taken out of the options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ignored {
    /// JSON pointer of the key's value: its parent in canonical spelling, then the key as
    /// written.
    pub pointer: String,
    /// The key as written.
    pub key: String,
    /// Why.
    pub reason: Reason,
}

/// Why a key was taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The object's schema does not allow it; these are the keys it takes.
    Unknown(Vec<String>),
    /// It is another spelling of this key, which the options also give.
    Duplicate(String),
}

/// What [`normalize`] did.
#[derive(Debug, Default)]
pub(crate) struct Normalized {
    /// Keys renamed to their canonical spelling, as (old pointer, new pointer), parents before
    /// children (a child's old pointer already has its parent's new name).
    pub renames: Vec<(String, String)>,
    /// Keys taken out.
    pub ignored: Vec<Ignored>,
}

impl Normalized {
    /// Where a pointer into the options as written now points, or None when its key (or an
    /// ancestor's) was taken out.
    pub(crate) fn move_pointer(&self, pointer: &str) -> Option<String> {
        let p = self.rename_pointer(pointer);
        let gone = self
            .ignored
            .iter()
            .any(|i| strip_pointer_prefix(&p, &i.pointer).is_some());
        (!gone).then_some(p)
    }

    /// Where a pointer into the options as written now points, keys taken out or not.
    pub(crate) fn rename_pointer(&self, pointer: &str) -> String {
        let mut p = pointer.to_owned();
        for (old, new) in &self.renames {
            if let Some(rest) = strip_pointer_prefix(&p, old) {
                p = format!("{new}{rest}");
            }
        }
        p
    }
}

/// `rest` when `pointer` is `prefix` or below it (`prefix/...`).
fn strip_pointer_prefix<'p>(pointer: &'p str, prefix: &str) -> Option<&'p str> {
    let rest = pointer.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// RFC 6901 escaping of one key.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Renames option keys to their canonical spelling and takes out the keys `schema` does not
/// allow, in place.
pub(crate) fn normalize(options: &mut Value, schema: &Value) -> Normalized {
    let mut walk = Walk {
        root: schema,
        out: Normalized::default(),
    };
    walk.value(options, schema, "");
    walk.out
}

/// What the schemas applying to one object say about its keys.
#[derive(Debug, Default)]
struct ObjectView<'s> {
    /// Properties, with their schemas (the first branch's, when several give one).
    properties: Vec<(&'s str, &'s Value)>,
    /// Other spellings: (alias, property).
    aliases: Vec<(&'s str, &'s str)>,
    /// Every object schema forbids other keys.
    closed: bool,
    /// The schema of other keys' values, when one allows them with a schema.
    additional: Option<&'s Value>,
}

impl<'s> ObjectView<'s> {
    fn property(&self, key: &str) -> Option<&'s Value> {
        self.properties
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, s)| *s)
    }

    /// The canonical name for a key that is not a property as written: an alias, else the one
    /// property (or alias) that differs only in case.
    fn canonical(&self, key: &str) -> Option<&'s str> {
        if let Some((_, to)) = self.aliases.iter().find(|(from, _)| *from == key) {
            return Some(to);
        }
        let by_case: Vec<&'s str> = self
            .properties
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| name.eq_ignore_ascii_case(key))
            .collect();
        if let [one] = by_case.as_slice() {
            return Some(one);
        }
        if !by_case.is_empty() {
            return None;
        }
        let mut by_alias: Vec<&'s str> = self
            .aliases
            .iter()
            .filter(|(from, _)| from.eq_ignore_ascii_case(key))
            .map(|(_, to)| *to)
            .collect();
        by_alias.dedup();
        match by_alias.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    fn expected(&self) -> Vec<String> {
        self.properties
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect()
    }
}

struct Walk<'s> {
    root: &'s Value,
    out: Normalized,
}

impl<'s> Walk<'s> {
    fn value(&mut self, value: &mut Value, schema: &'s Value, pointer: &str) {
        let mut branches = Vec::new();
        self.branches(schema, &mut branches, 0);
        match value {
            Value::Object(map) => {
                let view = object_view(&branches);
                if view.closed || !view.properties.is_empty() || view.additional.is_some() {
                    self.object(map, &view, pointer);
                }
            }
            Value::Array(items) => {
                let Some(item_schema) = branches.iter().find_map(|b| b.get("items")) else {
                    return;
                };
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(item, item_schema, &format!("{pointer}/{i}"));
                }
            }
            _ => {}
        }
    }

    /// The schema itself and every schema it refers to or combines, `$ref` resolved.
    fn branches(&self, schema: &'s Value, out: &mut Vec<&'s Value>, depth: usize) {
        if depth > MAX_SCHEMA_DEPTH || !schema.is_object() {
            return;
        }
        out.push(schema);
        if let Some(target) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| self.root.pointer(p))
        {
            self.branches(target, out, depth + 1);
        }
        for keyword in ["allOf", "anyOf", "oneOf"] {
            for sub in schema
                .get(keyword)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.branches(sub, out, depth + 1);
            }
        }
    }

    fn object(&mut self, map: &mut Map<String, Value>, view: &ObjectView<'s>, pointer: &str) {
        let keys: Vec<String> = map.keys().cloned().collect();
        let mut taken: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .filter(|k| view.property(k).is_some())
            .collect();
        let mut renamed: Vec<(String, &'s str)> = Vec::new();
        for key in keys.iter().filter(|k| view.property(k).is_none()) {
            let key_pointer = format!("{pointer}/{}", escape(key));
            match view.canonical(key) {
                Some(canonical) if taken.contains(&canonical) => {
                    map.remove(key);
                    self.out.ignored.push(Ignored {
                        pointer: key_pointer,
                        key: key.clone(),
                        reason: Reason::Duplicate(canonical.to_owned()),
                    });
                }
                Some(canonical) => {
                    taken.push(canonical);
                    renamed.push((key.clone(), canonical));
                }
                None if view.closed => {
                    map.remove(key);
                    self.out.ignored.push(Ignored {
                        pointer: key_pointer,
                        key: key.clone(),
                        reason: Reason::Unknown(view.expected()),
                    });
                }
                None => {
                    if let (Some(schema), Some(v)) = (view.additional, map.get_mut(key)) {
                        self.value(v, schema, &key_pointer);
                    }
                }
            }
        }
        for (key, canonical) in renamed {
            if let Some(v) = map.remove(&key) {
                map.insert(canonical.to_owned(), v);
                self.out.renames.push((
                    format!("{pointer}/{}", escape(&key)),
                    format!("{pointer}/{}", escape(canonical)),
                ));
            }
        }
        for (name, schema) in &view.properties {
            if let Some(v) = map.get_mut(*name) {
                self.value(v, schema, &format!("{pointer}/{}", escape(name)));
            }
        }
    }
}

/// Whether a schema describes objects: it has properties or says what other keys may be.
fn is_object_schema(s: &Value) -> bool {
    s.get("properties").is_some()
        || s.get("additionalProperties").is_some()
        || match s.get("type") {
            Some(Value::String(t)) => t == "object",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
            _ => false,
        }
}

fn object_view<'s>(branches: &[&'s Value]) -> ObjectView<'s> {
    let mut view = ObjectView::default();
    let mut objects = 0;
    let mut closed = 0;
    for b in branches.iter().copied().filter(|b| is_object_schema(b)) {
        objects += 1;
        match b.get("additionalProperties") {
            Some(Value::Bool(false)) if b.get("patternProperties").is_none() => closed += 1,
            Some(extra @ Value::Object(_)) => {
                view.additional.get_or_insert(extra);
            }
            _ => {}
        }
        for (name, schema) in b
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if view.property(name).is_none() {
                view.properties.push((name.as_str(), schema));
            }
        }
        for (from, to) in b
            .get(ALIASES_KEYWORD)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(to) = to.as_str() {
                view.aliases.push((from.as_str(), to));
            }
        }
    }
    // Aliases only count for properties the schema has.
    let names: Vec<&str> = view.properties.iter().map(|(n, _)| *n).collect();
    view.aliases.retain(|(_, to)| names.contains(to));
    view.closed = objects > 0 && objects == closed;
    view
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "baseURL": {"type": ["string", "null"]},
                "scm": {"$ref": "#/$defs/Repo"},
                "image": {"anyOf": [{"$ref": "#/$defs/Image"}, {"type": "null"}]},
                "steps": {"type": "array", "items": {"$ref": "#/$defs/Image"}},
                "vars": {"type": "object", "additionalProperties": true},
                "free": true,
            },
            "$defs": {
                "Repo": {
                    "type": "object", "additionalProperties": false,
                    "properties": {"name": {}, "apiURL": {}},
                    "x-aliases": {"repo": "name"},
                },
                "Image": {
                    "type": "object", "additionalProperties": false,
                    "properties": {"tag": {}, "user": {}},
                    "x-aliases": {"initalTag": "tag", "initialTag": "tag"},
                },
            },
        })
    }

    #[test]
    fn keys_take_the_schemas_spelling_at_every_level() {
        let mut options = json!({
            "baseUrl": "u",
            "SCM": {"REPO": "n", "apiUrl": "a"},
            "Image": {"initalTag": "1", "User": "me"},
            "steps": [{"TAG": "x"}],
            "vars": {"baseUrl": "user data", "Tag": 1},
            "free": {"anything": {"Goes": 1}},
        });
        let n = normalize(&mut options, &schema());
        assert_eq!(
            options,
            json!({
                "baseURL": "u",
                "scm": {"name": "n", "apiURL": "a"},
                "image": {"tag": "1", "user": "me"},
                "steps": [{"tag": "x"}],
                "vars": {"baseUrl": "user data", "Tag": 1},
                "free": {"anything": {"Goes": 1}},
            })
        );
        assert!(n.ignored.is_empty(), "{:?}", n.ignored);
        assert_eq!(n.move_pointer("/SCM/REPO").as_deref(), Some("/scm/name"));
        assert_eq!(
            n.move_pointer("/steps/0/TAG").as_deref(),
            Some("/steps/0/tag")
        );
        assert_eq!(
            n.move_pointer("/vars/baseUrl").as_deref(),
            Some("/vars/baseUrl")
        );
    }

    #[test]
    fn exact_spelling_wins_and_unknown_keys_are_taken_out() {
        let mut options = json!({
            "baseUrl": "loses", "baseURL": "wins",
            "scm": {"name": "n", "repo": "alias loses", "colour": "red"},
            "image": {"initialTag": "1", "initalTag": "2"},
        });
        let n = normalize(&mut options, &schema());
        assert_eq!(
            options,
            json!({"baseURL": "wins", "scm": {"name": "n"}, "image": {"tag": "2"}})
        );
        let got: Vec<(&str, &Reason)> = n
            .ignored
            .iter()
            .map(|i| (i.pointer.as_str(), &i.reason))
            .collect();
        assert_eq!(
            got,
            [
                ("/baseUrl", &Reason::Duplicate("baseURL".into())),
                ("/image/initialTag", &Reason::Duplicate("tag".into())),
                (
                    "/scm/colour",
                    &Reason::Unknown(vec!["apiURL".into(), "name".into()])
                ),
                ("/scm/repo", &Reason::Duplicate("name".into())),
            ]
        );
        assert_eq!(n.move_pointer("/scm/colour"), None);
        assert_eq!(n.move_pointer("/scm/name").as_deref(), Some("/scm/name"));
    }

    #[test]
    fn open_objects_and_reference_cycles() {
        let open = json!({"type": "object", "properties": {"a": {}}});
        let mut options = json!({"A": 1, "b": 2});
        let n = normalize(&mut options, &open);
        assert_eq!(options, json!({"a": 1, "b": 2}));
        assert!(n.ignored.is_empty());
        let cyclic = json!({"$ref": "#/$defs/X", "$defs": {"X": {"$ref": "#/$defs/X"}}});
        let mut options = json!({"k": 1});
        normalize(&mut options, &cyclic);
        assert_eq!(options, json!({"k": 1}));
    }
}
