//! The `trello` plugin: a Trello board with DevStream's lists (To Do, Doing, Done) and the
//! GitHub Actions workflow that turns a repository's issues into cards on it, with the
//! repository secrets the workflow reads. DevStream v0.12.1's `trello` (which took over
//! `trello-github-integ`), with its options. See `docs/plugins/trello.md`.
#![forbid(unsafe_code)]

mod board;
mod client;
mod options;

use dtm_git_support::integration::{Found, Integration};
use dtm_git_support::scm::Repo;
use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

pub use options::{Board, Options};

/// Where the workflow goes, as in DevStream.
pub const WORKFLOW_PATH: &str = ".github/workflows/trelloIssueBuilder.yml";

/// The workflow; `[[ instance ]]` is the tool's `name.instanceID`.
const WORKFLOW: &str = include_str!("../templates/issue-sync.yml");

/// The plugin.
#[derive(Debug, Default)]
pub struct TrelloPlugin;

/// What every operation works out from the options.
struct Setup {
    repo: Repo,
    api: client::Trello,
    name: String,
    desc: String,
    workflow: String,
}

fn setup(req: &Req<Options>) -> Result<Setup, PluginError> {
    let repo = req.options.scm.resolve(|p| req.resolve(p))?;
    let (name, desc) = req.options.board_identity(&repo);
    let board = &req.options.board;
    let api = client::Trello::new(req.options.api_url(), &board.api_key, &board.token)?;
    Ok(Setup {
        repo,
        api,
        name,
        desc,
        workflow: WORKFLOW.replace("[[ instance ]]", &req.instance),
    })
}

/// The secrets the workflow reads, as DevStream set them. Without a board (reads and deletes
/// of a board that is gone) only the names matter.
fn secrets(options: &Options, live: Option<&board::Live>) -> Vec<(String, String)> {
    let board_id = live.map(|l| l.board.id.clone()).unwrap_or_default();
    let mut secrets = vec![
        ("TRELLO_API_KEY".to_string(), options.board.api_key.clone()),
        ("TRELLO_TOKEN".to_string(), options.board.token.clone()),
        ("TRELLO_BOARD_ID".to_string(), board_id),
    ];
    for (i, name) in [
        "TRELLO_TODO_LIST_ID",
        "TRELLO_DOING_LIST_ID",
        "TRELLO_DONE_LIST_ID",
    ]
    .into_iter()
    .enumerate()
    {
        secrets.push((
            name.to_string(),
            live.map(|l| l.list_id(i)).unwrap_or_default(),
        ));
    }
    secrets.push(("TRELLO_MEMBER_MAP".to_string(), "[]".to_string()));
    secrets
}

/// Status and outputs. Neither holds the key or the token.
fn done(live: Option<&board::Live>, workflow: Option<Value>) -> Done {
    let mut status = live.map_or_else(|| json!({"board": null, "lists": null}), |l| l.status());
    status["workflow"] = workflow.unwrap_or(Value::Null);
    let mut done = Done::new(status);
    if let Some(live) = live {
        done = done
            .output("boardId", live.board.id.clone())
            .output("boardURL", live.board.url.clone());
        for (i, key) in ["todoListId", "doingListId", "doneListId"]
            .into_iter()
            .enumerate()
        {
            done = done.output(key, live.list_id(i));
        }
    }
    done
}

impl TrelloPlugin {
    /// Create and update: the board and lists, then the secrets and the workflow.
    fn ensure(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        let s = setup(req)?;
        let live = board::ensure(&s.api, ctx, &req.status, &s.name, &s.desc)?;
        let secrets = secrets(&req.options, Some(&live));
        let integration = Integration {
            repo: &s.repo,
            path: WORKFLOW_PATH,
            content: &s.workflow,
            secrets: &secrets,
            instance: &req.instance,
        };
        let (found, commit) = integration.apply(ctx)?;
        let mut done = done(Some(&live), Some(integration.status(&found)));
        if let Some(commit) = commit {
            done = done.output("commit", commit);
        }
        Ok(done.into())
    }
}

impl Plugin for TrelloPlugin {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "trello",
            env!("CARGO_PKG_VERSION"),
            "A Trello board (To Do, Doing, Done) and the GitHub Actions workflow that keeps a card per issue",
        )
        .output("boardId", "id of the Trello board")
        .output("todoListId", "id of the board's To Do list")
        .output("doingListId", "id of the board's Doing list")
        .output("doneListId", "id of the board's Done list")
        .output("boardURL", "web address of the board")
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
        let live = board::read(&s.api, ctx, &req.status, &s.name, &s.desc)?;
        let secrets = secrets(&req.options, live.as_ref());
        let integration = Integration {
            repo: &s.repo,
            path: WORKFLOW_PATH,
            content: &s.workflow,
            secrets: &secrets,
            instance: &req.instance,
        };
        let found = integration.read(ctx)?;
        let workflow_there = found.as_ref().is_some_and(|f: &Found| f.sha256.is_some());
        if live.is_none() && !workflow_there {
            return Ok(None);
        }
        let workflow = found.map(|f| integration.status(&f));
        let mut done = done(live.as_ref(), workflow);
        if let Some(commit) = req.outputs.get("commit") {
            done = done.output("commit", commit.clone());
        }
        Ok(Some(done))
    }

    fn update(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        self.ensure(ctx, req)
    }

    fn delete(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        let s = setup(req)?;
        let live = board::read(&s.api, ctx, &req.status, &s.name, &s.desc)?;
        let names = secrets(&req.options, live.as_ref());
        Integration {
            repo: &s.repo,
            path: WORKFLOW_PATH,
            content: &s.workflow,
            secrets: &names,
            instance: &req.instance,
        }
        .remove(ctx)?;
        if let Some(live) = live {
            board::delete(&s.api, ctx, &live.board)?;
        }
        Ok(Done::default().into())
    }
}

dtm_plugin_sdk::export_plugin!(TrelloPlugin, TrelloPlugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_is_yaml_and_reads_every_secret_dtm_sets() {
        let text = WORKFLOW.replace("[[ instance ]]", "trello.default");
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap_or_default();
        assert!(!docs.is_empty() && !docs[0]["jobs"]["card"].is_badvalue());
        let options: Options = serde_json::from_value(json!({
            "scm": {"url": "https://github.com/o/r"},
            "board": {"apiKey": "k", "token": "t"}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        for (name, _) in secrets(&options, None) {
            assert!(text.contains(&format!("secrets.{name} ")), "{name}");
        }
    }
}
