//! The CI pipeline plugins (`github-actions`, `gitlab-ci`, `ci-generic`): pipeline files,
//! committed to a repository's branch and kept there. The three plugins differ in where the
//! file goes, what the built-in pipeline looks like and what options they add to DevStream's
//! `scm` and `pipeline` ([`Flavor`]).

mod files;
mod options;

use std::collections::BTreeSet;
use std::marker::PhantomData;

use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

use crate::git::{RemoteHead, Worktree, check_relative};
use crate::pipelines;
use crate::scm::Repo;
use files::{CiFile, Want, sha256_hex};

pub use options::{
    Ci, CiFiles, Commands, FlavorOptions, ImageRepo, LAYOUT_NAMES, LanguageOption, Layout, Options,
    Pipeline, TestOption,
};

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
    /// The plugin's options: [`Options`], or a type that adds to them.
    type Options: FlavorOptions;
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

fn invalid(problems: Vec<Problem>) -> PluginError {
    let text: Vec<String> = problems
        .iter()
        .map(|p| format!("at {}: {}", p.path, p.message))
        .collect();
    PluginError::invalid_options(text.join("; "))
}

/// Problems of the shared options: the repository, the paths, and what the pipeline is.
fn problems(ci: &Ci) -> Vec<Problem> {
    let mut problems = ci.scm.problems(ci.scm_pointer);
    for (at, path) in [("/path", &ci.path), ("/pipeline/path", &ci.pipeline.path)] {
        if let Some(path) = path
            && let Err(message) = check_relative(path)
        {
            problems.push(Problem {
                path: at.into(),
                message,
            });
        }
    }
    if ci.files.is_some() {
        return problems;
    }
    let given = ci.config_location().is_some();
    match ci.language() {
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
    problems
}

/// The paths a status records (`files`' keys, or `path`), those that are safe to touch.
fn recorded_paths(status: &Value) -> Vec<String> {
    let mut paths: Vec<String> = match status.get("files").and_then(Value::as_object) {
        Some(files) => files.keys().cloned().collect(),
        None => status["path"]
            .as_str()
            .map(str::to_string)
            .into_iter()
            .collect(),
    };
    paths.retain(|p| check_relative(p).is_ok());
    paths
}

impl<F: Flavor> CiPlugin<F> {
    /// The shared options, or the error that says what is wrong with them.
    fn ci(req: &Req<F::Options>) -> Result<Ci, PluginError> {
        req.options.ci().map_err(invalid)
    }

    fn repo(req: &Req<F::Options>, ci: &Ci) -> Result<Repo, PluginError> {
        let mut repo = ci.scm.resolve(|p| req.resolve(p))?;
        if let Some(branch) = ci.pipeline.branch.as_ref().filter(|b| !b.is_empty()) {
            repo.branch = branch.clone();
        }
        Ok(repo)
    }

    /// The status: one file's `path` and `sha256`, or several files' `files` (path → SHA-256).
    fn status(repo: &Repo, files: &[(String, Value)], source: Value) -> Value {
        let mut status = json!({
            "repoURL": repo.url,
            "branch": repo.branch,
            "sourceSha256": source,
        });
        match files {
            [(path, sha)] => {
                status["path"] = json!(path);
                status["sha256"] = sha.clone();
            }
            _ => {
                status["files"] = files
                    .iter()
                    .cloned()
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
        }
        status
    }

    fn done(repo: &Repo, files: &[(String, Value)], source: Value, commit: Option<String>) -> Done {
        let (path, sha) = files.first().cloned().unwrap_or_default();
        let mut done = Done::new(Self::status(repo, files, source))
            .output("path", path)
            .output("sha256", sha)
            .output("repoURL", repo.url.clone())
            .output("branch", repo.branch.clone());
        if let Some(commit) = commit {
            done = done.output("commit", commit);
        }
        done
    }

    fn write(&self, ctx: &Ctx, req: &Req<F::Options>) -> Result<Step, PluginError> {
        for note in req.options.notes() {
            ctx.warn(note);
        }
        let ci = Self::ci(req)?;
        let repo = Self::repo(req, &ci)?;
        let files = files::files::<F, _>(ctx, req, &ci, &repo, Want::Content)?;
        for f in &files {
            check_relative(&f.path).map_err(PluginError::invalid_options)?;
        }
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
        let wanted: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let previous: Vec<String> = recorded_paths(&req.status)
            .into_iter()
            .filter(|p| !wanted.contains(p.as_str()))
            .collect();
        let edit = |wt: &Worktree| edit_files::<F>(ctx, wt, &files, &previous);
        let shown = files
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let message =
            |verb: &&str| format!("ci: {verb} {shown}\n\nManaged by dtm ({}).", req.instance);
        let (wt, commit, _) = remote.edit_branch(ctx, &repo.branch, edit, message)?;
        if commit.is_none() {
            ctx.info(format!(
                "{shown} is already as described on branch `{}`",
                repo.branch
            ));
        }
        let shas: Vec<(String, Value)> = files
            .iter()
            .map(|f| (f.path.clone(), json!(sha256_hex(&f.bytes))))
            .collect();
        let source = files::source_sha256(req, &ci);
        Ok(Self::done(&repo, &shas, source, commit.or(wt.base.clone())).into())
    }
}

/// Writes `files` into the work tree, removing the `previous` ones (a moved pipeline); returns
/// the verb of the commit message.
fn edit_files<F: Flavor>(
    ctx: &Ctx,
    wt: &Worktree,
    files: &[CiFile],
    previous: &[String],
) -> Result<&'static str, PluginError> {
    let mut verb = "add";
    for f in files {
        if wt.read(&f.path)?.is_some() {
            verb = "update";
        }
    }
    for p in previous {
        if wt.remove(p)? {
            ctx.info(format!("removing the pipeline's previous file {p}"));
            verb = "move";
        }
    }
    for f in files {
        wt.write(&f.path, &f.bytes, F::executable(&f.path))?;
    }
    Ok(verb)
}

impl<F: Flavor> Plugin for CiPlugin<F> {
    type Options = F::Options;

    fn info() -> PluginInfo {
        PluginInfo::new(F::NAME, env!("CARGO_PKG_VERSION"), F::DESCRIPTION)
            .output(
                "path",
                "path of the pipeline file in the repository (the first, of several)",
            )
            .output(
                "sha256",
                "SHA-256 of the pipeline file dtm wrote (the first, of several)",
            )
            .output("repoURL", "URL (or path) of the repository")
            .output("branch", "the branch holding the pipeline")
            .output("commit", "the commit that last wrote the pipeline")
    }

    fn options_example() -> Option<Value> {
        Some(F::example())
    }

    fn validate(&self, _ctx: &Ctx, options: &F::Options) -> Result<(), Vec<Problem>> {
        let problems = problems(&options.ci()?);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn create(&self, ctx: &Ctx, req: &Req<F::Options>) -> Result<Step, PluginError> {
        self.write(ctx, req)
    }

    fn read(&self, ctx: &Ctx, req: &Req<F::Options>) -> Result<Option<Done>, PluginError> {
        if let Err(problems) = self.validate(ctx, &req.options) {
            return Err(invalid(problems));
        }
        let ci = Self::ci(req)?;
        let repo = Self::repo(req, &ci)?;
        let paths = files::files::<F, _>(ctx, req, &ci, &repo, Want::Paths)?;
        let Some(remote) = repo.remote(ctx)? else {
            return Ok(None);
        };
        let Some(fetched) = remote.fetch(ctx, &repo.branch)? else {
            return Ok(None);
        };
        let mut shas = Vec::new();
        for f in &paths {
            let sha = fetched.read(ctx, &f.path)?.map(|b| sha256_hex(&b));
            shas.push((f.path.clone(), json!(sha)));
        }
        // Gone when none of its files is there; a missing one of several is drift.
        if shas.iter().all(|(_, sha)| sha.is_null()) {
            return Ok(None);
        }
        let commit = req
            .outputs
            .get("commit")
            .and_then(Value::as_str)
            .map(str::to_string);
        let source = files::source_sha256(req, &ci);
        Ok(Some(Self::done(&repo, &shas, source, commit)))
    }

    fn update(&self, ctx: &Ctx, req: &Req<F::Options>) -> Result<Step, PluginError> {
        self.write(ctx, req)
    }

    fn delete(&self, ctx: &Ctx, req: &Req<F::Options>) -> Result<Step, PluginError> {
        let ci = Self::ci(req)?;
        let repo = Self::repo(req, &ci)?;
        let mut paths: BTreeSet<String> = files::files::<F, _>(ctx, req, &ci, &repo, Want::Paths)
            .map(|files| files.into_iter().map(|f| f.path).collect())
            .unwrap_or_default();
        paths.extend(recorded_paths(&req.status));
        paths.retain(|p| check_relative(p).is_ok());
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
        let edit = |wt: &Worktree| {
            for p in &paths {
                wt.remove(p)?;
            }
            Ok(())
        };
        let shown = paths.iter().cloned().collect::<Vec<_>>().join(", ");
        let message = |_: &()| format!("ci: remove {shown}\n\nManaged by dtm ({}).", req.instance);
        remote.edit_branch(ctx, &repo.branch, edit, message)?;
        Ok(Done::default().into())
    }
}

#[cfg(test)]
mod tests;
