//! Pins the ABI's JSON shapes: each document below is serialized and compared with its insta
//! snapshot (`tests/it/snapshots/it__golden__<name>.snap`), then read back. A change to a wire
//! shape shows up as a diff here (and must be reflected in `docs/plugin-abi.md`). After an
//! intended change, review the new snapshots with `cargo insta review` (or rerun with
//! `INSTA_UPDATE=always`) and look at the diff.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;

use dtm_plugin_protocol::{
    ABI_VERSION, ErrorKind, Manifest, Operation, OutputSpec, PluginError, Problem, Request,
    Response,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// A document a host or plugin sends, as a file under `tests/fixtures`.
fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.json"))
}

/// JSON objects inside `Value`s are written in sorted key order here, so the snapshots do not
/// depend on whether serde_json's `preserve_order` feature is enabled somewhere in the workspace.
fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(name: &str, value: &T) {
    let actual = serde_json::to_string_pretty(value).unwrap();
    insta::assert_snapshot!(name, actual);
    let back: T = serde_json::from_str(&actual).unwrap();
    assert_eq!(&back, value, "{name} does not survive a round trip");
}

fn outputs(pairs: &[(&str, serde_json::Value)]) -> BTreeMap<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn request() {
    let request = Request {
        abi_version: ABI_VERSION,
        operation: Operation::Update,
        instance: "file.motd".into(),
        options: json!({ "content": "hello\n", "mode": "0644", "path": "motd.txt" }),
        status: json!({ "mode": "0644", "sha256": "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", "size": 6 }),
        outputs: outputs(&[("path", json!("/srv/app/motd.txt"))]),
        pending: json!({ "step": 2 }),
        workdir: "/srv/app".into(),
    };
    check("request", &request);
}

#[test]
fn request_with_defaults() {
    // What a minimal host sends: optional fields left out are null / empty.
    let text = std::fs::read_to_string(fixture_path("request_minimal")).unwrap();
    let request: Request = serde_json::from_str(&text).unwrap();
    assert_eq!(
        request,
        Request {
            abi_version: ABI_VERSION,
            operation: Operation::Validate,
            instance: "exec.build".into(),
            options: json!({ "create": "make" }),
            status: serde_json::Value::Null,
            outputs: BTreeMap::new(),
            pending: serde_json::Value::Null,
            workdir: String::new(),
        }
    );
}

#[test]
fn response_done() {
    check(
        "response_done",
        &Response::Done {
            status: json!({ "mode": "0644", "sha256": "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", "size": 6 }),
            outputs: outputs(&[
                ("path", json!("/srv/app/motd.txt")),
                (
                    "sha256",
                    json!("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"),
                ),
            ]),
        },
    );
}

#[test]
fn response_absent() {
    check("response_absent", &Response::Absent);
}

#[test]
fn response_pending() {
    check(
        "response_pending",
        &Response::Pending {
            pending: json!({ "operation_id": "op-42", "step": 1 }),
            delay_ms: 5000,
            message: "waiting for the cluster to become ready".into(),
        },
    );
}

#[test]
fn response_invalid() {
    check(
        "response_invalid",
        &Response::Invalid {
            problems: vec![
                Problem {
                    path: "/mode".into(),
                    message: "`999` is not an octal mode like \"0644\"".into(),
                },
                Problem {
                    path: "".into(),
                    message: "give either `content` or `template`, not both".into(),
                },
            ],
        },
    );
}

#[test]
fn response_error() {
    check(
        "response_error",
        &Response::Error {
            error: PluginError {
                kind: ErrorKind::Unavailable,
                message: "api.github.com answered 503 Service Unavailable".into(),
                retryable: true,
            },
        },
    );
}

#[test]
fn error_kinds() {
    let kinds = [
        ErrorKind::InvalidOptions,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::PermissionDenied,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::Cancelled,
        ErrorKind::Unsupported,
        ErrorKind::Panic,
        ErrorKind::Internal,
    ];
    for kind in kinds {
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
    }
    check("error_kinds", &kinds.to_vec());
}

#[test]
fn operations() {
    let ops = [
        Operation::Validate,
        Operation::Create,
        Operation::Read,
        Operation::Update,
        Operation::Delete,
    ];
    for op in ops {
        assert_eq!(serde_json::to_value(op).unwrap(), json!(op.as_str()));
    }
    check("operations", &ops.to_vec());
}

#[test]
fn manifest() {
    check(
        "manifest",
        &Manifest {
            name: "file".into(),
            version: "0.1.0".into(),
            abi_version: ABI_VERSION,
            description: "Manages one file: its content and mode".into(),
            options_schema: json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "additionalProperties": false,
                "properties": {
                    "content": { "type": ["string", "null"] },
                    "path": { "minLength": 1, "type": "string" }
                },
                "required": ["path"],
                "title": "Options",
                "type": "object"
            }),
            outputs: vec![
                OutputSpec {
                    name: "path".into(),
                    description: "absolute path of the file".into(),
                },
                OutputSpec {
                    name: "sha256".into(),
                    description: "SHA-256 of the file's content".into(),
                },
            ],
        },
    );
}
