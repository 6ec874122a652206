//! DevLake's connection API: `GET`/`POST /plugins/P/connections`,
//! `PATCH`/`DELETE /plugins/P/connections/ID`, with errors that name the URL, DevLake's message
//! and what to do.

use std::time::Duration;

use dtm_plugin_sdk::prelude::*;
use serde_json::Value;

/// Time limit of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A DevLake API.
#[derive(Debug)]
pub struct DevLake {
    /// Base URL without a trailing `/`.
    pub base: String,
    api_key: Option<String>,
    http: reqwest::blocking::Client,
}

/// DevLake's reason in an error answer (`{"success": false, "message": …}`), else the body.
fn message(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => v["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
        Err(_) => body
            .chars()
            .take(200)
            .collect::<String>()
            .trim()
            .to_string(),
    }
}

impl DevLake {
    /// A client for the API at `base`.
    pub fn new(base: &str, api_key: Option<String>) -> Result<Self, PluginError> {
        // The plugin has its own copy of rustls: give it a crypto provider once. An error means
        // one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!(
                "dtm-plugin-devlake-config/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| PluginError::internal(format!("setting up the HTTP client: {e}")))?;
        Ok(Self {
            base: base.trim().trim_end_matches('/').to_string(),
            api_key: api_key.filter(|k| !k.is_empty()),
            http,
        })
    }

    /// One request: status and body.
    pub(crate) fn call(
        &self,
        ctx: &Ctx,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String), PluginError> {
        if ctx.is_cancelled() {
            return Err(PluginError::cancelled(
                "stopped because dtm was interrupted",
            ));
        }
        let url = format!("{}{path}", self.base);
        ctx.debug(format!("{method} {url}"));
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| PluginError::internal(format!("bad HTTP method {method}: {e}")))?;
        let mut request = self
            .http
            .request(m, &url)
            .header("Accept", "application/json");
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().map_err(|e| {
            PluginError::unavailable(format!(
                "{method} {url}: {}; is devlakeAddr right and DevLake up?",
                e.without_url()
            ))
            .mark_retryable()
        })?;
        let status = response.status().as_u16();
        let text = response.text().map_err(|e| {
            PluginError::unavailable(format!(
                "{method} {url}: reading the answer: {}",
                e.without_url()
            ))
            .mark_retryable()
        })?;
        match status {
            401 | 403 => Err(PluginError::permission_denied(format!(
                "{method} {url}: {status} ({}); give DevLake's API key in `apiKey`",
                message(&text)
            ))),
            500..=599 => Err(PluginError::unavailable(format!(
                "{method} {url}: server error {status} ({})",
                message(&text)
            ))
            .mark_retryable()),
            _ => Ok((status, text)),
        }
    }

    pub(crate) fn failure(&self, method: &str, path: &str, status: u16, body: &str) -> PluginError {
        let url = format!("{}{path}", self.base);
        let reason = message(body);
        match status {
            400 => PluginError::invalid_options(format!(
                "{method} {url}: 400, DevLake refused the connection: {reason}"
            )),
            409 => PluginError::conflict(format!(
                "{method} {url}: 409 ({reason}); remove the connection from the DevLake projects and blueprints that use it, then try again"
            )),
            _ => PluginError::internal(format!(
                "{method} {url}: unexpected status {status} ({reason})"
            )),
        }
    }

    /// The plugin's connections.
    pub fn list(&self, ctx: &Ctx, plugin: &str) -> Result<Vec<Value>, PluginError> {
        let path = format!("/plugins/{plugin}/connections");
        let (status, body) = self.call(ctx, "GET", &path, None)?;
        match status {
            200 => serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.as_array().cloned())
                .ok_or_else(|| {
                    PluginError::internal(format!(
                        "GET {}{path}: the answer is not a list of connections",
                        self.base
                    ))
                }),
            404 => Err(PluginError::not_found(format!(
                "GET {}{path}: 404; DevLake has no plugin `{plugin}` (names are like github, gitlab, jira, jenkins), or devlakeAddr does not point at its API",
                self.base
            ))),
            _ => Err(self.failure("GET", &path, status, &body)),
        }
    }

    pub(crate) fn answer(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &str,
    ) -> Result<Value, PluginError> {
        if !matches!(status, 200 | 201) {
            return Err(self.failure(method, path, status, body));
        }
        serde_json::from_str(body).map_err(|_| {
            PluginError::internal(format!(
                "{method} {}{path}: the answer is not JSON",
                self.base
            ))
        })
    }

    /// Creates a connection; DevLake's answer.
    pub fn create(&self, ctx: &Ctx, plugin: &str, body: &Value) -> Result<Value, PluginError> {
        let path = format!("/plugins/{plugin}/connections");
        let (status, text) = self.call(ctx, "POST", &path, Some(body))?;
        self.answer("POST", &path, status, &text)
    }

    /// Updates connection `id`; DevLake's answer.
    pub fn update(
        &self,
        ctx: &Ctx,
        plugin: &str,
        id: u64,
        body: &Value,
    ) -> Result<Value, PluginError> {
        let path = format!("/plugins/{plugin}/connections/{id}");
        let (status, text) = self.call(ctx, "PATCH", &path, Some(body))?;
        self.answer("PATCH", &path, status, &text)
    }

    /// Deletes connection `id`; `false` when it was gone already.
    pub fn delete(&self, ctx: &Ctx, plugin: &str, id: u64) -> Result<bool, PluginError> {
        let path = format!("/plugins/{plugin}/connections/{id}");
        let (status, text) = self.call(ctx, "DELETE", &path, None)?;
        match status {
            200 | 204 => Ok(true),
            404 => Ok(false),
            _ => Err(self.failure("DELETE", &path, status, &text)),
        }
    }
}
