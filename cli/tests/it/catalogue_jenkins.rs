//! Conformance story of the jenkins-pipeline plugin through the real binary: create, read
//! (verify), no-op plan, drift by hand (an edited job, a deleted job) repaired by apply, an
//! option change that updates, delete, delete again. Against a loopback stand-in for Jenkins'
//! REST API (`jenkins_support`), the GitLab/GitHub REST stand-in and a real `git daemon`
//! (`catalogue_support`).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::catalogue_support;
use crate::common;
use crate::jenkins_support;

use catalogue_support::{Flavor, ScmStandIn, git};
use common::{Run, Sandbox, spawn_until};
use jenkins_support::{JenkinsStandIn, PIPELINE_PLUGINS};

const PASSWORD: &str = "jenkins-standin-password";
const API_TOKEN: &str = "11a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7";
const SCM_TOKEN: &str = "glpat-standin-secret-0123";
const IMAGE_PASSWORD: &str = "harbor-standin-secret";

fn run(s: &Sandbox, args: &[&str], jenkins_secret: &str) -> Run {
    Run(s
        .cmd(args)
        .env("JENKINS_PASSWORD", jenkins_secret)
        .env("GITLAB_TOKEN", SCM_TOKEN)
        .env("GITHUB_TOKEN", SCM_TOKEN)
        .env("IMAGE_REPO_PASSWORD", IMAGE_PASSWORD)
        .output()
        .unwrap())
}

/// A repository on the stand-in's git daemon with one commit on `main`.
fn seed(s: &Sandbox, api: &ScmStandIn, owner: &str, name: &str, files: &[(&str, &str)]) {
    api.add_repo(owner, name);
    let work = s.path(&format!("seed-{name}"));
    git(
        s.dir.path(),
        &["init", "-q", "-b", "main", work.to_str().unwrap()],
    );
    std::fs::write(work.join("README.md"), "svc\n").unwrap();
    for (path, text) in files {
        std::fs::write(work.join(path), text).unwrap();
    }
    git(&work, &["add", "."]);
    git(&work, &["commit", "-qm", "first"]);
    let url = api.daemon.url(&format!("{owner}/{name}.git"));
    git(&work, &["push", "-q", &url, "main"]);
}

fn gitlab_config(jenkins: &str, gitlab: &str, path: &str) -> String {
    format!(
        r#"tools:
- name: jenkins-pipeline
  instanceID: svc
  options:
    jenkins:
      url: {jenkins}
      user: admin
      password: [[ env "JENKINS_PASSWORD" ]]
      enableRestart: true
    scm:
      scmType: gitlab
      url: {gitlab}/team/svc
      baseURL: {gitlab}
      branch: main
      token: [[ env "GITLAB_TOKEN" ]]
    path: {path}
    pipeline:
      jobName: team/svc
      language: {{name: java}}
      imageRepo:
        url: harbor.example.com
        user: admin
        password: [[ env "IMAGE_REPO_PASSWORD" ]]
"#
    )
}

#[track_caller]
fn verify(s: &Sandbox, code: i32) -> Run {
    run(s, &["verify", "-f", "dtm.yaml"], PASSWORD).expect(code)
}

#[test]
fn jenkins_pipeline_story_against_jenkins_and_gitlab_stand_ins() {
    let s = Sandbox::new();
    let api = ScmStandIn::start(Flavor::GitLab, &s.path("gitlab"), "alice", SCM_TOKEN);
    seed(&s, &api, "team", "svc", &[]);
    // A Jenkins without the GitLab plugin: dtm installs it and restarts Jenkins.
    let plugins: Vec<&str> = PIPELINE_PLUGINS
        .iter()
        .copied()
        .filter(|p| *p != "gitlab-plugin")
        .collect();
    let jenkins = JenkinsStandIn::start("admin", PASSWORD, API_TOKEN, &plugins);
    s.write(
        "dtm.yaml",
        &gitlab_config(&jenkins.url(), &api.base_url(), "Jenkinsfile"),
    );

    // create
    run(&s, &["apply", "-y", "-f", "dtm.yaml"], PASSWORD).expect(0);
    let log = jenkins.log();
    assert!(
        log.contains(&"POST /pluginManager/installNecessaryPlugins password+crumb".into()),
        "{log:#?}"
    );
    assert!(
        log.contains(&"POST /safeRestart password+crumb".into()),
        "{log:#?}"
    );
    assert!(jenkins.active_plugins().contains(&"gitlab-plugin".into()));
    assert!(
        log.iter()
            .filter(|l| l.starts_with("POST"))
            .all(|l| l.ends_with("password+crumb")),
        "every POST carries the crumb of its session: {log:#?}"
    );
    assert_eq!(jenkins.items(), ["team", "team/svc"]);
    let config = jenkins.item("team/svc").unwrap();
    for part in [
        "<com.dabsquared.gitlabjenkins.GitLabPushTrigger",
        "<targetBranchRegex>main</targetBranchRegex>",
        "<gitLabConnection>gitlabConnection</gitLabConnection>",
        "<scriptPath>Jenkinsfile</scriptPath>",
        &format!(
            "<url>git://127.0.0.1:{}/team/svc.git</url>",
            api.daemon.port
        ),
    ] {
        assert!(config.contains(part), "{part} in\n{config}");
    }
    let credentials = jenkins.credentials();
    assert_eq!(
        credentials.keys().collect::<Vec<_>>(),
        ["gitlabCredential", "image-repo-auth"]
    );
    assert!(credentials["gitlabCredential"].contains(SCM_TOKEN));
    assert!(credentials["image-repo-auth"].contains(IMAGE_PASSWORD));
    let hooks = api.hooks("team/svc");
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(
        hooks[0]["url"],
        format!("{}/project/team/svc", jenkins.url())
    );
    assert_eq!(hooks[0]["merge_requests_events"], true);
    let secret = hooks[0]["token"].as_str().unwrap().to_string();
    assert!(config.contains(&format!("<secretToken>{secret}</secretToken>")));
    let bare = api.repo_path("team", "svc");
    assert!(git(&bare, &["show", "main:Jenkinsfile"]).contains("mvn -B test"));
    let state = s.read("devstream.state");
    for secret in [PASSWORD, SCM_TOKEN, IMAGE_PASSWORD, &secret] {
        assert!(!state.contains(secret), "no secret reaches state");
    }
    let outputs = &s.state()["resources"]["jenkins-pipeline.svc"]["outputs"];
    assert_eq!(
        outputs["jobURL"],
        format!("{}/job/team/job/svc/", jenkins.url())
    );

    // read + no-op plan
    verify(&s, 0);
    let plan = run(&s, &["plan", "-f", "dtm.yaml"], PASSWORD).expect(0);
    assert!(plan.stdout().contains("No changes"), "{}", plan.all());

    // drift by hand: the job's Jenkinsfile path edited in Jenkins
    jenkins.edit_item("team/svc", |xml| {
        xml.replace(
            "<scriptPath>Jenkinsfile</scriptPath>",
            "<scriptPath>Other</scriptPath>",
        )
    });
    let drift = verify(&s, 2);
    assert!(drift.all().contains("scriptPath"), "{}", drift.all());
    assert!(drift.all().contains("Other"), "{}", drift.all());
    run(&s, &["apply", "-y", "-f", "dtm.yaml"], PASSWORD).expect(0);
    assert!(
        jenkins
            .item("team/svc")
            .unwrap()
            .contains("<scriptPath>Jenkinsfile</scriptPath>")
    );
    verify(&s, 0);

    // drift by hand: the job deleted in Jenkins is absent; apply makes it again
    jenkins.remove_item("team/svc");
    let drift = verify(&s, 2);
    assert!(
        drift.all().contains("jenkins-pipeline.svc"),
        "{}",
        drift.all()
    );
    run(&s, &["apply", "-y", "-f", "dtm.yaml"], PASSWORD).expect(0);
    assert!(jenkins.item("team/svc").is_some());
    verify(&s, 0);

    // option change → update: the Jenkinsfile moves, the job follows
    s.write(
        "dtm.yaml",
        &gitlab_config(&jenkins.url(), &api.base_url(), "ci/Jenkinsfile"),
    );
    let plan = run(&s, &["plan", "-f", "dtm.yaml"], PASSWORD).expect(0);
    assert!(plan.stdout().contains("1 to update"), "{}", plan.all());
    run(&s, &["apply", "-y", "-f", "dtm.yaml"], PASSWORD).expect(0);
    assert!(
        jenkins
            .item("team/svc")
            .unwrap()
            .contains("<scriptPath>ci/Jenkinsfile</scriptPath>")
    );
    let tree = git(&bare, &["ls-tree", "-r", "--name-only", "main"]);
    assert_eq!(tree, "README.md\nci/Jenkinsfile");
    verify(&s, 0);

    // delete: the Jenkinsfile, the job, its folder (dtm made it) and the webhook go; again is fine
    run(&s, &["delete", "-y", "-f", "dtm.yaml"], PASSWORD).expect(0);
    assert!(jenkins.items().is_empty(), "{:?}", jenkins.items());
    assert!(api.hooks("team/svc").is_empty());
    assert_eq!(
        git(&bare, &["ls-tree", "-r", "--name-only", "main"]),
        "README.md"
    );
    run(&s, &["delete", "-y", "-f", "dtm.yaml"], PASSWORD).expect(0);
    assert_eq!(s.state()["resources"], serde_json::json!({}));
}

fn github_config(jenkins: &str, github: &str, restart: bool) -> String {
    format!(
        r#"tools:
- name: jenkins-pipeline
  instanceID: web
  options:
    jenkins:
      url: {jenkins}
      user: admin
      token: [[ env "JENKINS_PASSWORD" ]]
      enableRestart: {restart}
    scm:
      scmType: github
      baseURL: {github}
      owner: alice
      name: web
      token: [[ env "GITHUB_TOKEN" ]]
"#
    )
}

#[test]
fn github_multibranch_job_with_the_repositorys_own_jenkinsfile() {
    let s = Sandbox::new();
    let api = ScmStandIn::start(Flavor::GitHub, &s.path("github"), "alice", SCM_TOKEN);
    seed(
        &s,
        &api,
        "alice",
        "web",
        &[("Jenkinsfile", "pipeline { agent any }\n")],
    );
    let plugins: Vec<&str> = PIPELINE_PLUGINS
        .iter()
        .copied()
        .filter(|p| *p != "github-branch-source")
        .collect();
    let jenkins = JenkinsStandIn::start("admin", PASSWORD, API_TOKEN, &plugins);

    // A wrong secret is a permission error that names the URL and the options to check.
    s.write(
        "dtm.yaml",
        &github_config(&jenkins.url(), &api.base_url(), false),
    );
    let out = run(&s, &["apply", "-y", "-f", "dtm.yaml"], "wrong").expect(1);
    assert!(out.all().contains("401"), "{}", out.all());
    assert!(out.all().contains("jenkins.user"), "{}", out.all());
    assert!(out.all().contains(&jenkins.url()), "{}", out.all());
    assert!(!out.all().contains(API_TOKEN));

    // A missing plugin without enableRestart: installed, then a clear error.
    let out = run(&s, &["apply", "-y", "-f", "dtm.yaml"], API_TOKEN).expect(1);
    assert!(out.all().contains("github-branch-source"), "{}", out.all());
    assert!(out.all().contains("enableRestart"), "{}", out.all());

    s.write(
        "dtm.yaml",
        &github_config(&jenkins.url(), &api.base_url(), true),
    );
    let before = jenkins.log().len();
    run(&s, &["apply", "-y", "-f", "dtm.yaml"], API_TOKEN).expect(0);
    let log = jenkins.log();
    assert!(
        log[before..].iter().all(|l| l.ends_with(" token")),
        "{log:#?}"
    );
    assert!(
        log[before..].contains(&"POST /safeRestart token".into()),
        "{log:#?}"
    );
    assert_eq!(jenkins.items(), ["web"]);
    let config = jenkins.item("web").unwrap();
    for part in [
        "<org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject",
        "<repoOwner>alice</repoOwner>",
        "<credentialsId>githubCredential</credentialsId>",
        &format!("<apiUri>{}/api/v3</apiUri>", api.base_url()),
    ] {
        assert!(config.contains(part), "{part} in\n{config}");
    }
    assert!(jenkins.credentials()["githubCredential"].contains("<username>alice</username>"));
    let hooks = api.hooks("alice/web");
    assert_eq!(
        hooks[0]["config"]["url"],
        format!("{}/github-webhook/", jenkins.url())
    );
    // The repository's own Jenkinsfile is left as it is.
    let bare = api.repo_path("alice", "web");
    assert_eq!(git(&bare, &["log", "--format=%s", "main"]), "first");
    run(&s, &["verify", "-f", "dtm.yaml"], API_TOKEN).expect(0);

    run(&s, &["delete", "-y", "-f", "dtm.yaml"], API_TOKEN).expect(0);
    assert!(jenkins.items().is_empty());
    assert!(api.hooks("alice/web").is_empty());
    assert_eq!(git(&bare, &["log", "--format=%s", "main"]), "first");
}

#[test]
fn an_interrupted_wait_for_a_restart_resumes_on_the_next_apply() {
    let s = Sandbox::new();
    let api = ScmStandIn::start(Flavor::GitLab, &s.path("gitlab"), "alice", SCM_TOKEN);
    seed(&s, &api, "team", "svc", &[]);
    let plugins: Vec<&str> = PIPELINE_PLUGINS
        .iter()
        .copied()
        .filter(|p| *p != "gitlab-plugin")
        .collect();
    let jenkins = JenkinsStandIn::start("admin", PASSWORD, API_TOKEN, &plugins);
    jenkins.hold_restart(true);
    // Secrets written in the file: the spawned dtm gets no environment of ours.
    let config = gitlab_config(&jenkins.url(), &api.base_url(), "Jenkinsfile")
        .replace(r#"[[ env "JENKINS_PASSWORD" ]]"#, PASSWORD)
        .replace(r#"[[ env "GITLAB_TOKEN" ]]"#, SCM_TOKEN)
        .replace(r#"[[ env "IMAGE_REPO_PASSWORD" ]]"#, IMAGE_PASSWORD);
    s.write("dtm.yaml", &config);
    // dtm restarts Jenkins and waits; it is interrupted while Jenkins is down.
    let (mut child, rx) = spawn_until(&s, &["apply", "-y", "-f", "dtm.yaml"], "to come back");
    let rc = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let status = child.wait().unwrap();
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(status.code(), Some(130), "{}", rest.join("\n"));
    let recorded = s.state()["resources"]["jenkins-pipeline.svc"].clone();
    assert_eq!(recorded["lifecycle"], "pending", "{recorded}");
    assert_eq!(
        recorded["pending"]["data"]["phase"], "plugins",
        "{recorded}"
    );
    assert_eq!(recorded["pending"]["data"]["restarted"], true, "{recorded}");
    assert!(jenkins.items().is_empty());

    // Jenkins comes back while dtm is not running; the next apply resumes the wait (no second
    // installation or restart) and makes the job.
    jenkins.hold_restart(false);
    run(&s, &["apply", "-y", "-f", "dtm.yaml"], PASSWORD).expect(0);
    let log = jenkins.log();
    let count = |what: &str| log.iter().filter(|l| l.starts_with(what)).count();
    assert_eq!(
        count("POST /pluginManager/installNecessaryPlugins"),
        1,
        "{log:#?}"
    );
    assert_eq!(count("POST /safeRestart"), 1, "{log:#?}");
    assert_eq!(jenkins.items(), ["team", "team/svc"]);
    verify(&s, 0);
}
