//! A small client for Jenkins' REST API: basic auth with a user and a password or API token,
//! the CSRF crumb from `/crumbIssuer/api/json` (with the session cookie it belongs to) on every
//! POST, and errors that name the URL and say what to do.

use std::sync::Mutex;
use std::time::Duration;

use dtm_plugin_sdk::prelude::*;
use serde_json::Value;

/// Time limit of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// An answer: status, body text and Jenkins' `X-Error` header (its reason for a 4xx).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Body as text.
    pub body: String,
    /// `X-Error`, when Jenkins sent one.
    pub error: Option<String>,
}

impl Answer {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Jenkins' reason, for messages: `X-Error`, else the start of the body.
    pub fn reason(&self) -> String {
        if let Some(e) = &self.error {
            return e.clone();
        }
        let text: String = self.body.chars().take(200).collect();
        text.trim().to_string()
    }
}

/// The crumb header, and the session cookie it belongs to.
#[derive(Debug, Clone, Default)]
struct Session {
    crumb: Option<(String, String)>,
    cookie: Option<String>,
    fetched: bool,
}

/// A Jenkins server and the credentials dtm uses there.
#[derive(Debug)]
pub struct Client {
    /// Base URL without a trailing `/`.
    pub base: String,
    user: String,
    password: String,
    http: reqwest::blocking::Client,
    session: Mutex<Session>,
}

impl Client {
    /// A client for `base`, signing in as `user` with `password` (or an API token).
    pub fn new(base: &str, user: &str, password: &str) -> Result<Self, PluginError> {
        // The plugin has its own copy of rustls: give it a crypto provider once. An error means
        // one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // doDelete and friends answer 302; the redirect is not part of the answer.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "dtm-plugin-jenkins-pipeline/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| PluginError::internal(format!("setting up the HTTP client: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            user: user.to_string(),
            password: password.to_string(),
            http,
            session: Mutex::new(Session::default()),
        })
    }

    /// `GET path`.
    pub fn get(&self, ctx: &Ctx, path: &str) -> Result<Answer, PluginError> {
        self.send(ctx, "GET", path, None)
    }

    /// `POST path` with an XML body.
    pub fn post_xml(&self, ctx: &Ctx, path: &str, xml: &str) -> Result<Answer, PluginError> {
        self.send(
            ctx,
            "POST",
            path,
            Some(("application/xml", xml.to_string())),
        )
    }

    /// `POST path` without a body.
    pub fn post(&self, ctx: &Ctx, path: &str) -> Result<Answer, PluginError> {
        self.send(ctx, "POST", path, None)
    }

    fn session(&self) -> Session {
        self.session
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn set_session(&self, session: Session) {
        match self.session.lock() {
            Ok(mut s) => *s = session,
            Err(e) => *e.into_inner() = session,
        }
    }

    /// The crumb (fetched once per client); `None` when Jenkins has CSRF protection off.
    fn crumb(&self, ctx: &Ctx) -> Result<Session, PluginError> {
        let session = self.session();
        if session.fetched {
            return Ok(session);
        }
        let answer = self.request(ctx, "GET", "/crumbIssuer/api/json", None, &session)?;
        let mut session = Session {
            fetched: true,
            ..Session::default()
        };
        if answer.0.status == 200 {
            let body = answer.0.json();
            let field = body["crumbRequestField"]
                .as_str()
                .unwrap_or("Jenkins-Crumb");
            if let Some(crumb) = body["crumb"].as_str() {
                session.crumb = Some((field.to_string(), crumb.to_string()));
            }
            session.cookie = answer.1;
        } else if answer.0.status != 404 {
            return Err(self.failure("GET", "/crumbIssuer/api/json", &answer.0));
        }
        self.set_session(session.clone());
        Ok(session)
    }

    fn send(
        &self,
        ctx: &Ctx,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Result<Answer, PluginError> {
        for attempt in 0..2 {
            let session = if method == "GET" {
                self.session()
            } else {
                self.crumb(ctx)?
            };
            let (answer, _) = self.request(ctx, method, path, body.clone(), &session)?;
            // An expired session invalidates the crumb: fetch a new one once.
            if answer.status == 403 && answer.body.contains("crumb") && attempt == 0 {
                self.set_session(Session::default());
                continue;
            }
            return match answer.status {
                401 | 403 => Err(self.failure(method, path, &answer)),
                500..=599 => Err(self.failure(method, path, &answer)),
                _ => Ok(answer),
            };
        }
        Err(PluginError::permission_denied(format!(
            "{method} {}{path}: Jenkins refused the crumb twice",
            self.base
        )))
    }

    /// One request; the answer and the session cookie Jenkins set, if any.
    fn request(
        &self,
        ctx: &Ctx,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
        session: &Session,
    ) -> Result<(Answer, Option<String>), PluginError> {
        if ctx.is_cancelled() {
            return Err(PluginError::cancelled(
                "stopped because dtm was interrupted",
            ));
        }
        let url = format!("{}{path}", self.base);
        ctx.debug(format!("{method} {url}"));
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| PluginError::internal(format!("bad HTTP method {method}: {e}")))?;
        let mut request = self
            .http
            .request(method.clone(), &url)
            .basic_auth(&self.user, Some(&self.password));
        if let Some((name, value)) = &session.crumb {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(cookie) = &session.cookie {
            request = request.header("Cookie", cookie.as_str());
        }
        if let Some((content_type, text)) = body {
            request = request.header("Content-Type", content_type).body(text);
        }
        let response = request.send().map_err(|e| {
            PluginError::unavailable(format!(
                "{method} {url}: {}; is jenkins.url right and Jenkins up?",
                e.without_url()
            ))
            .mark_retryable()
        })?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let error = header("x-error");
        let cookie = header("set-cookie").and_then(|c| c.split(';').next().map(str::to_string));
        let body = response.text().map_err(|e| {
            PluginError::unavailable(format!(
                "{method} {url}: reading the answer: {}",
                e.without_url()
            ))
            .mark_retryable()
        })?;
        Ok((
            Answer {
                status,
                body,
                error,
            },
            cookie,
        ))
    }

    /// The error for an answer dtm cannot go on with.
    pub fn failure(&self, method: &str, path: &str, answer: &Answer) -> PluginError {
        let url = format!("{}{path}", self.base);
        let status = answer.status;
        let reason = answer.reason();
        match status {
            401 => PluginError::permission_denied(format!(
                "{method} {url}: 401 unauthorized; check jenkins.user and jenkins.password (a password or an API token of that user)"
            )),
            403 => PluginError::permission_denied(format!(
                "{method} {url}: 403 forbidden ({reason}); the user `{}` needs the permissions Job/Create, Job/Configure, Job/Delete and Credentials/Create (Overall/Administer to install plugins)",
                self.user
            )),
            500..=599 => PluginError::unavailable(format!(
                "{method} {url}: server error {status} ({reason})"
            ))
            .mark_retryable(),
            _ => PluginError::internal(format!(
                "{method} {url}: unexpected status {status} ({reason})"
            )),
        }
    }
}
