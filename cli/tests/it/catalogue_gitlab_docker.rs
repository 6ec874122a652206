//! The conformance story of `gitlab-ce-docker`, through the real binary, against the real Docker
//! engine of scripts/test-servers.sh with a locally built `gitlab/gitlab-ce` stand-in image
//! (see docker_engine/mod.rs): create (interrupted while waiting for health, then resumed), read,
//! no-op plan, drift by hand (stopped, removed) → verify exits 2 → apply repairs, option change →
//! update, delete with its data, delete again; and the readiness timeout and a foreign container.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;
use crate::docker_engine;

use common::{Sandbox, spawn_until, unique};
use docker_engine::{Engine, free_port, http_get};
use serde_json::{Value, json};

struct Setup {
    name: String,
    home: String,
    ports: (u16, u16, u16),
    tag: &'static str,
    rm_data: bool,
}

fn config(engine: &Engine, s: &Setup, extra: &str) -> String {
    format!(
        "tools:
- name: gitlab-ce-docker
  instanceID: default
  options:
    hostname: gitlab.example.com
    gitlabHome: {home}
    sshPort: {ssh}
    httpPort: {http}
    httpsPort: {https}
    rmDataAfterDelete: {rm}
    imageTag: {tag}
    containerName: {name}
    waitTimeout: 2m
    dockerHost: {host}
{extra}",
        home = s.home,
        ssh = s.ports.0,
        http = s.ports.1,
        https = s.ports.2,
        rm = s.rm_data,
        tag = s.tag,
        name = s.name,
        host = engine.host,
    )
}

#[track_caller]
fn no_changes(s: &Sandbox) {
    let plan = s.run(&["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("No changes"), "{}", plan.all());
}

fn id(engine: &Engine, name: &str) -> String {
    engine.inspect(name).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn gitlab_ce_docker_story() {
    let Some(engine) = Engine::from_env() else {
        return;
    };
    engine.gitlab_images();
    let s = Sandbox::new();
    let mut setup = Setup {
        name: unique("gitlab"),
        home: s.path("gitlab-home").display().to_string(),
        ports: (free_port(), free_port(), free_port()),
        tag: "dtm-test-a",
        rm_data: false,
    };
    s.write("dtm.yaml", &config(&engine, &setup, ""));

    // create: the container starts, its health check is still "starting" (the stand-in starts
    // slowly, like GitLab): dtm waits in pending steps. Interrupted there, a second apply
    // resumes the wait without running another container.
    let (mut child, rx) = spawn_until(
        &s,
        &["apply", "-y", "-f", "dtm.yaml"],
        "health check says starting",
    );
    let first = id(&engine, &setup.name);
    let rc = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let status = child.wait().unwrap();
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(status.code(), Some(130), "{}", rest.join("\n"));
    let paused = s.state()["resources"]["gitlab-ce-docker.default"].clone();
    assert_eq!(paused["lifecycle"], "pending", "{paused}");
    assert_eq!(paused["pending"]["data"]["phase"], "ready", "{paused}");
    let out = s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(
        !out.all().contains("running the container"),
        "{}",
        out.all()
    );
    assert_eq!(
        id(&engine, &setup.name),
        first,
        "the container was run twice"
    );
    let live = engine.inspect(&setup.name).unwrap();
    assert_eq!(live["State"]["Health"]["Status"], "healthy");
    let state = s.state();
    let recorded = &state["resources"]["gitlab-ce-docker.default"];
    assert_eq!(recorded["lifecycle"], "completed", "{recorded}");
    let (ssh, http, https) = setup.ports;
    assert_eq!(
        recorded["status"],
        json!({
            "container": setup.name,
            "image": "gitlab/gitlab-ce:dtm-test-a",
            "running": true,
            "hostname": "gitlab.example.com",
            "ports": {"22/tcp": ssh.to_string(), "80/tcp": http.to_string(), "443/tcp": https.to_string()},
            "volumes": {
                "/etc/gitlab": format!("{}/config", setup.home),
                "/var/opt/gitlab": format!("{}/data", setup.home),
                "/var/log/gitlab": format!("{}/logs", setup.home),
            },
            "restart": "always",
            "shmSize": 268_435_456,
        })
    );
    assert_eq!(
        recorded["outputs"]["url"],
        format!("http://gitlab.example.com:{http}")
    );
    // The published port reaches the container, and its configuration is on the host.
    assert!(http_get(http).contains("GitLab stand-in on gitlab.example.com"));
    assert!(
        s.read("gitlab-home/config/gitlab.rb")
            .contains("external_url")
    );

    // read, no-op plan
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // drift by hand: a stopped container, then a removed one; apply repairs each
    engine.docker(&["container", "stop", &setup.name]);
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(
        out.all().contains("gitlab-ce-docker.default (update)"),
        "{}",
        out.all()
    );
    assert!(out.all().contains("running"), "{}", out.all());
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(
        engine.inspect(&setup.name).unwrap()["State"]["Running"],
        true
    );
    assert_eq!(
        id(&engine, &setup.name),
        first,
        "a stopped container is started, not replaced"
    );
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    engine.remove(&[&setup.name]);
    s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(engine.inspect(&setup.name).is_some());
    no_changes(&s);

    // option change → update: another image tag and HTTP port replace the container; the data
    // directories are kept
    s.write("gitlab-home/data/marker", "kept");
    setup.tag = "dtm-test-b";
    setup.ports.1 = free_port();
    setup.rm_data = true;
    s.write("dtm.yaml", &config(&engine, &setup, ""));
    let plan = s.run(&["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("1 to update"), "{}", plan.all());
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let live = engine.inspect(&setup.name).unwrap();
    assert_eq!(live["Config"]["Image"], "gitlab/gitlab-ce:dtm-test-b");
    assert_eq!(
        live["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
        setup.ports.1.to_string()
    );
    assert_eq!(s.read("gitlab-home/data/marker"), "kept");
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // delete (with rmDataAfterDelete) and again
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(engine.inspect(&setup.name).is_none());
    assert!(!s.path("gitlab-home/data").exists());
    assert!(!s.path("gitlab-home/config").exists());
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.state()["resources"], json!({}));
}

#[test]
fn gitlab_ce_docker_times_out_on_an_unhealthy_container_and_leaves_others_alone() {
    let Some(engine) = Engine::from_env() else {
        return;
    };
    engine.gitlab_images();
    let s = Sandbox::new();
    let setup = Setup {
        name: unique("gitlab-sick"),
        home: s.path("home").display().to_string(),
        ports: (free_port(), free_port(), free_port()),
        tag: "dtm-test-sick",
        rm_data: false,
    };
    s.write(
        "dtm.yaml",
        &config(&engine, &setup, "").replace("waitTimeout: 2m", "waitTimeout: 6s"),
    );
    let out = s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(
        out.all().contains("timed out after `waitTimeout` (6s)"),
        "{}",
        out.all()
    );
    assert!(out.all().contains("is unhealthy"), "{}", out.all());
    assert!(
        out.all().contains(&format!("docker logs {}", setup.name)),
        "{}",
        out.all()
    );
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(engine.inspect(&setup.name).is_none());

    // A container of the same name that dtm did not create is neither replaced nor removed.
    let foreign = unique("gitlab-theirs");
    engine.docker(&[
        "run",
        "--detach",
        "--name",
        &foreign,
        "gitlab/gitlab-ce:dtm-test-a",
    ]);
    let theirs = Setup {
        name: foreign.clone(),
        tag: "dtm-test-a",
        ..setup
    };
    s.write("dtm.yaml", &config(&engine, &theirs, ""));
    let out = s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(
        out.all().contains(&format!(
            "a container named `{foreign}` exists that gitlab-ce-docker.default did not create"
        )),
        "{}",
        out.all()
    );
    let live: Value = engine.inspect(&foreign).unwrap();
    assert_eq!(live["Config"]["Labels"].get("io.dtm.instance"), None);
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(engine.inspect(&foreign).is_some());
    engine.remove(&[&foreign]);
}
