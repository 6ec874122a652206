//! `apps:` and `pipelineTemplates:` expand into tools the way DevStream does.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::Path;

use dtm_engine::config::{self, Config, ConfigError};
use serde_json::json;

fn env(name: &str) -> Option<String> {
    (name == "REGISTRY_TOKEN").then(|| "reg-tok".to_owned())
}

fn load_fixture() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/apps.yaml");
    config::load(&path, &env).unwrap()
}

fn tool<'c>(config: &'c Config, key: &str) -> &'c config::Tool {
    config
        .tools
        .iter()
        .find(|t| t.key() == key)
        .unwrap_or_else(|| panic!("no tool {key}"))
}

#[test]
fn apps_expand_into_tools_with_dependencies() {
    let config = load_fixture();
    let keys: Vec<(String, Vec<String>)> = config
        .tools
        .iter()
        .map(|t| (t.key(), t.depends_on.clone()))
        .collect();
    let s = |v: &str| v.to_owned();
    assert_eq!(
        keys,
        [
            (s("repo-scaffolding.service-a"), vec![]),
            (
                s("github-actions.service-a"),
                vec![s("repo-scaffolding.service-a")]
            ),
            (
                s("argocdapp.service-a"),
                vec![
                    s("github-actions.service-a"),
                    s("repo-scaffolding.service-a")
                ]
            ),
            (s("gitlab-ci.service-b"), vec![]),
        ]
    );
}

#[test]
fn repo_scaffolding_gets_both_repos_and_vars() {
    let config = load_fixture();
    let t = tool(&config, "repo-scaffolding.service-a");
    assert_eq!(
        t.options,
        json!({
            "destinationRepo": {
                "url": "https://github.com/devstream-io/service-a",
                "scmType": "github", "owner": "devstream-io", "name": "service-a",
            },
            "sourceRepo": {
                "url": "https://github.com/devstream-io/dtm-repo-scaffolding-python-flask",
                "scmType": "github", "owner": "devstream-io",
                "name": "dtm-repo-scaffolding-python-flask",
            },
            "vars": {"language": "python", "framework": "django", "port": 8080},
        })
    );
    // Locations point at the app.
    assert_eq!(t.loc.line, 6);
}

#[test]
fn ci_from_template_gets_vars_scm_and_language() {
    let config = load_fixture();
    let t = tool(&config, "github-actions.service-a");
    assert_eq!(
        t.options,
        json!({
            "pipeline": {
                "branch": "main",
                "imageRepo": {"url": "docker.io/service-a", "user": "service-a", "token": "reg-tok"},
                "language": {"name": "python", "framework": "django"},
            },
            "scm": {
                "url": "https://github.com/devstream-io/service-a",
                "scmType": "github", "owner": "devstream-io", "name": "service-a",
            },
        })
    );
    // The secret in the template is a secret of the generated tool.
    assert_eq!(t.secret_paths, ["/pipeline/imageRepo/token"]);
    assert_eq!(t.secret_values, ["reg-tok"]);
    assert_eq!(
        t.secret_sources[0].parts,
        [config::SecretPart::Env("REGISTRY_TOKEN".into())]
    );
    // The tool is where its CI entry is; its options where the template wrote them.
    assert_eq!(t.loc.line, 17);
    assert_eq!(t.option_locs["/pipeline/branch"].line, 37);
}

#[test]
fn cd_argocdapp_gets_defaults_from_the_app() {
    let config = load_fixture();
    let t = tool(&config, "argocdapp.service-a");
    assert_eq!(
        t.options,
        json!({
            "app": {"name": "service-a", "namespace": "argocd"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "default"},
            "source": {
                "valuefile": "values.yaml",
                "path": "helm/service-a",
                "repoURL": "https://github.com/devstream-io/service-a",
            },
            // The CI pipeline's image, without the registry token.
            "imageRepo": {"url": "docker.io/service-a", "user": "service-a"},
        })
    );
    assert!(t.secret_paths.is_empty(), "{:?}", t.secret_paths);
}

#[test]
fn cd_defaults_fill_in_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dtm.yaml");
    std::fs::write(
        &path,
        "apps:\n- name: web\n  repo: {url: https://github.com/team/web}\n  cd:\n  - type: argocdapp\n    options:\n      app: {namespace: gitops}\n      destination: {namespace: web}\n",
    )
    .unwrap();
    let config = config::load(&path, &env).unwrap();
    let t = tool(&config, "argocdapp.web");
    assert_eq!(
        t.options["app"],
        json!({"namespace": "gitops", "name": "web"})
    );
    assert_eq!(
        t.options["destination"],
        json!({"namespace": "web", "server": "https://kubernetes.default.svc"})
    );
}

#[test]
fn direct_ci_type_without_template() {
    let config = load_fixture();
    let t = tool(&config, "gitlab-ci.service-b");
    assert_eq!(
        t.options,
        json!({
            "pipeline": {"branch": "develop"},
            "scm": {"scmType": "gitlab", "owner": "team", "name": "service-b"},
        })
    );
}

#[test]
fn app_problems_are_reported_with_places() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dtm.yaml");
    std::fs::write(
        &file,
        r#"apps:
- name: Service_A
  repo: {url: x}
- name: b
  ci:
  - type: template
    templateName: ci-for-gh
- name: c
  repo: {url: "https://github.com/o/c"}
  ci:
  - type: template
    templateName: ci-for-gh-actions
  cd:
  - typ: argocdapp
pipelineTemplates:
- name: ci-for-gh-actions
  type: github-actions
  options:
    image: [[ imageRepo ]]
"#,
    )
    .unwrap();
    let err = config::load(&file, &|_| None).unwrap_err();
    let ConfigError::Invalid(d) = &err else {
        panic!("{err}")
    };
    let got: Vec<String> = d
        .iter()
        .map(|d| {
            let l = d.loc.as_ref().unwrap();
            format!("{}:{} {}: {}", l.line, l.col, d.key, d.message)
        })
        .collect();
    assert_eq!(
        got,
        [
            "2:9 apps[0].name: invalid app name `Service_A`: it becomes an instanceID, so it must \
             be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each dot-separated \
             part starting and ending with a letter or digit, at most 253 characters",
            "4:3 apps[1].repo: app `b` is missing `repo` (where the app's code lives)",
            "7:19 apps[1].ci[0].templateName: unknown pipeline template `ci-for-gh`; did you mean \
             `ci-for-gh-actions`?",
            "14:5 apps[2].cd[0].typ: unknown key `typ`; did you mean `type`?; expected one of: \
             type, templateName, vars, options",
            "14:5 apps[2].cd[0].type: CD entry is missing `type`: a plugin such as github-actions \
             or argocdapp, or `template` with `templateName`",
            // A template variable the app does not give, reported in the template.
            "19:12 : undefined variable `imageRepo`; define it under `vars:`",
        ]
    );
}

fn load_text(text: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dtm.yaml");
    std::fs::write(&path, text).unwrap();
    config::load(&path, &env).unwrap()
}

#[test]
fn an_app_repo_without_name_is_named_after_the_app() {
    let config = load_text(
        "apps:\n- name: billing\n  spec: {language: go}\n  repo:\n    scmType: github\n    \
         owner: team\n  repoTemplate: {url: https://github.com/team/template}\n  \
         ci:\n  - type: github-actions\n  cd:\n  - type: argocdapp\n",
    );
    let repo = json!({"scmType": "github", "owner": "team", "name": "billing"});
    let scaffold = tool(&config, "repo-scaffolding.billing");
    assert_eq!(scaffold.options["destinationRepo"], repo);
    assert_eq!(tool(&config, "github-actions.billing").options["scm"], repo);
    assert_eq!(
        tool(&config, "argocdapp.billing").options["source"]["repoURL"],
        "https://github.com/team/billing"
    );
    // A name given (or taken from the URL) stays.
    let config = load_text(
        "apps:\n- name: a\n  repo: {url: https://github.com/team/web}\n  ci: [{type: gitlab-ci}]\n\
         - name: b\n  repo: {scmType: gitlab, owner: g, name: other}\n  ci: [{type: gitlab-ci}]\n",
    );
    assert_eq!(tool(&config, "gitlab-ci.a").options["scm"]["name"], "web");
    assert_eq!(tool(&config, "gitlab-ci.b").options["scm"]["name"], "other");
}

#[test]
fn argocdapp_gets_https_and_the_ci_image_as_in_devstream() {
    // DevStream's examples write repository URLs without a scheme.
    let config = load_text(
        "apps:\n- name: web\n  repo: {url: github.com/team/web, token: [[ env REGISTRY_TOKEN ]]}\n  \
         ci:\n  - type: github-actions\n    options:\n      imageRepo:\n        user: team\n        \
         password: [[ env REGISTRY_TOKEN ]]\n  cd:\n  - type: argocdapp\n\
         - name: local\n  repo: {scmType: git, url: out/remotes/local.git}\n  cd: [{type: argocdapp}]\n\
         - name: own\n  repo: {url: gitlab.example.com/g/own}\n  ci:\n  - type: gitlab-ci\n    \
         options: {imageRepo: {user: ci}}\n  cd:\n  - type: argocdapp\n    options: {imageRepo: {user: cd, initalTag: \"1.0\"}}\n",
    );
    let web = tool(&config, "argocdapp.web");
    assert_eq!(
        web.options["source"]["repoURL"],
        "https://github.com/team/web"
    );
    assert_eq!(web.options["imageRepo"], json!({"user": "team"}));
    assert!(web.secret_paths.is_empty(), "{:?}", web.secret_paths);
    // A local repository stays a path; an argocdapp's own imageRepo wins.
    let local = tool(&config, "argocdapp.local");
    assert_eq!(local.options["source"]["repoURL"], "out/remotes/local.git");
    assert!(local.options.get("imageRepo").is_none());
    let own = tool(&config, "argocdapp.own");
    assert_eq!(
        own.options["source"]["repoURL"],
        "https://gitlab.example.com/g/own"
    );
    assert_eq!(
        own.options["imageRepo"],
        json!({"user": "cd", "initalTag": "1.0"})
    );
}

#[test]
fn gitlab_runner_is_lifted_out_of_the_pipeline_options() {
    let config = load_text(
        "apps:\n- name: svc\n  repo: {url: https://gitlab.com/g/svc}\n  ci:\n  - type: template\n    \
         templateName: gl\npipelineTemplates:\n- name: gl\n  type: gitlab-ci\n  options:\n    \
         imageRepo: {user: g}\n    runner:\n      enable: true\n",
    );
    let t = tool(&config, "gitlab-ci.svc");
    assert_eq!(t.options["runner"], json!({"enable": true}));
    assert_eq!(t.options["pipeline"], json!({"imageRepo": {"user": "g"}}));
    assert_eq!(t.option_locs["/runner/enable"].line, 13);
}

#[test]
fn jenkins_is_lifted_out_of_a_jenkins_pipeline_entrys_options() {
    let config = load_text(
        "apps:\n- name: svc\n  spec: {language: java}\n  repo: {url: https://gitlab.com/g/svc}\n  \
         ci:\n  - type: template\n    templateName: jk\npipelineTemplates:\n- name: jk\n  \
         type: jenkins-pipeline\n  options:\n    branch: main\n    jenkins:\n      url: \
         http://jenkins.example.com\n      user: admin\n",
    );
    let t = tool(&config, "jenkins-pipeline.svc");
    assert_eq!(
        t.options["jenkins"],
        json!({"url": "http://jenkins.example.com", "user": "admin"})
    );
    assert_eq!(t.options["pipeline"]["branch"], "main");
    assert!(t.options["pipeline"].get("jenkins").is_none());
    assert_eq!(t.options["pipeline"]["language"], json!({"name": "java"}));
}
