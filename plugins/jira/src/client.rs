//! A small client for Jira's REST API (version 2, which Jira Cloud, Server and Data Center all
//! serve), with basic authentication: the user's email address (or name) and an API token.

use std::time::Duration;

use dtm_git_support::http::base64;
use dtm_plugin_sdk::prelude::*;
use serde_json::Value;

/// Time limit of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A Jira site and the credentials for it.
#[derive(Debug)]
pub(crate) struct Jira {
    /// `SITE/rest/api/2`.
    pub base: String,
    authorization: reqwest::header::HeaderValue,
    client: reqwest::blocking::Client,
}

/// An answer that is not an error: status code and JSON body (`Null` when not JSON).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl Answer {
    /// Jira's own words: `errorMessages` and `errors`, or `message`.
    pub(crate) fn message(&self) -> String {
        let mut parts: Vec<String> = self.body["errorMessages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        if let Some(errors) = self.body["errors"].as_object() {
            parts.extend(
                errors
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default())),
            );
        }
        if let Some(message) = self.body["message"].as_str() {
            parts.push(message.to_string());
        }
        if parts.is_empty() {
            "no message".into()
        } else {
            parts.join("; ")
        }
    }
}

impl Jira {
    /// A client for the site at `site` (e.g. `https://my-team.atlassian.net`).
    pub(crate) fn new(site: &str, user: &str, token: &str) -> Result<Self, PluginError> {
        // The plugin has its own copy of rustls: give it a crypto provider once. An error means
        // one is installed already, which is what we want.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("dtm-plugin-jira/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PluginError::internal(format!("setting up the HTTP client: {e}")))?;
        let credentials = base64(format!("{}:{}", user.trim(), token.trim()).as_bytes());
        let mut authorization = reqwest::header::HeaderValue::from_str(&format!(
            "Basic {credentials}"
        ))
        .map_err(|_| {
            PluginError::invalid_options(
                "jira.userEmail or jira.token holds characters a header cannot carry",
            )
        })?;
        authorization.set_sensitive(true);
        Ok(Self {
            base: format!("{}/rest/api/2", site.trim().trim_end_matches('/')),
            authorization,
            client,
        })
    }

    /// `GET BASE/PATH`. 401, 403 and 5xx are errors; any other status is the caller's to judge.
    pub(crate) fn get(&self, ctx: &Ctx, path: &str) -> Result<Answer, PluginError> {
        if ctx.is_cancelled() {
            return Err(PluginError::cancelled(
                "stopped because dtm was interrupted",
            ));
        }
        let url = format!("{}{path}", self.base);
        ctx.debug(format!("GET {url}"));
        let response = self
            .client
            .get(&url)
            .header("Accept", "application/json")
            .header("Authorization", self.authorization.clone())
            .send()
            .map_err(|e| {
                PluginError::unavailable(format!("GET {url}: {}", e.without_url())).mark_retryable()
            })?;
        let status = response.status().as_u16();
        let login_reason = response
            .headers()
            .get("X-Seraph-LoginReason")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = response.text().map_err(|e| {
            PluginError::unavailable(format!(
                "GET {url}: reading the answer: {}",
                e.without_url()
            ))
            .mark_retryable()
        })?;
        let answer = Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        };
        match status {
            401 => Err(PluginError::permission_denied(format!(
                "GET {url}: Jira answered 401 ({}); check jira.userEmail and jira.token (an API token of that user)",
                answer.message()
            ))),
            403 if login_reason.contains("CAPTCHA") => {
                Err(PluginError::permission_denied(format!(
                    "GET {url}: Jira wants a CAPTCHA after failed logins; log in to {} once in a browser, then run dtm again",
                    self.base.trim_end_matches("/rest/api/2")
                )))
            }
            403 => Err(PluginError::permission_denied(format!(
                "GET {url}: Jira answered 403 ({}); the user may not browse this project",
                answer.message()
            ))),
            500..=599 => Err(PluginError::unavailable(format!(
                "GET {url}: Jira answered {status} ({})",
                answer.message()
            ))
            .mark_retryable()),
            _ => Ok(answer),
        }
    }
}
