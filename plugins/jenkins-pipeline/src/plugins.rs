//! The Jenkins plugins a job needs, installed through the plugin manager's REST API when they
//! are missing, as DevStream installed them; a restart (with `enableRestart`) and the wait for
//! Jenkins to come back are pending steps, so they survive an interrupted dtm.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dtm_git_support::scm::ScmKind;
use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

use crate::client::Client;

/// How long dtm waits for plugins to install and Jenkins to restart.
const WAIT_LIMIT: Duration = Duration::from_secs(15 * 60);
/// Pause between two looks while waiting.
const POLL_EVERY: Duration = Duration::from_secs(3);

/// The Jenkins plugins (short names) the job needs.
pub fn required(kind: ScmKind, folder: bool, builtin_jenkinsfile: bool) -> Vec<&'static str> {
    let mut out = vec!["git", "workflow-aggregator", "credentials"];
    match kind {
        ScmKind::GitHub => out.push("github-branch-source"),
        ScmKind::GitLab => out.push("gitlab-plugin"),
        ScmKind::Git => {}
    }
    if folder {
        out.push("cloudbees-folder");
    }
    if builtin_jenkinsfile {
        // dtm's Jenkinsfile runs on a Kubernetes agent and binds a username/password credential.
        out.extend(["kubernetes", "credentials-binding"]);
    }
    out
}

/// Which of `wanted` Jenkins does not have active.
fn missing(ctx: &Ctx, jenkins: &Client, wanted: &[String]) -> Result<Vec<String>, PluginError> {
    let path = "/pluginManager/api/json?depth=1&tree=plugins%5BshortName,active%5D";
    let answer = jenkins.get(ctx, path)?;
    if answer.status != 200 {
        return Err(jenkins.failure("GET", path, &answer));
    }
    let body = answer.json();
    let active: Vec<&str> = body["plugins"]
        .as_array()
        .map(|plugins| {
            plugins
                .iter()
                .filter(|p| p["active"].as_bool().unwrap_or(true))
                .filter_map(|p| p["shortName"].as_str())
                .collect()
        })
        .unwrap_or_default();
    Ok(wanted
        .iter()
        .filter(|w| !active.contains(&w.as_str()))
        .cloned()
        .collect())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn waiting(data: Value, message: String) -> Step {
    Pending::new(data).after(POLL_EVERY).message(message).into()
}

/// Makes sure the plugins are there: `None` when they are (go on), a pending step while they
/// install or Jenkins restarts.
pub fn ensure(
    ctx: &Ctx,
    jenkins: &Client,
    wanted: &[&str],
    offline: bool,
    enable_restart: bool,
) -> Result<Option<Step>, PluginError> {
    let wanted: Vec<String> = wanted.iter().map(|w| (*w).to_string()).collect();
    let absent = match missing(ctx, jenkins, &wanted) {
        Ok(absent) => absent,
        // Reading the plugin manager needs Overall/Administer (or System Read): a user who
        // may only make jobs can still go on.
        Err(e) if e.kind == ErrorKind::PermissionDenied && e.message.contains(": 403 ") => {
            ctx.warn(format!(
                "cannot check the Jenkins plugins ({}); make sure Jenkins has {}",
                e.message,
                wanted.join(", ")
            ));
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if absent.is_empty() {
        return Ok(None);
    }
    let list = absent.join(", ");
    if offline {
        ctx.warn(format!(
            "jenkins.offline: dtm installs no plugins, and Jenkins lacks {list}; the job may not load or run until they are installed"
        ));
        return Ok(None);
    }
    let mut xml = String::from("<jenkins>");
    for p in &absent {
        xml.push_str(&format!("<install plugin=\"{p}@latest\"/>"));
    }
    xml.push_str("</jenkins>");
    let path = "/pluginManager/installNecessaryPlugins";
    let answer = jenkins.post_xml(ctx, path, &xml)?;
    if !matches!(answer.status, 200 | 302) {
        return Err(jenkins.failure("POST", path, &answer));
    }
    ctx.info(format!("installing the Jenkins plugins {list}"));
    let data = json!({
        "phase": "plugins",
        "plugins": absent,
        "restarted": false,
        "deadline": now() + WAIT_LIMIT.as_secs(),
        "enableRestart": enable_restart,
    });
    Ok(Some(waiting(
        data,
        format!("waiting for Jenkins to install {list}"),
    )))
}

/// Whether Jenkins says a restart is needed to finish installing.
fn restart_required(ctx: &Ctx, jenkins: &Client) -> Result<bool, PluginError> {
    let path = "/updateCenter/api/json?tree=restartRequiredForCompletion";
    let answer = jenkins.get(ctx, path)?;
    if answer.status != 200 {
        return Err(jenkins.failure("GET", path, &answer));
    }
    Ok(answer.json()["restartRequiredForCompletion"]
        .as_bool()
        .unwrap_or(false))
}

/// One more look while plugins install or Jenkins restarts: `None` when done.
pub fn resume(ctx: &Ctx, jenkins: &Client, data: &Value) -> Result<Option<Step>, PluginError> {
    let wanted: Vec<String> = data["plugins"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let list = wanted.join(", ");
    let deadline = data["deadline"].as_u64().unwrap_or_default();
    if now() > deadline {
        return Err(PluginError::timeout(format!(
            "Jenkins at {} did not finish installing {list} within {} minutes; look at its update center, then run dtm apply again",
            jenkins.base,
            WAIT_LIMIT.as_secs() / 60
        )));
    }
    let absent = match missing(ctx, jenkins, &wanted) {
        Ok(absent) => absent,
        // Jenkins is restarting: not there yet.
        Err(e) if e.kind == ErrorKind::Unavailable => {
            return Ok(Some(waiting(
                data.clone(),
                format!("waiting for Jenkins at {} to come back", jenkins.base),
            )));
        }
        Err(e) => return Err(e),
    };
    if absent.is_empty() {
        ctx.info(format!("the Jenkins plugins {list} are active"));
        return Ok(None);
    }
    if data["restarted"].as_bool() == Some(true) || !restart_required(ctx, jenkins)? {
        return Ok(Some(waiting(
            data.clone(),
            format!("waiting for Jenkins to activate {}", absent.join(", ")),
        )));
    }
    if data["enableRestart"].as_bool() != Some(true) {
        return Err(PluginError::conflict(format!(
            "Jenkins at {} installed {} but must restart to load them: restart Jenkins and run dtm apply again, or set jenkins.enableRestart: true",
            jenkins.base,
            absent.join(", ")
        )));
    }
    let answer = jenkins.post(ctx, "/safeRestart")?;
    if !matches!(answer.status, 200 | 302 | 503) {
        return Err(jenkins.failure("POST", "/safeRestart", &answer));
    }
    ctx.info(format!(
        "restarting Jenkins at {} to load {list}",
        jenkins.base
    ));
    let mut data = data.clone();
    data["restarted"] = json!(true);
    Ok(Some(waiting(
        data,
        format!("waiting for Jenkins at {} to restart", jenkins.base),
    )))
}
