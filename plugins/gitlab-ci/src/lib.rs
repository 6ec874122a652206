//! The `gitlab-ci` plugin: a `.gitlab-ci.yml`, committed to a repository's branch and kept
//! there. See `docs/plugins/gitlab-ci.md`; the work is done by `dtm_git_support::ci`.
#![forbid(unsafe_code)]

use dtm_git_support::ci::{Ci, CiPlugin, Flavor, FlavorOptions, Pipeline};
use dtm_git_support::pipelines;
use dtm_git_support::scm::RepoInfo;
use dtm_plugin_sdk::Problem;
use serde_json::{Value, json};

/// DevStream's `runner:` of a gitlab-ci tool.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runner {
    /// DevStream installed a GitLab runner for the project (with Helm) and turned its shared
    /// runners off. dtm does neither: `true` is accepted with a warning; register a runner for
    /// the project yourself, or use shared runners.
    #[serde(default)]
    pub enable: bool,
}

/// Options of a gitlab-ci tool: DevStream's `scm`, `pipeline` and `runner`.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The repository the pipeline goes into (it must exist).
    pub scm: RepoInfo,
    /// What the pipeline is.
    #[serde(default)]
    pub pipeline: Pipeline,
    /// dtm: path of the pipeline file in the repository (default `.gitlab-ci.yml`).
    #[serde(default)]
    pub path: Option<String>,
    /// DevStream's GitLab runner options (in an app's `ci` entry too, where they are lifted out
    /// of the pipeline options).
    #[serde(default)]
    pub runner: Option<Runner>,
}

impl FlavorOptions for Options {
    fn ci(&self) -> Result<Ci, Vec<Problem>> {
        Ok(Ci {
            scm: self.scm.clone(),
            scm_pointer: "/scm",
            pipeline: self.pipeline.clone(),
            path: self.path.clone(),
            files: None,
        })
    }

    fn notes(&self) -> Vec<String> {
        if self.runner.as_ref().is_some_and(|r| r.enable) {
            vec![
                "`runner.enable: true`: dtm does not install a GitLab runner (DevStream installed \
                 one with Helm); the pipeline runs on the project's shared runners, or register a \
                 runner for the project (e.g. GitLab's gitlab-runner Helm chart)"
                    .into(),
            ]
        } else {
            Vec::new()
        }
    }
}

/// GitLab CI: the pipeline file and its built-in pipeline.
#[derive(Debug)]
pub struct GitlabCi;

impl Flavor for GitlabCi {
    const NAME: &'static str = "gitlab-ci";
    const DESCRIPTION: &'static str = "Keeps a GitLab CI pipeline (.gitlab-ci.yml) in a repository: lint, test, build, container image";
    const DEFAULT_PATH: &'static str = ".gitlab-ci.yml";
    type Options = Options;

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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use dtm_plugin_sdk::testing::{TestHost, call, request};
    use dtm_plugin_sdk::{Operation, Response};

    use super::*;

    #[test]
    fn devstreams_runner_is_taken_and_its_enable_said_not_done() {
        let options = json!({
            "scm": {"url": "https://gitlab.example.com/g/svc"},
            "pipeline": {"language": {"name": "python"}},
            "runner": {"enable": true},
        });
        let host = TestHost::new();
        let response = call(
            &Plugin::default(),
            &host,
            &request(Operation::Validate, "gitlab-ci.svc", options.clone()),
        );
        assert!(matches!(response, Response::Done { .. }), "{response:?}");
        let parsed: Options = serde_json::from_value(options).unwrap();
        assert!(parsed.notes()[0].contains("does not install a GitLab runner"));
        let off: Options = serde_json::from_value(json!({
            "scm": {"url": "x.git"}, "runner": {"enable": false}
        }))
        .unwrap();
        assert!(off.notes().is_empty());
    }
}
