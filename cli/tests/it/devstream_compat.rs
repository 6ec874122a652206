//! DevStream's configs as DevStream read them: option keys whatever their case, unknown option
//! keys ignored (with a warning here), and what dtm says about plugins it does not know.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::catalogue_support;
use crate::common;

use catalogue_support::git;
use common::Sandbox;
use serde_json::Value;

/// A sandbox with an empty bare repository `remote.git` (branch `main`).
fn with_remote() -> Sandbox {
    let s = Sandbox::new();
    git(
        s.dir.path(),
        &["init", "-q", "--bare", "-b", "main", "remote.git"],
    );
    s
}

#[test]
fn option_keys_match_whatever_their_case_and_show_config_prints_the_plugins_spelling() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "tools:\n- name: file\n  instanceID: x\n  options:\n    Path: out/a.txt\n    CONTENT: hi\n",
    );
    let shown = s.run(&["show", "config"]).expect(0);
    let doc: Value = serde_json::from_str(&shown.stdout()).unwrap();
    assert_eq!(
        doc["tools"][0]["options"],
        serde_json::json!({"path": "out/a.txt", "content": "hi"}),
        "{}",
        shown.all()
    );
    s.run(&["apply", "-y"]).expect(0);
    assert_eq!(s.read("out/a.txt"), "hi");
    assert_eq!(
        s.state()["resources"]["file.x"]["options"]["path"],
        "out/a.txt"
    );
}

#[test]
fn unknown_option_keys_are_warnings_with_a_place_or_errors_under_strict() {
    let s = Sandbox::new();
    let config = "tools:\n- name: file\n  instanceID: x\n  options:\n    path: out/a.txt\n    \
                  content: hi\n    colour: red\n    contnet: typo\n";
    s.write("config.yaml", config);
    let plan = s.run(&["plan"]).expect(0);
    assert!(
        plan.stderr().contains(
            "warning: config.yaml:8:5: `file.x.options.contnet`: unknown option `contnet` for \
             plugin `file`; did you mean `content`?; expected one of: content, mode, path, \
             template, templateFile, vars; ignored, as DevStream ignored it"
        ),
        "{}",
        plan.all()
    );
    assert!(
        plan.stderr()
            .contains("config.yaml:7:5: `file.x.options.colour`: unknown option `colour`"),
        "{}",
        plan.all()
    );
    let json = s.run(&["plan", "-o", "json"]).expect(0);
    let doc: Value = serde_json::from_str(&json.stdout()).unwrap();
    let warnings = doc["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{}", json.all());
    assert_eq!(warnings[0]["line"], 7);
    assert_eq!(warnings[0]["column"], 5);
    assert_eq!(warnings[0]["key"], "file.x.options.colour");
    assert!(
        warnings[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("config.yaml")
    );

    // The plugin never sees them, and neither does state.
    s.run(&["apply", "-y"]).expect(0);
    assert_eq!(s.read("out/a.txt"), "hi");
    let options = &s.state()["resources"]["file.x"]["options"];
    assert!(options.get("colour").is_none(), "{options}");

    // Under --strict, or with `config.strict: true`, they are errors.
    let strict = s.run(&["plan", "--strict"]).expect(1);
    assert!(
        strict.stderr().contains(
            "config.yaml:8:5: `file.x.options.contnet`: unknown option `contnet` for plugin \
             `file`; did you mean `content`?"
        ),
        "{}",
        strict.all()
    );
    s.write("config.yaml", &format!("config:\n  strict: true\n{config}"));
    let strict = s.run(&["plan"]).expect(1);
    assert!(
        strict
            .stderr()
            .contains("config.yaml:9:5: `file.x.options.colour`"),
        "{}",
        strict.all()
    );

    // The config's own keys are no options: an unknown one stays an error.
    s.write(
        "config.yaml",
        "tools:\n- name: file\n  instanceID: x\n  dependOn: []\n  options: {path: a}\n",
    );
    let r = s.run(&["plan"]).expect(1);
    assert!(
        r.stderr()
            .contains("unknown key `dependOn`; did you mean `dependsOn`?"),
        "{}",
        r.all()
    );
}

#[test]
fn an_unknown_plugin_gets_its_place_and_a_suggestion_from_every_plugin_dtm_knows() {
    let s = Sandbox::new();
    // `k8s-manifest` is a library next to dtm, not a plugin this config uses.
    s.write(
        "config.yaml",
        "tools:\n- name: file\n  instanceID: a\n  options: {path: a}\n\
         - name: k8s-manifests\n  instanceID: web\n",
    );
    let r = s.run(&["plan"]).expect(1);
    let err = r.stderr();
    assert!(
        err.contains(
            "config.yaml:5:3: `k8s-manifests.web`: unknown plugin `k8s-manifests`; did you mean \
             `k8s-manifest`?; looked in the plugin directories "
        ),
        "{}",
        r.all()
    );
    assert!(err.contains("run `dtm list plugins`"), "{}", r.all());
    assert!(!err.contains("cannot load plugins"), "{}", r.all());
    // A directory given twice (`--plugin-dir` and where dtm is) is named once.
    let dir = common::target_dir().display().to_string();
    let r = s.run(&["plan", "--plugin-dir", &dir]).expect(1);
    assert_eq!(r.stderr().matches(&dir).count(), 1, "{}", r.all());
}

#[test]
fn option_errors_are_not_headed_cannot_load_plugins() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "tools:\n- name: file\n  instanceID: a\n  options: {path: 42}\n",
    );
    let r = s.run(&["plan"]).expect(1);
    assert!(
        r.stderr()
            .starts_with("error: 1 problem in config:\n  config.yaml:4:19: `file.a.options.path`: 42 is not of type"),
        "{}",
        r.all()
    );
    assert!(!r.stderr().contains("cannot load plugins"), "{}", r.all());
}

#[test]
fn argocdapp_takes_devstreams_inital_tag() {
    // DevStream's argocdapp sample spells the tag `initalTag`; its docs also give
    // `imageRepo.password`, which argocdapp never used: a warning here.
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "tools:\n- name: argocdapp\n  instanceID: default\n  options:\n    \
         app: {name: hello, namespace: argocd}\n    \
         source: {valuefile: values.yaml, path: charts/go-hello-http, repoURL: https://github.com/o/r}\n    \
         imageRepo:\n      user: owner\n      initalTag: \"1.0.0\"\n      password: pw\n",
    );
    let shown = s.run(&["show", "config"]).expect(0);
    let doc: Value = serde_json::from_str(&shown.stdout()).unwrap();
    assert_eq!(
        doc["tools"][0]["options"]["imageRepo"],
        serde_json::json!({"user": "owner", "tag": "1.0.0"}),
        "{}",
        shown.all()
    );
    let plan = s.run(&["plan"]).expect(0);
    assert!(plan.stdout().contains("1 to create"), "{}", plan.all());
    assert!(
        plan.stderr()
            .contains("config.yaml:10:7: `argocdapp.default.options.imageRepo.password`"),
        "{}",
        plan.all()
    );
}

#[test]
fn github_actions_with_an_unknown_language_uses_the_pipeline_given() {
    let s = with_remote();
    s.write("ci/workflow.yml", "name: cobol\non: push\n");
    s.write(
        "config.yaml",
        "tools:\n- name: github-actions\n  instanceID: default\n  options:\n    \
         scm: {scmType: git, url: remote.git, branch: main}\n    pipeline:\n      \
         configLocation: ci/workflow.yml\n      language: {name: cobol, framework: cics}\n",
    );
    s.run(&["apply", "-y"]).expect(0);
    assert_eq!(
        git(
            &s.path("remote.git"),
            &["show", "main:.github/workflows/main.yml"]
        ),
        "name: cobol\non: push"
    );
}

#[test]
fn ci_generic_takes_devstreams_ci_block_and_project_repo() {
    let s = with_remote();
    s.write(
        "ci/Jenkinsfile",
        "pipeline { agent { label '[[ agent ]]' } }\n",
    );
    // DevStream's ci-generic options: `projectRepo`, and `ci` with `type` and a location
    // (`configContents` wins over it when both are given).
    s.write(
        "config.yaml",
        "tools:\n- name: ci-generic\n  instanceID: jenkins\n  options:\n    ci:\n      \
         type: jenkins-pipeline\n      configLocation: ci/Jenkinsfile\n      \
         vars: {agent: linux}\n    projectRepo:\n      scmType: git\n      url: remote.git\n      \
         branch: main\n",
    );
    let apply = s.run(&["apply", "-y"]).expect(0);
    assert!(!apply.stderr().contains("warning"), "{}", apply.all());
    assert_eq!(
        git(&s.path("remote.git"), &["show", "main:Jenkinsfile"]),
        "pipeline { agent { label 'linux' } }"
    );
    s.run(&["verify"]).expect(0);
    // An edit of the local pipeline is drift; `configContents` replaces it.
    s.write(
        "config.yaml",
        "tools:\n- name: ci-generic\n  instanceID: jenkins\n  options:\n    ci:\n      \
         type: jenkins\n      configContents:\n        Jenkinsfile: \"pipeline {}\\n\"\n    \
         projectRepo: {scmType: git, url: remote.git, branch: main}\n",
    );
    s.run(&["verify"]).expect(2);
    s.run(&["apply", "-y"]).expect(0);
    assert_eq!(
        git(&s.path("remote.git"), &["show", "main:Jenkinsfile"]),
        "pipeline {}"
    );
}

#[test]
fn gitlab_ci_takes_devstreams_runner_in_a_tool_and_an_app() {
    let s = with_remote();
    s.write(
        "config.yaml",
        "apps:\n- name: svc\n  spec: {language: python}\n  \
         repo: {scmType: git, url: remote.git, branch: main}\n  ci:\n  - type: template\n    \
         templateName: gl\npipelineTemplates:\n- name: gl\n  type: gitlab-ci\n  options:\n    \
         imageRepo: {user: team}\n    runner:\n      enable: true\n",
    );
    let shown = s.run(&["show", "config"]).expect(0);
    let doc: Value = serde_json::from_str(&shown.stdout()).unwrap();
    assert_eq!(
        doc["tools"][0]["options"]["runner"],
        serde_json::json!({"enable": true}),
        "{}",
        shown.all()
    );
    let apply = s.run(&["apply", "-y"]).expect(0);
    assert!(
        !apply.stderr().contains("unknown option"),
        "{}",
        apply.all()
    );
    assert!(
        apply.all().contains("does not install a GitLab runner"),
        "{}",
        apply.all()
    );
    assert!(git(&s.path("remote.git"), &["show", "main:.gitlab-ci.yml"]).contains("stages:"));

    // In a tool of its own, as DevStream's gitlab-ci sample writes it.
    s.write(
        "config.yaml",
        "tools:\n- name: gitlab-ci\n  instanceID: svc\n  options:\n    \
         scm: {scmType: git, url: remote.git, branch: main}\n    \
         pipeline: {language: {name: python}}\n    runner:\n      enable: false\n",
    );
    let plan = s.run(&["plan"]).expect(0);
    assert!(!plan.stderr().contains("warning"), "{}", plan.all());
}
