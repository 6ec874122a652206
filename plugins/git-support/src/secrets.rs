//! Repository secrets a workflow reads: GitHub Actions secrets (sealed with the repository's
//! public key, as GitHub requires) and GitLab CI/CD project variables (masked where GitLab
//! allows it). A plain git remote has no such store.
//!
//! Values are never logged, never put in a message and never read back: GitHub does not give
//! them back at all, so only the names of the secrets that exist are reported.

use std::collections::BTreeSet;

use crypto_box::PublicKey;
use crypto_box::aead::OsRng;
use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

use crate::http::{Answer, Api, TokenStyle, base64, encode_segment};
use crate::scm::{Repo, ScmKind};

/// Page size of the listing calls (both services allow 100).
const PER_PAGE: usize = 100;

/// The secret store of one GitHub repository or GitLab project.
#[derive(Debug)]
pub struct Secrets {
    api: Api,
    kind: ScmKind,
    /// `/repos/OWNER/NAME/actions/secrets` or `/projects/ID/variables`.
    collection: String,
    /// `owner/name`, for messages.
    shown: String,
}

impl Repo {
    /// The repository's secret store; `None` for a plain git remote, which has none.
    pub fn secrets(&self) -> Result<Option<Secrets>, PluginError> {
        let (style, collection) = match self.kind {
            ScmKind::Git => return Ok(None),
            ScmKind::GitHub => (
                TokenStyle::Bearer,
                format!(
                    "/repos/{}/{}/actions/secrets",
                    encode_segment(&self.owner),
                    encode_segment(&self.name)
                ),
            ),
            ScmKind::GitLab => (
                TokenStyle::PrivateToken,
                format!("/projects/{}/variables", encode_segment(&self.full_name())),
            ),
        };
        let base = self.api_base.as_deref().ok_or_else(|| {
            PluginError::internal(format!("no API base URL for {}", self.full_name()))
        })?;
        if self.token.is_none() {
            return Err(PluginError::invalid_options(format!(
                "setting repository secrets of {} needs a token: set `scm.token` (usually [[ env \"GITHUB_TOKEN\" ]]) to a token that may write the repository's secrets",
                self.full_name()
            )));
        }
        Ok(Some(Secrets {
            api: Api::new(base, self.token.clone(), style)?,
            kind: self.kind,
            collection,
            shown: self.full_name(),
        }))
    }
}

impl Secrets {
    /// What the store is called, for messages.
    fn what(&self) -> &'static str {
        match self.kind {
            ScmKind::GitLab => "CI/CD variables",
            _ => "Actions secrets",
        }
    }

    fn unexpected(&self, method: &str, path: &str, answer: &Answer) -> PluginError {
        let error = PluginError::internal(format!(
            "{method} {}{path} ({} of {}): unexpected status {} ({})",
            self.api.base,
            self.what(),
            self.shown,
            answer.status,
            answer.message()
        ));
        if answer.status == 404 {
            PluginError::not_found(format!(
                "{}; does the repository exist, and may the token see it?",
                error.message
            ))
        } else {
            error
        }
    }

    /// The names of the secrets that exist (GitHub spells them in upper case).
    pub fn names(&self, ctx: &Ctx) -> Result<BTreeSet<String>, PluginError> {
        let mut names = BTreeSet::new();
        for page in 1.. {
            let path = format!("{}?per_page={PER_PAGE}&page={page}", self.collection);
            let answer = self.api.call(ctx, "GET", &path, None)?;
            if answer.status != 200 {
                return Err(self.unexpected("GET", &path, &answer));
            }
            let (items, key) = match self.kind {
                ScmKind::GitLab => (answer.body.as_array(), "key"),
                _ => (answer.body["secrets"].as_array(), "name"),
            };
            let items = items.cloned().unwrap_or_default();
            names.extend(
                items
                    .iter()
                    .filter_map(|item| item[key].as_str())
                    .map(str::to_string),
            );
            if items.len() < PER_PAGE {
                break;
            }
        }
        Ok(names)
    }

    /// Creates or replaces each `(name, value)`.
    pub fn set_all(&self, ctx: &Ctx, secrets: &[(String, String)]) -> Result<(), PluginError> {
        match self.kind {
            ScmKind::GitLab => {
                for (name, value) in secrets {
                    self.set_variable(ctx, name, value)?;
                }
            }
            _ => {
                let key = self.public_key(ctx)?;
                for (name, value) in secrets {
                    self.put_sealed(ctx, &key, name, value)?;
                }
            }
        }
        ctx.info(format!(
            "set {} {} of {}",
            self.what(),
            secrets
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.shown
        ));
        Ok(())
    }

    /// Deletes the secret `name`; one that does not exist is fine.
    pub fn delete(&self, ctx: &Ctx, name: &str) -> Result<(), PluginError> {
        let path = format!("{}/{}", self.collection, encode_segment(name));
        let answer = self.api.call(ctx, "DELETE", &path, None)?;
        match answer.status {
            200 | 202 | 204 | 404 => Ok(()),
            _ => Err(self.unexpected("DELETE", &path, &answer)),
        }
    }

    /// GitHub: the repository's public key, `(key_id, key)`.
    fn public_key(&self, ctx: &Ctx) -> Result<(String, PublicKey), PluginError> {
        let path = format!("{}/public-key", self.collection);
        let answer = self.api.call(ctx, "GET", &path, None)?;
        if answer.status != 200 {
            return Err(self.unexpected("GET", &path, &answer));
        }
        let bad = |what: &str| {
            PluginError::internal(format!(
                "GET {}{path}: the answer's {what}; expected `key_id` and a base64 `key` of 32 bytes",
                self.api.base
            ))
        };
        let key_id = match &answer.body["key_id"] {
            Value::String(id) => id.clone(),
            Value::Number(id) => id.to_string(),
            _ => return Err(bad("`key_id` is missing")),
        };
        let bytes = answer.body["key"]
            .as_str()
            .and_then(base64_decode)
            .ok_or_else(|| bad("`key` is not base64"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| bad("`key` is not 32 bytes long"))?;
        Ok((key_id, PublicKey::from(bytes)))
    }

    /// GitHub: seals `value` with the repository's key and creates or replaces the secret.
    fn put_sealed(
        &self,
        ctx: &Ctx,
        (key_id, key): &(String, PublicKey),
        name: &str,
        value: &str,
    ) -> Result<(), PluginError> {
        let sealed = key.seal(&mut OsRng, value.as_bytes()).map_err(|_| {
            PluginError::internal(format!("sealing the secret {name} for {}", self.shown))
        })?;
        let body = json!({"encrypted_value": base64(&sealed), "key_id": key_id});
        let path = format!("{}/{}", self.collection, encode_segment(name));
        let answer = self.api.call(ctx, "PUT", &path, Some(&body))?;
        match answer.status {
            201 | 204 => Ok(()),
            _ => Err(self.unexpected("PUT", &path, &answer)),
        }
    }

    /// GitLab: creates the variable, or updates it when it exists.
    fn set_variable(&self, ctx: &Ctx, name: &str, value: &str) -> Result<(), PluginError> {
        let masked = maskable(value);
        let body = json!({"key": name, "value": value, "masked": masked, "protected": false});
        let created = self.api.call(ctx, "POST", &self.collection, Some(&body))?;
        match created.status {
            200 | 201 => return Ok(()),
            400 if created.body.to_string().contains("has already been taken") => {}
            _ => return Err(self.unexpected("POST", &self.collection, &created)),
        }
        let path = format!("{}/{}", self.collection, encode_segment(name));
        let body = json!({"value": value, "masked": masked});
        let updated = self.api.call(ctx, "PUT", &path, Some(&body))?;
        match updated.status {
            200 => Ok(()),
            _ => Err(self.unexpected("PUT", &path, &updated)),
        }
    }
}

/// Whether GitLab can mask `value` in job logs: at least 8 characters, one line, of the
/// Base64 alphabet and `@:.~`. Others are stored unmasked (an ID, `[]`), as GitLab refuses to
/// mask them.
fn maskable(value: &str) -> bool {
    value.len() >= 8
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=@:.~-_".contains(&b))
}

/// Decodes standard base64 (padding optional); `None` on anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.trim().trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        let inputs: [&[u8]; 6] = [b"", b"f", b"fo", b"foo", b"foobar", &[0, 255, 17, 3, 200]];
        for input in inputs {
            assert_eq!(base64_decode(&base64(input)).as_deref(), Some(input));
        }
        assert_eq!(base64_decode("not base64!"), None);
    }

    #[test]
    fn sealed_values_open_with_the_repository_key() {
        let secret = crypto_box::SecretKey::generate(&mut OsRng);
        let sealed = secret
            .public_key()
            .seal(&mut OsRng, b"t0ken")
            .unwrap_or_default();
        assert_eq!(secret.unseal(&sealed).ok().as_deref(), Some(&b"t0ken"[..]));
    }

    #[test]
    fn only_values_gitlab_can_mask_are_masked() {
        assert!(maskable("0123456789abcdef"));
        assert!(!maskable("[]"));
        assert!(!maskable("short"));
        assert!(!maskable("has a space in it"));
    }
}
