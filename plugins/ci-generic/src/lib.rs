//! The `ci-generic` plugin: any CI pipeline file (a Jenkinsfile, a workflow, a script) at a
//! path of your choice, committed to a repository's branch and kept there. See
//! `docs/plugins/ci-generic.md`; the work is done by `dtm_git_support::ci`.
#![forbid(unsafe_code)]

use dtm_git_support::ci::{CiPlugin, Flavor};
use dtm_git_support::pipelines;
use serde_json::{Value, json};

/// Generic CI: the file is named by `path` or after `configLocation`; the built-in pipeline is a
/// portable shell script.
#[derive(Debug)]
pub struct Generic;

impl Flavor for Generic {
    const NAME: &'static str = "ci-generic";
    const DESCRIPTION: &'static str =
        "Keeps any CI pipeline file in a repository, at a path of your choice";
    const DEFAULT_PATH: &'static str = "ci/pipeline.sh";
    const PATH_FROM_LOCATION: bool = true;
    type Options = dtm_git_support::ci::Options;

    fn builtin(spec: &pipelines::Spec) -> String {
        pipelines::shell(spec)
    }

    fn example() -> Value {
        json!({
            "scm": { "url": "https://git.example.com/my-org/my-service.git", "branch": "main" },
            "pipeline": { "language": { "name": "rust" } },
            "path": "ci/pipeline.sh"
        })
    }
}

/// The plugin.
pub type Plugin = CiPlugin<Generic>;

dtm_plugin_sdk::export_plugin!(Plugin, Plugin::default());
