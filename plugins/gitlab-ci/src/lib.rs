//! The `gitlab-ci` plugin: a `.gitlab-ci.yml`, committed to a repository's branch and kept
//! there. See `docs/plugins/gitlab-ci.md`; the work is done by `dtm_git_support::ci`.
#![forbid(unsafe_code)]

use dtm_git_support::ci::{CiPlugin, Flavor};
use dtm_git_support::pipelines;
use serde_json::{Value, json};

/// GitLab CI: the pipeline file and its built-in pipeline.
#[derive(Debug)]
pub struct GitlabCi;

impl Flavor for GitlabCi {
    const NAME: &'static str = "gitlab-ci";
    const DESCRIPTION: &'static str = "Keeps a GitLab CI pipeline (.gitlab-ci.yml) in a repository: lint, test, build, container image";
    const DEFAULT_PATH: &'static str = ".gitlab-ci.yml";

    fn builtin(spec: &pipelines::Spec) -> String {
        pipelines::gitlab_ci(spec)
    }

    fn example() -> Value {
        json!({
            "scm": {
                "scmType": "gitlab",
                "baseURL": "https://gitlab.example.com",
                "org": "my-group",
                "name": "my-service"
            },
            "pipeline": { "language": { "name": "python", "version": "3.12" } }
        })
    }
}

/// The plugin.
pub type Plugin = CiPlugin<GitlabCi>;

dtm_plugin_sdk::export_plugin!(Plugin, Plugin::default());
