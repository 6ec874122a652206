//! Loopback stand-ins for the catalogue tests: the few GitHub and GitLab REST endpoints the git
//! plugins call, and a real `git daemon` serving the repositories they create.
//!
//! The stand-in keeps repositories as bare git repositories under its root and answers the
//! REST calls with the shapes the services document (`clone_url`, `http_url_to_repo`, `id`,
//! 401 without the token, 404 for unknown repositories, 422/400 for duplicates). The git URLs
//! it hands out are `git://127.0.0.1:PORT/...`, served by `git daemon` with pushes enabled, so
//! the plugins' git traffic goes over the network too. The GitHub flavor also keeps Actions
//! secrets (`secrets`), sealed with a repository key it holds, so it can check what arrives.
//! The GitLab flavor keeps CI/CD variables the same way. `trello` and `jira` stand in for those services' REST APIs, over the server in `http`.
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "helpers shared by test modules that each use some of them; tests fail loudly"
)]

pub(crate) mod http;
pub(crate) mod jira;
mod secrets;
pub(crate) mod trello;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(crate) use dtm_git_support::testing::git;

/// A free loopback port (bound and released; a small race is acceptable in tests).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `git daemon` on loopback serving every repository under `root`, pushes enabled.
pub(crate) struct GitDaemon {
    child: Child,
    pub port: u16,
    pub root: PathBuf,
}

impl GitDaemon {
    pub(crate) fn start(root: &Path) -> GitDaemon {
        std::fs::create_dir_all(root).unwrap();
        for _attempt in 0..5 {
            let port = free_port();
            let mut child = Command::new("git")
                .args([
                    "daemon",
                    "--reuseaddr",
                    "--listen=127.0.0.1",
                    &format!("--port={port}"),
                    &format!("--base-path={}", root.display()),
                    "--export-all",
                    "--enable=receive-pack",
                    "--informative-errors",
                ])
                .arg(root)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return GitDaemon {
                        child,
                        port,
                        root: root.to_path_buf(),
                    };
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("git daemon did not start");
    }

    /// `git://127.0.0.1:PORT/REL`.
    pub(crate) fn url(&self, rel: &str) -> String {
        format!("git://127.0.0.1:{}/{rel}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which API the stand-in speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    GitHub,
    GitLab,
}

struct Shared {
    flavor: Flavor,
    token: String,
    user: String,
    repos: PathBuf,
    daemon_port: u16,
    log: Mutex<Vec<String>>,
    next_id: Mutex<u64>,
    namespaces: Mutex<Vec<String>>,
    /// Webhooks: (repository `owner/name`, hook as the API shows it).
    hooks: Mutex<Vec<(String, Value)>>,
    stop: AtomicBool,
    /// `owner/name` → secret name → value (opened): GitHub's Actions secrets, GitLab's CI/CD
    /// variables.
    secrets: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    /// `owner/name` → the GitLab variables that are masked.
    masked: Mutex<BTreeMap<String, Vec<String>>>,
    secret_key: crypto_box::SecretKey,
}

/// The REST stand-in plus its git daemon.
pub(crate) struct ScmStandIn {
    shared: Arc<Shared>,
    pub port: u16,
    pub daemon: GitDaemon,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ScmStandIn {
    /// Starts a stand-in that accepts `token` for `user`, keeping repositories under `root`.
    pub(crate) fn start(flavor: Flavor, root: &Path, user: &str, token: &str) -> ScmStandIn {
        let repos = root.join("repos");
        let daemon = GitDaemon::start(&repos);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared {
            flavor,
            token: token.to_string(),
            user: user.to_string(),
            repos,
            daemon_port: daemon.port,
            log: Mutex::new(Vec::new()),
            next_id: Mutex::new(1),
            namespaces: Mutex::new(Vec::new()),
            hooks: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            secrets: Mutex::new(BTreeMap::new()),
            masked: Mutex::new(BTreeMap::new()),
            secret_key: crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng),
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
        ScmStandIn {
            shared,
            port,
            daemon,
            thread: Some(thread),
        }
    }

    /// The `baseURL` to configure.
    pub(crate) fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests seen so far, as `METHOD PATH AUTH` where AUTH is `token` when the right token
    /// came in the right header, `none` otherwise.
    pub(crate) fn log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The bare repository of `owner/name` on disk.
    pub(crate) fn repo_path(&self, owner: &str, name: &str) -> PathBuf {
        self.shared.repos.join(owner).join(format!("{name}.git"))
    }

    /// The webhooks of `owner/name`, as the API shows them.
    pub(crate) fn hooks(&self, full_name: &str) -> Vec<Value> {
        self.shared
            .hooks
            .lock()
            .unwrap()
            .iter()
            .filter(|(repo, _)| repo == full_name)
            .map(|(_, hook)| hook.clone())
            .collect()
    }

    /// Creates `owner/name` directly, as if it existed before.
    pub(crate) fn add_repo(&self, owner: &str, name: &str) {
        init_bare(&self.repo_path(owner, name));
    }

    /// The Actions secrets of `owner/name`, opened: name → value.
    pub(crate) fn secrets(&self, owner: &str, name: &str) -> BTreeMap<String, String> {
        let all = self.shared.secrets.lock().unwrap();
        all.get(&format!("{owner}/{name}"))
            .cloned()
            .unwrap_or_default()
    }

    /// The GitLab variables of `owner/name` that are masked.
    pub(crate) fn masked(&self, owner: &str, name: &str) -> Vec<String> {
        let all = self.shared.masked.lock().unwrap();
        all.get(&format!("{owner}/{name}"))
            .cloned()
            .unwrap_or_default()
    }

    /// Deletes one secret of `owner/name`, as a person would in the repository's settings.
    pub(crate) fn delete_secret(&self, owner: &str, name: &str, secret: &str) {
        let mut all = self.shared.secrets.lock().unwrap();
        all.get_mut(&format!("{owner}/{name}"))
            .unwrap()
            .remove(secret)
            .unwrap();
    }
}

impl Drop for ScmStandIn {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn init_bare(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    git(
        path.parent().unwrap(),
        &["init", "-q", "--bare", path.to_str().unwrap()],
    );
}

fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let length: usize = header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorized = match s.flavor {
        Flavor::GitHub => header("authorization") == Some(format!("Bearer {}", s.token)),
        Flavor::GitLab => header("private-token") == Some(s.token.clone()),
    };
    s.log.lock().unwrap().push(format!(
        "{method} {path} {}",
        if authorized { "token" } else { "none" }
    ));
    let path = path.split('?').next().unwrap_or_default().to_string();
    let (status, answer) = if authorized {
        match s.flavor {
            Flavor::GitHub => github(s, &method, &path, &body),
            Flavor::GitLab => gitlab(s, &method, &path, &body),
        }
    } else {
        (401, json!({"message": "Bad credentials"}))
    };
    let text = if answer.is_null() {
        String::new()
    } else {
        answer.to_string()
    };
    let reason = match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        401 => "Unauthorized",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        _ => "Other",
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.flush();
}

fn github_repo(s: &Shared, owner: &str, name: &str) -> Value {
    json!({
        "name": name,
        "full_name": format!("{owner}/{name}"),
        "private": true,
        "default_branch": "main",
        "clone_url": format!("git://127.0.0.1:{}/{owner}/{name}.git", s.daemon_port),
        "html_url": format!("https://github.example/{owner}/{name}"),
    })
}

fn github(s: &Shared, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let Some(rest) = path.strip_prefix("/api/v3") else {
        return (404, json!({"message": "Not Found"}));
    };
    let segments: Vec<String> = rest.trim_matches('/').split('/').map(decode).collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let repo_path = |o: &str, n: &str| s.repos.join(o).join(format!("{n}.git"));
    if let ["repos", o, n, "actions", "secrets", rest @ ..] = seg.as_slice() {
        if !repo_path(o, n).exists() {
            return (404, json!({"message": "Not Found"}));
        }
        return secrets::github(s, method, &format!("{o}/{n}"), rest, body);
    }
    match (method, seg.as_slice()) {
        ("GET", ["repos", o, n]) => {
            if repo_path(o, n).exists() {
                (200, github_repo(s, o, n))
            } else {
                (404, json!({"message": "Not Found"}))
            }
        }
        ("DELETE", ["repos", o, n]) => {
            s.secrets.lock().unwrap().remove(&format!("{o}/{n}"));
            if std::fs::remove_dir_all(repo_path(o, n)).is_ok() {
                (204, Value::Null)
            } else {
                (404, json!({"message": "Not Found"}))
            }
        }
        (_, ["repos", o, n, "hooks", rest @ ..]) => {
            if !repo_path(o, n).exists() {
                return (404, json!({"message": "Not Found"}));
            }
            hooks(s, method, &format!("{o}/{n}"), rest, body)
        }
        ("POST", ["user", "repos"]) | ("POST", ["orgs", _, "repos"]) => {
            let owner = if seg[0] == "orgs" { seg[1] } else { &s.user };
            let Some(name) = body["name"].as_str() else {
                return (422, json!({"message": "name is missing"}));
            };
            let path = repo_path(owner, name);
            if path.exists() {
                return (
                    422,
                    json!({"message": "Repository creation failed.", "errors": [{"message": "name already exists on this account"}]}),
                );
            }
            init_bare(&path);
            (201, github_repo(s, owner, name))
        }
        _ => (404, json!({"message": "Not Found"})),
    }
}

/// A repository's webhooks: list, add, change (GitHub PATCH, GitLab PUT), remove. GitHub keeps
/// the URL and secret under `config`, GitLab at the top level (and never shows the token).
fn hooks(s: &Shared, method: &str, repo: &str, rest: &[&str], body: &Value) -> (u16, Value) {
    let mut all = s.hooks.lock().unwrap();
    let shown = |hook: &Value| {
        let mut hook = hook.clone();
        if let Some(h) = hook.as_object_mut() {
            h.remove("token");
            if let Some(c) = h.get_mut("config").and_then(Value::as_object_mut) {
                c.insert("secret".into(), json!("********"));
            }
        }
        hook
    };
    match (method, rest) {
        ("GET", []) => (
            200,
            Value::Array(
                all.iter()
                    .filter(|(r, _)| r == repo)
                    .map(|(_, h)| shown(h))
                    .collect(),
            ),
        ),
        ("POST", []) => {
            let mut id = s.next_id.lock().unwrap();
            *id += 1;
            let mut hook = body.clone();
            hook["id"] = json!(*id);
            all.push((repo.to_string(), hook.clone()));
            (201, shown(&hook))
        }
        ("PATCH" | "PUT", [id]) => {
            let Some((_, hook)) = all.iter_mut().find(|(r, h)| {
                r == repo && h["id"].as_u64().map(|i| i.to_string()).as_deref() == Some(*id)
            }) else {
                return (404, json!({"message": "Not Found"}));
            };
            let keep = hook["id"].clone();
            *hook = body.clone();
            hook["id"] = keep;
            (200, shown(hook))
        }
        ("DELETE", [id]) => {
            let before = all.len();
            all.retain(|(r, h)| {
                !(r == repo && h["id"].as_u64().map(|i| i.to_string()).as_deref() == Some(*id))
            });
            if all.len() < before {
                (204, Value::Null)
            } else {
                (404, json!({"message": "Not Found"}))
            }
        }
        _ => (404, json!({"message": "Not Found"})),
    }
}

fn gitlab_project(s: &Shared, id: u64, full: &str) -> Value {
    let name = full.rsplit('/').next().unwrap_or_default();
    json!({
        "id": id,
        "name": name,
        "path": name,
        "path_with_namespace": full,
        "default_branch": "master",
        "http_url_to_repo": format!("git://127.0.0.1:{}/{full}.git", s.daemon_port),
        "web_url": format!("https://gitlab.example/{full}"),
    })
}

fn gitlab(s: &Shared, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let Some(rest) = path.strip_prefix("/api/v4") else {
        return (404, json!({"message": "404 Not Found"}));
    };
    let segments: Vec<String> = rest.trim_matches('/').split('/').map(decode).collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let repo_path = |full: &str| s.repos.join(format!("{full}.git"));
    if let ["projects", full, "variables", rest @ ..] = seg.as_slice() {
        if !repo_path(full).exists() {
            return (404, json!({"message": "404 Project Not Found"}));
        }
        return secrets::gitlab(s, method, full, rest, body);
    }
    match (method, seg.as_slice()) {
        ("GET", ["namespaces", ns]) => {
            // Every namespace exists in the stand-in: the user's and any group.
            let kind = if *ns == s.user { "user" } else { "group" };
            let mut known = s.namespaces.lock().unwrap();
            let index = known.iter().position(|k| k == ns).unwrap_or_else(|| {
                known.push((*ns).to_string());
                known.len() - 1
            });
            (
                200,
                json!({"id": 100 + index, "path": ns, "full_path": ns, "kind": kind}),
            )
        }
        ("GET", ["projects", full]) => {
            if repo_path(full).exists() {
                (200, gitlab_project(s, 1, full))
            } else {
                (404, json!({"message": "404 Project Not Found"}))
            }
        }
        (_, ["projects", full, "hooks", rest @ ..]) => {
            if !repo_path(full).exists() {
                return (404, json!({"message": "404 Project Not Found"}));
            }
            hooks(s, method, full, rest, body)
        }
        ("DELETE", ["projects", full]) => {
            s.secrets.lock().unwrap().remove(*full);
            if std::fs::remove_dir_all(repo_path(full)).is_ok() {
                (202, json!({"message": "202 Accepted"}))
            } else {
                (404, json!({"message": "404 Project Not Found"}))
            }
        }
        ("POST", ["projects"]) => {
            let ns = body["namespace_id"]
                .as_u64()
                .and_then(|id| id.checked_sub(100))
                .and_then(|i| s.namespaces.lock().unwrap().get(i as usize).cloned());
            let (Some(name), Some(ns)) = (body["path"].as_str(), ns) else {
                return (
                    400,
                    json!({"message": "path or namespace_id missing or unknown"}),
                );
            };
            let full = format!("{ns}/{name}");
            if repo_path(&full).exists() {
                return (
                    400,
                    json!({"message": {"name": ["has already been taken"]}}),
                );
            }
            init_bare(&repo_path(&full));
            let mut id = s.next_id.lock().unwrap();
            *id += 1;
            (201, gitlab_project(s, *id, &full))
        }
        _ => (404, json!({"message": "404 Not Found"})),
    }
}
