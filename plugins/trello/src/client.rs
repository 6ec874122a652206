//! A small client for Trello's REST API (`https://api.trello.com/1`): parameters in the query
//! string, the API key and token as the `key` and `token` query parameters, as Trello
//! documents. URLs in messages and logs never carry the key or the token.

use std::time::Duration;

use dtm_plugin_sdk::prelude::*;
use serde_json::Value;

/// Trello's REST API.
pub(crate) const DEFAULT_API_URL: &str = "https://api.trello.com/1";

/// Time limit of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where to get a key and a token, for messages about them.
const KEY_HELP: &str = "https://trello.com/app-key";

/// A Trello API endpoint and the credentials for it.
#[derive(Debug)]
pub(crate) struct Trello {
    /// Base URL without a trailing `/`.
    pub base: String,
    key: String,
    token: String,
    client: reqwest::blocking::Client,
}

/// An answer that is not an error: status code and body (JSON, or the text as a string).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl Trello {
    /// A client for `base` with the API key and token.
    pub(crate) fn new(base: &str, key: &str, token: &str) -> Result<Self, PluginError> {
        // The plugin has its own copy of rustls: give it a crypto provider once. An error means
        // one is installed already, which is what we want.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("dtm-plugin-trello/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PluginError::internal(format!("setting up the HTTP client: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
            token: token.to_string(),
            client,
        })
    }

    /// Sends `METHOD BASE/PATH?params` with the credentials. 401, 429 and 5xx are errors;
    /// any other status is the caller's to judge.
    pub(crate) fn call(
        &self,
        ctx: &Ctx,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<Answer, PluginError> {
        if ctx.is_cancelled() {
            return Err(PluginError::cancelled(
                "stopped because dtm was interrupted",
            ));
        }
        let shown = format!("{method} {}{path}", self.base);
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base)).map_err(|e| {
            PluginError::invalid_options(format!(
                "`{}` is not a URL ({e}); board.apiURL should look like {DEFAULT_API_URL}",
                self.base
            ))
        })?;
        url.query_pairs_mut()
            .extend_pairs(params)
            .append_pair("key", &self.key)
            .append_pair("token", &self.token);
        let method_value = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| PluginError::internal(format!("bad HTTP method {method}: {e}")))?;
        ctx.debug(&shown);
        let response = self
            .client
            .request(method_value, url)
            .header("Accept", "application/json")
            .send()
            .map_err(|e| {
                PluginError::unavailable(format!("{shown}: {}", e.without_url())).mark_retryable()
            })?;
        let status = response.status().as_u16();
        let text = response.text().map_err(|e| {
            PluginError::unavailable(format!("{shown}: reading the answer: {}", e.without_url()))
                .mark_retryable()
        })?;
        let body = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
        let answer = Answer { status, body };
        match status {
            401 => Err(PluginError::permission_denied(format!(
                "{shown}: Trello answered 401 ({}); check board.apiKey and board.token (a key and a token from {KEY_HELP}, the token with read and write access)",
                answer.message()
            ))),
            429 => Err(PluginError::unavailable(format!(
                "{shown}: Trello's rate limit was hit (429); run dtm again in a few seconds"
            ))
            .mark_retryable()),
            500..=599 => Err(PluginError::unavailable(format!(
                "{shown}: Trello answered {status} ({})",
                answer.message()
            ))
            .mark_retryable()),
            _ => Ok(answer),
        }
    }

    /// The error for an answer the caller did not expect.
    pub(crate) fn unexpected(&self, method: &str, path: &str, answer: &Answer) -> PluginError {
        PluginError::internal(format!(
            "{method} {}{path}: unexpected status {} ({})",
            self.base,
            answer.status,
            answer.message()
        ))
    }
}

impl Answer {
    /// Trello's own words: a text body, or a JSON body's `message`/`error`.
    pub(crate) fn message(&self) -> String {
        let text = match &self.body {
            Value::String(text) => text.trim().to_string(),
            Value::Object(map) => map
                .get("message")
                .or_else(|| map.get("error"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        };
        let mut short: String = text.chars().take(200).collect();
        if short.is_empty() {
            short = "no message".into();
        }
        short
    }
}
