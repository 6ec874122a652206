//! examples/quickstart.yaml, the story the README tells: apply, verify, a hand edit to the CI
//! file is drift (exit 2), apply repairs it, destroy removes everything. Offline, real git,
//! through the real binary and plugins.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use std::path::Path;

use common::Sandbox;
use dtm_git_support::testing::git;

#[test]
fn quickstart_apply_verify_drift_repair_destroy() {
    let s = Sandbox::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart.yaml");
    s.write(
        "quickstart.yaml",
        &std::fs::read_to_string(example).unwrap(),
    );
    let f = ["-f", "quickstart.yaml"];
    let with = |cmd: &[&'static str]| [cmd, &f[..]].concat();

    s.run(&with(&["apply", "-y"])).expect(0);
    s.run(&with(&["verify"])).expect(0);

    let bare = s.path("out/remotes/service.git");
    let bare_abs = std::path::absolute(&bare).unwrap();
    assert_eq!(
        s.read("out/service-repo.txt"),
        format!("{}\n", bare_abs.display()),
        "the file holds the repository URL from the output reference"
    );
    let tree = git(&bare, &["ls-tree", "-r", "--name-only", "main"]);
    for expected in [
        "app.py",
        "tests/test_app.py",
        "Dockerfile",
        "README.md",
        ".github/workflows/main.yml",
    ] {
        assert!(tree.lines().any(|l| l == expected), "{expected} in\n{tree}");
    }
    let workflow = git(&bare, &["show", "main:.github/workflows/main.yml"]);
    assert!(workflow.contains("python -m unittest"), "{workflow}");
    assert_eq!(
        git(&bare, &["log", "--format=%an <%ae>", "main"]),
        "dtm <dtm@localhost>\ndtm <dtm@localhost>"
    );

    // A hand edit of the CI file, pushed to the remote: drift.
    git(
        s.dir.path(),
        &["clone", "-q", "out/remotes/service.git", "work"],
    );
    let work = s.path("work");
    std::fs::write(work.join(".github/workflows/main.yml"), "name: hacked\n").unwrap();
    git(&work, &["commit", "-qam", "edit CI by hand"]);
    git(&work, &["push", "-q", "origin", "main"]);
    let drift = s.run(&with(&["verify"])).expect(2);
    assert!(
        drift.all().contains("github-actions.service"),
        "{}",
        drift.all()
    );
    assert!(
        !drift.all().contains("repo-scaffolding.service (update)"),
        "a commit on top of the scaffolding is not drift of the repository\n{}",
        drift.all()
    );

    // apply puts dtm's version back, in a new commit on top of the hand edit.
    s.run(&with(&["apply", "-y"])).expect(0);
    s.run(&with(&["verify"])).expect(0);
    assert_eq!(
        git(&bare, &["show", "main:.github/workflows/main.yml"]),
        workflow
    );
    assert!(git(&bare, &["log", "--format=%s", "main"]).contains("edit CI by hand"));

    s.run(&with(&["destroy", "-y"])).expect(0);
    assert!(!bare.exists(), "the bare repository dtm created is gone");
    assert!(!s.path("out/service-repo.txt").exists());
    assert_eq!(s.state()["resources"], serde_json::json!({}));
}
