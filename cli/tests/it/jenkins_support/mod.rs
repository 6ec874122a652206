//! A loopback stand-in for the parts of Jenkins' REST API the jenkins-pipeline plugin uses, with
//! the documented request and answer shapes:
//!
//! - basic auth with a user and its password or API token (401 with `WWW-Authenticate`
//!   otherwise); every POST authenticated with the password needs the CSRF crumb from
//!   `GET /crumbIssuer/api/json` in the `Jenkins-Crumb` header, together with the session
//!   cookie the crumb was issued with (403 "No valid crumb was included in the request"
//!   otherwise); API-token requests are exempt, as in Jenkins since 2.96;
//! - items: `POST /createItem?name=` and `/job/F/createItem?name=` with a config.xml body (400
//!   with `X-Error` for a duplicate, 404 for a missing folder, 500 when the XML's root class
//!   belongs to a plugin that is not active, as XStream fails), `GET`/`POST /job/…/config.xml`
//!   (the file kept as posted), `POST /job/…/doDelete` (302), `GET /job/…/api/json`;
//! - credentials in the system store's global domain: `createCredentials` (409 for a duplicate
//!   ID), `credential/ID/config.xml` (GET redacts secrets), `credential/ID/api/json`, `doDelete`;
//! - plugins: `GET /pluginManager/api/json`, `POST /pluginManager/installNecessaryPlugins`
//!   (installed plugins become active after a restart), `GET /updateCenter/api/json`
//!   (`restartRequiredForCompletion`), `POST /safeRestart` (503 for a moment, then back with
//!   the plugins active and every session gone).
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test support: each test uses some of it; tests fail loudly"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a safe restart keeps the stand-in down.
const RESTART_TIME: Duration = Duration::from_millis(1500);

#[derive(Debug, Default)]
struct State {
    /// Full name (`folder/job`) → config.xml.
    items: BTreeMap<String, String>,
    /// Credential ID → XML.
    credentials: BTreeMap<String, String>,
    /// Plugin short name → active.
    plugins: BTreeMap<String, bool>,
    restart_required: bool,
    down_until: Option<Instant>,
    /// Keeps a restarting Jenkins down until released.
    hold: bool,
    /// Session cookie value → crumb.
    sessions: BTreeMap<String, String>,
    next: u64,
    log: Vec<String>,
}

struct Shared {
    user: String,
    password: String,
    token: String,
    state: Mutex<State>,
    stop: AtomicBool,
}

/// The stand-in.
pub(crate) struct JenkinsStandIn {
    shared: Arc<Shared>,
    pub port: u16,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Plugins a Jenkins set up for pipelines has.
pub(crate) const PIPELINE_PLUGINS: &[&str] = &[
    "git",
    "workflow-aggregator",
    "credentials",
    "credentials-binding",
    "cloudbees-folder",
    "kubernetes",
    "github-branch-source",
    "gitlab-plugin",
];

impl JenkinsStandIn {
    /// Starts a Jenkins with `user` (`password`, API token `token`) and these plugins active.
    pub(crate) fn start(
        user: &str,
        password: &str,
        token: &str,
        plugins: &[&str],
    ) -> JenkinsStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let state = State {
            plugins: plugins.iter().map(|p| ((*p).to_string(), true)).collect(),
            ..State::default()
        };
        let shared = Arc::new(Shared {
            user: user.into(),
            password: password.into(),
            token: token.into(),
            state: Mutex::new(state),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            while !s.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                        serve(&s, stream);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        JenkinsStandIn {
            shared,
            port,
            thread: Some(thread),
        }
    }

    /// Jenkins' URL.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }

    /// The config.xml of an item (`folder/job`), if it exists.
    pub(crate) fn item(&self, full_name: &str) -> Option<String> {
        self.state().items.get(full_name).cloned()
    }

    /// The items' full names.
    pub(crate) fn items(&self) -> Vec<String> {
        self.state().items.keys().cloned().collect()
    }

    /// Replaces an item's config.xml, as a hand edit in Jenkins' UI would.
    pub(crate) fn edit_item(&self, full_name: &str, edit: impl FnOnce(&str) -> String) {
        let mut state = self.state();
        let xml = state.items.get(full_name).cloned().unwrap();
        state.items.insert(full_name.into(), edit(&xml));
    }

    /// Deletes an item by hand.
    pub(crate) fn remove_item(&self, full_name: &str) {
        self.state().items.remove(full_name);
    }

    /// The credentials' IDs and XML (secrets included).
    pub(crate) fn credentials(&self) -> BTreeMap<String, String> {
        self.state().credentials.clone()
    }

    /// Active plugins.
    pub(crate) fn active_plugins(&self) -> Vec<String> {
        let state = self.state();
        state
            .plugins
            .iter()
            .filter(|(_, a)| **a)
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Keeps Jenkins down after its next restart (`true`) until released (`false`).
    pub(crate) fn hold_restart(&self, hold: bool) {
        self.state().hold = hold;
    }

    /// Requests so far, as `METHOD PATH AUTH` (AUTH: `password+crumb`, `password`, `token`
    /// or `none`).
    pub(crate) fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }
}

impl Drop for JenkinsStandIn {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An answer.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn reply(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.into(),
    }
}

fn json_reply(value: Value) -> Reply {
    let mut r = reply(200, value.to_string());
    r.headers.push((
        "Content-Type".into(),
        "application/json;charset=utf-8".into(),
    ));
    r
}

fn redirect(to: &str) -> Reply {
    let mut r = reply(302, "");
    r.headers.push(("Location".into(), to.into()));
    r
}

fn x_error(status: u16, message: &str) -> Reply {
    let mut r = reply(
        status,
        format!("<html><body><h1>Error</h1><p>{message}</p></body></html>"),
    );
    r.headers.push(("X-Error".into(), message.into()));
    r
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64_decode(text: &str) -> Option<String> {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.trim().bytes().filter(|c| *c != b'=') {
        let v = TABLE.iter().position(|t| *t == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A parsed request.
struct Request {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|q| !q.is_empty())
        .map(|q| {
            let (k, v) = q.split_once('=').unwrap_or((q, ""));
            (decode(k), decode(v))
        })
        .collect();
    Some(Request {
        method,
        path: path.to_string(),
        query,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// How the request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    None,
    Password,
    Token,
}

fn serve(s: &Shared, stream: TcpStream) {
    let Some(req) = read_request(&stream) else {
        return;
    };
    let auth = match req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(base64_decode)
        .and_then(|d| {
            d.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        }) {
        Some((u, p)) if u == s.user && p == s.password => Auth::Password,
        Some((u, p)) if u == s.user && p == s.token => Auth::Token,
        _ => Auth::None,
    };
    let answer = {
        let mut state = s.state.lock().unwrap();
        let crumb_ok = crumb_ok(&state, &req);
        let shown = match (auth, crumb_ok) {
            (Auth::Password, true) => "password+crumb",
            (Auth::Password, false) => "password",
            (Auth::Token, _) => "token",
            (Auth::None, _) => "none",
        };
        state
            .log
            .push(format!("{} {} {shown}", req.method, req.path));
        handle(&mut state, &req, auth, crumb_ok)
    };
    let mut stream = stream;
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        reason(answer.status),
        answer.body.len()
    );
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let _ = write!(stream, "{head}\r\n{}", answer.body);
    let _ = stream.flush();
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        500 => "Server Error",
        503 => "Service Unavailable",
        _ => "Other",
    }
}

fn crumb_ok(state: &State, req: &Request) -> bool {
    let session = req.header("cookie").and_then(|c| {
        c.split(';')
            .map(str::trim)
            .find_map(|kv| kv.strip_prefix("JSESSIONID.standin="))
    });
    match (
        session.and_then(|s| state.sessions.get(s)),
        req.header("jenkins-crumb"),
    ) {
        (Some(crumb), Some(sent)) => crumb == sent,
        _ => false,
    }
}

fn handle(state: &mut State, req: &Request, auth: Auth, crumb_ok: bool) -> Reply {
    if let Some(until) = state.down_until {
        if Instant::now() < until || state.hold {
            return reply(
                503,
                "<html><body>Please wait while Jenkins is restarting...</body></html>",
            );
        }
        // Back from the restart: installed plugins are active, sessions are gone.
        state.down_until = None;
        state.restart_required = false;
        state.sessions.clear();
        for active in state.plugins.values_mut() {
            *active = true;
        }
    }
    if auth == Auth::None {
        let mut r = reply(401, "<html><body>Authentication required</body></html>");
        r.headers
            .push(("WWW-Authenticate".into(), "Basic realm=\"Jenkins\"".into()));
        return r;
    }
    if req.method == "POST" && auth == Auth::Password && !crumb_ok {
        return reply(
            403,
            "<html><body>HTTP ERROR 403 No valid crumb was included in the request</body></html>",
        );
    }
    if req.method == "GET" && req.path == "/crumbIssuer/api/json" {
        state.next += 1;
        let session = format!("session{}", state.next);
        let crumb = format!("crumb{:x}", state.next * 7919);
        state.sessions.insert(session.clone(), crumb.clone());
        let mut r = json_reply(json!({
            "_class": "hudson.security.csrf.DefaultCrumbIssuer",
            "crumb": crumb,
            "crumbRequestField": "Jenkins-Crumb",
        }));
        r.headers.push((
            "Set-Cookie".into(),
            format!("JSESSIONID.standin={session}; Path=/; HttpOnly"),
        ));
        return r;
    }
    if let Some(rest) = req.path.strip_prefix("/credentials/store/system/domain/_/") {
        return credentials(state, req, rest);
    }
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/pluginManager/api/json") => {
            let plugins: Vec<Value> = state
                .plugins
                .iter()
                .map(
                    |(name, active)| json!({"shortName": name, "active": active, "version": "1.0"}),
                )
                .collect();
            return json_reply(json!({"_class": "hudson.LocalPluginManager", "plugins": plugins}));
        }
        ("POST", "/pluginManager/installNecessaryPlugins") => {
            for part in req.body.split("plugin=\"").skip(1) {
                let name = part.split(['@', '"']).next().unwrap_or_default();
                state.plugins.entry(name.to_string()).or_insert(false);
                state.restart_required = true;
            }
            return redirect("/updateCenter/");
        }
        ("GET", "/updateCenter/api/json") => {
            return json_reply(json!({
                "_class": "hudson.model.UpdateCenter",
                "restartRequiredForCompletion": state.restart_required,
            }));
        }
        ("POST", "/safeRestart") => {
            state.down_until = Some(Instant::now() + RESTART_TIME);
            return redirect("/");
        }
        ("GET", "/api/json") => {
            return json_reply(
                json!({"_class": "hudson.model.Hudson", "jobs": children(state, "")}),
            );
        }
        _ => {}
    }
    items(state, req)
}

fn children(state: &State, parent: &str) -> Vec<Value> {
    state
        .items
        .keys()
        .filter(|k| match parent {
            "" => !k.contains('/'),
            p => k
                .strip_prefix(&format!("{p}/"))
                .is_some_and(|r| !r.contains('/')),
        })
        .map(|k| json!({"name": k.rsplit('/').next().unwrap_or(k), "fullName": k}))
        .collect()
}

/// `/job/A/job/B/REST` → (`A/B`, `REST`).
fn item_path(path: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i + 1 < segments.len() && segments[i] == "job" {
        names.push(decode(segments[i + 1]));
        i += 2;
    }
    (!names.is_empty()).then(|| (names.join("/"), segments[i..].join("/")))
}

fn root_class(xml: &str) -> String {
    let body = xml.trim_start();
    let body = match body.strip_prefix("<?") {
        Some(rest) => rest.split_once("?>").map_or("", |(_, r)| r).trim_start(),
        None => body,
    };
    body.trim_start_matches('<')
        .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The plugin that provides a config.xml root class.
fn providing_plugin(class: &str) -> Option<&'static str> {
    match class {
        "flow-definition" => Some("workflow-aggregator"),
        "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject" => {
            Some("workflow-aggregator")
        }
        "com.cloudbees.hudson.plugins.folder.Folder" => Some("cloudbees-folder"),
        _ => None,
    }
}

fn check_xml(state: &State, xml: &str) -> Option<Reply> {
    let class = root_class(xml);
    if class.is_empty() || !xml.trim_end().ends_with('>') {
        return Some(reply(
            500,
            "<html><body>javax.xml.transform.TransformerException: not XML</body></html>",
        ));
    }
    match providing_plugin(&class) {
        Some(plugin) if state.plugins.get(plugin) == Some(&true) => None,
        _ => Some(reply(
            500,
            format!(
                "<html><body>com.thoughtworks.xstream.mapper.CannotResolveClassException: {class}</body></html>"
            ),
        )),
    }
}

fn items(state: &mut State, req: &Request) -> Reply {
    if req.method == "POST" && (req.path.ends_with("/createItem") || req.path == "/createItem") {
        let parent = item_path(req.path.trim_end_matches("/createItem")).map(|(p, _)| p);
        let Some(name) = req.query.get("name").filter(|n| !n.is_empty()) else {
            return x_error(400, "Query parameter 'name' is required");
        };
        if name.contains(['/', '?', '*', ':', ';', '&', '<', '>']) {
            return x_error(400, &format!("‘{name}’ is an unsafe character"));
        }
        let full = match &parent {
            Some(p) if state.items.contains_key(p) => format!("{p}/{name}"),
            Some(_) => return reply(404, "Not Found"),
            None => name.clone(),
        };
        if state.items.contains_key(&full) {
            return x_error(400, &format!("A job already exists with the name ‘{name}’"));
        }
        if let Some(error) = check_xml(state, &req.body) {
            return error;
        }
        state.items.insert(full, req.body.clone());
        return reply(200, "");
    }
    let Some((full, rest)) = item_path(&req.path) else {
        return reply(404, "Not Found");
    };
    let Some(xml) = state.items.get(&full).cloned() else {
        return reply(404, "Not Found");
    };
    match (req.method.as_str(), rest.as_str()) {
        ("GET", "config.xml") => reply(200, xml),
        ("POST", "config.xml") => {
            if let Some(error) = check_xml(state, &req.body) {
                return error;
            }
            state.items.insert(full, req.body.clone());
            reply(200, "")
        }
        ("POST", "doDelete") => {
            state
                .items
                .retain(|k, _| *k != full && !k.starts_with(&format!("{full}/")));
            redirect("/")
        }
        ("GET", "api/json") => json_reply(json!({
            "_class": root_class(&xml),
            "name": full.rsplit('/').next().unwrap_or(&full),
            "fullName": full,
            "jobs": children(state, &full),
        })),
        _ => reply(404, "Not Found"),
    }
}

fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..start + end])
}

fn credentials(state: &mut State, req: &Request, rest: &str) -> Reply {
    if state.plugins.get("credentials") != Some(&true) {
        return reply(404, "Not Found");
    }
    if req.method == "POST" && rest == "createCredentials" {
        let Some(id) = tag(&req.body, "id").map(str::to_string) else {
            return reply(400, "no id");
        };
        if state.credentials.contains_key(&id) {
            return reply(409, format!("Credentials with id {id} already exist"));
        }
        state.credentials.insert(id, req.body.clone());
        return reply(200, "");
    }
    let Some(rest) = rest.strip_prefix("credential/") else {
        return reply(404, "Not Found");
    };
    let (id, what) = rest.split_once('/').unwrap_or((rest, ""));
    let id = decode(id);
    let Some(xml) = state.credentials.get(&id).cloned() else {
        return reply(404, "Not Found");
    };
    match (req.method.as_str(), what) {
        ("GET", "api/json") => json_reply(json!({
            "_class": "com.cloudbees.plugins.credentials.CredentialsStoreAction$CredentialsWrapper",
            "id": id,
            "displayName": tag(&xml, "description").unwrap_or_default(),
            "typeName": root_class(&xml),
        })),
        ("GET", "config.xml") => {
            let mut redacted = xml.clone();
            for secret in ["password", "apiToken", "privateKey"] {
                if let Some(value) = tag(&xml, secret) {
                    redacted = redacted.replace(
                        &format!("<{secret}>{value}</{secret}>"),
                        &format!("<{secret}><secret-redacted/></{secret}>"),
                    );
                }
            }
            reply(200, redacted)
        }
        ("POST", "config.xml") => {
            if tag(&req.body, "id") != Some(id.as_str()) {
                return reply(400, "the id cannot change");
            }
            state.credentials.insert(id, req.body.clone());
            reply(200, "")
        }
        ("POST", "doDelete") => {
            state.credentials.remove(&id);
            redirect("/credentials/")
        }
        _ => reply(404, "Not Found"),
    }
}
