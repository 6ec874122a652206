//! DevStream's ci-generic options against local bare repositories.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use dtm_plugin_sdk::protocol::Request;
use dtm_plugin_sdk::testing::{TestHost, call, request};
use dtm_plugin_sdk::{Operation, Response};

use super::*;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@localhost")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@localhost")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn req(op: Operation, dir: &Path, options: Value, status: Value) -> Request {
    let mut r = request(op, "ci-generic.x", options);
    r.workdir = dir.display().to_string();
    r.status = status;
    r
}

fn done(resp: Response) -> (Value, BTreeMap<String, Value>) {
    match resp {
        Response::Done { status, outputs } => (status, outputs),
        other => panic!("expected done, got {other:?}"),
    }
}

/// A temporary directory with an empty bare repository `r.git` (branch `main`).
fn remote() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "--bare", "-b", "main", "r.git"]);
    dir
}

#[test]
fn devstreams_ci_block_with_contents_and_project_repo() {
    let dir = remote();
    let host = TestHost::new();
    // DevStream's sample: `projectRepo`, `ci.type: jenkins-pipeline`, `configContents`.
    let options = json!({
        "projectRepo": {"scmType": "git", "url": "r.git", "branch": "main"},
        "ci": {
            "type": "jenkins-pipeline",
            "configContents": {"Jenkinsfile": "pipeline { stage('[[ appName ]]') { [[ agent ]] } }\n"},
            "vars": {"agent": "linux"},
        },
    });
    let create = req(Operation::Create, dir.path(), options, Value::Null);
    let (status, outputs) = done(call(&Plugin::default(), &host, &create));
    let bare = dir.path().join("r.git");
    assert_eq!(
        git(&bare, &["show", "main:Jenkinsfile"]),
        "pipeline { stage('r') { linux } }"
    );
    assert_eq!(status["path"], "Jenkinsfile");
    assert_eq!(outputs["path"], "Jenkinsfile");
}

#[test]
fn a_directory_of_workflows_goes_to_github_workflows_and_is_kept() {
    let dir = remote();
    let host = TestHost::new();
    let plugin = Plugin::default();
    let workflows = dir.path().join("workflows");
    std::fs::create_dir_all(workflows.join("more")).unwrap();
    std::fs::write(workflows.join("build.yml"), "name: build\n").unwrap();
    std::fs::write(workflows.join("more/test.yaml"), "name: test\n").unwrap();
    std::fs::write(workflows.join("README.md"), "not a workflow\n").unwrap();
    // DevStream's documented example: `ci: {localPath: workflows, type: github}`.
    let options = json!({
        "scm": {"scmType": "git", "url": "r.git"},
        "ci": {"localPath": "workflows", "type": "github"},
    });
    let create = req(Operation::Create, dir.path(), options.clone(), Value::Null);
    let (status, _) = done(call(&plugin, &host, &create));
    let bare = dir.path().join("r.git");
    assert_eq!(
        git(&bare, &["ls-tree", "-r", "--name-only", "main"]),
        ".github/workflows/build.yml\n.github/workflows/test.yaml"
    );
    let files = status["files"].as_object().unwrap();
    assert_eq!(files.len(), 2, "{status}");
    assert!(status["sourceSha256"].is_string(), "{status}");

    // Read reports the same; a hand edit of one file is drift.
    let read = req(Operation::Read, dir.path(), options.clone(), status.clone());
    assert_eq!(done(call(&plugin, &host, &read)).0, status);
    let work = dir.path().join("work");
    git(dir.path(), &["clone", "-q", "r.git", "work"]);
    std::fs::write(work.join(".github/workflows/test.yaml"), "edited\n").unwrap();
    git(&work, &["commit", "-qam", "edit"]);
    git(&work, &["push", "-q", "origin", "main"]);
    assert_ne!(done(call(&plugin, &host, &read)).0, status);

    // Delete removes both.
    let delete = req(Operation::Delete, dir.path(), options, status);
    done(call(&plugin, &host, &delete));
    assert_eq!(git(&bare, &["ls-tree", "-r", "--name-only", "main"]), "");
}

#[test]
fn ci_block_problems_are_named() {
    let host = TestHost::new();
    let problems = |options: Value| match call(
        &Plugin::default(),
        &host,
        &request(Operation::Validate, "ci-generic.x", options),
    ) {
        Response::Invalid { problems } => problems
            .into_iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect::<Vec<_>>(),
        other => panic!("expected invalid, got {other:?}"),
    };
    let got = problems(json!({
        "scm": {"url": "r.git"},
        "ci": {"type": "travis", "configContents": {}},
        "pipeline": {"language": {"name": "go"}},
    }));
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got[0].starts_with("/ci/type: unknown ci.type `travis`"),
        "{got:?}"
    );
    assert!(got[1].starts_with("/ci: give the pipeline"), "{got:?}");
    assert!(
        got[2].starts_with("/pipeline: give the pipeline as `ci`"),
        "{got:?}"
    );
    let got = problems(json!({
        "scm": {"url": "r.git"},
        "ci": {"type": "gitlab", "configContents": {"a.yml": "a", "b.yml": "b"}},
    }));
    assert_eq!(
        got,
        ["/ci/configContents: ci.type `gitlab` keeps one file (.gitlab-ci.yml); give one"]
    );
}

#[test]
fn the_schema_names_devstreams_other_spellings() {
    let schema = dtm_plugin_sdk::manifest::<Plugin>().options_schema;
    assert_eq!(schema["x-aliases"], json!({"projectRepo": "scm"}));
    assert_eq!(
        schema["$defs"]["CiBlock"]["x-aliases"],
        json!({"localPath": "configLocation", "remoteURL": "configLocation"})
    );
}
