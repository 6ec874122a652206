//! The `jira` plugin: links a GitHub repository to an existing Jira project with a GitHub
//! Actions workflow that mirrors the repository's issues as Jira tasks, and the repository
//! secrets the workflow reads. DevStream v0.12.1's `jira` (formerly `jira-github-integ`), with
//! its options. See `docs/plugins/jira.md`.
#![forbid(unsafe_code)]

mod client;
mod options;

use dtm_git_support::integration::Integration;
use dtm_git_support::scm::{Repo, ScmKind};
use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

pub use options::{Jira, Options};

/// Where the workflow goes, as in DevStream.
pub const WORKFLOW_PATH: &str = ".github/workflows/jiraIssueBuilder.yml";

/// The workflow; `[[ name ]]` placeholders are filled by [`workflow`].
const WORKFLOW: &str = include_str!("../templates/issue-sync.yml");

/// The plugin.
#[derive(Debug, Default)]
pub struct JiraPlugin;

/// A YAML double-quoted scalar (JSON strings are valid YAML).
fn quoted(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// The workflow for these options.
fn workflow(instance: &str, jira: &Jira) -> String {
    WORKFLOW
        .replace("[[ instance ]]", instance)
        .replace("[[ baseURL ]]", &quoted(jira.base()))
        .replace("[[ userEmail ]]", &quoted(jira.user_email.trim()))
        .replace("[[ projectKey ]]", &quoted(jira.key()))
}

/// What every operation works out from the options.
struct Setup {
    repo: Repo,
    api: client::Jira,
    workflow: String,
    secrets: Vec<(String, String)>,
}

fn setup(req: &Req<Options>) -> Result<Setup, PluginError> {
    let repo = req.options.scm.resolve(|p| req.resolve(p))?;
    let jira = &req.options.jira;
    let api = client::Jira::new(jira.base(), &jira.user_email, &jira.token)?;
    let secrets = vec![
        (
            "GH_TOKEN".to_string(),
            repo.token.clone().unwrap_or_default(),
        ),
        ("JIRA_API_TOKEN".to_string(), jira.token.trim().to_string()),
    ];
    Ok(Setup {
        workflow: workflow(&req.instance, jira),
        repo,
        api,
        secrets,
    })
}

/// The project `key` as Jira reports it (`{id, key}`); `None` when there is no such project.
fn project(api: &client::Jira, ctx: &Ctx, key: &str) -> Result<Option<Value>, PluginError> {
    let path = format!("/project/{}", dtm_git_support::http::encode_segment(key));
    let answer = api.get(ctx, &path)?;
    match answer.status {
        200 => Ok(Some(answer.body)),
        404 => Ok(None),
        status => Err(PluginError::internal(format!(
            "GET {}{path}: unexpected status {status} ({})",
            api.base,
            answer.message()
        ))),
    }
}

/// The project's part of the status.
fn project_status(project: Option<&Value>) -> Value {
    project.map_or(Value::Null, |p| json!({"id": p["id"], "key": p["key"]}))
}

/// Checks what the workflow relies on: the credentials work, the project exists and has the
/// Task issue type, and the user's Jira speaks English (the workflow's transitions are named
/// "Start progress", "Done" and "To Do"). Returns the project.
fn check_site(ctx: &Ctx, api: &client::Jira, key: &str) -> Result<Value, PluginError> {
    let myself = api.get(ctx, "/myself")?;
    if myself.status != 200 {
        return Err(PluginError::internal(format!(
            "GET {}/myself: unexpected status {} ({})",
            api.base,
            myself.status,
            myself.message()
        )));
    }
    if let Some(locale) = myself.body["locale"].as_str()
        && !locale.starts_with("en")
    {
        ctx.warn(format!(
            "the Jira user's language is `{locale}`: the workflow's transitions (Start progress, Done, To Do) are named as in English; set the user's language to English in Jira"
        ));
    }
    let site = api.base.trim_end_matches("/rest/api/2");
    let project = project(api, ctx, key)?.ok_or_else(|| {
        PluginError::not_found(format!(
            "there is no Jira project `{key}` at {site} that this user can see; create it in Jira (or fix jira.projectKey) and run dtm again"
        ))
    })?;
    let has_task = project["issueTypes"]
        .as_array()
        .is_none_or(|types| types.iter().any(|t| t["name"] == "Task"));
    if !has_task {
        ctx.warn(format!(
            "the Jira project `{key}` has no issue type `Task`, which the workflow creates; add it to the project's issue types"
        ));
    }
    Ok(project)
}

impl JiraPlugin {
    /// Create and update: check the Jira side, then set the secrets and commit the workflow.
    fn ensure(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        let s = setup(req)?;
        if s.repo.kind != ScmKind::Git && s.repo.token.is_none() {
            return Err(PluginError::invalid_options(format!(
                "scm.token is needed: dtm sets the repository secrets of {} with it, and the workflow uses it (as GH_TOKEN) to put the Jira key into issue titles",
                s.repo.full_name()
            )));
        }
        let project = check_site(ctx, &s.api, req.options.jira.key())?;
        let integration = Integration {
            repo: &s.repo,
            path: WORKFLOW_PATH,
            content: &s.workflow,
            secrets: &s.secrets,
            instance: &req.instance,
        };
        let (found, commit) = integration.apply(ctx)?;
        let status = json!({
            "project": project_status(Some(&project)),
            "workflow": integration.status(&found),
        });
        let mut done = Done::new(status)
            .output("projectKey", project["key"].clone())
            .output("projectId", project["id"].clone())
            .output("workflowPath", WORKFLOW_PATH);
        if let Some(commit) = commit {
            done = done.output("commit", commit);
        }
        Ok(done.into())
    }
}

impl Plugin for JiraPlugin {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "jira",
            env!("CARGO_PKG_VERSION"),
            "Links a GitHub repository to a Jira project: a workflow that mirrors issues as Jira tasks",
        )
        .output("projectKey", "key of the Jira project, as Jira spells it")
        .output("projectId", "id of the Jira project")
        .output("workflowPath", "path of the workflow in the repository")
        .output("commit", "the commit that last wrote the workflow")
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
        self.ensure(ctx, req)
    }

    fn read(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Option<Done>, PluginError> {
        let s = setup(req)?;
        let integration = Integration {
            repo: &s.repo,
            path: WORKFLOW_PATH,
            content: &s.workflow,
            secrets: &s.secrets,
            instance: &req.instance,
        };
        let Some(found) = integration.read(ctx)?.filter(|f| f.sha256.is_some()) else {
            return Ok(None);
        };
        let project = project(&s.api, ctx, req.options.jira.key())?;
        let status = json!({
            "project": project_status(project.as_ref()),
            "workflow": integration.status(&found),
        });
        let mut done = Done::new(status);
        for (key, value) in &req.outputs {
            done = done.output(key.clone(), value.clone());
        }
        Ok(Some(done))
    }

    fn update(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        self.ensure(ctx, req)
    }

    fn delete(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        let s = setup(req)?;
        Integration {
            repo: &s.repo,
            path: WORKFLOW_PATH,
            content: &s.workflow,
            secrets: &s.secrets,
            instance: &req.instance,
        }
        .remove(ctx)?;
        Ok(Done::default().into())
    }
}

dtm_plugin_sdk::export_plugin!(JiraPlugin, JiraPlugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_is_yaml_with_the_options_quoted() {
        let jira: Jira = serde_json::from_value(json!({
            "baseURL": "https://team.atlassian.net/",
            "userEmail": "me@example.com",
            "projectKey": "HEAP",
            "token": "t"
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let text = workflow("jira.default", &jira);
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap_or_default();
        assert_eq!(
            docs[0]["env"]["JIRA_BASE_URL"].as_str(),
            Some("https://team.atlassian.net")
        );
        assert_eq!(
            docs[0]["jobs"]["issue"]["steps"][1]["with"]["project"].as_str(),
            Some("HEAP")
        );
        assert!(!text.contains("[["), "every placeholder is filled:\n{text}");
    }

    #[test]
    fn problems_name_their_keys() {
        let options: Options = serde_json::from_value(json!({
            "scm": {"url": "https://github.com/o/r"},
            "jira": {"baseURL": "team.atlassian.net", "userEmail": " ", "projectKey": "1X", "token": ""}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let paths: Vec<String> = options.problems().into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                "/jira/baseURL",
                "/jira/userEmail",
                "/jira/projectKey",
                "/jira/token"
            ]
        );
    }
}
