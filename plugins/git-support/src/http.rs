//! A small JSON-over-HTTPS client for the GitHub and GitLab REST APIs (rustls, no OpenSSL).

use std::time::Duration;

use dtm_plugin_sdk::prelude::*;
use serde_json::Value;

/// Time limit of one API request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How the token is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStyle {
    /// `Authorization: Bearer TOKEN` (GitHub).
    Bearer,
    /// `PRIVATE-TOKEN: TOKEN` (GitLab).
    PrivateToken,
}

/// An API endpoint: base URL and credentials.
#[derive(Debug, Clone)]
pub struct Api {
    /// Base URL without a trailing `/`, e.g. `https://api.github.com`.
    pub base: String,
    token: Option<String>,
    style: TokenStyle,
    client: reqwest::blocking::Client,
}

/// An answer: status code and JSON body (`Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The body as JSON.
    pub body: Value,
}

impl Answer {
    /// The API's own error message, if the body has one.
    pub fn message(&self) -> String {
        match &self.body {
            Value::Object(map) => map
                .get("message")
                .or_else(|| map.get("error"))
                .map(|m| match m {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default(),
            _ => String::new(),
        }
    }
}

fn client() -> Result<reqwest::blocking::Client, PluginError> {
    // The plugin has its own copy of rustls: give it a crypto provider once. An error means
    // one is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("dtm-git-support/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| PluginError::internal(format!("setting up the HTTP client: {e}")))
}

impl Api {
    /// A client for `base`, sending `token` (if any) in the way `style` says.
    pub fn new(base: &str, token: Option<String>, style: TokenStyle) -> Result<Self, PluginError> {
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            token: token.filter(|t| !t.is_empty()),
            style,
            client: client()?,
        })
    }

    /// Sends one request; `path` starts with `/`.
    pub fn call(
        &self,
        ctx: &Ctx,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, PluginError> {
        if ctx.is_cancelled() {
            return Err(PluginError::cancelled(
                "stopped because dtm was interrupted",
            ));
        }
        let url = format!("{}{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| PluginError::internal(format!("bad HTTP method {method}: {e}")))?;
        ctx.debug(format!("{method} {url}"));
        let mut request = self
            .client
            .request(method.clone(), &url)
            .header("Accept", "application/json");
        if let Some(token) = &self.token {
            let (name, value) = match self.style {
                TokenStyle::Bearer => ("Authorization", format!("Bearer {token}")),
                TokenStyle::PrivateToken => ("PRIVATE-TOKEN", token.clone()),
            };
            let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                PluginError::invalid_options("the token contains characters a header cannot hold")
            })?;
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().map_err(|e| {
            let e = e.without_url();
            PluginError::unavailable(format!("{method} {url}: {e}")).mark_retryable()
        })?;
        let status = response.status().as_u16();
        let text = response.text().map_err(|e| {
            PluginError::unavailable(format!(
                "{method} {url}: reading the answer: {}",
                e.without_url()
            ))
            .mark_retryable()
        })?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        let answer = Answer { status, body };
        match status {
            401 => Err(PluginError::permission_denied(format!(
                "{method} {url}: 401 unauthorized ({}); check the token",
                answer.message()
            ))),
            403 => Err(PluginError::permission_denied(format!(
                "{method} {url}: 403 forbidden ({}); the token may lack a scope (repo, delete_repo / api)",
                answer.message()
            ))),
            500..=599 => Err(PluginError::unavailable(format!(
                "{method} {url}: server error {status} ({})",
                answer.message()
            ))
            .mark_retryable()),
            _ => Ok(answer),
        }
    }
}

/// Percent-encodes one path segment (GitLab's `group%2Fproject` ids).
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Standard base64 with padding (for `Authorization: Basic`).
pub fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| char::from(TABLE[((n >> shift) & 63) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

/// Downloads `url` as bytes (for a pipeline's `configLocation`).
pub fn download(ctx: &Ctx, url: &str) -> Result<Vec<u8>, PluginError> {
    if ctx.is_cancelled() {
        return Err(PluginError::cancelled(
            "stopped because dtm was interrupted",
        ));
    }
    ctx.debug(format!("GET {url}"));
    let response = client()?.get(url).send().map_err(|e| {
        PluginError::unavailable(format!("GET {url}: {}", e.without_url())).mark_retryable()
    })?;
    let status = response.status();
    if !status.is_success() {
        let err = format!("GET {url}: {status}");
        return Err(if status.as_u16() == 404 {
            PluginError::not_found(err)
        } else {
            PluginError::unavailable(err).mark_retryable()
        });
    }
    let bytes = response.bytes().map_err(|e| {
        PluginError::unavailable(format!("GET {url}: {}", e.without_url())).mark_retryable()
    })?;
    Ok(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_examples() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn encodes_gitlab_project_ids() {
        assert_eq!(encode_segment("group/sub/proj"), "group%2Fsub%2Fproj");
    }
}
