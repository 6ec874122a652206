#![allow(clippy::unwrap_used, reason = "tests")]

use dtm_git_support::scm::RepoInfo;
use dtm_plugin_sdk::testing::{TestHost, call, request};
use dtm_plugin_sdk::{Operation, Response};
use serde_json::json;

use super::*;

fn repo(v: Value) -> Repo {
    serde_json::from_value::<RepoInfo>(v)
        .unwrap()
        .resolve(|p: &str| std::path::PathBuf::from(p))
        .unwrap()
}

fn spec_for(repo: &Repo) -> JobSpec<'_> {
    JobSpec {
        repo,
        clone_url: "git@gitlab.example.com:g/svc.git".into(),
        branch: "main".into(),
        script_path: "ci/Jenkinsfile".into(),
        credentials_id: Some("gitlabSSHKeyCredential".into()),
        secret_token: "s3cret".into(),
        display_name: "svc & co".into(),
        instance: "jenkins-pipeline.svc".into(),
    }
}

#[test]
fn job_names_are_devstreams_name_or_folder_slash_name() {
    assert_eq!(parse_job_name("job").unwrap().full(), "job");
    let j = parse_job_name("team/job").unwrap();
    assert_eq!(j.path(), "/job/team/job/job");
    assert!(parse_job_name("a/b/c").is_err());
    assert!(parse_job_name("/job").is_err());
    assert!(parse_job_name("bad:name").is_err());
}

#[test]
fn configs_are_xml_whose_fields_survive_reformatting() {
    let gitlab = repo(json!({"url": "https://gitlab.example.com/g/svc", "token": "t"}));
    let github = repo(json!({"url": "https://github.com/o/svc", "token": "t"}));
    let plain = repo(json!({"url": "/srv/git/svc.git", "scmType": "git"}));
    for r in [&gitlab, &github, &plain] {
        let xml = job::config_xml(&spec_for(r));
        let fields = xml::fields(&xml).unwrap_or_else(|| panic!("not XML:\n{xml}"));
        // XStream's re-serialisation: another declaration, other indentation, attributes added.
        let resaved = xml
            .replace(
                "<?xml version='1.1' encoding='UTF-8'?>",
                "<?xml version=\"1.1\"?>",
            )
            .replace("\n  ", "\n    ")
            .replace("plugin=\"git\"", "plugin=\"git@5.2.0\"");
        let again = xml::fields(&resaved).unwrap();
        assert_eq!(
            xml::compare(&fields, &again, job::is_secret),
            xml::compare(&fields, &fields, job::is_secret)
        );
    }
    let fields = xml::fields(&job::config_xml(&spec_for(&gitlab))).unwrap();
    assert_eq!(
        fields["flow-definition/definition/scm/userRemoteConfigs/hudson.plugins.git.UserRemoteConfig/url"],
        "git@gitlab.example.com:g/svc.git"
    );
    assert_eq!(fields["flow-definition/displayName"], "svc & co");
    assert_eq!(
        fields["flow-definition/definition@class"],
        "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition"
    );
    let compared = xml::compare(&fields, &fields, job::is_secret);
    assert!(
        compared.keys().all(|k| !k.ends_with("secretToken")),
        "{compared:?}"
    );
    let github_fields = xml::fields(&job::config_xml(&spec_for(&github))).unwrap();
    let source = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject/sources/data/jenkins.branch.BranchSource/source";
    assert_eq!(github_fields[&format!("{source}/repoOwner")], "o");
    assert_eq!(
        github_fields[&format!(
            "{source}/traits/org.jenkinsci.plugins.github__branch__source.BranchDiscoveryTrait/strategyId"
        )],
        "1"
    );
}

#[test]
fn a_hand_edit_shows_in_the_compared_fields() {
    let gitlab = repo(json!({"url": "https://gitlab.example.com/g/svc"}));
    let xml = job::config_xml(&spec_for(&gitlab));
    let wanted = xml::fields(&xml).unwrap();
    let edited =
        xml::fields(&xml.replace("<scriptPath>ci/Jenkinsfile", "<scriptPath>other")).unwrap();
    let a = xml::compare(&wanted, &wanted, job::is_secret);
    let b = xml::compare(&wanted, &edited, job::is_secret);
    assert_ne!(a, b);
    let removed = xml::fields(&xml.replace("<lightweight>true</lightweight>", "")).unwrap();
    assert_eq!(
        xml::compare(&wanted, &removed, job::is_secret)["flow-definition/definition/lightweight"],
        None
    );
}

#[test]
fn builtin_jenkinsfiles_balance_their_braces() {
    for lang in ["go", "python", "rust", "nodejs", "java"] {
        let r = repo(json!({"url": "/srv/git/svc.git", "scmType": "git"}));
        let language = dtm_git_support::pipelines::language(Some(lang), None, None).unwrap();
        let spec =
            dtm_git_support::pipelines::Spec::new(language, &r, None, None, "jenkins-pipeline.x");
        let text = jenkinsfile::builtin(&spec);
        let open = text.matches('{').count();
        let close = text.matches('}').count();
        assert_eq!(open, close, "{lang}:\n{text}");
        assert!(text.contains("stage('test')"), "{text}");
        assert!(text.contains("credentialsId: 'image-repo-auth'"), "{text}");
    }
}

fn options(extra: Value) -> Value {
    let mut o = json!({
        "jenkins": {"url": "http://127.0.0.1:9", "user": "admin"},
        "scm": {"url": "https://gitlab.example.com/g/svc"},
    });
    if let (Some(o), Some(extra)) = (o.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            o.insert(k.clone(), v.clone());
        }
    }
    o
}

#[test]
fn validate_names_the_offending_options() {
    let host = TestHost::new();
    let bad = options(json!({
        "jobName": "a/b/c",
        "pipeline": {"jobName": "other", "language": {"name": "cobol"}},
    }));
    let response = call(
        &JenkinsPipeline,
        &host,
        &request(Operation::Validate, "jenkins-pipeline.x", bad),
    );
    let Response::Invalid { problems } = response else {
        panic!("{response:?}")
    };
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert!(paths.contains(&"/jobName"), "{problems:?}");
    assert!(paths.contains(&"/pipeline/jobName"), "{problems:?}");
    assert!(paths.contains(&"/pipeline/language"), "{problems:?}");
    let good =
        options(json!({"pipeline": {"jobName": "team/svc", "jenkinsfilePath": "Jenkinsfile"}}));
    let response = call(
        &JenkinsPipeline,
        &host,
        &request(Operation::Validate, "jenkins-pipeline.x", good),
    );
    assert!(matches!(response, Response::Done { .. }), "{response:?}");
}

#[test]
fn applying_without_a_password_says_which_option_is_missing() {
    let host = TestHost::new();
    let response = call(
        &JenkinsPipeline,
        &host,
        &request(Operation::Create, "jenkins-pipeline.x", options(json!({}))),
    );
    let Response::Error { error } = response else {
        panic!("{response:?}")
    };
    assert!(
        error.message.contains("jenkins.password"),
        "{}",
        error.message
    );
}
