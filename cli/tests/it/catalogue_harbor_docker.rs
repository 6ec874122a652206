//! The conformance story of `harbor-docker`, through the real binary, against the real Docker
//! engine of scripts/test-servers.sh and the real `docker-compose`, with stand-ins of Harbor's
//! images built locally (docker_engine/mod.rs): the plugin writes `harbor.yml`, runs the
//! `goharbor/prepare` stand-in, which generates `docker-compose.yml` as Harbor's does, and
//! `docker-compose up -d` starts three containers with health checks. Create, read, no-op plan,
//! drift by hand (a stopped and a removed container) → verify exits 2 → apply repairs, option
//! change → update, delete, delete again.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;
use crate::docker_engine;

use common::Sandbox;
use docker_engine::{Engine, free_port, http_get};
use serde_json::Value;

const CONTAINERS: [&str; 3] = ["harbor-core", "harbor-log", "nginx"];

fn config(engine: &Engine, s: &Sandbox, port: u16) -> String {
    format!(
        "tools:
- name: harbor-docker
  instanceID: default
  options:
    hostname: harbor.example.com
    httpPort: {port}
    dataVolume: {data}
    logLocation: {logs}
    waitTimeout: 2m
    dockerHost: {host}
",
        data = s.path("data").display(),
        logs = s.path("logs").display(),
        host = engine.host,
    )
}

#[track_caller]
fn no_changes(s: &Sandbox) {
    let plan = s.run(&["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("No changes"), "{}", plan.all());
}

fn running(engine: &Engine, name: &str) -> bool {
    engine
        .inspect(name)
        .is_some_and(|c| c["State"]["Running"] == Value::Bool(true))
}

#[test]
fn harbor_docker_story() {
    let Some(engine) = Engine::from_env() else {
        return;
    };
    engine.harbor_images();
    engine.remove(&CONTAINERS);
    let s = Sandbox::new();
    let port = free_port();
    s.write("dtm.yaml", &config(&engine, &s, port));

    // create: harbor.yml, prepare's output, three healthy containers
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(
        s.read("harbor/harbor.yml")
            .contains("hostname: \"harbor.example.com\"")
    );
    assert!(
        s.read("harbor/docker-compose.yml")
            .contains("goharbor/nginx-photon:v2.4.3")
    );
    assert!(
        !s.path("harbor/input").exists(),
        "prepare's input directory is left behind"
    );
    for name in CONTAINERS {
        assert!(running(&engine, name), "{name} does not run");
    }
    assert!(http_get(port).contains("Harbor stand-in"));
    // prepare's configuration reached the component through Compose's env_file.
    let core = engine.inspect("harbor-core").unwrap();
    assert!(
        core["Config"]["Env"]
            .to_string()
            .contains("EXT_ENDPOINT=http://harbor.example.com"),
        "{}",
        core["Config"]["Env"]
    );
    let state = s.state();
    let recorded = &state["resources"]["harbor-docker.default"];
    assert_eq!(recorded["lifecycle"], "completed", "{recorded}");
    let names: Vec<&String> = recorded["status"]["containers"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(names, CONTAINERS);
    assert!(
        recorded["status"]["config"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(
        recorded["outputs"]["url"],
        format!("http://harbor.example.com:{port}")
    );

    // read, no-op plan
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // drift by hand: a stopped container, then a removed one; apply repairs each
    engine.docker(&["container", "stop", "nginx"]);
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(
        out.all().contains("harbor-docker.default (update)"),
        "{}",
        out.all()
    );
    assert!(out.all().contains("nginx"), "{}", out.all());
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(running(&engine, "nginx"));
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    engine.remove(&["harbor-core"]);
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(out.all().contains("harbor-core"), "{}", out.all());
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(running(&engine, "harbor-core"));
    no_changes(&s);
    // A hand edit of harbor.yml is drift too; apply writes it back and prepares again.
    s.write("harbor/harbor.yml", "hostname: edited.example.com\n");
    s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(s.read("harbor/harbor.yml").contains("harbor.example.com"));
    no_changes(&s);

    // option change → update: a new port is prepared and Harbor restarted on it
    let moved = free_port();
    s.write("dtm.yaml", &config(&engine, &s, moved));
    let plan = s.run(&["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("1 to update"), "{}", plan.all());
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let nginx = engine.inspect("nginx").unwrap();
    assert_eq!(
        nginx["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"],
        moved.to_string()
    );
    assert!(http_get(moved).contains("Harbor stand-in"));
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // delete (docker-compose down -v) and again
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    for name in CONTAINERS {
        assert!(engine.inspect(name).is_none(), "{name} is left");
    }
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.state()["resources"], serde_json::json!({}));
}
