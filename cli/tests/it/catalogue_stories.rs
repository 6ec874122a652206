//! The conformance story, through the real binary, for github-actions, gitlab-ci and ci-generic
//! (against a local bare repository), for repo-scaffolding with a network git URL (a `git daemon`
//! on loopback) and for exec: create, read, no-op plan, drift by hand, repair, option change →
//! update, delete, delete again. (file: `story.rs`; k8s-manifest and argocdapp:
//! `catalogue_kube.rs`.)
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::catalogue_support;
use crate::common;

use catalogue_support::{GitDaemon, git};
use common::Sandbox;

#[track_caller]
fn no_changes(s: &Sandbox) {
    let plan = s.run(&["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("No changes"), "{}", plan.all());
}

/// A bare repository `remotes/app.git` with one commit on `main`, made by someone else.
fn seeded_remote(s: &Sandbox) -> std::path::PathBuf {
    let bare = s.path("remotes/app.git");
    std::fs::create_dir_all(s.path("remotes")).unwrap();
    git(
        s.dir.path(),
        &["init", "-q", "--bare", "-b", "main", "remotes/app.git"],
    );
    git(s.dir.path(), &["init", "-q", "-b", "main", "seed"]);
    std::fs::write(s.path("seed/README"), "app\n").unwrap();
    git(&s.path("seed"), &["add", "."]);
    git(&s.path("seed"), &["commit", "-qm", "first"]);
    git(
        &s.path("seed"),
        &["push", "-q", bare.to_str().unwrap(), "main"],
    );
    bare
}

fn ci_config(plugin: &str, language: &str) -> String {
    format!(
        "tools:\n- name: {plugin}\n  instanceID: app\n  options:\n    scm: {{url: remotes/app.git, scmType: git, branch: main}}\n    pipeline:\n      language: {{name: {language}}}\n      imageRepo: {{url: registry.example.com, user: team}}\n"
    )
}

fn ci_story(plugin: &str, file: &str, go_marker: &str, rust_marker: &str) {
    let s = Sandbox::new();
    let bare = seeded_remote(&s);
    let show = |rev: &str| git(&bare, &["show", &format!("main:{rev}")]);

    // create
    s.write("dtm.yaml", &ci_config(plugin, "go"));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let written = show(file);
    assert!(written.contains(go_marker), "{written}");
    assert!(
        written.contains("registry.example.com/team/app"),
        "{written}"
    );
    // read, no-op plan
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // drift by hand: an edit, then a removal; each is repaired by apply
    git(s.dir.path(), &["clone", "-q", "remotes/app.git", "w"]);
    let w = s.path("w");
    std::fs::write(w.join(file), "edited\n").unwrap();
    git(&w, &["commit", "-qam", "edit"]);
    git(&w, &["push", "-q", "origin", "main"]);
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(
        out.all().contains(&format!("{plugin}.app (update)")),
        "{}",
        out.all()
    );
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(show(file), written);
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    git(&w, &["pull", "-q", "--ff-only"]);
    git(&w, &["rm", "-q", file]);
    git(&w, &["commit", "-qm", "remove CI"]);
    git(&w, &["push", "-q", "origin", "main"]);
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(
        out.all().contains(&format!("{plugin}.app (create)")),
        "{}",
        out.all()
    );
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(show(file), written);

    // option change → update
    s.write("dtm.yaml", &ci_config(plugin, "rust"));
    let plan = s.run(&["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("1 to update"), "{}", plan.all());
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(show(file).contains(rust_marker), "{}", show(file));
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // delete, and again: the file goes in a commit, the repository and its history stay
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(
        git(&bare, &["ls-tree", "-r", "--name-only", "main"]),
        "README"
    );
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.state()["resources"], serde_json::json!({}));
}

#[test]
fn github_actions_story() {
    ci_story(
        "github-actions",
        ".github/workflows/main.yml",
        "go test ./...",
        "cargo test",
    );
}

#[test]
fn gitlab_ci_story() {
    ci_story(
        "gitlab-ci",
        ".gitlab-ci.yml",
        "go vet ./...",
        "cargo clippy",
    );
}

fn scaffolding_config(url: &str, port: u32) -> String {
    format!(
        "tools:\n- name: repo-scaffolding\n  instanceID: svc\n  options:\n    destinationRepo: {{url: \"{url}\", scmType: git, branch: dtm-scaffold}}\n    sourceRepo: {{template: python}}\n    vars: {{port: {port}}}\n"
    )
}

#[test]
fn repo_scaffolding_story_over_a_git_daemon() {
    let s = Sandbox::new();
    let daemon = GitDaemon::start(&s.path("served"));
    let bare = s.path("served/team/svc.git");
    std::fs::create_dir_all(s.path("served/team")).unwrap();
    git(
        s.dir.path(),
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    let url = daemon.url("team/svc.git");

    // create: the branch is new in an existing (network) repository
    s.write("dtm.yaml", &scaffolding_config(&url, 8080));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let app = git(&bare, &["show", "dtm-scaffold:app.py"]);
    assert!(app.contains("\"8080\""), "{app}");
    let outputs = s.state()["resources"]["repo-scaffolding.svc"]["outputs"].clone();
    assert_eq!(outputs["repoURL"], url);
    assert_eq!(outputs["repo"], "svc");
    assert_eq!(outputs["owner"], "team");
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // Work on top of the scaffolding is not drift.
    git(
        s.dir.path(),
        &["clone", "-q", "-b", "dtm-scaffold", &url, "w"],
    );
    let w = s.path("w");
    std::fs::write(w.join("NOTES.md"), "notes\n").unwrap();
    git(&w, &["add", "."]);
    git(&w, &["commit", "-qm", "notes"]);
    git(&w, &["push", "-q", "origin", "dtm-scaffold"]);
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);

    // drift by hand: the branch is rewritten without the scaffolding; apply repairs it
    git(&w, &["checkout", "-q", "--orphan", "other"]);
    git(&w, &["rm", "-rqf", "."]);
    std::fs::write(w.join("OTHER"), "other\n").unwrap();
    git(&w, &["add", "."]);
    git(&w, &["commit", "-qm", "unrelated"]);
    git(&w, &["push", "-qf", "origin", "other:dtm-scaffold"]);
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(out.all().contains("onBranch"), "{}", out.all());
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(git(&bare, &["show", "dtm-scaffold:app.py"]), app);
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);

    // the branch deleted by hand: drift, then created again
    git(&bare, &["update-ref", "-d", "refs/heads/dtm-scaffold"]);
    s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);

    // option change → update
    s.write("dtm.yaml", &scaffolding_config(&url, 9000));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(git(&bare, &["show", "dtm-scaffold:app.py"]).contains("\"9000\""));
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // delete removes the branch dtm created, not the repository; and again
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(bare.exists());
    assert_eq!(git(&bare, &["branch", "--list", "dtm-scaffold"]), "");
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
}

#[test]
fn ci_generic_with_a_config_location_file_follows_edits_of_that_file() {
    let s = Sandbox::new();
    let bare = seeded_remote(&s);
    s.write(
        "ci/Jenkinsfile",
        "pipeline { agent { label '[[ agentLabel ]]' } // [[ appName ]] on [[ branch ]]\n  stages { stage('test') { steps { sh 'make test' } } } }\n",
    );
    s.write(
        "dtm.yaml",
        "tools:\n- name: ci-generic\n  instanceID: jenkins\n  options:\n    scm: {url: remotes/app.git, branch: main}\n    pipeline:\n      configLocation: ci/Jenkinsfile\n      vars: {agentLabel: linux}\n",
    );
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let written = git(&bare, &["show", "main:Jenkinsfile"]);
    assert!(
        written.starts_with("pipeline { agent { label 'linux' } // app on main"),
        "{written}"
    );
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);

    // An edit of the source file is drift, and apply commits the new version.
    s.write(
        "ci/Jenkinsfile",
        "pipeline { agent { label '[[ agentLabel ]]' } stages { stage('build') { steps { sh 'make' } } } }\n",
    );
    s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(git(&bare, &["show", "main:Jenkinsfile"]).contains("stage('build')"));
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    s.run(&["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(
        git(&bare, &["ls-tree", "-r", "--name-only", "main"]),
        "README"
    );
}

#[test]
fn ci_generic_story() {
    ci_story(
        "ci-generic",
        "ci/pipeline.sh",
        "go test ./...",
        "cargo test",
    );
}

fn exec_config(greeting: &str) -> String {
    format!(
        r#"tools:
- name: exec
  instanceID: greeting
  options:
    options: {{text: "{greeting}"}}
    create: 'mkdir -p out && printf "%s\n" "$DTM_OPT_TEXT" > out/greeting.txt'
    read: 'test -f out/greeting.txt && printf "{{\"text\": \"%s\"}}" "$(cat out/greeting.txt)" || true'
    delete: "rm -f out/greeting.txt"
"#
    )
}

#[test]
fn exec_story() {
    let s = Sandbox::new();
    // create
    s.write("dtm.yaml", &exec_config("hello"));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.read("out/greeting.txt"), "hello\n");
    assert_eq!(
        s.state()["resources"]["exec.greeting"]["status"],
        serde_json::json!({"text": "hello"})
    );
    // read, no-op plan
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);
    // drift by hand, repaired; removal by hand, recreated
    s.write("out/greeting.txt", "edited\n");
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(
        out.all().contains("exec.greeting (update)"),
        "{}",
        out.all()
    );
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.read("out/greeting.txt"), "hello\n");
    std::fs::remove_file(s.path("out/greeting.txt")).unwrap();
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(
        out.all().contains("exec.greeting (create)"),
        "{}",
        out.all()
    );
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    // option change → update
    s.write("dtm.yaml", &exec_config("bonjour"));
    let plan = s.run(&["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("1 to update"), "{}", plan.all());
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.read("out/greeting.txt"), "bonjour\n");
    no_changes(&s);
    // delete, and again
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(!s.path("out/greeting.txt").exists());
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.state()["resources"], serde_json::json!({}));
}
