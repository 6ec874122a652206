//! A loopback stand-in for DevLake's connection API, with the shapes DevLake's connection
//! helper answers with: `GET /plugins/P/connections` (a list), `POST` (200 with the connection,
//! ids from 1; 400 `the connection name already exists`, 400 for a missing name or endpoint),
//! `GET`/`PATCH`/`DELETE /plugins/P/connections/ID` (404 `record not found`; DELETE answers the
//! deleted connection, or 409 while a project's blueprint references it). Errors are
//! `{"success": false, "message": …, "causes": null}`. Secrets (`token`, `password`,
//! `secretKey`) come back masked, `createdAt`/`updatedAt` change on every write, an unknown
//! plugin is gin's plain `404 page not found`, and with an API key set every request needs
//! `Authorization: Bearer KEY` (401 otherwise). Projects: `POST /projects` (201; 400 for a
//! duplicate), `GET /projects/NAME` (404 when missing), `PATCH /projects/NAME` (201, as DevLake
//! answers it), `DELETE /projects/NAME` (200).
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
use std::time::Duration;

use serde_json::{Map, Value, json};

/// DevLake plugins the stand-in has.
const PLUGINS: &[&str] = &["github", "gitlab", "jira", "jenkins"];
const SECRETS: &[&str] = &["token", "password", "secretKey"];

#[derive(Debug, Default)]
struct State {
    /// (plugin, id) → connection as stored (secrets in clear).
    connections: BTreeMap<(String, u64), Map<String, Value>>,
    /// Project name → project as the API shows it.
    projects: BTreeMap<String, Value>,
    /// Connections a blueprint references: (plugin, id).
    referenced: Vec<(String, u64)>,
    next: u64,
    clock: u64,
    log: Vec<String>,
}

struct Shared {
    api_key: Option<String>,
    state: Mutex<State>,
    stop: AtomicBool,
}

/// The stand-in.
pub(crate) struct DevLakeStandIn {
    shared: Arc<Shared>,
    pub port: u16,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DevLakeStandIn {
    /// Starts DevLake's API; with `api_key`, requests must carry it.
    pub(crate) fn start(api_key: Option<&str>) -> DevLakeStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared {
            api_key: api_key.map(str::to_string),
            state: Mutex::new(State::default()),
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
        DevLakeStandIn {
            shared,
            port,
            thread: Some(thread),
        }
    }

    /// The `devlakeAddr` to configure.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }

    /// A plugin's connections as stored (secrets in clear), by name.
    pub(crate) fn connections(&self, plugin: &str) -> BTreeMap<String, Value> {
        self.state()
            .connections
            .iter()
            .filter(|((p, _), _)| p == plugin)
            .map(|(_, c)| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    Value::Object(c.clone()),
                )
            })
            .collect()
    }

    fn id_of(&self, plugin: &str, name: &str) -> u64 {
        self.connections(plugin)[name]["id"].as_u64().unwrap()
    }

    /// Changes a field of a connection by hand, as in DevLake's config UI.
    pub(crate) fn edit(&self, plugin: &str, name: &str, field: &str, value: Value) {
        let id = self.id_of(plugin, name);
        let mut state = self.state();
        let c = state.connections.get_mut(&(plugin.into(), id)).unwrap();
        c.insert(field.into(), value);
    }

    /// Deletes a connection by hand.
    pub(crate) fn remove(&self, plugin: &str, name: &str) {
        let id = self.id_of(plugin, name);
        self.state().connections.remove(&(plugin.into(), id));
    }

    /// Makes a blueprint reference a connection, so that DevLake refuses to delete it.
    pub(crate) fn reference(&self, plugin: &str, name: &str, on: bool) {
        let id = self.id_of(plugin, name);
        let mut state = self.state();
        state.referenced.retain(|r| *r != (plugin.to_string(), id));
        if on {
            state.referenced.push((plugin.into(), id));
        }
    }

    /// The projects, by name.
    pub(crate) fn projects(&self) -> BTreeMap<String, Value> {
        self.state().projects.clone()
    }

    /// Changes a project by hand.
    pub(crate) fn edit_project(&self, name: &str, field: &str, value: Value) {
        let mut state = self.state();
        state.projects.get_mut(name).unwrap()[field] = value;
    }

    /// Requests so far, as `METHOD PATH`.
    pub(crate) fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }
}

impl Drop for DevLakeStandIn {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(s: &Shared, stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorized = match &s.api_key {
        None => true,
        Some(key) => headers.get("authorization") == Some(&format!("Bearer {key}")),
    };
    let (status, text) = {
        let mut state = s.state.lock().unwrap();
        state.log.push(format!("{method} {path}"));
        if authorized {
            handle(&mut state, &method, &path, &body)
        } else {
            (401, error("unauthorized: an API key is required"))
        }
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.flush();
}

fn error(message: &str) -> String {
    json!({"success": false, "message": message, "causes": null}).to_string()
}

/// The connection as the API shows it: secrets masked.
fn shown(c: &Map<String, Value>) -> Value {
    let mut c = c.clone();
    for k in SECRETS {
        if let Some(Value::String(v)) = c.get(*k)
            && !v.is_empty()
        {
            let keep: String = v.chars().take(2).collect();
            c.insert((*k).into(), json!(format!("{keep}********")));
        }
    }
    Value::Object(c)
}

fn decode(text: &str) -> String {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
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
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn projects(state: &mut State, method: &str, name: Option<String>, body: &Value) -> (u16, String) {
    state.clock += 1;
    let now = format!(
        "2024-05-01T11:{:02}:{:02}Z",
        state.clock / 60 % 60,
        state.clock % 60
    );
    let stored = |body: &Value, created: &str| {
        json!({
            "name": body["name"],
            "description": body["description"].as_str().unwrap_or_default(),
            "metrics": body["metrics"].as_array().cloned().unwrap_or_default(),
            "createdAt": created,
            "updatedAt": now,
            "blueprint": {"name": format!("{}-Blueprint", body["name"].as_str().unwrap_or_default())},
        })
    };
    match (method, name) {
        ("POST", None) => {
            let Some(name) = body["name"].as_str().filter(|n| !n.is_empty()) else {
                return (
                    400,
                    error(
                        "Key: 'ApiInputProject.BaseProject.Name' Error:Field validation for 'Name' failed on the 'required' tag",
                    ),
                );
            };
            if state.projects.contains_key(name) {
                return (
                    400,
                    error("error creating project: the project name already exists"),
                );
            }
            let project = stored(body, &now);
            state.projects.insert(name.to_string(), project.clone());
            (201, project.to_string())
        }
        (_, Some(name)) if !state.projects.contains_key(&name) => {
            (404, error("error getting project: record not found"))
        }
        ("GET", Some(name)) => (200, state.projects[&name].to_string()),
        ("PATCH", Some(name)) => {
            let created = state.projects[&name]["createdAt"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let mut merged = state.projects[&name].clone();
            for (k, v) in body.as_object().cloned().unwrap_or_default() {
                merged[k] = v;
            }
            let project = stored(&merged, &created);
            state.projects.remove(&name);
            state.projects.insert(
                project["name"].as_str().unwrap_or_default().to_string(),
                project.clone(),
            );
            (201, project.to_string())
        }
        ("DELETE", Some(name)) => {
            state.projects.remove(&name);
            (200, "null".into())
        }
        _ => (405, error("method not allowed")),
    }
}

fn handle(state: &mut State, method: &str, path: &str, body: &Value) -> (u16, String) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["projects"] => return projects(state, method, None, body),
        ["projects", name] => return projects(state, method, Some(decode(name)), body),
        _ => {}
    }
    let (plugin, id) = match segments.as_slice() {
        ["plugins", p, "connections"] => (*p, None),
        ["plugins", p, "connections", id] => match id.parse::<u64>() {
            Ok(id) => (*p, Some(id)),
            Err(_) => return (400, error("invalid connectionId")),
        },
        _ => return (404, "404 page not found".into()),
    };
    if !PLUGINS.contains(&plugin) {
        return (404, "404 page not found".into());
    }
    let key = |id: u64| (plugin.to_string(), id);
    let name_taken = |state: &State, name: &str, except: Option<u64>| {
        state
            .connections
            .iter()
            .any(|((p, i), c)| p == plugin && Some(*i) != except && c["name"] == name)
    };
    state.clock += 1;
    let now = format!(
        "2024-05-01T10:{:02}:{:02}Z",
        state.clock / 60 % 60,
        state.clock % 60
    );
    match (method, id) {
        ("GET", None) => {
            let list: Vec<Value> = state
                .connections
                .iter()
                .filter(|((p, _), _)| p == plugin)
                .map(|(_, c)| shown(c))
                .collect();
            (200, Value::Array(list).to_string())
        }
        ("POST", None) => {
            let Some(fields) = body.as_object() else {
                return (400, error("invalid request body"));
            };
            for required in ["name", "endpoint"] {
                if fields
                    .get(required)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return (
                        400,
                        error(&format!(
                            "Key: 'Connection.{required}' Error:Field validation for '{required}' failed on the 'required' tag"
                        )),
                    );
                }
            }
            if name_taken(state, fields["name"].as_str().unwrap_or_default(), None) {
                return (400, error("the connection name already exists"));
            }
            state.next += 1;
            let mut c = fields.clone();
            c.insert("id".into(), json!(state.next));
            c.insert("createdAt".into(), json!(now));
            c.insert("updatedAt".into(), json!(now));
            let answer = shown(&c);
            state.connections.insert(key(state.next), c);
            (200, answer.to_string())
        }
        (_, Some(id)) if !state.connections.contains_key(&key(id)) => {
            (404, error("record not found"))
        }
        ("GET", Some(id)) => (200, shown(&state.connections[&key(id)]).to_string()),
        ("PATCH", Some(id)) => {
            if let Some(name) = body["name"].as_str()
                && name_taken(state, name, Some(id))
            {
                return (400, error("the connection name already exists"));
            }
            let c = state.connections.get_mut(&key(id)).unwrap();
            for (k, v) in body.as_object().cloned().unwrap_or_default() {
                if k != "id" {
                    c.insert(k, v);
                }
            }
            c.insert("updatedAt".into(), json!(now));
            (200, shown(c).to_string())
        }
        ("DELETE", Some(id)) => {
            if state.referenced.contains(&key(id)) {
                return (
                    409,
                    json!({"success": false, "message": "Found one or more blueprint/project references to this connection", "data": {"projects": ["team"], "blueprints": ["team-bp"]}}).to_string(),
                );
            }
            let c = state.connections.remove(&key(id)).unwrap();
            (200, shown(&c).to_string())
        }
        _ => (405, error("method not allowed")),
    }
}
