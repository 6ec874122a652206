use std::path::Path;

use dtm_plugin_sdk::protocol::Request;
use dtm_plugin_sdk::testing::{TestHost, call, request};
use serde_json::{Value, json};

use super::*;
use dtm_git_support::testing::git;

fn req(op: Operation, dir: &Path, options: Value) -> Request {
    let mut r = request(op, "repo-scaffolding.test", options);
    r.workdir = dir.display().to_string();
    r
}

fn done(resp: Response) -> (Value, BTreeMap<String, Value>) {
    match resp {
        Response::Done { status, outputs } => (status, outputs),
        other => panic!("expected done, got {other:?}"),
    }
}

/// `git show BRANCH:PATH` in a bare repository.
fn show(bare: &Path, spec: &str) -> String {
    git(bare, &["show", spec])
}

#[test]
fn local_bare_story_create_read_drift_update_delete() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::new();
    let options = json!({
        "destinationRepo": {"url": "remotes/svc.git", "scmType": "git"},
        "sourceRepo": {"template": "python"},
        "vars": {"port": 9000}
    });
    let (status, outputs) = done(call(
        &RepoScaffolding,
        &host,
        &req(Operation::Create, dir.path(), options.clone()),
    ));
    let bare = dir.path().join("remotes/svc.git");
    assert!(bare.join("HEAD").exists(), "bare repository created");
    assert_eq!(outputs["repoURL"], bare.display().to_string());
    assert_eq!(outputs["repo"], "svc");
    assert_eq!(outputs["branch"], "main");
    assert_eq!(status["created"], true);
    assert_eq!(outputs["headCommit"], git(&bare, &["rev-parse", "main"]));
    let app = show(&bare, "main:app.py");
    assert!(app.contains("\"service\": \"svc\""), "{app}");
    assert!(app.contains("\"9000\""), "{app}");
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%an <%ae>", "main"]),
        "dtm <dtm@localhost>"
    );

    // In sync; another commit on top (another tool's) is not drift.
    let mut read = req(Operation::Read, dir.path(), options.clone());
    read.status = status.clone();
    read.outputs = outputs.clone();
    assert_eq!(done(call(&RepoScaffolding, &host, &read)).0, status);
    let work = dir.path().join("work");
    git(dir.path(), &["clone", "-q", bare.to_str().unwrap(), "work"]);
    std::fs::write(work.join("NOTES"), "more\n").unwrap();
    git(&work, &["add", "NOTES"]);
    git(&work, &["commit", "-qm", "notes"]);
    git(&work, &["push", "-q", "origin", "main"]);
    assert_eq!(done(call(&RepoScaffolding, &host, &read)).0, status);

    // History rewritten without the scaffolding commit: drift.
    git(&work, &["checkout", "-q", "--orphan", "other"]);
    git(&work, &["commit", "-qm", "unrelated"]);
    git(&work, &["push", "-qf", "origin", "other:main"]);
    let drifted = done(call(&RepoScaffolding, &host, &read)).0;
    assert_eq!(drifted["onBranch"], false);

    // Update re-renders onto the branch.
    let mut update = req(Operation::Update, dir.path(), options.clone());
    update.status = drifted;
    update.outputs = outputs.clone();
    let (status2, _) = done(call(&RepoScaffolding, &host, &update));
    assert_eq!(status2["onBranch"], true);
    assert_eq!(status2["created"], true);
    assert!(show(&bare, "main:app.py").contains("svc"));
    // No change, no commit.
    update.status = status2.clone();
    let (status3, _) = done(call(&RepoScaffolding, &host, &update));
    assert_eq!(status3["commit"], status2["commit"]);

    // Branch deleted: absent.
    git(&bare, &["update-ref", "-d", "refs/heads/main"]);
    read.status = status3.clone();
    assert_eq!(call(&RepoScaffolding, &host, &read), Response::Absent);

    // Delete removes the repository dtm created, and is idempotent.
    let mut delete = req(Operation::Delete, dir.path(), options.clone());
    delete.status = status3;
    done(call(&RepoScaffolding, &host, &delete));
    assert!(!bare.exists());
    done(call(&RepoScaffolding, &host, &delete));
    assert_eq!(call(&RepoScaffolding, &host, &read), Response::Absent);
}

#[test]
fn template_repository_with_subdirectory_into_an_existing_repository() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::new();
    // A template repository with the template under `tpl/`.
    let tpl = dir.path().join("template");
    std::fs::create_dir_all(tpl.join("tpl/[[ appName ]]")).unwrap();
    std::fs::write(
        tpl.join("tpl/README.md.tpl"),
        "# [[ appName ]] by [[ team ]]\n",
    )
    .unwrap();
    std::fs::write(
        tpl.join("tpl/[[ appName ]]/Cargo.toml"),
        "[[bin]]\nname = \"[[ appName ]]\"\n",
    )
    .unwrap();
    std::fs::write(tpl.join("ignored.txt"), "outside the subdirectory\n").unwrap();
    // DevStream's template style: Go-template names and `_app_name_` directories.
    std::fs::create_dir_all(tpl.join("tpl/helm/_app_name_")).unwrap();
    std::fs::write(
        tpl.join("tpl/helm/_app_name_/values.yaml.tpl"),
        "image: [[ .imageRepo ]]\nowner: [[ .Repo.Owner ]]\n",
    )
    .unwrap();
    git(&tpl, &["init", "-q", "-b", "trunk"]);
    git(&tpl, &["add", "."]);
    git(&tpl, &["commit", "-qm", "template"]);
    // An existing repository with history on `main`.
    let bare = dir.path().join("existing.git");
    git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "existing.git"],
    );
    let work = dir.path().join("w");
    git(dir.path(), &["clone", "-q", bare.to_str().unwrap(), "w"]);
    std::fs::write(work.join("OLD"), "old\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-qm", "old"]);
    git(&work, &["push", "-q", "origin", "HEAD:main"]);

    let options = json!({
        "destinationRepo": {"url": bare.display().to_string(), "branch": "feature"},
        "sourceRepo": {"url": "template", "path": "tpl"},
        "vars": {"team": "platform"}
    });
    let (status, outputs) = done(call(
        &RepoScaffolding,
        &host,
        &req(Operation::Create, dir.path(), options.clone()),
    ));
    assert_eq!(status["created"], false);
    assert_eq!(status["branchCreated"], true);
    assert_eq!(outputs["repo"], "existing");
    assert_eq!(show(&bare, "feature:README.md"), "# existing by platform");
    assert_eq!(
        show(&bare, "feature:existing/Cargo.toml"),
        "[[bin]]\nname = \"existing\""
    );
    assert!(
        git(&bare, &["ls-tree", "--name-only", "feature"])
            .lines()
            .all(|l| l != "ignored.txt")
    );
    // A local path's owner is its parent directory's name.
    assert_eq!(
        show(&bare, "feature:helm/existing/values.yaml"),
        format!(
            "image: existing\nowner: {}",
            dir.path().file_name().unwrap().to_string_lossy()
        )
    );

    // Delete removes only the branch dtm created.
    let mut delete = req(Operation::Delete, dir.path(), options);
    delete.status = status;
    done(call(&RepoScaffolding, &host, &delete));
    assert!(bare.exists());
    assert_eq!(git(&bare, &["branch", "--list", "feature"]), "");
    assert!(!git(&bare, &["branch", "--list", "main"]).is_empty());
}

#[test]
fn builtin_template_follows_the_language_var_and_bad_options_are_reported() {
    let host = TestHost::new();
    let valid = request(
        Operation::Validate,
        "repo-scaffolding.t",
        json!({"destinationRepo": {"url": "x.git", "scmType": "git"}, "vars": {"language": "golang"}}),
    );
    assert!(matches!(
        call(&RepoScaffolding, &host, &valid),
        Response::Done { .. }
    ));
    let invalid = request(
        Operation::Validate,
        "repo-scaffolding.t",
        json!({"destinationRepo": {"owner": "a", "org": "b", "name": "n", "scmType": "github"}, "sourceRepo": {"template": "cobol"}}),
    );
    let Response::Invalid { problems } = call(&RepoScaffolding, &host, &invalid) else {
        panic!("expected invalid");
    };
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["/destinationRepo/org", "/sourceRepo/template"]);
}

#[test]
fn every_builtin_template_renders_without_leftover_placeholders() {
    let repo = RepoInfo {
        url: Some("/srv/my-svc.git".into()),
        ..RepoInfo::default()
    }
    .resolve(|p: &str| std::path::PathBuf::from(p))
    .unwrap();
    let options: Options =
        serde_json::from_value(json!({"destinationRepo": {"url": "/srv/my-svc.git"}})).unwrap();
    let vars = RepoScaffolding::vars(&repo, &options);
    for name in BUILTIN_NAMES {
        let files = templates::render_all(templates::builtin(name), &vars).unwrap();
        assert!(files.iter().any(|f| f.path == "Dockerfile"), "{name}");
        assert!(files.iter().any(|f| f.path == "README.md"), "{name}");
        for f in files {
            let text = String::from_utf8(f.bytes).unwrap();
            assert!(!text.contains("[["), "{name}/{}: {text}", f.path);
            assert!(!f.path.ends_with(".tpl"));
        }
    }
}
