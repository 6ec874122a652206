//! Conformance stories of the git plugins through the real binary: create, read (verify), no-op
//! plan, drift by hand, repair, option change → update, delete, delete again. Against real git
//! (a `git daemon` on loopback) and loopback stand-ins for the GitHub and GitLab REST APIs.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::catalogue_support;
use crate::common;

use catalogue_support::{Flavor, GitDaemon, ScmStandIn, git};
use common::{Run, Sandbox};

const TOKEN: &str = "ghp_standin_secret_0123456789";

fn run(s: &Sandbox, args: &[&str]) -> Run {
    Run(s
        .cmd(args)
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITLAB_TOKEN", TOKEN)
        .output()
        .unwrap())
}

#[track_caller]
fn assert_no_changes(s: &Sandbox) {
    let plan = run(s, &["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("No changes"), "{}", plan.all());
}

fn github_config(base: &str, port: u32) -> String {
    format!(
        r#"tools:
- name: repo-scaffolding
  instanceID: web
  options:
    destinationRepo:
      scmType: github
      baseURL: {base}
      owner: alice
      name: web
      token: [[ env "GITHUB_TOKEN" ]]
    sourceRepo:
      template: go
    vars:
      port: {port}
- name: github-actions
  instanceID: web
  dependsOn: ["repo-scaffolding.web"]
  options:
    scm:
      scmType: github
      baseURL: {base}
      owner: alice
      name: web
      token: [[ env "GITHUB_TOKEN" ]]
    pipeline:
      language: {{name: go}}
"#
    )
}

#[test]
fn repo_scaffolding_and_github_actions_against_a_github_stand_in() {
    let s = Sandbox::new();
    let api = ScmStandIn::start(Flavor::GitHub, &s.path("standin"), "alice", TOKEN);
    s.write("dtm.yaml", &github_config(&api.base_url(), 8080));

    // create
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let log = api.log();
    assert!(
        log.contains(&"GET /api/v3/repos/alice/web token".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"POST /api/v3/user/repos token".to_string()),
        "{log:?}"
    );
    assert!(
        log.iter().all(|l| l.ends_with(" token")),
        "every call carries the token: {log:?}"
    );
    let bare = api.repo_path("alice", "web");
    let tree = git(&bare, &["ls-tree", "-r", "--name-only", "main"]);
    for f in [
        "go.mod",
        "main.go",
        "main_test.go",
        "Dockerfile",
        ".github/workflows/main.yml",
    ] {
        assert!(tree.lines().any(|l| l == f), "{f} in\n{tree}");
    }
    assert!(git(&bare, &["show", "main:README.md"]).contains(":8080"));
    let state = s.read("devstream.state");
    assert!(!state.contains(TOKEN), "the token never reaches state");
    let outputs = &s.state()["resources"]["repo-scaffolding.web"]["outputs"];
    assert_eq!(outputs["repoURL"], format!("{}/alice/web", api.base_url()));
    assert_eq!(outputs["owner"], "alice");

    // read + no-op plan
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);
    assert_no_changes(&s);

    // drift by hand: the repository is deleted on the server
    std::fs::remove_dir_all(&bare).unwrap();
    let drift = run(&s, &["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(
        drift.all().contains("repo-scaffolding.web"),
        "{}",
        drift.all()
    );

    // repair
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(bare.exists());
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);

    // option change → update, a new commit on top
    s.write("dtm.yaml", &github_config(&api.base_url(), 9090));
    let plan = run(&s, &["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("1 to update"), "{}", plan.all());
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(git(&bare, &["show", "main:README.md"]).contains(":9090"));
    assert!(git(&bare, &["show", "main:.github/workflows/main.yml"]).contains("go test"));
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);

    // delete: the workflow goes in a commit, then the repository dtm created goes through the API
    run(&s, &["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(
        api.log()
            .contains(&"DELETE /api/v3/repos/alice/web token".to_string())
    );
    assert!(!bare.exists());
    // and again
    run(&s, &["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.state()["resources"], serde_json::json!({}));
}

#[test]
fn a_wrong_token_is_a_permission_error_naming_the_url() {
    let s = Sandbox::new();
    let api = ScmStandIn::start(Flavor::GitHub, &s.path("standin"), "alice", "another-token");
    s.write("dtm.yaml", &github_config(&api.base_url(), 8080));
    let out = run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(out.all().contains("401"), "{}", out.all());
    assert!(
        out.all().contains("/api/v3/repos/alice/web"),
        "{}",
        out.all()
    );
    assert!(!out.all().contains(TOKEN), "the token is not printed");
}

#[test]
fn gitlab_group_project_with_gitlab_ci_against_a_gitlab_stand_in() {
    let s = Sandbox::new();
    let api = ScmStandIn::start(Flavor::GitLab, &s.path("standin"), "bob", TOKEN);
    let config = format!(
        r#"tools:
- name: repo-scaffolding
  instanceID: billing
  options:
    destinationRepo:
      scmType: gitlab
      baseURL: {base}
      org: platform
      name: billing
      token: [[ env "GITLAB_TOKEN" ]]
      visibility: internal
    sourceRepo:
      template: rust
- name: gitlab-ci
  instanceID: billing
  options:
    scm:
      url: {base}/platform/billing
      scmType: gitlab
      token: [[ env "GITLAB_TOKEN" ]]
      branch: ${{{{ repo-scaffolding.billing.outputs.branch }}}}
    pipeline:
      language: {{name: rust}}
"#,
        base = api.base_url()
    );
    s.write("dtm.yaml", &config);
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let log = api.log();
    assert!(
        log.contains(&"GET /api/v4/namespaces/platform token".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"POST /api/v4/projects token".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"GET /api/v4/projects/platform%2Fbilling token".to_string()),
        "{log:?}"
    );
    let bare = api.repo_path("platform", "billing");
    // GitLab's default branch, as in DevStream: master.
    let tree = git(&bare, &["ls-tree", "-r", "--name-only", "master"]);
    for f in ["Cargo.toml", "src/main.rs", ".gitlab-ci.yml"] {
        assert!(tree.lines().any(|l| l == f), "{f} in\n{tree}");
    }
    assert!(git(&bare, &["show", "master:.gitlab-ci.yml"]).contains("cargo clippy"));
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);
    assert_no_changes(&s);

    // A hand edit of the pipeline is drift of gitlab-ci only; apply repairs it.
    git(
        s.dir.path(),
        &[
            "clone",
            "-q",
            "-b",
            "master",
            &api.daemon.url("platform/billing.git"),
            "w",
        ],
    );
    let work = s.path("w");
    std::fs::write(work.join(".gitlab-ci.yml"), "stages: []\n").unwrap();
    git(&work, &["commit", "-qam", "by hand"]);
    git(&work, &["push", "-q", "origin", "master"]);
    let drift = run(&s, &["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(
        drift.all().contains("gitlab-ci.billing (update)"),
        "{}",
        drift.all()
    );
    assert!(
        !drift.all().contains("repo-scaffolding.billing (update)"),
        "{}",
        drift.all()
    );
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);

    run(&s, &["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(
        api.log()
            .contains(&"DELETE /api/v4/projects/platform%2Fbilling token".to_string())
    );
    assert!(!bare.exists());
}

fn generic_config(url: &str, path: &str, lang: &str) -> String {
    format!(
        r#"tools:
- name: ci-generic
  instanceID: app
  options:
    scm:
      scmType: git
      url: {url}
      branch: main
    pipeline:
      language: {{name: {lang}}}
    path: {path}
"#
    )
}

#[test]
fn ci_generic_story_over_a_git_daemon() {
    let s = Sandbox::new();
    let daemon = GitDaemon::start(&s.path("served"));
    // An existing repository with history, which dtm did not create.
    let bare = s.path("served/team/app.git");
    std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
    git(
        s.dir.path(),
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    git(s.dir.path(), &["init", "-q", "-b", "main", "seed"]);
    std::fs::write(s.path("seed/README"), "app\n").unwrap();
    git(&s.path("seed"), &["add", "."]);
    git(&s.path("seed"), &["commit", "-qm", "first"]);
    git(
        &s.path("seed"),
        &["push", "-q", bare.to_str().unwrap(), "main"],
    );
    let url = daemon.url("team/app.git");

    // create
    s.write("dtm.yaml", &generic_config(&url, "ci/pipeline.sh", "go"));
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let entry = git(&bare, &["ls-tree", "main", "ci/pipeline.sh"]);
    assert!(entry.starts_with("100755"), "committed executable: {entry}");
    let script = git(&bare, &["show", "main:ci/pipeline.sh"]);
    assert!(script.contains("go test ./..."), "{script}");
    // read + no-op plan
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);
    assert_no_changes(&s);

    // drift by hand, then repair
    git(s.dir.path(), &["clone", "-q", &url, "w"]);
    std::fs::write(s.path("w/ci/pipeline.sh"), "#!/bin/sh\necho skipped\n").unwrap();
    git(&s.path("w"), &["commit", "-qam", "skip CI"]);
    git(&s.path("w"), &["push", "-q", "origin", "main"]);
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(2);
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(git(&bare, &["show", "main:ci/pipeline.sh"]), script);
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);

    // option change → update: another path and language; the old file goes
    s.write("dtm.yaml", &generic_config(&url, "build/ci.sh", "python"));
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let tree = git(&bare, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(tree.lines().any(|l| l == "build/ci.sh"), "{tree}");
    assert!(!tree.lines().any(|l| l == "ci/pipeline.sh"), "{tree}");
    assert!(git(&bare, &["show", "main:build/ci.sh"]).contains("python -m unittest"));
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);

    // delete removes the file in a commit; the repository stays. Then again.
    run(&s, &["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    let tree = git(&bare, &["ls-tree", "-r", "--name-only", "main"]);
    assert_eq!(tree, "README");
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s%n%an <%ae>", "main"]),
        "ci: remove build/ci.sh\ndtm <dtm@localhost>"
    );
    run(&s, &["delete", "-y", "-f", "dtm.yaml"]).expect(0);
}
