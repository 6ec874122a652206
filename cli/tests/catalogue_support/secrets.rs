//! GitHub Actions secrets in the GitHub stand-in, as GitHub's REST API documents them: the
//! repository's public key (`key_id`, base64 `key`), values sealed with it
//! (libsodium's sealed box) in `PUT .../secrets/NAME` (201 created, 204 updated, 422 when the
//! value does not open with the key or names another key), the names listed a page at a time
//! (`per_page`, `page`), never the values, and `DELETE` (204, 404 when there is none).

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
