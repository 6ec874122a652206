//! The options of a `gitlab-ce-docker` tool (DevStream's, with its defaults, plus a few of
//! dtm's) and the container they describe.

use std::path::Path;
use std::time::Duration;

use dtm_docker_support::{ContainerSpec, Mount, PortPublish, hostname_problem, parse_duration};
use dtm_plugin_sdk::prelude::*;

/// GitLab's image; the tag is an option.
pub(crate) const IMAGE: &str = "gitlab/gitlab-ce";
/// `--shm-size 256m`, as GitLab's documentation and DevStream give it.
const SHM_SIZE: u64 = 256 << 20;

fn hostname() -> String {
    "gitlab.example.com".into()
}
fn gitlab_home() -> String {
    "/srv/gitlab".into()
}
fn ssh_port() -> u16 {
    22
}
fn http_port() -> u16 {
    80
}
fn https_port() -> u16 {
    443
}
fn image_tag() -> String {
    "rc".into()
}
fn container_name() -> String {
    "gitlab".into()
}
fn yes() -> bool {
    true
}
fn wait_timeout() -> String {
    "10m".into()
}

/// Options of a `gitlab-ce-docker` tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Options {
    /// The container's hostname (`docker run --hostname`), and the host of GitLab's URL.
    #[serde(default = "hostname")]
    #[schemars(example = &"gitlab.example.com")]
    pub hostname: String,
    /// Host directory (absolute) that holds GitLab's `config`, `logs` and `data` directories,
    /// mounted at `/etc/gitlab`, `/var/log/gitlab` and `/var/opt/gitlab`.
    #[serde(default = "gitlab_home")]
    #[schemars(example = &"/srv/gitlab")]
    pub gitlab_home: String,
    /// Host port published to GitLab's SSH port 22.
    #[serde(default = "ssh_port")]
    #[schemars(example = 22)]
    pub ssh_port: u16,
    /// Host port published to GitLab's HTTP port 80.
    #[serde(default = "http_port")]
    #[schemars(example = 80)]
    pub http_port: u16,
    /// Host port published to GitLab's HTTPS port 443 (GitLab itself is set up for HTTP only).
    #[serde(default = "https_port")]
    #[schemars(example = 443)]
    pub https_port: u16,
    /// Remove `config`, `logs` and `data` under `gitlabHome` when the tool is deleted.
    #[serde(default)]
    #[schemars(example = false)]
    pub rm_data_after_delete: bool,
    /// Tag of the `gitlab/gitlab-ce` image, pulled when the engine does not have it.
    #[serde(default = "image_tag")]
    #[schemars(example = &"rc")]
    pub image_tag: String,
    /// Name of the container (dtm; DevStream always used `gitlab`).
    #[serde(default = "container_name")]
    pub container_name: String,
    /// Wait after starting the container until it runs and its health check (GitLab's image
    /// has one) passes (dtm).
    #[serde(default = "yes")]
    pub wait: bool,
    /// How long to wait, e.g. `90s`, `10m` (dtm).
    #[serde(default = "wait_timeout")]
    pub wait_timeout: String,
    /// The docker program: a name on `PATH` or a path relative to the config file. Default:
    /// `docker`. It reaches the engine that `DOCKER_HOST` or the current `docker context` names
    /// (dtm).
    #[serde(default)]
    pub docker: Option<String>,
    /// The Docker daemon to use: `unix:///var/run/docker.sock`, `tcp://HOST:2375`,
    /// `ssh://USER@HOST` (dtm). Default: `DOCKER_HOST`, else the current `docker context`.
    #[serde(default)]
    pub docker_host: Option<String>,
}

/// A port option of DevStream's: 0 means its default.
fn or_default(port: u16, default: u16) -> u16 {
    if port == 0 { default } else { port }
}

impl Options {
    /// The ports, with DevStream's defaults for zeros: (ssh, http, https).
    pub fn ports(&self) -> (u16, u16, u16) {
        (
            or_default(self.ssh_port, 22),
            or_default(self.http_port, 80),
            or_default(self.https_port, 443),
        )
    }

    /// The `waitTimeout`.
    pub fn timeout(&self) -> Result<Duration, PluginError> {
        parse_duration(&self.wait_timeout, "waitTimeout")
    }

    /// The host directories of the bind mounts: (host, container).
    pub fn data_dirs(&self) -> Vec<(String, &'static str)> {
        let home = Path::new(&self.gitlab_home);
        [
            ("config", "/etc/gitlab"),
            ("data", "/var/opt/gitlab"),
            ("logs", "/var/log/gitlab"),
        ]
        .into_iter()
        .map(|(dir, at)| (home.join(dir).display().to_string(), at))
        .collect()
    }

    /// The container these options describe, owned by `instance`.
    pub fn spec(&self, instance: &str) -> ContainerSpec {
        let (ssh, http, https) = self.ports();
        ContainerSpec {
            name: self.container_name.clone(),
            image: format!("{IMAGE}:{}", self.image_tag),
            hostname: Some(self.hostname.clone()),
            ports: vec![
                PortPublish {
                    host: ssh,
                    container: 22,
                },
                PortPublish {
                    host: http,
                    container: 80,
                },
                PortPublish {
                    host: https,
                    container: 443,
                },
            ],
            mounts: self
                .data_dirs()
                .into_iter()
                .map(|(host, at)| Mount {
                    host,
                    container: at.to_owned(),
                })
                .collect(),
            restart_always: true,
            shm_size: Some(SHM_SIZE),
            owner: instance.to_owned(),
        }
    }

    /// GitLab's URL, as DevStream printed it (the port left out when it is 80).
    pub fn url(&self) -> String {
        match self.ports().1 {
            80 => format!("http://{}", self.hostname),
            port => format!("http://{}:{port}", self.hostname),
        }
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
        }
        if !Path::new(&self.gitlab_home).is_absolute() {
            problem(
                "/gitlabHome",
                format!(
                    "`{}` is not an absolute path; write e.g. `/srv/gitlab`",
                    self.gitlab_home
                ),
            );
        }
        if !tag_ok(&self.image_tag) {
            problem(
                "/imageTag",
                format!(
                    "`{}` is not an image tag: 1 to 128 letters, digits, `_`, `.` or `-`, not \
                     starting with `.` or `-`",
                    self.image_tag
                ),
            );
        }
        if !name_ok(&self.container_name) {
            problem(
                "/containerName",
                format!(
                    "`{}` is not a container name: letters, digits, `_`, `.` or `-`, starting \
                     with a letter or digit",
                    self.container_name
                ),
            );
        }
        let (ssh, http, https) = self.ports();
        if ssh == http || ssh == https || http == https {
            problem(
                "",
                format!(
                    "`sshPort` ({ssh}), `httpPort` ({http}) and `httpsPort` ({https}) must differ"
                ),
            );
        }
        if let Err(e) = self.timeout() {
            problem("/waitTimeout", e.message);
        }
        problems
    }
}

/// A Docker image tag.
pub(crate) fn tag_ok(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A Docker container name.
fn name_ok(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}
