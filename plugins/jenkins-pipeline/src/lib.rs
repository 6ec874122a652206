//! The `jenkins-pipeline` plugin: a Jenkins job that builds a repository's Jenkinsfile, made
//! through Jenkins' REST API (`config.xml`), with the credentials and the repository webhook
//! DevStream set up for it, the Jenkins plugins it needs, and (optionally) the Jenkinsfile
//! itself, committed to the repository from `configLocation` or dtm's built-in template. See
//! `docs/plugins/jenkins-pipeline.md`.
#![forbid(unsafe_code)]

pub mod client;
pub mod credentials;
pub mod jenkinsfile;
pub mod job;
pub mod options;
pub mod plugins;
pub mod webhook;
pub mod xml;

use dtm_git_support::ci::CiPlugin;
use dtm_git_support::scm::{Repo, ScmKind};
use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use client::Client;
use job::JobSpec;
use options::{JobName, Options, parse_job_name};

/// The Jenkinsfile part, done by the shared CI plugin code.
type Files = CiPlugin<jenkinsfile::Jenkinsfile>;

/// Everything one step works with.
struct Run {
    jenkins: Client,
    repo: Repo,
    job: JobName,
}

fn connect(req: &Req<Options>) -> Result<Run, PluginError> {
    let o = &req.options;
    let mut repo = o.scm.resolve(|p| req.resolve(p))?;
    if let Some(branch) = o.pipeline.branch.as_ref().filter(|b| !b.is_empty()) {
        repo.branch = branch.clone();
    }
    let password = o.jenkins.password.as_deref().filter(|p| !p.is_empty());
    let password = password.ok_or_else(|| {
        PluginError::invalid_options(format!(
            "{}: jenkins.password is needed to talk to {}: the password or an API token of `{}`, e.g. [[ env \"JENKINS_PASSWORD\" ]]",
            req.instance, o.jenkins.url, o.jenkins.user
        ))
    })?;
    let jenkins = Client::new(&o.jenkins.base_url(), &o.jenkins.user, password)?;
    let job = o.job(&repo.name)?;
    Ok(Run { jenkins, repo, job })
}

/// The job recorded in state (where dtm made it), if any.
fn recorded_job(status: &Value) -> Option<JobName> {
    parse_job_name(status["job"]["name"].as_str()?).ok()
}

/// The secret GitLab sends with webhook calls: derived from what identifies the job and the
/// secrets dtm holds, so that it is stable between runs and never stored.
fn secret_token(req: &Req<Options>, run: &Run) -> String {
    let o = &req.options;
    let mut h = Sha256::new();
    for part in [
        req.instance.as_str(),
        &o.jenkins.base_url(),
        &run.job.full(),
        run.repo.token.as_deref().unwrap_or_default(),
        o.jenkins.password.as_deref().unwrap_or_default(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..32].to_string()
}

/// The git URL Jenkins clones: an SSH URL as given, else the one the API reports.
fn clone_url(ctx: &Ctx, req: &Req<Options>, repo: &Repo) -> Result<String, PluginError> {
    let given = req.options.scm.url.as_deref().unwrap_or_default().trim();
    if repo.kind == ScmKind::Git || given.starts_with("git@") || given.starts_with("ssh://") {
        return Ok(if repo.kind == ScmKind::Git {
            repo.url.clone()
        } else {
            given.to_string()
        });
    }
    let remote = repo.remote(ctx)?.ok_or_else(|| {
        PluginError::not_found(format!(
            "the repository {} does not exist; create it first (e.g. with the repo-scaffolding plugin, and `dependsOn` it)",
            repo.url
        ))
    })?;
    Ok(remote.url)
}

fn spec<'a>(ctx: &Ctx, req: &Req<Options>, run: &'a Run) -> Result<JobSpec<'a>, PluginError> {
    let has_key = req
        .options
        .scm
        .ssh_private_key
        .as_deref()
        .is_some_and(|k| !k.trim().is_empty());
    Ok(JobSpec {
        repo: &run.repo,
        clone_url: clone_url(ctx, req, &run.repo)?,
        branch: run.repo.branch.clone(),
        script_path: req.options.jenkinsfile_path(),
        credentials_id: job::clone_credential(&run.repo, has_key),
        secret_token: secret_token(req, run),
        display_name: run.job.name.clone(),
        instance: req.instance.clone(),
    })
}

/// The request for the Jenkinsfile part: its own recorded status.
fn files_req(req: &Req<Options>) -> Req<Options> {
    let mut sub = req.clone();
    sub.status = req.status["jenkinsfile"].clone();
    sub.pending = None;
    sub
}

fn folder_exists(ctx: &Ctx, jenkins: &Client, folder: &str) -> Result<bool, PluginError> {
    let path = format!("/job/{}/api/json", options::encode(folder));
    let answer = jenkins.get(ctx, &path)?;
    match answer.status {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(jenkins.failure("GET", &path, &answer)),
    }
}

/// Creates the job's folder if it is missing; whether dtm created it.
fn ensure_folder(ctx: &Ctx, req: &Req<Options>, run: &Run) -> Result<bool, PluginError> {
    let Some(folder) = &run.job.folder else {
        return Ok(false);
    };
    if folder_exists(ctx, &run.jenkins, folder)? {
        return Ok(req.status["folderCreated"].as_bool().unwrap_or(false));
    }
    let path = format!("/createItem?name={}", options::encode(folder));
    let answer = run
        .jenkins
        .post_xml(ctx, &path, &job::folder_xml(&req.instance))?;
    if !matches!(answer.status, 200 | 302) {
        return Err(run.jenkins.failure("POST", &path, &answer));
    }
    ctx.info(format!("created the Jenkins folder `{folder}`"));
    Ok(true)
}

/// Creates the job, or posts its config when it exists.
fn write_job(ctx: &Ctx, run: &Run, xml: &str) -> Result<(), PluginError> {
    let config = format!("{}/config.xml", run.job.path());
    let answer = run.jenkins.get(ctx, &config)?;
    let (path, created) = match answer.status {
        200 => (config, false),
        404 => {
            let parent = run
                .job
                .folder
                .as_deref()
                .map(|f| format!("/job/{}", options::encode(f)))
                .unwrap_or_default();
            let path = format!(
                "{parent}/createItem?name={}",
                options::encode(&run.job.name)
            );
            (path, true)
        }
        _ => return Err(run.jenkins.failure("GET", &config, &answer)),
    };
    let answer = run.jenkins.post_xml(ctx, &path, xml)?;
    if !matches!(answer.status, 200 | 302) {
        return Err(run.jenkins.failure("POST", &path, &answer));
    }
    if created {
        ctx.info(format!("created the Jenkins job `{}`", run.job.full()));
    }
    Ok(())
}

/// The job's fields as Jenkins holds them, at the paths dtm sets; `None`: no such job.
fn live_job(ctx: &Ctx, run: &Run, at: &JobName, xml: &str) -> Result<Option<Value>, PluginError> {
    let path = format!("{}/config.xml", at.path());
    let answer = run.jenkins.get(ctx, &path)?;
    match answer.status {
        200 => {}
        404 => return Ok(None),
        _ => return Err(run.jenkins.failure("GET", &path, &answer)),
    }
    let wanted = xml::fields(xml).unwrap_or_default();
    let live = xml::fields(&answer.body).ok_or_else(|| {
        PluginError::internal(format!(
            "GET {}{path}: the answer is not XML",
            run.jenkins.base
        ))
    })?;
    let fields = xml::compare(&wanted, &live, job::is_secret);
    Ok(Some(json!({
        "name": at.full(),
        "kind": xml::root(&answer.body),
        "fields": fields,
    })))
}

/// The status and outputs of a finished step.
fn finished(run: &Run, parts: Parts) -> Done {
    let url = format!("{}{}/", run.jenkins.base, run.job.path());
    let mut done = Done::new(json!({
        "jenkins": run.jenkins.base,
        "job": parts.job,
        "folderCreated": parts.folder_created,
        "credentials": parts.credentials,
        "webhook": parts.webhook,
        "jenkinsfile": parts.jenkinsfile.as_ref().map(|d| d.status.clone()),
    }))
    .output("jobName", run.job.full())
    .output("jobURL", url)
    .output("repoURL", run.repo.url.clone())
    .output("branch", run.repo.branch.clone());
    if let Some(file) = parts.jenkinsfile {
        for (k, v) in file.outputs {
            if k == "path" || k == "commit" {
                done = done.output(format!("jenkinsfile{}", capitalize(&k)), v);
            }
        }
    }
    done
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// What a status is made of.
struct Parts {
    job: Value,
    folder_created: bool,
    credentials: Vec<String>,
    webhook: Option<String>,
    jenkinsfile: Option<Done>,
}

mod steps;

/// The `jenkins-pipeline` plugin.
#[derive(Debug, Default)]
pub struct JenkinsPipeline;

impl Plugin for JenkinsPipeline {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "jenkins-pipeline",
            env!("CARGO_PKG_VERSION"),
            "A Jenkins pipeline job through Jenkins' REST API, with its credentials, the repository webhook and (optionally) its Jenkinsfile",
        )
        .output("jobName", "the job's full name (`FOLDER/NAME` or `NAME`)")
        .output("jobURL", "the job's URL in Jenkins")
        .output("repoURL", "URL of the repository the job builds")
        .output("branch", "the branch the job builds")
        .output("jenkinsfilePath", "path of the Jenkinsfile dtm keeps in the repository")
        .output("jenkinsfileCommit", "the commit that last wrote the Jenkinsfile")
    }

    fn options_example() -> Option<Value> {
        Some(options::example())
    }

    fn validate(&self, _ctx: &Ctx, options: &Options) -> Result<(), Vec<Problem>> {
        let problems = options.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn create(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        steps::converge(ctx, req)
    }

    fn read(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Option<Done>, PluginError> {
        steps::read(ctx, req)
    }

    fn update(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        steps::converge(ctx, req)
    }

    fn delete(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        steps::delete(ctx, req)
    }
}

dtm_plugin_sdk::export_plugin!(JenkinsPipeline, JenkinsPipeline);

#[cfg(test)]
mod tests;
