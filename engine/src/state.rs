//! The state document: what dtm believes exists, per tool instance.
//!
//! Serialised as JSON and handed to a [`dtm_backends::Backend`] as opaque bytes. A document from a
//! newer format, a corrupt one, or something that is not a dtm state (a DevStream state, say) is
//! refused with a named error and never overwritten.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::config::{SecretPart, SecretSource, plain_value, value_text};

/// Current format version of the state document. Version 2 records, next to each secret's keyed
/// hash, where the secret comes from; version 1 documents are read as they are (their secrets
/// have no recorded source) and written back as version 2.
pub const FORMAT_VERSION: u32 = 2;
/// How many history entries are kept per resource.
pub const HISTORY_LEN: usize = 10;
/// Marker a redacted secret written by format version 1 starts with: `(secret hmac-sha256:HEX)`.
pub const SECRET_PREFIX: &str = "(secret hmac-sha256:";
/// The single key of the object that stands for a redacted secret in format version 2:
/// `{"$secret": {"hmac": "hmac-sha256:HEX", "env": "NAME"}}`.
pub const SECRET_KEY: &str = "$secret";

/// How deep a state document may nest. Deeper than serde_json's own limit of 128 levels: a
/// plugin may report a status nested up to that limit, and the document puts it four levels down
/// (and an output reference may put an output inside options nested 64 levels by the config), so
/// a state dtm wrote must read back with more.
pub const MAX_DEPTH: usize = 256;

/// Errors reading a state document.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The bytes are not valid state JSON.
    #[error(
        "state {location} is corrupt: {message}; it was left untouched. Restore it from {location}.backup or your backend's versioning, or move it away to start over"
    )]
    Corrupt {
        /// Where the state lives: a path, `s3://bucket/key`, a ConfigMap.
        location: String,
        /// The parser's message, with the position in the document.
        message: String,
    },
    /// Written by a newer dtm.
    #[error(
        "state {location} has format version {found}, but this dtm reads up to version {supported}; upgrade dtm. The state was left untouched"
    )]
    FutureVersion {
        /// Where the state lives: a path, `s3://bucket/key`, a ConfigMap.
        location: String,
        /// The version that was found instead.
        found: u32,
        /// Highest version supported.
        supported: u32,
    },
    /// Larger than any state dtm writes ([`dtm_backends::MAX_DOCUMENT_BYTES`]).
    #[error(
        "state {location} is {size} bytes, more than the {} MiB a state may take (the limit); it was left untouched. A state dtm wrote is never that large: restore it from {location}.backup or your backend's versioning",
        dtm_backends::MAX_DOCUMENT_BYTES / (1024 * 1024)
    )]
    TooLarge {
        /// Backend location.
        location: String,
        /// Its size in bytes.
        size: usize,
    },
    /// Not a dtm state at all.
    #[error(
        "{location} is not a dtm state file ({what}); it was left untouched. If it is a DevStream state, convert it with `dtm state import-devstream`"
    )]
    Foreign {
        /// Where the state lives: a path, `s3://bucket/key`, a ConfigMap.
        location: String,
        /// What it looks like.
        what: String,
    },
}

/// Lifecycle status of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// The last step completed.
    Completed,
    /// A long-running step is under way; see [`Resource::pending`].
    Pending,
    /// The last step failed; see [`Resource::last_error`].
    Failed,
}

/// A long-running step in progress, saved so a later run resumes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingStep {
    /// `create`, `update` or `delete`.
    pub operation: dtm_plugin_protocol::Operation,
    /// The plugin's opaque progress data.
    pub data: Value,
    /// What it was waiting for.
    #[serde(default)]
    pub message: String,
    /// When the step started (RFC 3339).
    pub since: String,
}

/// One entry of a resource's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When (RFC 3339).
    pub at: String,
    /// The plugin operation that was called (`create`, `read`, ...).
    pub operation: String,
    /// `ok`, `failed: ...`, `pending`.
    pub result: String,
}

/// One tool instance in state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// The plugin, by the name configs give it.
    pub plugin: String,
    /// The instance id, the part of the key after the plugin name.
    pub instance_id: String,
    /// Version of the plugin that last acted on it.
    pub plugin_version: String,
    /// Dependencies (`name.instanceID`) at the time of the last step.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Options as rendered at the last step, secrets replaced by keyed hashes.
    #[serde(default)]
    pub options: Value,
    /// Resource status the plugin reported after the last step.
    #[serde(default)]
    pub status: Value,
    /// Outputs the plugin reported.
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
    /// Whether the last step on it completed, is pending or failed.
    pub lifecycle: Lifecycle,
    /// A step to resume, when `lifecycle` is `pending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingStep>,
    /// The last error, when `lifecycle` is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When created (RFC 3339).
    pub created: String,
    /// When last changed (RFC 3339).
    pub updated: String,
    /// The last few steps, newest last.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

impl Resource {
    /// `name.instanceID`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.plugin, self.instance_id)
    }

    /// Appends to the bounded history.
    pub fn record(&mut self, operation: &str, result: String, at: &str) {
        self.history.push(HistoryEntry {
            at: at.to_string(),
            operation: operation.to_string(),
            result,
        });
        if self.history.len() > HISTORY_LEN {
            let extra = self.history.len() - HISTORY_LEN;
            self.history.drain(..extra);
        }
    }
}

/// The whole state document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Format version; see [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Random id given when the state is first created; never changes.
    pub lineage: String,
    /// Incremented on every write.
    pub serial: u64,
    /// Version of the dtm that wrote it last.
    pub dtm_version: String,
    /// Key for the secrets' keyed hashes (hex), random per lineage.
    pub secret_key: String,
    /// Resources by `name.instanceID`.
    #[serde(default)]
    pub resources: BTreeMap<String, Resource>,
}

impl State {
    /// A fresh, empty state with a new lineage and secret key.
    pub fn new() -> Self {
        Self {
            format_version: FORMAT_VERSION,
            lineage: random_hex(16),
            serial: 0,
            dtm_version: env!("CARGO_PKG_VERSION").to_string(),
            secret_key: random_hex(32),
            resources: BTreeMap::new(),
        }
    }

    /// Parses a state document, refusing corrupt, future and foreign ones.
    pub fn from_bytes(bytes: &[u8], location: &str) -> Result<Self, StateError> {
        if bytes.len() > dtm_backends::MAX_DOCUMENT_BYTES {
            return Err(StateError::TooLarge {
                location: location.to_string(),
                size: bytes.len(),
            });
        }
        if nests_deeper_than(bytes, MAX_DEPTH) {
            return Err(StateError::Corrupt {
                location: location.to_string(),
                message: format!("it nests more than {MAX_DEPTH} levels deep (the limit)"),
            });
        }
        // Fast path: one parse straight into the document. The slower path below only runs to
        // explain a document that did not parse.
        if let Ok(state) = from_json_slice::<State>(bytes) {
            if state.format_version > FORMAT_VERSION {
                return Err(StateError::FutureVersion {
                    location: location.to_string(),
                    found: state.format_version,
                    supported: FORMAT_VERSION,
                });
            }
            return Ok(state);
        }
        let value: Value = match from_json_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]);
                // DevStream's state is YAML keyed `name_instanceID` with `name:`/`instanceID:`.
                if text.contains("instanceID:") || text.contains("resourceStatus:") {
                    return Err(StateError::Foreign {
                        location: location.to_string(),
                        what: "it looks like a DevStream state".into(),
                    });
                }
                return Err(StateError::Corrupt {
                    location: location.to_string(),
                    message: e.to_string(),
                });
            }
        };
        let Some(obj) = value.as_object() else {
            return Err(StateError::Foreign {
                location: location.to_string(),
                what: "not a JSON object".into(),
            });
        };
        let Some(version) = obj.get("format_version").and_then(Value::as_u64) else {
            return Err(StateError::Foreign {
                location: location.to_string(),
                what: "no `format_version` field".into(),
            });
        };
        if version > u64::from(FORMAT_VERSION) {
            return Err(StateError::FutureVersion {
                location: location.to_string(),
                found: u32::try_from(version).unwrap_or(u32::MAX),
                supported: FORMAT_VERSION,
            });
        }
        serde_json::from_value(value).map_err(|e| StateError::Corrupt {
            location: location.to_string(),
            message: e.to_string(),
        })
    }

    /// Serialises the document (compact JSON: states can hold thousands of resources).
    pub fn to_bytes(&self) -> Vec<u8> {
        // A State holds only JSON-representable data, so this cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// An output of a tool whose last step completed: what output references resolve to.
    pub fn completed_output(&self, tool: &str, key: &str) -> Option<Value> {
        self.resources
            .get(tool)
            .filter(|r| r.lifecycle == Lifecycle::Completed)
            .and_then(|r| r.outputs.get(key).cloned())
    }

    /// The keyed hash of a secret: `hmac-sha256:HEX`, keyed with this state's `secret_key`.
    pub fn hmac(&self, secret: &str) -> String {
        let key = hex::decode(&self.secret_key).unwrap_or_default();
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return "hmac-sha256:invalid-key".to_owned();
        };
        mac.update(secret.as_bytes());
        format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// A copy of `options` with the value at each secret's pointer replaced by its keyed hash and
    /// its source (see [`SecretSource`]): what state records, never the value.
    ///
    /// A secret in an unquoted position may have been typed (`12345` is a number): it is hashed
    /// as its JSON text and marked `typed`, so that it is rebuilt with the same type.
    pub fn redact(&self, options: &Value, secrets: &[SecretSource]) -> Value {
        let mut out = options.clone();
        for source in secrets {
            let Some(v) = out.pointer_mut(&source.pointer) else {
                continue;
            };
            let (text, typed) = match &*v {
                Value::String(s) => (s.clone(), false),
                Value::Array(_) | Value::Object(_) => continue,
                other => (value_text(other), true),
            };
            let parts = self.resolve_parts(&source.parts);
            *v = redacted_value(self.hmac(&text), &parts, typed);
        }
        out
    }

    /// The parts of a secret's source with their output references resolved as the options
    /// around them were (the text the plugin got), so that the record rebuilds that text.
    fn resolve_parts(&self, parts: &[SecretPart]) -> Vec<SecretPart> {
        let lookup = |tool: &str, key: &str| self.completed_output(tool, key);
        parts
            .iter()
            .map(|part| match part {
                SecretPart::Text(t) if t.contains("${{") => {
                    let text = match crate::config::resolve_refs(&Value::String(t.clone()), &lookup)
                    {
                        // Spliced into a longer string: strings as they are, other values as JSON.
                        Ok(Value::String(s)) => s,
                        Ok(other) => other.to_string(),
                        Err(_) => t.clone(),
                    };
                    SecretPart::Text(text)
                }
                other => other.clone(),
            })
            .collect()
    }

    /// Whether recorded options are what `desired` (made by [`State::redact`]) describes:
    /// equal, with secrets compared by their keyed hash alone. Where a secret comes from is not
    /// an option (renaming the variable that holds the same value changes nothing), and a record
    /// written by format version 1 has no source. A value recorded in clear at a secret's place
    /// (a typed secret from before version 2, an imported state) matches the hash of its text.
    pub fn options_match(&self, recorded: &Value, desired: &Value) -> bool {
        if let Some(want) = parse_redacted(desired) {
            return match parse_redacted(recorded) {
                Some(have) => have.hmac == want.hmac,
                None => match recorded {
                    Value::Array(_) | Value::Object(_) => false,
                    scalar => self.hmac(&value_text(scalar)) == want.hmac,
                },
            };
        }
        match (recorded, desired) {
            (Value::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && b.iter()
                        .all(|(k, v)| a.get(k).is_some_and(|r| self.options_match(r, v)))
            }
            (Value::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(r, d)| self.options_match(r, d))
            }
            _ => recorded == desired,
        }
    }

    /// Recorded options with their secrets rebuilt from the environment (`env` looks variables
    /// up), for a plugin call on a tool that is no longer in the config.
    ///
    /// A secret whose variable now holds another value than the one applied is rebuilt with the
    /// current value and listed in [`Restored::changed`] (a rotated token is the usual reason).
    /// A secret recorded without its source (format version 1) stays a hash and is listed in
    /// [`Restored::unsourced`]. Fails if a variable is not set, naming every such option.
    pub fn restore(
        &self,
        options: &Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Restored, RestoreError> {
        let mut out = Restored {
            options: Value::Null,
            secrets: Vec::new(),
            changed: Vec::new(),
            unsourced: Vec::new(),
        };
        let mut missing = Vec::new();
        let mut path = String::new();
        out.options = self.restore_value(options, env, &mut path, &mut out, &mut missing);
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(RestoreError::NotSet(missing))
        }
    }

    fn restore_value(
        &self,
        v: &Value,
        env: &dyn Fn(&str) -> Option<String>,
        path: &mut String,
        out: &mut Restored,
        missing: &mut Vec<MissingSecret>,
    ) -> Value {
        if let Some(secret) = parse_redacted(v) {
            let Some(parts) = secret.parts else {
                out.unsourced.push(path.clone());
                return v.clone();
            };
            let mut text = String::new();
            let mut names = Vec::new();
            let mut complete = true;
            for part in parts {
                match part {
                    SecretPart::Text(t) => text.push_str(&t),
                    SecretPart::Env(name) => {
                        match env(&name) {
                            Some(value) => {
                                text.push_str(&value);
                                if !out.secrets.contains(&value) {
                                    out.secrets.push(value);
                                }
                            }
                            None => {
                                complete = false;
                                missing.push(MissingSecret {
                                    option: path.clone(),
                                    env: name.clone(),
                                });
                            }
                        }
                        names.push(name);
                    }
                }
            }
            if !complete {
                return v.clone();
            }
            let (value, hashed) = if secret.typed {
                let value = plain_value(&text);
                let hashed = value_text(&value);
                (value, hashed)
            } else {
                (Value::String(text.clone()), text)
            };
            if self.hmac(&hashed) != secret.hmac {
                out.changed.push((path.clone(), names));
            }
            return value;
        }
        match v {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        let r = self.restore_value(item, env, path, out, missing);
                        path.truncate(len);
                        r
                    })
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, item)| {
                        let len = path.len();
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(k);
                        let r = self.restore_value(item, env, path, out, missing);
                        path.truncate(len);
                        (k.clone(), r)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// Recorded options made usable again by [`State::restore`].
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    /// The options, secrets in clear text.
    pub options: Value,
    /// The clear-text values of the variables used, to mask in anything the plugin reports.
    pub secrets: Vec<String>,
    /// Options (dotted paths) whose rebuilt value is not the one recorded, with the variables
    /// they come from.
    pub changed: Vec<(String, Vec<String>)>,
    /// Options (dotted paths) whose secret was recorded without its source: still hashes.
    pub unsourced: Vec<String>,
}

/// An option whose recorded secret comes from an environment variable that is not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingSecret {
    /// Dotted path of the option (`scm.token`, `env[1].value`).
    pub option: String,
    /// The environment variable the secret comes from.
    pub env: String,
}

impl std::fmt::Display for MissingSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "option `{}` is a secret from environment variable `{}`, which is not set",
            self.option, self.env
        )
    }
}

/// Why recorded options could not be given their secrets back.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RestoreError {
    /// Environment variables that recorded secrets come from are not set.
    #[error("{}", crate::text::join(.0, "; "))]
    NotSet(Vec<MissingSecret>),
}

/// A redacted secret as recorded in options.
struct Redacted {
    /// `hmac-sha256:HEX`.
    hmac: String,
    /// How to rebuild it; None when recorded by format version 1 (or unreadable).
    parts: Option<Vec<SecretPart>>,
    /// Rebuilt as a plain YAML scalar (number, boolean, null), hashed as its JSON text.
    typed: bool,
}

/// The recorded form of a secret: `{"$secret": {"hmac": …, "env": NAME}}` for a whole value,
/// `{"$secret": {"hmac": …, "template": ["Bearer ", {"env": NAME}]}}` for a secret inside text.
fn redacted_value(hmac: String, parts: &[SecretPart], typed: bool) -> Value {
    let mut inner = Map::new();
    inner.insert("hmac".into(), Value::String(hmac));
    if let [SecretPart::Env(name)] = parts {
        inner.insert("env".into(), Value::String(name.clone()));
    } else {
        let template = parts
            .iter()
            .map(|part| match part {
                SecretPart::Text(t) => Value::String(t.clone()),
                SecretPart::Env(name) => Value::Object(Map::from_iter([(
                    "env".into(),
                    Value::String(name.clone()),
                )])),
            })
            .collect();
        inner.insert("template".into(), Value::Array(template));
    }
    if typed {
        inner.insert("typed".into(), Value::Bool(true));
    }
    Value::Object(Map::from_iter([(SECRET_KEY.into(), Value::Object(inner))]))
}

fn parse_redacted(v: &Value) -> Option<Redacted> {
    match v {
        Value::String(s) => {
            let hex = s.strip_prefix(SECRET_PREFIX)?.strip_suffix(')')?;
            Some(Redacted {
                hmac: format!("hmac-sha256:{hex}"),
                parts: None,
                typed: false,
            })
        }
        Value::Object(o) if o.len() == 1 => {
            let inner = o.get(SECRET_KEY)?.as_object()?;
            let hmac = inner.get("hmac")?.as_str()?.to_owned();
            let parts = if let Some(name) = inner.get("env").and_then(Value::as_str) {
                Some(vec![SecretPart::Env(name.to_owned())])
            } else {
                inner
                    .get("template")
                    .and_then(Value::as_array)
                    .and_then(|items| {
                        items
                            .iter()
                            .map(|item| match item {
                                Value::String(t) => Some(SecretPart::Text(t.clone())),
                                other => other
                                    .get("env")
                                    .and_then(Value::as_str)
                                    .map(|name| SecretPart::Env(name.to_owned())),
                            })
                            .collect()
                    })
            };
            let typed = inner.get("typed").and_then(Value::as_bool).unwrap_or(false);
            Some(Redacted { hmac, parts, typed })
        }
        _ => None,
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a JSON value is a redacted secret (either format).
/// Parses JSON that [`nests_deeper_than`] found no deeper than [`MAX_DEPTH`]: serde_json's own
/// limit (128 levels) is lifted, the check has bounded the recursion already.
pub(crate) fn from_json_slice<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> serde_json::Result<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Whether JSON text nests arrays and objects more than `limit` levels deep, found in one pass
/// without recursion (strings are skipped, escapes included; anything else is left to the
/// parser).
pub(crate) fn nests_deeper_than(bytes: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Whether `v` is a redacted secret (a keyed hash dtm wrote in place of the value).
pub fn is_redacted(v: &Value) -> bool {
    match v {
        Value::String(s) => s.starts_with(SECRET_PREFIX),
        Value::Object(o) => o.len() == 1 && o.contains_key(SECRET_KEY),
        _ => false,
    }
}

/// Random bytes as hex. Falls back to time-derived bytes if the OS has no randomness to give,
/// which only weakens the secret hashing, never correctness.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    if getrandom::fill(&mut buf).is_err() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
    hex::encode(buf)
}

/// Now as RFC 3339 UTC with seconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_refusals() {
        let s = State::new();
        let back = State::from_bytes(&s.to_bytes(), "x").unwrap();
        assert_eq!(s, back);
        let future = serde_json::json!({"format_version": 99, "lineage": "a"}).to_string();
        assert!(matches!(
            State::from_bytes(future.as_bytes(), "x"),
            Err(StateError::FutureVersion { found: 99, .. })
        ));
        assert!(matches!(
            State::from_bytes(b"{\"format_", "x"),
            Err(StateError::Corrupt { .. })
        ));
        assert!(matches!(
            State::from_bytes(b"file_a:\n  name: file\n  instanceID: a\n", "x"),
            Err(StateError::Foreign { .. })
        ));
    }

    use crate::config::{SecretPart, SecretSource};
    use serde_json::json;

    fn env_source(pointer: &str, parts: &[(&str, bool)]) -> SecretSource {
        SecretSource {
            pointer: pointer.into(),
            parts: parts
                .iter()
                .map(|(t, env)| {
                    if *env {
                        SecretPart::Env((*t).into())
                    } else {
                        SecretPart::Text((*t).into())
                    }
                })
                .collect(),
        }
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn secrets_hash_with_the_lineage_key() {
        let s = State::new();
        let a = s.hmac("hunter2");
        assert!(a.starts_with("hmac-sha256:") && !a.contains("hunter2"));
        assert_eq!(a, s.hmac("hunter2"));
        assert_ne!(a, s.hmac("hunter3"));
        assert_ne!(a, State::new().hmac("hunter2"));
        let opts = json!({"a": {"token": "hunter2"}, "b": "plain"});
        let r = s.redact(&opts, &[env_source("/a/token", &[("TOKEN", true)])]);
        assert_eq!(r["b"], "plain");
        assert!(is_redacted(&r["a"]["token"]));
        assert!(!r.to_string().contains("hunter2"));
    }

    #[test]
    fn redacted_secrets_record_their_source() {
        let s = State::new();
        let opts = json!({
            "token": "ghp_1",
            "auth": "Bearer ghp_1 for ci",
            "pin": 12345,
            "other": "x",
        });
        let sources = [
            env_source("/token", &[("GH", true)]),
            env_source(
                "/auth",
                &[("Bearer ", false), ("GH", true), (" for ci", false)],
            ),
            env_source("/pin", &[("PIN", true)]),
        ];
        let r = s.redact(&opts, &sources);
        assert_eq!(
            r["token"],
            json!({"$secret": {"hmac": s.hmac("ghp_1"), "env": "GH"}})
        );
        assert_eq!(
            r["auth"],
            json!({"$secret": {
                "hmac": s.hmac("Bearer ghp_1 for ci"),
                "template": ["Bearer ", {"env": "GH"}, " for ci"],
            }})
        );
        // A typed secret (an unquoted number) is hashed too, never kept in clear.
        assert_eq!(
            r["pin"],
            json!({"$secret": {"hmac": s.hmac("12345"), "env": "PIN", "typed": true}})
        );
        assert_eq!(r["other"], "x");
        let text = r.to_string();
        assert!(!text.contains("ghp_1") && !text.contains("12345"), "{text}");
        // The plan shows them as sensitive.
        assert_eq!(crate::plan::display_value(&r)["auth"], "(sensitive)");
    }

    #[test]
    fn restore_rebuilds_secrets_from_the_environment() {
        let s = State::new();
        let opts = json!({"token": "ghp_1", "h": ["Bearer ghp_1"], "pin": 12345, "n": 1});
        let sources = [
            env_source("/token", &[("GH", true)]),
            env_source("/h/0", &[("Bearer ", false), ("GH", true)]),
            env_source("/pin", &[("PIN", true)]),
        ];
        let recorded = s.redact(&opts, &sources);
        let env = env_of(&[("GH", "ghp_1"), ("PIN", "12345")]);
        let back = s.restore(&recorded, &env).unwrap();
        assert_eq!(back.options, opts);
        assert_eq!(back.secrets, ["ghp_1", "12345"]);
        assert!(back.changed.is_empty() && back.unsourced.is_empty());

        // A rotated value is used, and reported.
        let env = env_of(&[("GH", "ghp_2"), ("PIN", "12345")]);
        let back = s.restore(&recorded, &env).unwrap();
        assert_eq!(back.options["h"][0], "Bearer ghp_2");
        assert_eq!(
            back.changed,
            [
                ("h[0]".to_owned(), vec!["GH".to_owned()]),
                ("token".to_owned(), vec!["GH".to_owned()]),
            ]
        );

        // Unset: an error naming every option and its variable.
        let err = s.restore(&recorded, &env_of(&[("PIN", "1")])).unwrap_err();
        let RestoreError::NotSet(missing) = &err;
        assert_eq!(missing.len(), 2);
        let text = err.to_string();
        assert!(
            text.contains("option `token` is a secret from environment variable `GH`")
                && text.contains("option `h[0]`"),
            "{text}"
        );
    }

    #[test]
    fn recorded_secrets_compare_by_hash_alone() {
        let s = State::new();
        let opts = json!({"token": "ghp_1", "n": 1});
        let desired = s.redact(&opts, &[env_source("/token", &[("GH", true)])]);
        // Same value from a renamed variable: unchanged.
        let renamed = s.redact(&opts, &[env_source("/token", &[("GH_TOKEN", true)])]);
        assert_ne!(desired, renamed);
        assert!(s.options_match(&renamed, &desired));
        // Another value: changed.
        let other = s.redact(
            &json!({"token": "ghp_2", "n": 1}),
            &[env_source("/token", &[("GH", true)])],
        );
        assert!(!s.options_match(&other, &desired));
        assert!(!s.options_match(&json!({"token": "ghp_1", "n": 2}), &desired));
        // Recorded by format version 1, or in clear (a typed secret before version 2).
        let v1 = json!({"token": format!("(secret {})", s.hmac("ghp_1")), "n": 1});
        assert!(s.options_match(&v1, &desired));
        let pin = [env_source("/pin", &[("PIN", true)])];
        assert!(s.options_match(
            &json!({"pin": 12345}),
            &s.redact(&json!({"pin": 12345}), &pin)
        ));
        assert!(!s.options_match(
            &json!({"pin": 12346}),
            &s.redact(&json!({"pin": 12345}), &pin)
        ));
    }

    #[test]
    fn reads_a_format_1_state_and_keeps_its_secrets_as_hashes() {
        let fresh = State::new();
        let old = json!({
            "format_version": 1,
            "lineage": "abc",
            "serial": 3,
            "dtm_version": "0.1.0",
            "secret_key": fresh.secret_key,
            "resources": {"exec.tok": {
                "plugin": "exec",
                "instance_id": "tok",
                "plugin_version": "0.1.0",
                "options": {"options": {"token": format!("(secret {})", fresh.hmac("s3cret"))}},
                "lifecycle": "completed",
                "created": "2026-01-01T00:00:00Z",
                "updated": "2026-01-01T00:00:00Z",
            }},
        });
        let state = State::from_bytes(old.to_string().as_bytes(), "x").unwrap();
        assert_eq!(state.format_version, 1);
        let recorded = &state.resources["exec.tok"].options;
        assert!(is_redacted(&recorded["options"]["token"]));
        // No source: the hash is passed on, as before, and said so.
        let back = state.restore(recorded, &env_of(&[])).unwrap();
        assert_eq!(&back.options, recorded);
        assert_eq!(back.unsourced, ["options.token"]);
        // The config's view of the same secret matches it: no change is planned.
        let desired = state.redact(
            &json!({"options": {"token": "s3cret"}}),
            &[env_source("/options/token", &[("T", true)])],
        );
        assert!(state.options_match(recorded, &desired));
    }

    #[test]
    fn secret_templates_keep_resolved_output_references() {
        let mut s = State::new();
        s.resources.insert(
            "file.a".into(),
            Resource {
                plugin: "file".into(),
                instance_id: "a".into(),
                plugin_version: "0.1.0".into(),
                depends_on: vec![],
                options: Value::Null,
                status: Value::Null,
                outputs: [("host".to_owned(), json!("example.org"))].into(),
                lifecycle: Lifecycle::Completed,
                pending: None,
                last_error: None,
                created: String::new(),
                updated: String::new(),
                history: vec![],
            },
        );
        let source = env_source(
            "/url",
            &[
                ("https://", false),
                ("T", true),
                ("@${{ file.a.outputs.host }}/", false),
            ],
        );
        let opts = json!({"url": "https://tok@example.org/"});
        let recorded = s.redact(&opts, &[source]);
        assert_eq!(
            recorded["url"]["$secret"]["template"],
            json!(["https://", {"env": "T"}, "@example.org/"])
        );
        let back = s.restore(&recorded, &env_of(&[("T", "tok")])).unwrap();
        assert_eq!(back.options, opts);
        assert!(back.changed.is_empty());
    }
}
