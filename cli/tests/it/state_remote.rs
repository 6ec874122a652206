//! The state tooling against the real servers of scripts/test-servers.sh: migrate local → S3 and
//! local → Kubernetes, pull/push there, and a corrupt remote state that `dtm plan` refuses and
//! leaves untouched.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use common::{Sandbox, server_var, unique};
use dtm_backends::Backend;
use dtm_backends::k8s::KubeBackend;
use dtm_backends::s3::S3Backend;
use serde_json::{Map, Value, json};

const TOOLS: &str = r#"
tools:
- name: file
  instanceID: a
  options:
    path: out/a.txt
    content: "a\n"
"#;

/// Creates a bucket on the test server (moto takes unsigned requests).
fn create_bucket(endpoint: &str, bucket: &str) {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "creating bucket {bucket}: {answer}"
    );
}

fn yaml_state(backend: &str, options: &Map<String, Value>) -> String {
    let options: String = options
        .iter()
        .map(|(k, v)| format!("      {k}: {v}\n"))
        .collect();
    format!("config:\n  state:\n    backend: {backend}\n    options:\n{options}{TOOLS}")
}

/// The story on one remote backend: apply locally, migrate, use it there, corrupt it.
fn remote_story(s: &Sandbox, remote_config: &str, open: &dyn Fn() -> Box<dyn Backend>) {
    s.write("config.yaml", TOOLS);
    s.run(&["apply", "-y"]).expect(0);
    s.write("remote.yaml", remote_config);

    let migrate = s
        .run(&["state", "migrate", "--to", "remote.yaml", "-o", "json"])
        .expect(0);
    let report: Value = serde_json::from_str(&migrate.stdout()).unwrap();
    assert_eq!(report["verified"], true, "{}", migrate.all());

    // Read back through dtm: the same state, in sync with reality.
    let local: Value = serde_json::from_str(&s.run(&["state", "pull"]).expect(0).stdout()).unwrap();
    let pulled = s.run(&["state", "pull", "-f", "remote.yaml"]).expect(0);
    let remote: Value = serde_json::from_str(&pulled.stdout()).unwrap();
    assert_eq!(local, remote);
    s.run(&["plan", "-f", "remote.yaml", "--detailed-exitcode"])
        .expect(0);

    // Push an edited copy; the lock was released after each command.
    let mut edited = remote.clone();
    edited["serial"] = Value::from(remote["serial"].as_u64().unwrap() + 1);
    edited["resources"]["file.a"]["outputs"] = json!({"note": "pushed"});
    s.write("edited.json", &edited.to_string());
    s.run(&["state", "push", "-f", "remote.yaml", "edited.json"])
        .expect(0);
    let pulled: Value = serde_json::from_str(
        &s.run(&["state", "pull", "-f", "remote.yaml"])
            .expect(0)
            .stdout(),
    )
    .unwrap();
    assert_eq!(pulled["resources"]["file.a"]["outputs"]["note"], "pushed");
    assert!(open().lock_info().unwrap().is_none(), "no lock left behind");

    // Garbage in the remote state: refused, and left exactly as it is.
    let backend = open();
    let version = backend.read().unwrap().unwrap().version;
    backend.write(b"{ garbage", Some(&version)).unwrap();
    let before = backend.read().unwrap().unwrap();
    let plan = s.run(&["plan", "-f", "remote.yaml"]).expect(1);
    assert!(plan.stderr().contains("corrupt"), "{}", plan.all());
    let after = backend.read().unwrap().unwrap();
    assert_eq!((after.bytes, after.version), (before.bytes, before.version));
    assert!(
        backend.lock_info().unwrap().is_none(),
        "no lock left behind"
    );
}

#[test]
fn local_to_s3_migrate_pull_push_and_corrupt_state() {
    let Some(endpoint) = server_var("DTM_TEST_S3_ENDPOINT") else {
        return;
    };
    let s = Sandbox::new();
    let bucket = unique("dtm-cli");
    create_bucket(&endpoint, &bucket);
    let options = match json!({
        "bucket": bucket,
        "key": "team/devstream.state",
        "endpoint": endpoint,
        "forcePathStyle": true,
        "region": "us-east-1",
    }) {
        Value::Object(map) => map,
        _ => unreachable!(),
    };
    let open = || -> Box<dyn Backend> {
        Box::new(S3Backend::from_options(&options, Path::new(".")).unwrap())
    };
    remote_story(&s, &yaml_state("s3", &options), &open);
}

#[test]
fn local_to_kubernetes_migrate_pull_push_and_corrupt_state() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let s = Sandbox::new();
    let options = match json!({
        "kubeconfig": kubeconfig,
        "namespace": unique("dtm-cli"),
        "configmap": "state",
    }) {
        Value::Object(map) => map,
        _ => unreachable!(),
    };
    let open = || -> Box<dyn Backend> {
        Box::new(KubeBackend::from_options(&options, Path::new(".")).unwrap())
    };
    // DevStream's other name for the backend.
    remote_story(&s, &yaml_state("kubernetes", &options), &open);
}
