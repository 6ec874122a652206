//! The options of a `harbor-docker` tool (DevStream's `hostname`, plus the settings of the
//! `harbor.yml` DevStream wrote with fixed values) and the `harbor.yml` they make.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use dtm_docker_support::{hostname_problem, parse_duration};
use dtm_plugin_sdk::prelude::*;
use serde_json::json;

fn http_port() -> u16 {
    80
}
fn data_volume() -> String {
    "/data".into()
}
fn log_location() -> String {
    "/var/log/harbor".into()
}
fn admin_password() -> String {
    "Harbor12345".into()
}
fn database_password() -> String {
    "root123".into()
}
fn install_dir() -> String {
    "harbor".into()
}
fn yes() -> bool {
    true
}
fn wait_timeout() -> String {
    "10m".into()
}

/// Options of a `harbor-docker` tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Options {
    /// The hostname or IP address clients reach Harbor at (`hostname` in `harbor.yml`); not
    /// `localhost` or `127.0.0.1`, which Harbor's clients could not use.
    #[schemars(example = &"harbor.example.com")]
    pub hostname: String,
    /// Host port of Harbor's web interface and registry (`http.port`; dtm, DevStream: 80).
    #[serde(default = "http_port")]
    pub http_port: u16,
    /// Host directory of Harbor's data (`data_volume`; dtm, DevStream: `/data`).
    #[serde(default = "data_volume")]
    pub data_volume: String,
    /// Host directory of Harbor's logs (`log.local.location`; dtm, DevStream:
    /// `/var/log/harbor`).
    #[serde(default = "log_location")]
    pub log_location: String,
    /// The `admin` user's initial password (`harbor_admin_password`; used on the first
    /// install only; dtm, DevStream: `Harbor12345`). Change it in Harbor's web interface.
    #[serde(default = "admin_password")]
    pub harbor_admin_password: String,
    /// Password of Harbor's database (`database.password`; dtm, DevStream: `root123`).
    #[serde(default = "database_password")]
    pub database_password: String,
    /// Directory, relative to the config file, of `harbor.yml` and of what Harbor's `prepare`
    /// generates from it (`docker-compose.yml`, `common/config`) (dtm; DevStream used the
    /// directory dtm ran in).
    #[serde(default = "install_dir")]
    pub install_dir: String,
    /// Wait until every Harbor container runs and passes its health check (dtm).
    #[serde(default = "yes")]
    pub wait: bool,
    /// How long to wait, e.g. `90s`, `10m` (dtm).
    #[serde(default = "wait_timeout")]
    pub wait_timeout: String,
    /// The docker program: a name on `PATH` or a path relative to the config file (dtm).
    /// Default: `docker`.
    #[serde(default)]
    pub docker: Option<String>,
    /// The Docker daemon to use: `unix:///var/run/docker.sock`, `tcp://HOST:2375`,
    /// `ssh://USER@HOST` (dtm). Default: `DOCKER_HOST`, else the current `docker context`.
    #[serde(default)]
    pub docker_host: Option<String>,
    /// The Compose program: a name on `PATH` or a path relative to the config file (dtm).
    /// Default: `docker-compose` when it is on `PATH`, else `docker compose`.
    #[serde(default)]
    pub docker_compose: Option<String>,
}

/// A YAML scalar: a JSON string is a valid YAML double-quoted string.
fn quoted(text: &str) -> String {
    json!(text).to_string()
}

impl Options {
    /// The `waitTimeout`.
    pub fn timeout(&self) -> Result<Duration, PluginError> {
        parse_duration(&self.wait_timeout, "waitTimeout")
    }

    /// The install directory, absolute and without `.` or `..`, as Compose labels its
    /// containers with it.
    pub fn dir(&self, workdir: &Path) -> PathBuf {
        let mut dir = PathBuf::new();
        for part in workdir.join(&self.install_dir).components() {
            match part {
                Component::CurDir => {}
                Component::ParentDir => {
                    dir.pop();
                }
                other => dir.push(other),
            }
        }
        dir
    }

    /// Harbor's URL.
    pub fn url(&self) -> String {
        match self.http_port {
            80 => format!("http://{}", self.hostname),
            port => format!("http://{}:{port}", self.hostname),
        }
    }

    /// The `harbor.yml` of Harbor v2.4's installer: the settings DevStream's template set, with
    /// the values these options give.
    pub fn harbor_yml(&self) -> String {
        format!(
            "# Harbor's installer configuration, written by dtm's harbor-docker plugin.\n\
             hostname: {hostname}\n\
             http:\n  port: {port}\n\
             harbor_admin_password: {admin}\n\
             database:\n  password: {db}\n  max_idle_conns: 100\n  max_open_conns: 900\n\
             data_volume: {data}\n\
             trivy:\n  ignore_unfixed: false\n  skip_update: false\n  offline_scan: false\n  \
             insecure: false\n\
             jobservice:\n  max_job_workers: 10\n\
             notification:\n  webhook_job_max_retry: 10\n\
             chart:\n  absolute_url: disabled\n\
             log:\n  level: info\n  local:\n    rotate_count: 50\n    rotate_size: 200M\n    \
             location: {logs}\n\
             _version: 2.4.0\n\
             proxy:\n  http_proxy:\n  https_proxy:\n  no_proxy:\n  components:\n    - core\n    \
             - jobservice\n    - trivy\n",
            hostname = quoted(&self.hostname),
            port = self.http_port,
            admin = quoted(&self.harbor_admin_password),
            db = quoted(&self.database_password),
            data = quoted(&self.data_volume),
            logs = quoted(&self.log_location),
        )
    }

    /// Problems the schema cannot express.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |path: &str, message: String| {
            problems.push(Problem {
                path: path.into(),
                message,
            })
        };
        if let Some(why) = hostname_problem(&self.hostname) {
            problem("/hostname", why);
        } else if self.hostname == "localhost" || self.hostname == "127.0.0.1" {
            problem(
                "/hostname",
                "Harbor must be reachable by its clients: give the machine's name or address, \
                 not localhost"
                    .into(),
            );
        }
        for (path, dir) in [
            ("/dataVolume", &self.data_volume),
            ("/logLocation", &self.log_location),
        ] {
            if !Path::new(dir).is_absolute() {
                problem(path, format!("`{dir}` is not an absolute path"));
            }
        }
        if self.http_port == 0 {
            problem("/httpPort", "must be a port, 1 to 65535".into());
        }
        if self.install_dir.trim().is_empty() {
            problem("/installDir", "must not be empty".into());
        }
        if let Err(e) = self.timeout() {
            problem("/waitTimeout", e.message);
        }
        problems
    }
}
