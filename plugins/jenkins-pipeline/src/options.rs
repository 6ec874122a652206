//! The options of a `jenkins-pipeline` tool: DevStream's `jenkins`, `scm`, `pipeline` and
//! `jobName`, and what dtm adds.

use std::collections::BTreeMap;

use dtm_git_support::ci::{Ci, FlavorOptions, ImageRepo, LanguageOption, Pipeline, TestOption};
use dtm_git_support::scm::RepoInfo;
use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

fn default_namespace() -> String {
    "jenkins".into()
}

/// DevStream's `jenkins:`: where Jenkins is and who dtm is there.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend("x-aliases" = {"token": "password"}))]
pub struct Jenkins {
    /// Jenkins' URL, e.g. `http://jenkins.example.com:8080` (`http://` is assumed when it names
    /// no scheme).
    #[schemars(example = &"http://jenkins.example.com:8080")]
    pub url: String,
    /// The Jenkins user dtm signs in as (basic auth).
    #[schemars(example = &"admin")]
    pub user: String,
    /// The user's password or, better, an API token (DevStream's docs also call it `token`);
    /// usually `[[ env "JENKINS_PASSWORD" ]]`. Needed to apply; a plan works without it.
    #[serde(default, alias = "token")]
    pub password: Option<String>,
    /// Accepted for DevStream compatibility (the Kubernetes namespace of a Jenkins DevStream
    /// installed, where it read the admin password from); dtm does not read Kubernetes.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Restart Jenkins (safe restart) after installing the Jenkins plugins the job needs, and
    /// wait until it is back.
    #[serde(default)]
    pub enable_restart: bool,
    /// Jenkins cannot reach the internet: dtm installs no Jenkins plugins (it warns about
    /// missing ones).
    #[serde(default)]
    pub offline: bool,
}

impl Jenkins {
    /// Jenkins' base URL: `url` without a trailing `/`, with `http://` in front when it names
    /// no scheme (DevStream's docs write `jenkins.com`).
    pub fn base_url(&self) -> String {
        let url = self.url.trim().trim_end_matches('/');
        if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        }
    }
}

/// DevStream's `pipeline:` of a jenkins-pipeline tool.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend("x-aliases" = {"jenkinsfilePath": "configLocation"}))]
pub struct JenkinsPipeline {
    /// The job's name, `NAME` or `FOLDER/NAME` (DevStream's samples put it here, its code at
    /// the top level; either works). Default: the repository's name.
    #[serde(default)]
    #[schemars(example = &"test-job")]
    pub job_name: Option<String>,
    /// Where the Jenkinsfile dtm commits comes from: an `http(s)://` URL or a path relative to
    /// the config's directory (DevStream v0.9's `jenkinsfilePath`). Its `[[ name ]]`
    /// placeholders are filled from `vars` and the built-in variables. Without it and without
    /// `language`, the job runs the Jenkinsfile the repository already has.
    #[serde(default, alias = "jenkinsfilePath")]
    pub config_location: Option<String>,
    /// Language (and framework) of dtm's built-in Jenkinsfile.
    #[serde(default)]
    pub language: Option<LanguageOption>,
    /// Where the container image goes; a `password` becomes the Jenkins credential
    /// `image-repo-auth` the built-in Jenkinsfile pushes with.
    #[serde(default)]
    pub image_repo: Option<ImageRepo>,
    /// The test stage of the built-in Jenkinsfile.
    #[serde(default)]
    pub test: Option<TestOption>,
    /// Branch the job builds and the Jenkinsfile is committed to, instead of `scm.branch`.
    #[serde(default)]
    pub branch: Option<String>,
    /// Accepted for DevStream compatibility; dtm's Jenkinsfile has no DingTalk step.
    #[serde(default)]
    pub ding_talk: Option<Value>,
    /// Accepted for DevStream compatibility; dtm's Jenkinsfile has no SonarQube step.
    #[serde(default)]
    pub sonarqube: Option<Value>,
    /// dtm: extra values for `[[ name ]]` placeholders in the `configLocation` file.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// dtm: path of the Jenkinsfile in the repository, as the top-level `path` (which wins).
    #[serde(default)]
    pub path: Option<String>,
}

/// Options of a `jenkins-pipeline` tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Options {
    /// The Jenkins server.
    pub jenkins: Jenkins,
    /// The repository the job builds (GitHub, GitLab, or any git URL with `scmType: git`).
    pub scm: RepoInfo,
    /// The job and the Jenkinsfile.
    #[serde(default)]
    pub pipeline: JenkinsPipeline,
    /// The job's name, `NAME` or `FOLDER/NAME`, as DevStream's code reads it (its samples put
    /// it under `pipeline`). Default: the repository's name.
    #[serde(default)]
    pub job_name: Option<String>,
    /// dtm: path of the Jenkinsfile in the repository (default `Jenkinsfile`).
    #[serde(default)]
    pub path: Option<String>,
}

/// Characters Jenkins refuses in an item name.
const UNSAFE_NAME_CHARS: &[char] = &[
    '?', '*', '/', '\\', '%', '!', '@', '#', '$', '^', '&', '|', '<', '>', '[', ']', ':', ';',
];

/// A job's place: an optional folder and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobName {
    /// The folder (DevStream allows one level), if any.
    pub folder: Option<String>,
    /// The job's own name.
    pub name: String,
}

impl JobName {
    /// `FOLDER/NAME` or `NAME`.
    pub fn full(&self) -> String {
        match &self.folder {
            Some(f) => format!("{f}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The job's path under Jenkins' URL: `/job/FOLDER/job/NAME`.
    pub fn path(&self) -> String {
        let mut out = String::new();
        if let Some(f) = &self.folder {
            out.push_str(&format!("/job/{}", encode(f)));
        }
        out.push_str(&format!("/job/{}", encode(&self.name)));
        out
    }
}

/// Percent-encodes a URL path segment or query value.
pub fn encode(text: &str) -> String {
    dtm_git_support::http::encode_segment(text)
}

fn check_item_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name == "." || name == ".." {
        return Err(format!("`{name}` is not a Jenkins item name"));
    }
    if let Some(c) = name.chars().find(|c| UNSAFE_NAME_CHARS.contains(c)) {
        return Err(format!(
            "`{name}` holds `{c}`, which Jenkins does not allow in an item name"
        ));
    }
    Ok(())
}

/// Parses DevStream's `NAME` or `FOLDER/NAME`.
pub fn parse_job_name(text: &str) -> Result<JobName, String> {
    let parts: Vec<&str> = text.split('/').collect();
    match parts.as_slice() {
        [name] => {
            check_item_name(name)?;
            Ok(JobName {
                folder: None,
                name: (*name).to_string(),
            })
        }
        [folder, name] => {
            check_item_name(folder)?;
            check_item_name(name)?;
            Ok(JobName {
                folder: Some((*folder).to_string()),
                name: (*name).to_string(),
            })
        }
        _ => Err(format!(
            "jobName `{text}` must be `NAME` or `FOLDER/NAME` (one folder, as in DevStream)"
        )),
    }
}

impl Options {
    /// The job name as given (top level, else under `pipeline`), if any.
    pub fn given_job_name(&self) -> Option<&str> {
        self.job_name
            .as_deref()
            .or(self.pipeline.job_name.as_deref())
            .map(str::trim)
            .filter(|n| !n.is_empty())
    }

    /// The job's name; the repository's name when none is given.
    pub fn job(&self, repo_name: &str) -> Result<JobName, PluginError> {
        let text = self.given_job_name().unwrap_or(repo_name);
        parse_job_name(text).map_err(PluginError::invalid_options)
    }

    /// Whether dtm writes the Jenkinsfile (from `configLocation` or the built-in one), rather
    /// than the job running the repository's own.
    pub fn writes_jenkinsfile(&self) -> bool {
        self.pipeline
            .config_location
            .as_deref()
            .is_some_and(|l| !l.trim().is_empty())
            || self.pipeline.language.is_some()
    }

    /// Path of the Jenkinsfile in the repository.
    pub fn jenkinsfile_path(&self) -> String {
        self.path
            .as_deref()
            .or(self.pipeline.path.as_deref())
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .unwrap_or("Jenkinsfile")
            .to_string()
    }

    /// Everything the types cannot check; JSON pointers into the options.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = self.scm.problems("/scm");
        let mut problem = |path: &str, message: String| {
            problems.push(Problem {
                path: path.into(),
                message,
            })
        };
        let url = self.jenkins.base_url();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.len() <= "https://".len()
            || url.contains(char::is_whitespace)
        {
            problem(
                "/jenkins/url",
                format!("`{url}` is not an http(s) URL like http://jenkins.example.com:8080"),
            );
        }
        if self.jenkins.user.trim().is_empty() {
            problem("/jenkins/user", "must not be empty".into());
        }
        if let (Some(top), Some(nested)) = (&self.job_name, &self.pipeline.job_name)
            && top.trim() != nested.trim()
        {
            problem(
                "/pipeline/jobName",
                format!("`{nested}` differs from the top-level jobName `{top}`; give one"),
            );
        }
        if let Some(name) = self.given_job_name()
            && let Err(message) = parse_job_name(name)
        {
            let at = if self.job_name.is_some() {
                "/jobName"
            } else {
                "/pipeline/jobName"
            };
            problem(at, message);
        }
        if let Err(message) = dtm_git_support::git::check_relative(&self.jenkinsfile_path()) {
            problem("/path", message);
        }
        if let Some(lang) = &self.pipeline.language
            && self.pipeline.config_location.is_none()
            && let Err(message) = dtm_git_support::pipelines::language(
                lang.name.as_deref(),
                lang.framework.as_deref(),
                lang.version.as_deref(),
            )
        {
            problem("/pipeline/language", message);
        }
        problems
    }

    /// What dtm accepts but does not do, said as warnings when it creates or updates.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.pipeline.ding_talk.is_some() {
            notes.push("`pipeline.dingTalk` is accepted but not done: dtm's Jenkinsfile has no DingTalk step, and dtm configures no DingTalk robot in Jenkins".into());
        }
        if self.pipeline.sonarqube.is_some() {
            notes.push("`pipeline.sonarqube` is accepted but not done: dtm's Jenkinsfile has no SonarQube step, and dtm configures no SonarQube server in Jenkins".into());
        }
        notes
    }
}

impl FlavorOptions for Options {
    fn ci(&self) -> Result<Ci, Vec<Problem>> {
        let p = &self.pipeline;
        Ok(Ci {
            scm: self.scm.clone(),
            scm_pointer: "/scm",
            pipeline: Pipeline {
                config_location: p.config_location.clone(),
                language: p.language.clone(),
                image_repo: p.image_repo.clone(),
                test: p.test.clone(),
                branch: p.branch.clone(),
                ding_talk: None,
                sonarqube: None,
                vars: p.vars.clone(),
                path: None,
            },
            path: Some(self.jenkinsfile_path()),
            files: None,
        })
    }

    fn notes(&self) -> Vec<String> {
        Options::notes(self)
    }
}

/// The sample options of `dtm show config -p jenkins-pipeline`.
pub fn example() -> Value {
    json!({
        "jenkins": {
            "url": "http://jenkins.example.com:8080",
            "user": "admin",
        },
        "scm": {
            "scmType": "gitlab",
            "baseURL": "https://gitlab.example.com",
            "owner": "my-group",
            "name": "my-service",
            "branch": "main",
        },
        "pipeline": {
            "jobName": "ci/my-service",
            "language": {"name": "java", "framework": "springboot"},
            "imageRepo": {"url": "harbor.example.com", "user": "admin"},
        },
    })
}
