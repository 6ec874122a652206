//! A container as `docker run` creates it ([`ContainerSpec`]) and as `docker inspect` reports
//! it ([`observe`]), both in the one shape the plugins record, so that a stopped container, a
//! changed port or a missing mount shows as drift on exactly that field.

use serde_json::{Map, Value, json};

use crate::wait::Look;

/// The label naming the tool instance that created a container, so that dtm never replaces or
/// removes a container it did not create.
pub const OWNER_LABEL: &str = "io.dtm.instance";

/// A published port: `--publish HOST:CONTAINER` (TCP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPublish {
    /// Port on the host.
    pub host: u16,
    /// Port in the container.
    pub container: u16,
}

/// A bind mount: `--volume HOST:CONTAINER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute directory on the host.
    pub host: String,
    /// Directory in the container.
    pub container: String,
}

/// What `docker run --detach` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// `--name`.
    pub name: String,
    /// `IMAGE:TAG`.
    pub image: String,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `--publish`.
    pub ports: Vec<PortPublish>,
    /// `--volume`.
    pub mounts: Vec<Mount>,
    /// `--restart always`.
    pub restart_always: bool,
    /// `--shm-size`, in bytes.
    pub shm_size: Option<u64>,
    /// The tool instance, written as the [`OWNER_LABEL`].
    pub owner: String,
}

impl ContainerSpec {
    /// The arguments of `docker run` that create and start this container.
    pub fn run_args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec!["run".into(), "--detach".into()];
        let mut flag = |k: &str, v: String| {
            args.push(k.to_owned());
            args.push(v);
        };
        if let Some(h) = &self.hostname {
            flag("--hostname", h.clone());
        }
        for p in &self.ports {
            flag("--publish", format!("{}:{}", p.host, p.container));
        }
        flag("--name", self.name.clone());
        if self.restart_always {
            flag("--restart", "always".into());
        }
        for m in &self.mounts {
            flag("--volume", format!("{}:{}", m.host, m.container));
        }
        if let Some(bytes) = self.shm_size {
            flag("--shm-size", bytes.to_string());
        }
        flag("--label", format!("{OWNER_LABEL}={}", self.owner));
        args.push(self.image.clone());
        args
    }

    /// The status [`observe`] reports for this container when it runs as specified.
    pub fn expected(&self) -> Value {
        let ports: Map<String, Value> = self
            .ports
            .iter()
            .map(|p| (format!("{}/tcp", p.container), json!(p.host.to_string())))
            .collect();
        let volumes: Map<String, Value> = self
            .mounts
            .iter()
            .map(|m| (m.container.clone(), json!(m.host)))
            .collect();
        let mut status = json!({
            "container": self.name,
            "image": self.image,
            "running": true,
            "ports": ports,
            "volumes": volumes,
            "restart": if self.restart_always { "always" } else { "no" },
        });
        if let Some(h) = &self.hostname {
            status["hostname"] = json!(h);
        }
        if let Some(bytes) = self.shm_size {
            status["shmSize"] = json!(bytes);
        }
        status
    }

    /// Whether `live` (a `docker inspect` answer) is this container as specified, running or
    /// not.
    pub fn matches(&self, live: &Value) -> bool {
        let mut seen = observe(live, self.hostname.is_some(), self.shm_size.is_some());
        seen["running"] = json!(true);
        seen == self.expected()
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The tool instance that created the container (its [`OWNER_LABEL`]), if any.
pub fn owner(live: &Value) -> Option<&str> {
    live.pointer("/Config/Labels")
        .and_then(|l| l.get(OWNER_LABEL))
        .and_then(Value::as_str)
}

/// The status of a live container (a `docker inspect` answer): name, image, whether it runs,
/// its published ports (`"80/tcp": "8080"`), bind mounts (container path → host path) and
/// restart policy; with `hostname` and `shm` its hostname and `/dev/shm` size. Ports come from
/// the container's configuration, so a stopped container differs only in `running`.
pub fn observe(live: &Value, hostname: bool, shm: bool) -> Value {
    let ports: Map<String, Value> = live
        .pointer("/HostConfig/PortBindings")
        .and_then(Value::as_object)
        .map(|bindings| {
            bindings
                .iter()
                .map(|(port, list)| {
                    let host = list
                        .as_array()
                        .and_then(|l| l.first())
                        .map(|b| text(b, "/HostPort").to_owned())
                        .unwrap_or_default();
                    (port.clone(), json!(host))
                })
                .collect()
        })
        .unwrap_or_default();
    let volumes: Map<String, Value> = live
        .get("Mounts")
        .and_then(Value::as_array)
        .map(|mounts| {
            mounts
                .iter()
                .filter(|m| text(m, "/Type") == "bind")
                .map(|m| {
                    (
                        text(m, "/Destination").to_owned(),
                        json!(text(m, "/Source")),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let restart = match text(live, "/HostConfig/RestartPolicy/Name") {
        "" => "no",
        other => other,
    };
    let mut status = json!({
        "container": text(live, "/Name").trim_start_matches('/'),
        "image": text(live, "/Config/Image"),
        "running": live.pointer("/State/Running").and_then(Value::as_bool).unwrap_or(false),
        "ports": ports,
        "volumes": volumes,
        "restart": restart,
    });
    if hostname {
        status["hostname"] = json!(text(live, "/Config/Hostname"));
    }
    if shm {
        status["shmSize"] = json!(
            live.pointer("/HostConfig/ShmSize")
                .and_then(Value::as_u64)
                .unwrap_or(0)
        );
    }
    status
}

/// Whether a live container is ready: running, and healthy when its image has a health check.
/// An exited container has failed; an unhealthy one may still recover, so it is waited for.
pub fn readiness(live: &Value) -> Look {
    let name = text(live, "/Name").trim_start_matches('/');
    let state = live.get("State").cloned().unwrap_or(Value::Null);
    let exit = state.get("ExitCode").and_then(Value::as_i64).unwrap_or(0);
    if state.get("Restarting").and_then(Value::as_bool) == Some(true) {
        return Look::Waiting(format!("{name} is restarting (last exit code {exit})"));
    }
    if state.get("Running").and_then(Value::as_bool) != Some(true) {
        return match text(&state, "/Status") {
            "created" => Look::Waiting(format!("{name} is created, not started yet")),
            status => {
                let error = text(&state, "/Error");
                Look::Failed(format!(
                    "{name} is {status} (exit code {exit}{}); see `docker logs {name}`",
                    if error.is_empty() {
                        String::new()
                    } else {
                        format!(", {error}")
                    }
                ))
            }
        };
    }
    match text(&state, "/Health/Status") {
        "" | "healthy" => Look::Ready,
        "unhealthy" => {
            let last = state
                .pointer("/Health/Log")
                .and_then(Value::as_array)
                .and_then(|l| l.last())
                .map(|l| text(l, "/Output").trim().to_owned())
                .unwrap_or_default();
            Look::Waiting(if last.is_empty() {
                format!("{name} is unhealthy")
            } else {
                format!("{name} is unhealthy ({last})")
            })
        }
        other => Look::Waiting(format!("{name}'s health check says {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "gitlab".into(),
            image: "gitlab/gitlab-ce:rc".into(),
            hostname: Some("gitlab.example.com".into()),
            ports: vec![PortPublish {
                host: 8080,
                container: 80,
            }],
            mounts: vec![Mount {
                host: "/srv/gitlab/config".into(),
                container: "/etc/gitlab".into(),
            }],
            restart_always: true,
            shm_size: Some(256 << 20),
            owner: "gitlab-ce-docker.default".into(),
        }
    }

    fn inspected(running: bool) -> Value {
        json!({
            "Name": "/gitlab",
            "Config": {"Image": "gitlab/gitlab-ce:rc", "Hostname": "gitlab.example.com",
                       "Labels": {OWNER_LABEL: "gitlab-ce-docker.default"}},
            "State": {"Running": running, "Status": if running { "running" } else { "exited" },
                      "ExitCode": if running { 0 } else { 137 }},
            "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                           "RestartPolicy": {"Name": "always"}, "ShmSize": 268_435_456},
            "Mounts": [{"Type": "bind", "Source": "/srv/gitlab/config", "Destination": "/etc/gitlab"},
                       {"Type": "volume", "Source": "/var/lib/docker/volumes/x", "Destination": "/x"}],
        })
    }

    #[test]
    fn run_arguments_follow_devstreams_docker_run() {
        assert_eq!(
            spec().run_args().join(" "),
            "run --detach --hostname gitlab.example.com --publish 8080:80 --name gitlab \
             --restart always --volume /srv/gitlab/config:/etc/gitlab --shm-size 268435456 \
             --label io.dtm.instance=gitlab-ce-docker.default gitlab/gitlab-ce:rc"
        );
    }

    #[test]
    fn observed_equals_expected_for_a_running_container_and_differs_when_stopped() {
        assert_eq!(observe(&inspected(true), true, true), spec().expected());
        let stopped = observe(&inspected(false), true, true);
        assert_eq!(stopped["running"], false);
        assert!(spec().matches(&inspected(false)));
        assert_eq!(owner(&inspected(true)), Some("gitlab-ce-docker.default"));
    }

    #[test]
    fn readiness_waits_for_health_and_fails_on_exit() {
        let mut live = inspected(true);
        assert_eq!(readiness(&live), Look::Ready);
        live["State"]["Health"] = json!({"Status": "starting"});
        assert!(matches!(readiness(&live), Look::Waiting(_)));
        let stopped = inspected(false);
        match readiness(&stopped) {
            Look::Failed(why) => assert!(why.contains("exit code 137"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
