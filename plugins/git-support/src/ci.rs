//! The CI pipeline plugins (`github-actions`, `gitlab-ci`, `ci-generic`): one pipeline file,
//! committed to a repository's branch and kept there. The three plugins differ only in where
//! the file goes and what the built-in pipeline looks like ([`Flavor`]).

use std::collections::BTreeMap;
use std::marker::PhantomData;

use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::git::{RemoteHead, check_relative};
use crate::pipelines::{self, Language};
use crate::render::{Vars, render};
use crate::scm::{Repo, RepoInfo};

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

/// What differs between the CI plugins.
pub trait Flavor: Send + Sync + 'static {
    /// Plugin name.
    const NAME: &'static str;
    /// One-line description.
    const DESCRIPTION: &'static str;
    /// Where the file goes when `path` is not given and there is no `configLocation` to name it.
    const DEFAULT_PATH: &'static str;
    /// Whether the file's name comes from `configLocation` when `path` is not given.
    const PATH_FROM_LOCATION: bool = false;
    /// The built-in pipeline.
    fn builtin(spec: &pipelines::Spec) -> String;
    /// Whether the file should be executable.
    fn executable(path: &str) -> bool {
        path.ends_with(".sh")
    }
    /// Sample options for `dtm show config -p NAME` ([`Plugin::options_example`]): valid
    /// options, for this flavor's usual kind of repository.
    fn example() -> Value;
}

/// A CI plugin of flavor `F`.
#[derive(Debug)]
pub struct CiPlugin<F>(PhantomData<fn() -> F>);

impl<F> Default for CiPlugin<F> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Options {
    fn file_path<F: Flavor>(&self) -> String {
        if let Some(path) = self
            .path
            .as_ref()
            .or(self.pipeline.path.as_ref())
            .filter(|p| !p.trim().is_empty())
        {
            return path.trim().to_string();
        }
        if F::PATH_FROM_LOCATION
            && let Some(location) = &self.pipeline.config_location
            && let Some(name) = location
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
        {
            return name.to_string();
        }
        F::DEFAULT_PATH.to_string()
    }

    fn language(&self) -> Result<Option<Language>, String> {
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
}

fn invalid(problems: Vec<Problem>) -> PluginError {
    let text: Vec<String> = problems
        .iter()
        .map(|p| format!("at {}: {}", p.path, p.message))
        .collect();
    PluginError::invalid_options(text.join("; "))
}

impl<F: Flavor> CiPlugin<F> {
    fn repo(&self, req: &Req<Options>) -> Result<Repo, PluginError> {
        let mut repo = req.options.scm.resolve(|p| req.resolve(p))?;
        if let Some(branch) = req
            .options
            .pipeline
            .branch
            .as_ref()
            .filter(|b| !b.is_empty())
        {
            repo.branch = branch.clone();
        }
        Ok(repo)
    }

    fn vars(repo: &Repo, options: &Options) -> Vars {
        let app = repo.name.clone();
        let image = pipelines::image_name(options.pipeline.image_repo.as_ref(), &app);
        let mut vars: Vars = BTreeMap::new();
        for (k, v) in [
            ("appName", app.clone()),
            ("AppName", app.clone()),
            ("repo", app),
            ("owner", repo.owner.clone()),
            ("branch", repo.branch.clone()),
            ("imageRepo", image.clone()),
            ("ImageRepo", image),
            ("repoURL", repo.url.clone()),
        ] {
            vars.insert(k.into(), Value::String(v));
        }
        for (k, v) in &options.pipeline.vars {
            vars.insert(k.clone(), v.clone());
        }
        vars
    }

    /// The pipeline file's content.
    fn content(&self, ctx: &Ctx, req: &Req<Options>, repo: &Repo) -> Result<Vec<u8>, PluginError> {
        let options = &req.options;
        match options.pipeline.config_location.as_deref().map(str::trim) {
            Some(location) if !location.is_empty() => {
                let bytes = if location.starts_with("https://") || location.starts_with("http://") {
                    crate::http::download(ctx, location)?
                } else {
                    let path = req.resolve(location);
                    if path.is_dir() {
                        return Err(PluginError::invalid_options(format!(
                            "configLocation {} is a directory; name the pipeline file",
                            path.display()
                        )));
                    }
                    std::fs::read(&path).map_err(|e| {
                        PluginError::io(format!("reading configLocation {}", path.display()), &e)
                    })?
                };
                match String::from_utf8(bytes) {
                    Ok(text) => Ok(render(&text, &Self::vars(repo, options)).into_bytes()),
                    Err(e) => Ok(e.into_bytes()),
                }
            }
            _ => {
                let language = options
                    .language()
                    .map_err(PluginError::invalid_options)?
                    .ok_or_else(|| {
                        PluginError::invalid_options(
                            "without `pipeline.configLocation`, `pipeline.language` says which built-in pipeline to use",
                        )
                    })?;
                let spec = pipelines::Spec::new(
                    language,
                    repo,
                    options.pipeline.image_repo.as_ref(),
                    options.pipeline.test.as_ref(),
                    &req.instance,
                );
                Ok(F::builtin(&spec).into_bytes())
            }
        }
    }

    /// The SHA-256 of a local `configLocation` file (`null` for a URL, the built-in pipeline or
    /// an unreadable file), so that an edit of that file shows as drift and is committed by the
    /// next apply. URLs are not fetched on every read.
    fn source_sha256(req: &Req<Options>) -> Value {
        match req
            .options
            .pipeline
            .config_location
            .as_deref()
            .map(str::trim)
        {
            Some(l) if !l.is_empty() && !l.starts_with("https://") && !l.starts_with("http://") => {
                std::fs::read(req.resolve(l)).map_or(Value::Null, |b| Value::String(sha256_hex(&b)))
            }
            _ => Value::Null,
        }
    }

    fn status(repo: &Repo, path: &str, sha: &str, source: Value) -> Value {
        json!({
            "repoURL": repo.url,
            "branch": repo.branch,
            "path": path,
            "sha256": sha,
            "sourceSha256": source,
        })
    }

    fn done(repo: &Repo, path: &str, sha: &str, source: Value, commit: Option<String>) -> Done {
        let mut done = Done::new(Self::status(repo, path, sha, source))
            .output("path", path)
            .output("sha256", sha)
            .output("repoURL", repo.url.clone())
            .output("branch", repo.branch.clone());
        if let Some(commit) = commit {
            done = done.output("commit", commit);
        }
        done
    }

    fn write(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        let repo = self.repo(req)?;
        let path = req.options.file_path::<F>();
        check_relative(&path).map_err(PluginError::invalid_options)?;
        let content = self.content(ctx, req, &repo)?;
        let sha = sha256_hex(&content);
        let missing = || {
            PluginError::not_found(format!(
                "the repository {} does not exist; create it first (e.g. with the repo-scaffolding plugin, and `dependsOn` it)",
                repo.url
            ))
        };
        let remote = repo.remote(ctx)?.ok_or_else(missing)?;
        if remote.head(ctx, &repo.branch)? == RemoteHead::NoRepo {
            return Err(missing());
        }
        let previous = req.status["path"]
            .as_str()
            .filter(|p| *p != path && check_relative(p).is_ok());
        let edit = |wt: &crate::git::Worktree| {
            let mut verb = if wt.read(&path)?.is_some() {
                "update"
            } else {
                "add"
            };
            if let Some(previous) = previous
                && wt.remove(previous)?
            {
                ctx.info(format!("removing the pipeline's previous file {previous}"));
                verb = "move";
            }
            wt.write(&path, &content, F::executable(&path))?;
            Ok(verb)
        };
        let message =
            |verb: &&str| format!("ci: {verb} {path}\n\nManaged by dtm ({}).", req.instance);
        let (wt, commit, _) = remote.edit_branch(ctx, &repo.branch, edit, message)?;
        if commit.is_none() {
            ctx.info(format!(
                "{path} is already as described on branch `{}`",
                repo.branch
            ));
        }
        let source = Self::source_sha256(req);
        Ok(Self::done(&repo, &path, &sha, source, commit.or(wt.base.clone())).into())
    }
}

impl<F: Flavor> Plugin for CiPlugin<F> {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(F::NAME, env!("CARGO_PKG_VERSION"), F::DESCRIPTION)
            .output("path", "path of the pipeline file in the repository")
            .output("sha256", "SHA-256 of the pipeline file dtm wrote")
            .output("repoURL", "URL (or path) of the repository")
            .output("branch", "the branch holding the pipeline")
            .output("commit", "the commit that last wrote the pipeline")
    }

    fn options_example() -> Option<Value> {
        Some(F::example())
    }

    fn validate(&self, _ctx: &Ctx, options: &Options) -> Result<(), Vec<Problem>> {
        let mut problems = options.scm.problems("/scm");
        for (at, path) in [
            ("/path", &options.path),
            ("/pipeline/path", &options.pipeline.path),
        ] {
            if let Some(path) = path
                && let Err(message) = check_relative(path)
            {
                problems.push(Problem {
                    path: at.into(),
                    message,
                });
            }
        }
        let given = options
            .pipeline
            .config_location
            .as_deref()
            .is_some_and(|l| !l.trim().is_empty());
        match options.language() {
            // The language only picks the built-in pipeline; with a pipeline of its own, any
            // language does (DevStream passed it to its templates, which dtm does not need).
            Err(_) if given => {}
            Err(message) => problems.push(Problem {
                path: "/pipeline/language".into(),
                message,
            }),
            Ok(None) if !given => {
                problems.push(Problem {
                    path: "/pipeline".into(),
                    message: "give `configLocation` (a URL or a path to the pipeline file) or `language` (for the built-in pipeline)".into(),
                });
            }
            Ok(_) => {}
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn create(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        self.write(ctx, req)
    }

    fn read(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Option<Done>, PluginError> {
        if let Err(problems) = self.validate(ctx, &req.options) {
            return Err(invalid(problems));
        }
        let repo = self.repo(req)?;
        let path = req.options.file_path::<F>();
        let Some(remote) = repo.remote(ctx)? else {
            return Ok(None);
        };
        let Some(fetched) = remote.fetch(ctx, &repo.branch)? else {
            return Ok(None);
        };
        let Some(bytes) = fetched.read(ctx, &path)? else {
            return Ok(None);
        };
        let commit = req
            .outputs
            .get("commit")
            .and_then(Value::as_str)
            .map(str::to_string);
        let source = Self::source_sha256(req);
        Ok(Some(Self::done(
            &repo,
            &path,
            &sha256_hex(&bytes),
            source,
            commit,
        )))
    }

    fn update(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        self.write(ctx, req)
    }

    fn delete(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        let repo = self.repo(req)?;
        let path = req.options.file_path::<F>();
        let Some(remote) = repo.remote(ctx)? else {
            ctx.info(format!("the repository {} is gone already", repo.url));
            return Ok(Done::default().into());
        };
        if !matches!(remote.head(ctx, &repo.branch)?, RemoteHead::Head(_)) {
            ctx.info(format!(
                "branch `{}` of {} is gone already",
                repo.branch, repo.url
            ));
            return Ok(Done::default().into());
        }
        let recorded = req.status["path"]
            .as_str()
            .filter(|p| *p != path && check_relative(p).is_ok());
        let edit = |wt: &crate::git::Worktree| {
            wt.remove(&path)?;
            if let Some(recorded) = recorded {
                wt.remove(recorded)?;
            }
            Ok(())
        };
        let message = |_: &()| format!("ci: remove {path}\n\nManaged by dtm ({}).", req.instance);
        remote.edit_branch(ctx, &repo.branch, edit, message)?;
        Ok(Done::default().into())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use dtm_plugin_sdk::protocol::Request;
    use dtm_plugin_sdk::testing::{TestHost, call, request};

    use super::*;

    #[derive(Debug)]
    struct Plain;

    impl Flavor for Plain {
        const NAME: &'static str = "ci-test";
        const DESCRIPTION: &'static str = "test flavor";
        const DEFAULT_PATH: &'static str = "ci.yml";

        fn builtin(spec: &pipelines::Spec) -> String {
            format!("language: {}\n", spec.language.name)
        }

        fn example() -> Value {
            json!({ "scm": { "url": "remote.git" }, "pipeline": { "language": { "name": "go" } } })
        }
    }

    #[test]
    fn the_flavors_example_is_the_root_example_and_valid() {
        let manifest = dtm_plugin_sdk::manifest::<CiPlugin<Plain>>();
        assert_eq!(
            manifest.options_schema["examples"],
            json!([Plain::example()])
        );
        let host = TestHost::new();
        let req = request(Operation::Validate, "ci-test.a", Plain::example());
        let response = call(&CiPlugin::<Plain>::default(), &host, &req);
        assert!(matches!(response, Response::Done { .. }), "{response:?}");
    }

    #[test]
    fn an_unknown_language_with_a_pipeline_of_its_own_is_fine() {
        let host = TestHost::new();
        let plugin = CiPlugin::<Plain>::default();
        let cobol = |extra: Value| {
            let mut pipeline = json!({"language": {"name": "cobol", "framework": "cics"}});
            if let (Value::Object(p), Value::Object(e)) = (&mut pipeline, extra) {
                p.extend(e);
            }
            json!({"scm": {"url": "r.git"}, "pipeline": pipeline})
        };
        let given = cobol(json!({"configLocation": "ci/pipeline.yml"}));
        let response = call(
            &plugin,
            &host,
            &request(Operation::Validate, "ci-test.a", given),
        );
        assert!(matches!(response, Response::Done { .. }), "{response:?}");
        // Without one, the built-in pipeline needs a language it knows.
        let response = call(
            &plugin,
            &host,
            &request(Operation::Validate, "ci-test.a", cobol(json!({}))),
        );
        let Response::Invalid { problems } = response else {
            panic!("expected invalid, got {response:?}");
        };
        assert_eq!(problems[0].path, "/pipeline/language");
        assert!(problems[0].message.contains("cobol"), "{problems:?}");
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@localhost")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@localhost")
            .output()
            .unwrap_or_else(|e| panic!("git: {e}"));
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn req(op: Operation, dir: &Path, options: Value) -> Request {
        let mut r = request(op, "ci-test.x", options);
        r.workdir = dir.display().to_string();
        r
    }

    fn done(resp: Response) -> (Value, BTreeMap<String, Value>) {
        match resp {
            Response::Done { status, outputs } => (status, outputs),
            other => panic!("expected done, got {other:?}"),
        }
    }

    #[test]
    fn story_create_read_drift_move_delete() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let host = TestHost::new();
        let plugin = CiPlugin::<Plain>::default();
        let missing = json!({"scm": {"url": "r.git"}, "pipeline": {"language": {"name": "go"}}});
        // No repository yet: read says absent, create says what to do.
        assert_eq!(
            call(
                &plugin,
                &host,
                &req(Operation::Read, dir.path(), missing.clone())
            ),
            Response::Absent
        );
        let Response::Error { error } =
            call(&plugin, &host, &req(Operation::Create, dir.path(), missing))
        else {
            panic!("expected an error");
        };
        assert_eq!(error.kind, ErrorKind::NotFound);
        assert!(
            error.message.contains("repo-scaffolding"),
            "{}",
            error.message
        );

        git(dir.path(), &["init", "-q", "--bare", "-b", "main", "r.git"]);
        let bare = dir.path().join("r.git");
        let options = json!({"scm": {"url": "r.git"}, "pipeline": {"language": {"name": "go"}}});
        let (status, outputs) = done(call(
            &plugin,
            &host,
            &req(Operation::Create, dir.path(), options.clone()),
        ));
        assert_eq!(git(&bare, &["show", "main:ci.yml"]), "language: go");
        assert_eq!(outputs["commit"], git(&bare, &["rev-parse", "main"]));
        assert_eq!(status["path"], "ci.yml");

        let mut read = req(Operation::Read, dir.path(), options.clone());
        read.status = status.clone();
        assert_eq!(done(call(&plugin, &host, &read)).0, status);

        // Creating again changes nothing (no new commit).
        let head = git(&bare, &["rev-parse", "main"]);
        done(call(
            &plugin,
            &host,
            &req(Operation::Create, dir.path(), options),
        ));
        assert_eq!(git(&bare, &["rev-parse", "main"]), head);

        // Another path: the file moves in one commit.
        let moved = json!({"scm": {"url": "r.git"}, "pipeline": {"language": {"name": "rust"}}, "path": "ci/x.yml"});
        let mut update = req(Operation::Update, dir.path(), moved.clone());
        update.status = status;
        let (status, _) = done(call(&plugin, &host, &update));
        assert_eq!(
            git(&bare, &["ls-tree", "-r", "--name-only", "main"]),
            "ci/x.yml"
        );
        assert_eq!(
            git(&bare, &["log", "-1", "--format=%s", "main"]),
            "ci: move ci/x.yml"
        );

        let mut delete = req(Operation::Delete, dir.path(), moved.clone());
        delete.status = status;
        done(call(&plugin, &host, &delete));
        assert_eq!(git(&bare, &["ls-tree", "-r", "--name-only", "main"]), "");
        done(call(&plugin, &host, &delete));
        assert_eq!(
            call(&plugin, &host, &req(Operation::Read, dir.path(), moved)),
            Response::Absent
        );
    }
}
