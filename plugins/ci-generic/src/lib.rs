//! The `ci-generic` plugin: any CI pipeline files (a Jenkinsfile, workflows, a script) at paths
//! of your choice, committed to a repository's branch and kept there. It takes the options of
//! the other CI plugins (`scm`, `pipeline`, `path`) and DevStream's ci-generic options
//! (`projectRepo`, and a `ci:` block of files). See `docs/plugins/ci-generic.md`; the work is
//! done by `dtm_git_support::ci`.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use dtm_git_support::ci::{
    Ci, CiFiles, CiPlugin, Flavor, FlavorOptions, LAYOUT_NAMES, Layout, Pipeline,
};
use dtm_git_support::pipelines;
use dtm_git_support::scm::RepoInfo;
use dtm_plugin_sdk::Problem;
use serde_json::{Value, json};

/// DevStream's `ci:` block: pipeline files and where they go.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("x-aliases" = {"localPath": "configLocation", "remoteURL": "configLocation"}))]
pub struct CiBlock {
    /// Where the files go: `github` (each YAML file into `.github/workflows/`), `gitlab`
    /// (`.gitlab-ci.yml`) or `jenkins` (`Jenkinsfile`); DevStream's samples also write
    /// `github-actions`, `gitlab-ci`, `jenkins-pipeline`. Omitted: `path`, or each file's name.
    #[serde(default, rename = "type")]
    #[schemars(example = &"jenkins")]
    pub kind: Option<String>,
    /// The pipeline: an `http(s)://` URL, or a local file or directory (relative to the config's
    /// directory; of a directory, the files `type` takes). DevStream's older `localPath` and
    /// `remoteURL` are the same.
    #[serde(
        default,
        rename = "configLocation",
        alias = "localPath",
        alias = "remoteURL"
    )]
    #[schemars(example = &"ci/Jenkinsfile")]
    pub config_location: Option<String>,
    /// The pipeline files written out here: file name → content. Wins over `configLocation`.
    #[serde(default, rename = "configContents")]
    pub config_contents: BTreeMap<String, String>,
    /// Values for `[[ name ]]` placeholders in the files.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
}

/// Options of a ci-generic tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("x-aliases" = {"projectRepo": "scm"}))]
pub struct Options {
    /// The repository the pipeline goes into (it must exist). DevStream's ci-generic
    /// documentation calls it `projectRepo`: the same.
    #[serde(alias = "projectRepo")]
    pub scm: RepoInfo,
    /// DevStream's ci-generic pipeline files (instead of `pipeline`).
    #[serde(default)]
    pub ci: Option<CiBlock>,
    /// What the pipeline is, as for the other CI plugins (instead of `ci`).
    #[serde(default)]
    pub pipeline: Pipeline,
    /// dtm: path of the pipeline file (one file) in the repository.
    #[serde(default)]
    pub path: Option<String>,
}

fn problem(path: &str, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
    }
}

impl CiBlock {
    fn files(&self, pipeline: &Pipeline) -> Result<CiFiles, Vec<Problem>> {
        let mut problems = Vec::new();
        let layout = match self
            .kind
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            None => None,
            Some(kind) => Layout::parse(kind).or_else(|| {
                problems.push(problem(
                    "/ci/type",
                    format!("unknown ci.type `{kind}`; expected one of: {LAYOUT_NAMES}"),
                ));
                None
            }),
        };
        let location = self
            .config_location
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty());
        if location.is_none() && self.config_contents.is_empty() {
            problems.push(problem(
                "/ci",
                "give the pipeline: `configLocation` (a URL, a file or a directory) or \
                 `configContents` (file name → content)",
            ));
        }
        if let Some(layout) = layout.filter(|l| !l.many())
            && self.config_contents.len() > 1
        {
            problems.push(problem(
                "/ci/configContents",
                format!(
                    "ci.type `{}` keeps one file ({}); give one",
                    self.kind.as_deref().unwrap_or_default(),
                    layout.path_of("")
                ),
            ));
        }
        if pipeline.config_location.is_some() || pipeline.language.is_some() {
            problems.push(problem(
                "/pipeline",
                "give the pipeline as `ci` (DevStream's ci-generic) or as `pipeline`, not both",
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(CiFiles {
            layout,
            location: location.map(str::to_string),
            contents: self.config_contents.clone(),
            vars: self.vars.clone(),
        })
    }
}

impl FlavorOptions for Options {
    fn ci(&self) -> Result<Ci, Vec<Problem>> {
        let files = match &self.ci {
            Some(block) => Some(block.files(&self.pipeline)?),
            None => None,
        };
        Ok(Ci {
            scm: self.scm.clone(),
            scm_pointer: "/scm",
            pipeline: self.pipeline.clone(),
            path: self.path.clone(),
            files,
        })
    }
}

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
    type Options = Options;

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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests;
