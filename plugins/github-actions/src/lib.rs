//! The `github-actions` plugin: a GitHub Actions workflow (`.github/workflows/main.yml` by
//! default), committed to a repository's branch and kept there. See
//! `docs/plugins/github-actions.md`; the work is done by `dtm_git_support::ci`.
#![forbid(unsafe_code)]

use dtm_git_support::ci::{CiPlugin, Flavor};
use dtm_git_support::pipelines;
use serde_json::{Value, json};

/// GitHub Actions: the workflow file and its built-in pipeline.
#[derive(Debug)]
pub struct GithubActions;

impl Flavor for GithubActions {
    const NAME: &'static str = "github-actions";
    const DESCRIPTION: &'static str =
        "Keeps a GitHub Actions workflow in a repository: lint, test, build, container image";
    const DEFAULT_PATH: &'static str = ".github/workflows/main.yml";
    type Options = dtm_git_support::ci::Options;

    fn builtin(spec: &pipelines::Spec) -> String {
        pipelines::github_actions(spec)
    }

    fn example() -> Value {
        json!({
            "scm": { "url": "https://github.com/my-org/my-service", "branch": "main" },
            "pipeline": {
                "language": { "name": "go", "version": "1.22" },
                "imageRepo": { "user": "my-org" }
            }
        })
    }
}

/// The plugin.
pub type Plugin = CiPlugin<GithubActions>;

dtm_plugin_sdk::export_plugin!(Plugin, Plugin::default());
