//! The repository's webhook that triggers the job, as DevStream added it: GitHub calls
//! `JENKINS/github-webhook/`, GitLab calls `JENKINS/project/JOB` with the job's secret token.

use dtm_git_support::http::{Api, TokenStyle, encode_segment};
use dtm_git_support::scm::{Repo, ScmKind};
use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

/// The URL the repository's webhook calls; `None` for a plain git repository.
pub fn address(repo: &Repo, jenkins_url: &str, job_full_name: &str) -> Option<String> {
    let base = jenkins_url.trim_end_matches('/');
    match repo.kind {
        ScmKind::GitHub => Some(format!("{base}/github-webhook/")),
        ScmKind::GitLab => Some(format!("{base}/project/{job_full_name}")),
        ScmKind::Git => None,
    }
}

fn api(repo: &Repo) -> Result<Option<Api>, PluginError> {
    let (Some(base), Some(token)) = (&repo.api_base, &repo.token) else {
        return Ok(None);
    };
    let style = match repo.kind {
        ScmKind::GitLab => TokenStyle::PrivateToken,
        _ => TokenStyle::Bearer,
    };
    Api::new(base, Some(token.clone()), style).map(Some)
}

fn hooks_path(repo: &Repo) -> String {
    match repo.kind {
        ScmKind::GitHub => format!(
            "/repos/{}/{}/hooks",
            encode_segment(&repo.owner),
            encode_segment(&repo.name)
        ),
        _ => format!("/projects/{}/hooks", encode_segment(&repo.full_name())),
    }
}

fn hook_url(hook: &Value) -> Option<&str> {
    hook["config"]["url"].as_str().or(hook["url"].as_str())
}

/// The IDs of the repository's hooks that call `url`; `None` when dtm cannot ask (no token).
fn find(ctx: &Ctx, repo: &Repo, url: &str) -> Result<Option<(Api, Vec<u64>)>, PluginError> {
    let Some(api) = api(repo)? else {
        return Ok(None);
    };
    let path = hooks_path(repo);
    let answer = api.call(ctx, "GET", &path, None)?;
    match answer.status {
        200 => {}
        404 => {
            return Err(PluginError::not_found(format!(
                "GET {}{path}: the repository {} does not exist",
                api.base,
                repo.full_name()
            )));
        }
        s => {
            return Err(PluginError::internal(format!(
                "GET {}{path}: unexpected status {s} ({})",
                api.base,
                answer.message()
            )));
        }
    }
    let ids = answer
        .body
        .as_array()
        .map(|hooks| {
            hooks
                .iter()
                .filter(|h| hook_url(h) == Some(url))
                .filter_map(|h| h["id"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    Ok(Some((api, ids)))
}

fn body(repo: &Repo, url: &str, secret: &str) -> Value {
    match repo.kind {
        ScmKind::GitHub => json!({
            "name": "web",
            "active": true,
            "events": ["push", "pull_request"],
            "config": {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
        }),
        _ => json!({
            "url": url,
            "token": secret,
            "push_events": true,
            "merge_requests_events": true,
        }),
    }
}

/// Adds the webhook, or updates the one calling `url` (its secret may have changed). `false`
/// when there is no token to do it with.
pub fn ensure(ctx: &Ctx, repo: &Repo, url: &str, secret: &str) -> Result<bool, PluginError> {
    let Some((api, ids)) = find(ctx, repo, url)? else {
        ctx.warn(format!(
            "no scm.token: dtm cannot add the webhook {url} to {}; add it by hand to trigger the job on pushes",
            repo.full_name()
        ));
        return Ok(false);
    };
    let path = hooks_path(repo);
    let body = body(repo, url, secret);
    let (method, at) = match ids.first() {
        Some(id) if repo.kind == ScmKind::GitHub => ("PATCH", format!("{path}/{id}")),
        Some(id) => ("PUT", format!("{path}/{id}")),
        None => ("POST", path),
    };
    let answer = api.call(ctx, method, &at, Some(&body))?;
    if !matches!(answer.status, 200 | 201) {
        return Err(PluginError::internal(format!(
            "{method} {}{at}: unexpected status {} ({}); the token needs the scope to manage webhooks (admin:repo_hook / Maintainer)",
            api.base,
            answer.status,
            answer.message()
        )));
    }
    if method == "POST" {
        ctx.info(format!("added the webhook {url} to {}", repo.full_name()));
    }
    Ok(true)
}

/// Whether the repository has a webhook calling `url`; `None` when dtm cannot ask.
pub fn exists(ctx: &Ctx, repo: &Repo, url: &str) -> Result<Option<bool>, PluginError> {
    Ok(find(ctx, repo, url)?.map(|(_, ids)| !ids.is_empty()))
}

/// Removes the webhooks calling `url`; gone already is fine.
pub fn remove(ctx: &Ctx, repo: &Repo, url: &str) -> Result<(), PluginError> {
    let found = match find(ctx, repo, url) {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(()),
        Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let (api, ids) = found;
    for id in ids {
        let at = format!("{}/{id}", hooks_path(repo));
        let answer = api.call(ctx, "DELETE", &at, None)?;
        if !matches!(answer.status, 200 | 204 | 404) {
            return Err(PluginError::internal(format!(
                "DELETE {}{at}: unexpected status {} ({})",
                api.base,
                answer.status,
                answer.message()
            )));
        }
        ctx.info(format!(
            "removed the webhook {url} from {}",
            repo.full_name()
        ));
    }
    Ok(())
}
