//! The CI machinery with a test flavor, against local bare repositories.

use std::collections::BTreeMap;
use std::path::Path;

use dtm_plugin_sdk::protocol::Request;
use dtm_plugin_sdk::testing::{TestHost, call, request};

use super::*;
use crate::testing::git;

#[derive(Debug)]
struct Plain;

impl Flavor for Plain {
    const NAME: &'static str = "ci-test";
    const DESCRIPTION: &'static str = "test flavor";
    const DEFAULT_PATH: &'static str = "ci.yml";
    type Options = Options;

    fn builtin(spec: &pipelines::Spec) -> String {
        format!("language: {}\n", spec.language.name)
    }

    fn example() -> Value {
        json!({ "scm": { "url": "remote.git" }, "pipeline": { "language": { "name": "go" } } })
    }
}

#[test]
fn the_flavors_example_is_the_root_example_and_valid() {
    let manifest = dtm_plugin_sdk::manifest::<CiPlugin<Plain>>();
    assert_eq!(
        manifest.options_schema["examples"],
        json!([Plain::example()])
    );
    let host = TestHost::new();
    let req = request(Operation::Validate, "ci-test.a", Plain::example());
    let response = call(&CiPlugin::<Plain>::default(), &host, &req);
    assert!(matches!(response, Response::Done { .. }), "{response:?}");
}

#[test]
fn an_unknown_language_with_a_pipeline_of_its_own_is_fine() {
    let host = TestHost::new();
    let plugin = CiPlugin::<Plain>::default();
    let cobol = |extra: Value| {
        let mut pipeline = json!({"language": {"name": "cobol", "framework": "cics"}});
        if let (Value::Object(p), Value::Object(e)) = (&mut pipeline, extra) {
            p.extend(e);
        }
        json!({"scm": {"url": "r.git"}, "pipeline": pipeline})
    };
    let given = cobol(json!({"configLocation": "ci/pipeline.yml"}));
    let response = call(
        &plugin,
        &host,
        &request(Operation::Validate, "ci-test.a", given),
    );
    assert!(matches!(response, Response::Done { .. }), "{response:?}");
    // Without one, the built-in pipeline needs a language it knows.
    let response = call(
        &plugin,
        &host,
        &request(Operation::Validate, "ci-test.a", cobol(json!({}))),
    );
    let Response::Invalid { problems } = response else {
        panic!("expected invalid, got {response:?}");
    };
    assert_eq!(problems[0].path, "/pipeline/language");
    assert!(problems[0].message.contains("cobol"), "{problems:?}");
}

fn req(op: Operation, dir: &Path, options: Value) -> Request {
    let mut r = request(op, "ci-test.x", options);
    r.workdir = dir.display().to_string();
    r
}

fn done(resp: Response) -> (Value, BTreeMap<String, Value>) {
    match resp {
        Response::Done { status, outputs } => (status, outputs),
        other => panic!("expected done, got {other:?}"),
    }
}

#[test]
fn story_create_read_drift_move_delete() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let host = TestHost::new();
    let plugin = CiPlugin::<Plain>::default();
    let missing = json!({"scm": {"url": "r.git"}, "pipeline": {"language": {"name": "go"}}});
    // No repository yet: read says absent, create says what to do.
    assert_eq!(
        call(
            &plugin,
            &host,
            &req(Operation::Read, dir.path(), missing.clone())
        ),
        Response::Absent
    );
    let Response::Error { error } =
        call(&plugin, &host, &req(Operation::Create, dir.path(), missing))
    else {
        panic!("expected an error");
    };
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(
        error.message.contains("repo-scaffolding"),
        "{}",
        error.message
    );

    git(dir.path(), &["init", "-q", "--bare", "-b", "main", "r.git"]);
    let bare = dir.path().join("r.git");
    let options = json!({"scm": {"url": "r.git"}, "pipeline": {"language": {"name": "go"}}});
    let (status, outputs) = done(call(
        &plugin,
        &host,
        &req(Operation::Create, dir.path(), options.clone()),
    ));
    assert_eq!(git(&bare, &["show", "main:ci.yml"]), "language: go");
    assert_eq!(outputs["commit"], git(&bare, &["rev-parse", "main"]));
    assert_eq!(status["path"], "ci.yml");

    let mut read = req(Operation::Read, dir.path(), options.clone());
    read.status = status.clone();
    assert_eq!(done(call(&plugin, &host, &read)).0, status);

    // Creating again changes nothing (no new commit).
    let head = git(&bare, &["rev-parse", "main"]);
    done(call(
        &plugin,
        &host,
        &req(Operation::Create, dir.path(), options),
    ));
    assert_eq!(git(&bare, &["rev-parse", "main"]), head);

    // Another path: the file moves in one commit.
    let moved = json!({"scm": {"url": "r.git"}, "pipeline": {"language": {"name": "rust"}}, "path": "ci/x.yml"});
    let mut update = req(Operation::Update, dir.path(), moved.clone());
    update.status = status;
    let (status, _) = done(call(&plugin, &host, &update));
    assert_eq!(
        git(&bare, &["ls-tree", "-r", "--name-only", "main"]),
        "ci/x.yml"
    );
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s", "main"]),
        "ci: move ci/x.yml"
    );

    let mut delete = req(Operation::Delete, dir.path(), moved.clone());
    delete.status = status;
    done(call(&plugin, &host, &delete));
    assert_eq!(git(&bare, &["ls-tree", "-r", "--name-only", "main"]), "");
    done(call(&plugin, &host, &delete));
    assert_eq!(
        call(&plugin, &host, &req(Operation::Read, dir.path(), moved)),
        Response::Absent
    );
}
