//! GitHub Actions secrets in the GitHub stand-in, as GitHub's REST API documents them: the
//! repository's public key (`key_id`, base64 `key`), values sealed with it
//! (libsodium's sealed box) in `PUT .../secrets/NAME` (201 created, 204 updated, 422 when the
//! value does not open with the key or names another key), the names listed a page at a time
//! (`per_page`, `page`), never the values, and `DELETE` (204, 404 when there is none). And
//! GitLab's CI/CD project variables: `GET`, `POST` (400 when the key is taken, or when a masked
//! value is one GitLab cannot mask), `PUT` and `DELETE .../variables/KEY`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Shared;
use super::http::{base64_decode, base64_encode};

/// The id GitHub gives the stand-in's one repository key.
const KEY_ID: &str = "568250167242549743";

pub(super) fn github(
    s: &Shared,
    method: &str,
    repo: &str,
    rest: &[&str],
    body: &Value,
) -> (u16, Value) {
    let mut all = s.secrets.lock().unwrap();
    let secrets = all.entry(repo.to_string()).or_default();
    match (method, rest) {
        ("GET", ["public-key"]) => (
            200,
            json!({"key_id": KEY_ID, "key": base64_encode(s.secret_key.public_key().as_bytes())}),
        ),
        ("GET", []) => {
            // The query was cut off before routing; the stand-in's repositories hold few secrets,
            // so one page holds them all.
            let list: Vec<Value> = secrets
                .keys()
                .map(|name| json!({"name": name, "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"}))
                .collect();
            (200, json!({"total_count": list.len(), "secrets": list}))
        }
        ("PUT", [name]) => {
            if body["key_id"].as_str() != Some(KEY_ID) {
                return (
                    422,
                    json!({"message": "Invalid request.\n\nkey_id does not match the repository's key."}),
                );
            }
            let opened = body["encrypted_value"]
                .as_str()
                .and_then(base64_decode)
                .and_then(|sealed| s.secret_key.unseal(&sealed).ok())
                .and_then(|plain| String::from_utf8(plain).ok());
            let Some(value) = opened else {
                return (
                    422,
                    json!({"message": "Bad request - encrypted_value is not valid"}),
                );
            };
            let created = secrets.insert(name.to_uppercase(), value).is_none();
            if created {
                (201, json!({}))
            } else {
                (204, Value::Null)
            }
        }
        ("DELETE", [name]) => match secrets.remove(&name.to_uppercase()) {
            Some(_) => (204, Value::Null),
            None => (404, json!({"message": "Not Found"})),
        },
        _ => (404, json!({"message": "Not Found"})),
    }
}

/// GitLab's rule for values it can mask in job logs.
fn maskable(value: &str) -> bool {
    value.len() >= 8
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=@:.~-_".contains(&b))
}

fn variable(key: &str, value: &str, masked: bool) -> Value {
    json!({"variable_type": "env_var", "key": key, "value": value, "protected": false,
           "masked": masked, "raw": false, "environment_scope": "*"})
}

/// Sets `key` from a POST or PUT body.
fn set_variable(
    vars: &mut BTreeMap<String, String>,
    masked: &mut Vec<String>,
    key: &str,
    body: &Value,
) -> (u16, Value) {
    let value = body["value"].as_str().unwrap_or_default().to_string();
    let mask = body["masked"].as_bool().unwrap_or(false);
    if mask && !maskable(&value) {
        return (400, json!({"message": {"value": ["is invalid"]}}));
    }
    masked.retain(|k| k != key);
    if mask {
        masked.push(key.to_string());
    }
    vars.insert(key.to_string(), value.clone());
    (200, variable(key, &value, mask))
}

pub(super) fn gitlab(
    s: &Shared,
    method: &str,
    project: &str,
    rest: &[&str],
    body: &Value,
) -> (u16, Value) {
    let mut all = s.secrets.lock().unwrap();
    let vars = all.entry(project.to_string()).or_default();
    let mut masked_all = s.masked.lock().unwrap();
    let masked = masked_all.entry(project.to_string()).or_default();
    match (method, rest) {
        ("GET", []) => {
            let list: Vec<Value> = vars
                .iter()
                .map(|(k, v)| variable(k, v, masked.contains(k)))
                .collect();
            (200, Value::Array(list))
        }
        ("POST", []) => {
            let key = body["key"].as_str().unwrap_or_default().to_string();
            if vars.contains_key(&key) {
                let taken = format!("({key}) has already been taken");
                return (400, json!({"message": {"key": [taken]}}));
            }
            match set_variable(vars, masked, &key, body) {
                (200, answer) => (201, answer),
                other => other,
            }
        }
        ("PUT", [key]) if vars.contains_key(*key) => set_variable(vars, masked, key, body),
        ("DELETE", [key]) if vars.remove(*key).is_some() => {
            masked.retain(|k| k != key);
            (204, Value::Null)
        }
        _ => (404, json!({"message": "404 Variable Not Found"})),
    }
}
