//! The options of a `devlake-config` tool: DevStream's `devlakeAddr` and `plugins`, and what dtm
//! adds.

use dtm_plugin_sdk::prelude::*;
use serde_json::{Map, Value, json};

/// DevStream's `auth:` of a connection (the same keys may also sit on the connection itself,
/// as in DevLake's own API).
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("x-aliases" = {"appId": "app_id", "secretKey": "secret_key"}))]
pub struct Auth {
    /// User name (basic auth, e.g. Jira).
    #[serde(default)]
    pub username: Option<String>,
    /// Password or API token for `username` (basic auth).
    #[serde(default)]
    pub password: Option<String>,
    /// Access token (e.g. GitHub, GitLab); DevLake takes several, comma-separated.
    #[serde(default)]
    pub token: Option<String>,
    /// App ID (app key auth, e.g. Feishu, or a GitHub App).
    #[serde(default, alias = "appId")]
    pub app_id: Option<String>,
    /// App secret (app key auth).
    #[serde(default, alias = "secretKey")]
    pub secret_key: Option<String>,
}

impl Auth {
    /// The fields given here, else on `other`.
    fn or(&self, other: &Auth) -> Auth {
        let pick = |a: &Option<String>, b: &Option<String>| {
            a.clone()
                .filter(|s| !s.is_empty())
                .or_else(|| b.clone().filter(|s| !s.is_empty()))
        };
        Auth {
            username: pick(&self.username, &other.username),
            password: pick(&self.password, &other.password),
            token: pick(&self.token, &other.token),
            app_id: pick(&self.app_id, &other.app_id),
            secret_key: pick(&self.secret_key, &other.secret_key),
        }
    }

    /// DevLake's `authMethod` for these fields: `AccessToken`, `BasicAuth` or `AppKey`.
    fn method(&self) -> Option<&'static str> {
        if self.token.is_some() {
            Some("AccessToken")
        } else if self.username.is_some() || self.password.is_some() {
            Some("BasicAuth")
        } else if self.app_id.is_some() || self.secret_key.is_some() {
            Some("AppKey")
        } else {
            None
        }
    }
}

/// One DevLake connection.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend("x-aliases" = {"appId": "app_id", "secretKey": "secret_key"}))]
pub struct Connection {
    /// The connection's name, unique per DevLake plugin.
    #[schemars(example = &"default")]
    pub name: String,
    /// The REST endpoint DevLake collects from, e.g. `https://api.github.com/`.
    #[schemars(example = &"https://api.github.com/")]
    pub endpoint: String,
    /// Proxy URL for DevLake's requests (empty: none).
    #[serde(default)]
    pub proxy: String,
    /// Rate limit of DevLake's requests per hour (0: DevLake's default).
    #[serde(default)]
    pub rate_limit_per_hour: u64,
    /// Credentials (DevStream's `auth:`).
    #[serde(default)]
    pub auth: Auth,
    /// Credentials written on the connection itself, as DevLake's API takes them.
    #[serde(default)]
    pub username: Option<String>,
    /// See `username`.
    #[serde(default)]
    pub password: Option<String>,
    /// See `username`.
    #[serde(default)]
    pub token: Option<String>,
    /// See `username`.
    #[serde(default, alias = "appId")]
    pub app_id: Option<String>,
    /// See `username`.
    #[serde(default, alias = "secretKey")]
    pub secret_key: Option<String>,
    /// dtm: DevLake's `authMethod` (`AccessToken`, `BasicAuth`, `AppKey`), which DevLake
    /// v0.15 and later want for plugins with several. Default: from the credentials given.
    #[serde(default)]
    pub auth_method: Option<String>,
    /// dtm: further fields of the plugin's connection, sent as they are (e.g. GitHub's
    /// `enableGraphql: true`).
    #[serde(default)]
    pub extra: Map<String, Value>,
}

impl Connection {
    /// The credentials: `auth`, completed by the fields on the connection.
    pub fn credentials(&self) -> Auth {
        self.auth.or(&Auth {
            username: self.username.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            app_id: self.app_id.clone(),
            secret_key: self.secret_key.clone(),
        })
    }

    /// The body of DevLake's create and update calls.
    pub fn body(&self) -> Value {
        let mut body: Map<String, Value> = self.extra.clone();
        let auth = self.credentials();
        let mut set = |k: &str, v: Value| {
            body.insert(k.to_string(), v);
        };
        set("name", json!(self.name));
        set("endpoint", json!(self.endpoint));
        set("proxy", json!(self.proxy));
        set("rateLimitPerHour", json!(self.rate_limit_per_hour));
        if let Some(method) = self.auth_method.as_deref().or(auth.method()) {
            set("authMethod", json!(method));
        }
        for (key, value) in [
            ("username", &auth.username),
            ("password", &auth.password),
            ("token", &auth.token),
            ("appId", &auth.app_id),
            ("secretKey", &auth.secret_key),
        ] {
            if let Some(v) = value {
                set(key, json!(v));
            }
        }
        Value::Object(body)
    }
}

/// One DevLake plugin and its connections.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DevLakePlugin {
    /// DevLake's name of the plugin: `github`, `gitlab`, `jira`, `jenkins`, `tapd`, ...
    #[schemars(example = &"github")]
    pub name: String,
    /// Its connections.
    #[serde(default)]
    pub connections: Vec<Connection>,
}

fn yes() -> bool {
    true
}

/// dtm: a DevLake project (DevLake v0.15 and later).
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Project {
    /// The project's name (its key in DevLake).
    #[schemars(example = &"my-team")]
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// Compute DORA metrics for it.
    #[serde(default = "yes")]
    pub enable_dora: bool,
}

/// Options of a `devlake-config` tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Options {
    /// Address of DevLake's REST API: the backend (`http://HOST:8080`), or through its config UI
    /// (`http://HOST:4000/api`).
    #[schemars(example = &"http://127.0.0.1:8080")]
    pub devlake_addr: String,
    /// DevLake plugins and the connections each should have.
    #[serde(default)]
    pub plugins: Vec<DevLakePlugin>,
    /// dtm: DevLake projects to keep (connecting them to data scopes is left to DevLake's UI).
    #[serde(default)]
    pub projects: Vec<Project>,
    /// dtm: an API key, sent as `Authorization: Bearer` (DevLake v0.18 and later can require
    /// one); usually `[[ env "DEVLAKE_API_KEY" ]]`.
    #[serde(default)]
    pub api_key: Option<String>,
}

impl Options {
    /// Everything the types cannot check.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| problems.push(Problem { path, message });
        let addr = self.devlake_addr.trim();
        if !(addr.starts_with("http://") || addr.starts_with("https://")) {
            problem(
                "/devlakeAddr".into(),
                format!("`{addr}` is not an http(s) URL like http://127.0.0.1:8080"),
            );
        }
        if self.plugins.is_empty() && self.projects.is_empty() {
            problem(
                "/plugins".into(),
                "give the DevLake plugins and their connections (or `projects`)".into(),
            );
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, p) in self.projects.iter().enumerate() {
            let name = p.name.trim();
            if name.is_empty() || name.len() > 100 {
                problem(
                    format!("/projects/{i}/name"),
                    "must be 1 to 100 characters long".into(),
                );
            }
            if names.contains(&name) {
                problem(
                    format!("/projects/{i}/name"),
                    format!("project `{name}` is listed twice"),
                );
            }
            names.push(name);
        }
        let mut seen = Vec::new();
        for (i, p) in self.plugins.iter().enumerate() {
            if p.name.trim().is_empty()
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                problem(
                    format!("/plugins/{i}/name"),
                    format!("`{}` is not a DevLake plugin name", p.name),
                );
            }
            if seen.contains(&p.name) {
                problem(
                    format!("/plugins/{i}/name"),
                    format!(
                        "plugin `{}` is listed twice; put its connections together",
                        p.name
                    ),
                );
            }
            seen.push(p.name.clone());
            let mut names = Vec::new();
            for (j, c) in p.connections.iter().enumerate() {
                let at = format!("/plugins/{i}/connections/{j}");
                if c.name.trim().is_empty() {
                    problem(format!("{at}/name"), "must not be empty".into());
                }
                if names.contains(&c.name) {
                    problem(
                        format!("{at}/name"),
                        format!(
                            "connection `{}` of plugin `{}` is listed twice",
                            c.name, p.name
                        ),
                    );
                }
                names.push(c.name.clone());
                if !(c.endpoint.starts_with("http://") || c.endpoint.starts_with("https://")) {
                    problem(
                        format!("{at}/endpoint"),
                        format!("`{}` is not an http(s) URL", c.endpoint),
                    );
                }
                if let Some(m) = &c.auth_method
                    && !matches!(m.as_str(), "AccessToken" | "BasicAuth" | "AppKey")
                {
                    problem(
                        format!("{at}/authMethod"),
                        format!("`{m}` is not one of AccessToken, BasicAuth, AppKey"),
                    );
                }
            }
        }
        problems
    }
}

/// The sample options of `dtm show config -p devlake-config`.
pub fn example() -> Value {
    json!({
        "devlakeAddr": "http://127.0.0.1:8080",
        "projects": [{"name": "my-team", "description": "My team's services"}],
        "plugins": [
            {"name": "github", "connections": [
                {"name": "default", "endpoint": "https://api.github.com/", "rateLimitPerHour": 0}
            ]},
            {"name": "jira", "connections": [
                {"name": "default", "endpoint": "https://my-team.atlassian.net/rest/", "auth": {"username": "me@example.com"}}
            ]},
        ],
    })
}
