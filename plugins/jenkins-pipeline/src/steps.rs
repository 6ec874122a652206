//! The plugin's create/update (one converging step), read and delete.

use dtm_plugin_sdk::prelude::*;
use serde_json::Value;

use super::*;

/// Brings Jenkins and the repository in line with the options: plugins, Jenkinsfile,
/// credentials, folder, job, webhook; then removes the job and webhook of a renamed job.
pub(crate) fn converge(ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
    for note in req.options.notes() {
        ctx.warn(note);
    }
    let run = connect(req)?;
    let o = &req.options;
    if let Some(data) = req.pending.as_ref().filter(|d| d["phase"] == "plugins")
        && let Some(step) = plugins::resume(ctx, &run.jenkins, data)?
    {
        return Ok(step);
    }
    let wanted_plugins = plugins::required(
        run.repo.kind,
        run.job.folder.is_some(),
        o.writes_jenkinsfile() && o.pipeline.config_location.is_none(),
    );
    if let Some(step) = plugins::ensure(
        ctx,
        &run.jenkins,
        &wanted_plugins,
        o.jenkins.offline,
        o.jenkins.enable_restart,
    )? {
        return Ok(step);
    }
    let jenkinsfile = if o.writes_jenkinsfile() {
        match Files::default().create(ctx, &files_req(req))? {
            Step::Done(done) => Some(done),
            Step::Pending(_) => {
                return Err(PluginError::internal(
                    "committing the Jenkinsfile did not finish in one step",
                ));
            }
        }
    } else {
        None
    };
    let wanted_credentials = credentials::wanted(o, &run.repo);
    credentials::apply(ctx, &run.jenkins, &wanted_credentials)?;
    let spec = spec(ctx, req, &run)?;
    let xml = job::config_xml(&spec);
    let folder_created = ensure_folder(ctx, req, &run)?;
    write_job(ctx, &run, &xml)?;
    let url = webhook::address(&run.repo, &o.jenkins.base_url(), &run.job.full());
    let webhook = match &url {
        Some(url) if webhook::ensure(ctx, &run.repo, url, &spec.secret_token)? => Some(url.clone()),
        _ => None,
    };
    forget_renamed(ctx, req, &run, url.as_deref())?;
    let job = live_job(ctx, &run, &run.job, &xml)?.ok_or_else(|| {
        PluginError::internal(format!(
            "Jenkins at {} does not show the job `{}` dtm just wrote",
            run.jenkins.base,
            run.job.full()
        ))
    })?;
    let ids: Vec<&str> = wanted_credentials.iter().map(|c| c.id).collect();
    let parts = Parts {
        job,
        folder_created,
        credentials: credentials::existing(ctx, &run.jenkins, &ids)?,
        webhook,
        jenkinsfile,
    };
    Ok(finished(&run, parts).into())
}

/// After a rename: deletes the job dtm made under its old name, and its old webhook.
fn forget_renamed(
    ctx: &Ctx,
    req: &Req<Options>,
    run: &Run,
    url: Option<&str>,
) -> Result<(), PluginError> {
    if let Some(old) = recorded_job(&req.status).filter(|old| *old != run.job) {
        delete_job(ctx, run, &old)?;
    }
    if let Some(old_url) = req.status["webhook"].as_str()
        && Some(old_url) != url
    {
        webhook::remove(ctx, &run.repo, old_url)?;
    }
    Ok(())
}

fn delete_job(ctx: &Ctx, run: &Run, at: &JobName) -> Result<(), PluginError> {
    let path = format!("{}/doDelete", at.path());
    let answer = run.jenkins.post(ctx, &path)?;
    match answer.status {
        200 | 302 => ctx.info(format!("deleted the Jenkins job `{}`", at.full())),
        404 => ctx.info(format!("the Jenkins job `{}` is gone already", at.full())),
        _ => return Err(run.jenkins.failure("POST", &path, &answer)),
    }
    Ok(())
}

/// The live status: absent when the job is gone.
pub(crate) fn read(ctx: &Ctx, req: &Req<Options>) -> Result<Option<Done>, PluginError> {
    let run = connect(req)?;
    let o = &req.options;
    let at = recorded_job(&req.status).unwrap_or_else(|| run.job.clone());
    let spec = spec(ctx, req, &run)?;
    let xml = job::config_xml(&spec);
    let Some(job) = live_job(ctx, &run, &at, &xml)? else {
        return Ok(None);
    };
    let ids: Vec<&str> = credentials::wanted(o, &run.repo)
        .iter()
        .map(|c| c.id)
        .collect();
    let webhook = match webhook::address(&run.repo, &o.jenkins.base_url(), &run.job.full()) {
        Some(url) => match webhook::exists(ctx, &run.repo, &url)? {
            Some(true) => Some(url),
            _ => None,
        },
        None => None,
    };
    let jenkinsfile = if o.writes_jenkinsfile() {
        let found = Files::default().read(ctx, &files_req(req))?;
        // Gone: a status that differs from the recorded one, so the plan repairs it.
        Some(found.unwrap_or_else(|| Done::new(Value::Null)))
    } else {
        None
    };
    let parts = Parts {
        job,
        folder_created: req.status["folderCreated"].as_bool().unwrap_or(false),
        credentials: credentials::existing(ctx, &run.jenkins, &ids)?,
        webhook,
        jenkinsfile,
    };
    Ok(Some(finished(&run, parts)))
}

/// Removes the Jenkinsfile dtm committed, the job, the webhook and a folder dtm created (when
/// empty). Credentials stay: other jobs may use them under DevStream's IDs.
pub(crate) fn delete(ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
    let run = connect(req)?;
    let o = &req.options;
    if o.writes_jenkinsfile() || !req.status["jenkinsfile"].is_null() {
        Files::default().delete(ctx, &files_req(req))?;
    }
    let at = recorded_job(&req.status).unwrap_or_else(|| run.job.clone());
    delete_job(ctx, &run, &at)?;
    let url = req.status["webhook"]
        .as_str()
        .map(str::to_string)
        .or_else(|| webhook::address(&run.repo, &o.jenkins.base_url(), &at.full()));
    if let Some(url) = url {
        webhook::remove(ctx, &run.repo, &url)?;
    }
    if let Some(folder) = at.folder.as_deref()
        && req.status["folderCreated"].as_bool() == Some(true)
    {
        delete_empty_folder(ctx, &run, folder)?;
    }
    Ok(Done::default().into())
}

fn delete_empty_folder(ctx: &Ctx, run: &Run, folder: &str) -> Result<(), PluginError> {
    let path = format!(
        "/job/{}/api/json?tree=jobs%5Bname%5D",
        options::encode(folder)
    );
    let answer = run.jenkins.get(ctx, &path)?;
    match answer.status {
        404 => return Ok(()),
        200 => {}
        _ => return Err(run.jenkins.failure("GET", &path, &answer)),
    }
    let empty = answer.json()["jobs"].as_array().is_none_or(Vec::is_empty);
    if !empty {
        ctx.info(format!(
            "keeping the Jenkins folder `{folder}` dtm created: it holds other jobs now"
        ));
        return Ok(());
    }
    let folder = JobName {
        folder: None,
        name: folder.to_string(),
    };
    delete_job(ctx, run, &folder)
}
