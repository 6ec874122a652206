//! The state document: what dtm believes exists, per tool instance.
//!
//! Serialised as JSON and handed to a [`dtm_backends::Backend`] as opaque bytes. A document from a
//! newer format, a corrupt one, or something that is not a dtm state (a DevStream state, say) is
//! refused with a named error and never overwritten.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

/// Current format version of the state document.
pub const FORMAT_VERSION: u32 = 1;
/// How many history entries are kept per resource.
pub const HISTORY_LEN: usize = 10;
/// Marker a redacted secret starts with.
pub const SECRET_PREFIX: &str = "(secret hmac-sha256:";

/// Errors reading a state document.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The bytes are not valid state JSON.
    #[error(
        "state {location} is corrupt: {message}; it was left untouched. Restore it from {location}.backup or your backend's versioning, or move it away to start over"
    )]
    Corrupt {
        /// Backend location.
        location: String,
        /// Parser message.
        message: String,
    },
    /// Written by a newer dtm.
    #[error(
        "state {location} has format version {found}, but this dtm reads up to version {supported}; upgrade dtm. The state was left untouched"
    )]
    FutureVersion {
        /// Backend location.
        location: String,
        /// Version found.
        found: u32,
        /// Highest version supported.
        supported: u32,
    },
    /// Not a dtm state at all.
    #[error(
        "{location} is not a dtm state file ({what}); it was left untouched. If it is a DevStream state, convert it with `dtm state import-devstream`"
    )]
    Foreign {
        /// Backend location.
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
    /// Operation.
    pub operation: String,
    /// `ok`, `failed: ...`, `pending`.
    pub result: String,
}

/// One tool instance in state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// Plugin name.
    pub plugin: String,
    /// Instance id.
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
    /// Lifecycle status.
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
        // Fast path: one parse straight into the document. The slower path below only runs to
        // explain a document that did not parse.
        if let Ok(state) = serde_json::from_slice::<State>(bytes) {
            if state.format_version > FORMAT_VERSION {
                return Err(StateError::FutureVersion {
                    location: location.to_string(),
                    found: state.format_version,
                    supported: FORMAT_VERSION,
                });
            }
            return Ok(state);
        }
        let value: Value = match serde_json::from_slice(bytes) {
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

    /// The keyed hash stored instead of a secret value.
    pub fn redact_secret(&self, secret: &str) -> String {
        let key = hex::decode(&self.secret_key).unwrap_or_default();
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return format!("{SECRET_PREFIX}invalid-key)");
        };
        mac.update(secret.as_bytes());
        format!(
            "{SECRET_PREFIX}{})",
            hex::encode(mac.finalize().into_bytes())
        )
    }

    /// A copy of `options` with the strings at `secret_paths` replaced by keyed hashes.
    pub fn redact(&self, options: &Value, secret_paths: &[String]) -> Value {
        let mut out = options.clone();
        for p in secret_paths {
            if let Some(v) = out.pointer_mut(p)
                && let Some(s) = v.as_str()
            {
                *v = Value::String(self.redact_secret(s));
            }
        }
        out
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a JSON string value is a redacted secret.
pub fn is_redacted(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.starts_with(SECRET_PREFIX))
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

    #[test]
    fn secrets_hash_with_the_lineage_key() {
        let s = State::new();
        let a = s.redact_secret("hunter2");
        assert!(a.starts_with(SECRET_PREFIX) && !a.contains("hunter2"));
        assert_eq!(a, s.redact_secret("hunter2"));
        assert_ne!(a, s.redact_secret("hunter3"));
        assert_ne!(a, State::new().redact_secret("hunter2"));
        let opts = serde_json::json!({"a": {"token": "hunter2"}, "b": "plain"});
        let r = s.redact(&opts, &["/a/token".to_string()]);
        assert_eq!(r["b"], "plain");
        assert!(is_redacted(&r["a"]["token"]));
    }
}
