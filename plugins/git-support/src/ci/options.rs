//! The CI plugins' options: DevStream's `scm` and `pipeline` ([`Options`], what github-actions
//! takes), the shape every CI plugin's options come down to ([`Ci`]), and DevStream's `ci:`
//! block of pipeline files ([`CiFiles`], ci-generic).

use std::collections::BTreeMap;

use dtm_plugin_sdk::prelude::*;
use serde_json::Value;

use crate::pipelines::{self, Language};
use crate::scm::RepoInfo;

/// DevStream's `language:` of a pipeline.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LanguageOption {
    /// `go` (`golang`), `python`, `rust`, `nodejs`, `java`.
    #[serde(default)]
    #[schemars(example = &"go")]
    pub name: Option<String>,
    /// Version of the language's toolchain image, e.g. `"1.22"`.
    #[serde(default)]
    #[schemars(example = "1.22")]
    pub version: Option<String>,
    /// A framework (`gin`, `django`, `flask`, `springboot`, ...); implies the language.
    #[serde(default, alias = "frameWork")]
    #[schemars(example = &"gin")]
    pub framework: Option<String>,
}

/// DevStream's `imageRepo:`: where the container image goes.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageRepo {
    /// Registry URL (default: Docker Hub).
    #[serde(default)]
    pub url: Option<String>,
    /// Registry user; the image is `USER/APP`.
    #[serde(default)]
    #[schemars(example = "my-org")]
    pub user: Option<String>,
    /// Accepted for DevStream compatibility. dtm does not copy it anywhere: the pipelines read
    /// the password from the CI secret `IMAGE_REPO_SECRET`.
    #[serde(default)]
    pub password: Option<String>,
}

/// A command or a list of commands.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Commands {
    /// One command.
    One(String),
    /// Several, run in order.
    Many(Vec<String>),
}

/// DevStream's `test:` of a pipeline.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestOption {
    /// `false` drops the test stage.
    #[serde(default)]
    pub enable: Option<bool>,
    /// Test commands, instead of the language's default.
    #[serde(default)]
    pub command: Option<Commands>,
    /// Container image for the test stage.
    #[serde(default, rename = "containerName")]
    pub container_name: Option<String>,
    /// Accepted for DevStream compatibility; ignored.
    #[serde(default, rename = "coverageCommand")]
    pub coverage_command: Option<String>,
    /// Accepted for DevStream compatibility; ignored.
    #[serde(default, rename = "coverageStatusCommand")]
    pub coverage_status_command: Option<String>,
}

/// DevStream's `pipeline:`.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Where the pipeline file comes from: an `http(s)://` URL or a path (relative to the
    /// config's directory). Its `[[ name ]]` placeholders are filled from `vars` and the
    /// built-in variables. Omitted: the built-in pipeline for `language`.
    #[serde(default, rename = "configLocation")]
    pub config_location: Option<String>,
    /// Language (and framework) of the built-in pipeline.
    #[serde(default)]
    pub language: Option<LanguageOption>,
    /// Where the container image goes.
    #[serde(default, rename = "imageRepo")]
    pub image_repo: Option<ImageRepo>,
    /// The test stage.
    #[serde(default)]
    pub test: Option<TestOption>,
    /// Branch to commit to, instead of `scm.branch`.
    #[serde(default)]
    pub branch: Option<String>,
    /// Accepted for DevStream compatibility; dtm's pipelines have no DingTalk step.
    #[serde(default, rename = "dingTalk")]
    pub ding_talk: Option<Value>,
    /// Accepted for DevStream compatibility; dtm's pipelines have no SonarQube step.
    #[serde(default)]
    pub sonarqube: Option<Value>,
    /// dtm: extra values for `[[ name ]]` placeholders in the `configLocation` file.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// dtm: path of the pipeline file, as the top-level `path` (which wins); here so that an
    /// app's CI entry, whose options become `pipeline`, can set it.
    #[serde(default)]
    pub path: Option<String>,
}

/// Options of a CI pipeline tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The repository the pipeline goes into (it must exist).
    pub scm: RepoInfo,
    /// What the pipeline is.
    #[serde(default)]
    pub pipeline: Pipeline,
    /// dtm: path of the pipeline file in the repository (default: the plugin's usual place).
    #[serde(default)]
    pub path: Option<String>,
}

/// A CI plugin's options: DevStream's [`Options`], or those plus what the plugin adds (gitlab-ci's
/// `runner`, ci-generic's `ci` and `projectRepo`).
pub trait FlavorOptions:
    serde::de::DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static
{
    /// The options in the shape every CI plugin shares; `Err`: what is wrong, with JSON pointers.
    fn ci(&self) -> Result<Ci, Vec<Problem>>;

    /// What the plugin accepts but does not do, said (as warnings) when it creates or updates.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
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
}

/// What a CI tool keeps in its repository, whatever its plugin's options look like.
#[derive(Debug, Clone)]
pub struct Ci {
    /// The repository (it must exist).
    pub scm: RepoInfo,
    /// Where `scm` is in the options (`/scm`, or ci-generic's `/projectRepo`), for messages.
    pub scm_pointer: &'static str,
    /// The pipeline.
    pub pipeline: Pipeline,
    /// dtm: path of the pipeline file.
    pub path: Option<String>,
    /// Pipeline files given as DevStream's `ci:` block, instead of `pipeline`.
    pub files: Option<CiFiles>,
}

impl Ci {
    /// The language of the built-in pipeline, if `pipeline.language` is given.
    pub fn language(&self) -> Result<Option<Language>, String> {
        let Some(lang) = &self.pipeline.language else {
            return Ok(None);
        };
        pipelines::language(
            lang.name.as_deref(),
            lang.framework.as_deref(),
            lang.version.as_deref(),
        )
        .map(Some)
    }

    /// `path`, else `pipeline.path`, trimmed, when given.
    pub fn given_path(&self) -> Option<String> {
        self.path
            .as_ref()
            .or(self.pipeline.path.as_ref())
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
    }

    /// `pipeline.configLocation`, trimmed, when given.
    pub fn config_location(&self) -> Option<&str> {
        self.pipeline
            .config_location
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
    }
}

/// Where DevStream's `ci.type` puts pipeline files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `.github/workflows/<file name>`, for each YAML file.
    GitHub,
    /// `.gitlab-ci.yml`.
    GitLab,
    /// `Jenkinsfile`.
    Jenkins,
}

/// The `ci.type` values, as DevStream's code (`github`) and its samples (`github-actions`) write
/// them.
pub const LAYOUT_NAMES: &str =
    "github (github-actions), gitlab (gitlab-ci), jenkins (jenkins-pipeline)";

impl Layout {
    /// The layout `ci.type` names (any case).
    pub fn parse(kind: &str) -> Option<Layout> {
        match kind.trim().to_ascii_lowercase().as_str() {
            "github" | "github-actions" => Some(Layout::GitHub),
            "gitlab" | "gitlab-ci" => Some(Layout::GitLab),
            "jenkins" | "jenkins-pipeline" => Some(Layout::Jenkins),
            _ => None,
        }
    }

    /// Where a file named `name` goes.
    pub fn path_of(self, name: &str) -> String {
        match self {
            Layout::GitHub => {
                let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
                format!(".github/workflows/{base}")
            }
            Layout::GitLab => ".gitlab-ci.yml".to_string(),
            Layout::Jenkins => "Jenkinsfile".to_string(),
        }
    }

    /// Whether a file of a `configLocation` directory is a pipeline file of this layout.
    pub fn selects(self, name: &str) -> bool {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        match self {
            Layout::GitHub => base.ends_with(".yml") || base.ends_with(".yaml"),
            Layout::GitLab => base == ".gitlab-ci.yml",
            Layout::Jenkins => base == "Jenkinsfile",
        }
    }

    /// Whether this layout holds more than one file.
    pub fn many(self) -> bool {
        self == Layout::GitHub
    }
}

/// Pipeline files given as DevStream's `ci:` block.
#[derive(Debug, Clone, Default)]
pub struct CiFiles {
    /// Where the files go (`ci.type`); None: `path`, or the files' own names.
    pub layout: Option<Layout>,
    /// A URL, a local file or a local directory of pipeline files (`ci.configLocation`).
    pub location: Option<String>,
    /// File name → content (`ci.configContents`); wins over `location`.
    pub contents: BTreeMap<String, String>,
    /// Values for `[[ name ]]` placeholders in the files (`ci.vars`).
    pub vars: BTreeMap<String, Value>,
}
