//! The `repo-scaffolding` plugin: creates a repository from a template and keeps it there.
//!
//! Options (DevStream's, see `docs/plugins/repo-scaffolding.md`): `destinationRepo` (where the
//! repository is: any git URL or local path with `scmType: git`, or GitHub/GitLab through their
//! REST APIs), `sourceRepo` (a template repository, or one of the built-in templates) and
//! `vars` for the templates' `[[ name ]]` placeholders.
//!
//! The status records the scaffolding commit and whether the branch still contains it, so a
//! deleted repository or branch, or a branch rewritten without that commit, shows as drift,
//! while ordinary work on the branch (including other tools' commits) does not.
#![forbid(unsafe_code)]

mod templates;

use std::collections::BTreeMap;

use dtm_git_support::git::RemoteHead;
use dtm_git_support::scm::{Repo, RepoInfo, ScmKind};
use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

pub use templates::{BUILTIN_NAMES, File};

/// Where the template comes from: a template repository, or a built-in template. (`repo` and
/// `repoType`: DevStream's older spellings of `name` and `scmType`, named in the schema.)
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("x-aliases" = {"repo": "name", "repoType": "scmType"}))]
pub struct SourceRepo {
    /// dtm: a built-in template: `rust`, `go` (`golang`) or `python`. Instead of a repository.
    #[serde(default)]
    #[schemars(pattern(
        r"^(rust|axum|actix|actix-web|go|golang|gin|python|python3|flask|django|fastapi)$"
    ))]
    pub template: Option<String>,
    /// URL (or local path) of the template repository, e.g.
    /// `https://github.com/devstream-io/dtm-repo-scaffolding-golang-gin`.
    #[serde(default)]
    #[schemars(example = "https://github.com/devstream-io/dtm-repo-scaffolding-golang-gin")]
    pub url: Option<String>,
    /// Owner of the template repository (with `name` and `scmType`, instead of `url`).
    #[serde(default)]
    pub owner: Option<String>,
    /// Organization of the template repository.
    #[serde(default)]
    pub org: Option<String>,
    /// Name of the template repository.
    #[serde(default, alias = "repo")]
    pub name: Option<String>,
    /// Branch of the template repository (default: its default branch).
    #[serde(default)]
    pub branch: Option<String>,
    /// `git`, `github` or `gitlab`.
    #[serde(default, rename = "scmType", alias = "repoType")]
    #[schemars(pattern(r"^(git|github|gitlab)?$"))]
    pub scm_type: Option<String>,
    /// Token for a private template repository.
    #[serde(default)]
    pub token: Option<String>,
    /// Base URL of a self-hosted GitLab / GitHub Enterprise.
    #[serde(default, rename = "baseURL", alias = "baseUrl")]
    pub base_url: Option<String>,
    /// REST API base URL (not needed to read a template).
    #[serde(default, rename = "apiURL", alias = "apiUrl")]
    pub api_url: Option<String>,
    /// dtm: subdirectory of the template repository holding the template.
    #[serde(default)]
    pub path: Option<String>,
}

/// Options of a `repo-scaffolding` tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The repository to create (or fill): `url` (any git URL or a local path, with
    /// `scmType: git`), or `scmType: github|gitlab` with `owner`/`org` and `name`.
    #[serde(rename = "destinationRepo")]
    #[schemars(example = json!({ "scmType": "github", "org": "my-org", "name": "my-service" }))]
    pub destination_repo: RepoInfo,
    /// The template. Omitted: the built-in template for `vars.language` (or `vars.framework`).
    #[serde(default, rename = "sourceRepo")]
    #[schemars(example = json!({ "template": "go" }))]
    pub source_repo: Option<SourceRepo>,
    /// Values for the templates' `[[ name ]]` placeholders. Built in, unless given here:
    /// `appName` (the repository name), `owner`, `repo`, `branch`, `repoURL`, `imageRepo`
    /// (`appName`), `port` (8080), `crateName`, `goModule`.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
}

/// The `repo-scaffolding` plugin.
#[derive(Debug, Default)]
pub struct RepoScaffolding;

/// Where the template files come from, resolved.
enum Source {
    Builtin(&'static str),
    /// A template repository (checked here, resolved against the workdir when used) and branch.
    Repository(Option<String>),
}

fn invalid(problems: &[Problem]) -> PluginError {
    let text: Vec<String> = problems
        .iter()
        .map(|p| format!("at {}: {}", p.path, p.message))
        .collect();
    PluginError::invalid_options(text.join("; "))
}

impl Options {
    fn source(&self) -> Result<Source, Problem> {
        let problem = |path: &str, message: String| Problem {
            path: path.into(),
            message,
        };
        let from_vars = || {
            let text = |key: &str| {
                self.vars
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let wanted = text("language").or_else(|| text("framework"));
            match wanted {
                Some(lang) => templates::builtin_name(&lang).ok_or_else(|| {
                    problem(
                        "/vars/language",
                        format!(
                            "no built-in template for `{lang}`; built in: {}; or give `sourceRepo`",
                            BUILTIN_NAMES.join(", ")
                        ),
                    )
                }),
                None => Err(problem(
                    "/sourceRepo",
                    format!(
                        "say which template: `sourceRepo.url` (a template repository) or `sourceRepo.template` ({})",
                        BUILTIN_NAMES.join(", ")
                    ),
                )),
            }
        };
        let Some(src) = &self.source_repo else {
            return from_vars().map(Source::Builtin);
        };
        if let Some(name) = src.template.as_deref().filter(|t| !t.is_empty()) {
            if src.url.is_some() || src.name.is_some() {
                return Err(problem(
                    "/sourceRepo/template",
                    "give `template` (built in) or a repository (`url`, `name`), not both".into(),
                ));
            }
            return templates::builtin_name(name)
                .map(Source::Builtin)
                .ok_or_else(|| {
                    problem(
                        "/sourceRepo/template",
                        format!(
                            "unknown built-in template `{name}`; built in: {}",
                            BUILTIN_NAMES.join(", ")
                        ),
                    )
                });
        }
        if src.url.is_none() && src.name.is_none() {
            return from_vars().map(Source::Builtin);
        }
        // DevStream's own examples give both `owner` and `org` for templates; `org` wins.
        let info = RepoInfo {
            owner: src
                .owner
                .clone()
                .filter(|_| src.org.as_deref().is_none_or(str::is_empty)),
            org: src.org.clone(),
            name: src.name.clone(),
            branch: None,
            scm_type: src.scm_type.clone(),
            url: src.url.clone(),
            api_url: src.api_url.clone(),
            base_url: src.base_url.clone(),
            token: src.token.clone(),
            ..RepoInfo::default()
        };
        if let Some(p) = info.problems("/sourceRepo").into_iter().next() {
            return Err(p);
        }
        // Resolved for real (relative paths) in `template_files`; here only the shape matters.
        info.resolve(|p: &str| std::path::PathBuf::from(p))
            .map_err(|e| problem("/sourceRepo", e.message))?;
        Ok(Source::Repository(src.branch.clone()))
    }
}

impl RepoScaffolding {
    fn repo(req: &Req<Options>) -> Result<Repo, PluginError> {
        req.options.destination_repo.resolve(|p| req.resolve(p))
    }

    fn vars(repo: &Repo, options: &Options) -> BTreeMap<String, Value> {
        let app = repo.name.clone();
        let crate_name: String = app
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let go_module = if repo.kind == ScmKind::Git || repo.owner.is_empty() {
            app.clone()
        } else {
            repo.url
                .split("://")
                .nth(1)
                .unwrap_or(&repo.url)
                .to_string()
        };
        let mut vars: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in [
            ("appName", json!(app)),
            ("AppName", json!(app)),
            ("owner", json!(repo.owner)),
            ("repo", json!(app)),
            ("branch", json!(repo.branch)),
            ("repoURL", json!(repo.url)),
            ("imageRepo", json!(app.to_ascii_lowercase())),
            ("port", json!(8080)),
            ("crateName", json!(crate_name)),
            ("goModule", json!(go_module)),
            // DevStream's template repositories use `[[ .Repo.Owner ]]` / `[[ .Repo.Name ]]`.
            ("Repo", json!({"Owner": repo.owner, "Name": app})),
        ] {
            vars.insert(k.to_string(), v);
        }
        vars.extend(options.vars.clone());
        if !options.vars.contains_key("ImageRepo") {
            let image = vars.get("imageRepo").cloned().unwrap_or(Value::Null);
            vars.insert("ImageRepo".into(), image);
        }
        vars
    }

    /// The rendered files of the template and a name for commit messages.
    fn template_files(
        ctx: &Ctx,
        req: &Req<Options>,
        repo: &Repo,
    ) -> Result<(Vec<File>, String), PluginError> {
        let vars = Self::vars(repo, &req.options);
        match req.options.source().map_err(|p| invalid(&[p]))? {
            Source::Builtin(name) => Ok((
                templates::render_all(templates::builtin(name), &vars)?,
                format!("the built-in `{name}` template"),
            )),
            Source::Repository(branch) => {
                let src = req.options.source_repo.clone().unwrap_or_default();
                let info = RepoInfo {
                    owner: src
                        .owner
                        .filter(|_| src.org.as_deref().is_none_or(str::is_empty)),
                    org: src.org,
                    name: src.name,
                    scm_type: src.scm_type,
                    url: src.url,
                    api_url: src.api_url,
                    base_url: src.base_url,
                    token: src.token,
                    ..RepoInfo::default()
                };
                let source = info.resolve(|p| req.resolve(p))?;
                let remote =
                    dtm_git_support::git::Remote::new(source.url.clone(), source.env.clone());
                let dir = remote.snapshot(ctx, branch.as_deref())?;
                let sub = src.path.as_deref().unwrap_or_default();
                let root = if sub.trim().is_empty() {
                    dir.path().to_path_buf()
                } else {
                    let clean = dtm_git_support::git::check_relative(sub).map_err(|m| {
                        PluginError::invalid_options(format!("sourceRepo.path: {m}"))
                    })?;
                    dir.path().join(clean)
                };
                if !root.is_dir() {
                    return Err(PluginError::not_found(format!(
                        "the template repository {} has no directory `{sub}`",
                        remote.shown()
                    )));
                }
                let files = templates::read_dir(&root)?;
                let what = if sub.is_empty() {
                    remote.shown()
                } else {
                    format!("{} ({sub})", remote.shown())
                };
                Ok((templates::render_all(files, &vars)?, what))
            }
        }
    }

    fn status(
        repo: &Repo,
        commit: &str,
        on_branch: bool,
        created: bool,
        branch_created: bool,
    ) -> Value {
        json!({
            "scmType": repo.kind.as_str(),
            "repoURL": repo.url,
            "owner": repo.owner,
            "repo": repo.name,
            "branch": repo.branch,
            "commit": commit,
            "onBranch": on_branch,
            "created": created,
            "branchCreated": branch_created,
        })
    }

    fn done(repo: &Repo, status: Value) -> Done {
        let commit = status["commit"].clone();
        Done::new(status)
            .output("repoURL", repo.url.clone())
            .output("owner", repo.owner.clone())
            .output("repo", repo.name.clone())
            .output("branch", repo.branch.clone())
            .output("headCommit", commit)
    }

    /// Create and update: the repository exists, its branch holds the rendered template.
    fn scaffold(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        let repo = Self::repo(req)?;
        let (files, source) = Self::template_files(ctx, req, &repo)?;
        if files.is_empty() {
            return Err(PluginError::invalid_options(format!(
                "{source} has no files"
            )));
        }
        let ensured = repo.ensure(ctx)?;
        let message = |_: &()| {
            format!(
                "Scaffold {} from {source}\n\nManaged by dtm ({}).",
                repo.name, req.instance
            )
        };
        let edit = |wt: &dtm_git_support::git::Worktree| {
            for file in &files {
                wt.write(&file.path, &file.bytes, file.executable)?;
            }
            Ok(())
        };
        let (wt, commit, ()) = ensured
            .remote
            .edit_branch(ctx, &repo.branch, edit, message)?;
        let branch_created = wt.base.is_none();
        let commit = match commit {
            Some(commit) => commit,
            None => {
                ctx.info(format!(
                    "branch `{}` of {} already holds the template",
                    repo.branch, repo.url
                ));
                wt.base.clone().unwrap_or_default()
            }
        };
        let recorded = |key: &str| req.status[key].as_bool().unwrap_or(false);
        let status = Self::status(
            &repo,
            &commit,
            true,
            ensured.created || recorded("created"),
            branch_created || ensured.created || recorded("branchCreated"),
        );
        Ok(Self::done(&repo, status).into())
    }
}

impl Plugin for RepoScaffolding {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "repo-scaffolding",
            env!("CARGO_PKG_VERSION"),
            "Creates a repository from a template (git, GitHub, GitLab) and keeps it there",
        )
        .output(
            "repoURL",
            "URL of the repository (absolute path for a local one)",
        )
        .output("owner", "owner, organization or group of the repository")
        .output("repo", "name of the repository")
        .output("branch", "the scaffolded branch")
        .output(
            "headCommit",
            "the commit dtm last pushed (or found) on the branch",
        )
    }

    fn validate(&self, _ctx: &Ctx, options: &Options) -> Result<(), Vec<Problem>> {
        let mut problems = options.destination_repo.problems("/destinationRepo");
        if let Err(p) = options.source() {
            problems.push(p);
        }
        if let Some(sub) = options.source_repo.as_ref().and_then(|s| s.path.as_deref())
            && !sub.trim().is_empty()
            && let Err(message) = dtm_git_support::git::check_relative(sub)
        {
            problems.push(Problem {
                path: "/sourceRepo/path".into(),
                message,
            });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn create(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        self.scaffold(ctx, req)
    }

    fn read(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Option<Done>, PluginError> {
        if let Err(problems) = self.validate(ctx, &req.options) {
            return Err(invalid(&problems));
        }
        let repo = Self::repo(req)?;
        let Some(remote) = repo.remote(ctx)? else {
            return Ok(None);
        };
        let RemoteHead::Head(head) = remote.head(ctx, &repo.branch)? else {
            return Ok(None);
        };
        let recorded = req.status["commit"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let on_branch = recorded == head
            || match remote.fetch(ctx, &repo.branch)? {
                Some(fetched) => fetched.contains(ctx, &recorded)?,
                None => return Ok(None),
            };
        let commit = if recorded.is_empty() { head } else { recorded };
        let flag = |key: &str| req.status[key].as_bool().unwrap_or(false);
        let status = Self::status(
            &repo,
            &commit,
            on_branch,
            flag("created"),
            flag("branchCreated"),
        );
        Ok(Some(Self::done(&repo, status)))
    }

    fn update(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        self.scaffold(ctx, req)
    }

    fn delete(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        let repo = Self::repo(req)?;
        let flag = |key: &str| req.status[key].as_bool().unwrap_or(false);
        if flag("created") {
            repo.delete_repository(ctx)?;
        } else if flag("branchCreated") {
            match repo.remote(ctx)? {
                Some(remote) => {
                    if remote.delete_branch(ctx, &repo.branch)? {
                        ctx.info(format!(
                            "deleted branch `{}` of {}; the repository existed before dtm and stays",
                            repo.branch, repo.url
                        ));
                    } else {
                        ctx.warn(format!(
                            "{} refuses to delete its current branch `{}`: left in place; make another branch the default, then delete it by hand",
                            repo.url, repo.branch
                        ));
                    }
                }
                None => ctx.info(format!("the repository {} is gone already", repo.url)),
            }
        } else if !req.status.is_null() {
            ctx.warn(format!(
                "left {} (branch `{}`) in place: it existed before dtm scaffolded it; delete it by hand if it should go",
                repo.url, repo.branch
            ));
        }
        Ok(Done::default().into())
    }
}

dtm_plugin_sdk::export_plugin!(RepoScaffolding, RepoScaffolding);

#[cfg(test)]
mod tests;
