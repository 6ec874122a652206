//! The repository side of an issue-tracker integration (the `trello` and `jira` plugins): one
//! GitHub Actions workflow file, committed to a branch and kept there, and the repository
//! secrets it reads.

use std::collections::BTreeSet;

use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::git::{RemoteHead, Worktree, check_relative};
use crate::scm::Repo;

/// A workflow file and the secrets it needs, in one repository.
#[derive(Debug, Clone, Copy)]
pub struct Integration<'a> {
    /// The repository (it must exist).
    pub repo: &'a Repo,
    /// Path of the workflow file in the repository.
    pub path: &'a str,
    /// The workflow file.
    pub content: &'a str,
    /// `(name, value)` of each secret the workflow reads.
    pub secrets: &'a [(String, String)],
    /// `name.instanceID` of the tool, for commit messages.
    pub instance: &'a str,
}

/// What exists of an integration in its repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// SHA-256 of the workflow file at the branch's head; `None` when the file is not there.
    pub sha256: Option<String>,
    /// The integration's secrets that exist (never their values), sorted.
    pub secrets: Vec<String>,
}

/// SHA-256 of `bytes`, as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Integration<'_> {
    fn missing(&self) -> PluginError {
        PluginError::not_found(format!(
            "the repository {} does not exist; create it first (e.g. with the repo-scaffolding plugin, and `dependsOn` it)",
            self.repo.url
        ))
    }

    /// The names of the secrets, sorted.
    fn names(&self) -> Vec<String> {
        let names: BTreeSet<String> = self.secrets.iter().map(|(n, _)| n.clone()).collect();
        names.into_iter().collect()
    }

    /// The status a plugin records: where the workflow is, its hash and the secrets present.
    pub fn status(&self, found: &Found) -> Value {
        json!({
            "repoURL": self.repo.url,
            "branch": self.repo.branch,
            "path": self.path,
            "sha256": found.sha256,
            "secrets": found.secrets,
        })
    }

    /// Sets the secrets, then commits the workflow (when it differs) and pushes. Returns what
    /// now exists and the commit that holds the workflow.
    pub fn apply(&self, ctx: &Ctx) -> Result<(Found, Option<String>), PluginError> {
        check_relative(self.path).map_err(PluginError::invalid_options)?;
        let remote = self.repo.remote(ctx)?.ok_or_else(|| self.missing())?;
        if remote.head(ctx, &self.repo.branch)? == RemoteHead::NoRepo {
            return Err(self.missing());
        }
        let secrets = match self.repo.secrets()? {
            Some(store) => {
                store.set_all(ctx, self.secrets)?;
                self.names()
            }
            None => {
                ctx.warn(format!(
                    "{} is a plain git remote, which keeps no secrets: give the workflow {} the secrets {} in your CI system by hand",
                    self.repo.url,
                    self.path,
                    self.names().join(", ")
                ));
                Vec::new()
            }
        };
        let edit = |wt: &Worktree| {
            let verb = if wt.read(self.path)?.is_some() {
                "update"
            } else {
                "add"
            };
            wt.write(self.path, self.content.as_bytes(), false)?;
            Ok(verb)
        };
        let message = |verb: &&str| {
            format!(
                "ci: {verb} {}\n\nManaged by dtm ({}).",
                self.path, self.instance
            )
        };
        let (wt, commit, _) = remote.edit_branch(ctx, &self.repo.branch, edit, message)?;
        if commit.is_none() {
            ctx.info(format!(
                "{} is already as described on branch `{}`",
                self.path, self.repo.branch
            ));
        }
        let found = Found {
            sha256: Some(sha256_hex(self.content.as_bytes())),
            secrets,
        };
        Ok((found, commit.or(wt.base.clone())))
    }

    /// What exists: `None` when the repository or its branch is gone.
    pub fn read(&self, ctx: &Ctx) -> Result<Option<Found>, PluginError> {
        check_relative(self.path).map_err(PluginError::invalid_options)?;
        let Some(remote) = self.repo.remote(ctx)? else {
            return Ok(None);
        };
        let Some(fetched) = remote.fetch(ctx, &self.repo.branch)? else {
            return Ok(None);
        };
        let sha256 = fetched.read(ctx, self.path)?.map(|b| sha256_hex(&b));
        let secrets = match self.repo.secrets()? {
            Some(store) => {
                let present = store.names(ctx)?;
                let mut names = self.names();
                names.retain(|n| present.contains(n));
                names
            }
            None => Vec::new(),
        };
        Ok(Some(Found { sha256, secrets }))
    }

    /// Deletes the secrets and removes the workflow in a commit. What is gone already is fine.
    pub fn remove(&self, ctx: &Ctx) -> Result<(), PluginError> {
        check_relative(self.path).map_err(PluginError::invalid_options)?;
        let Some(remote) = self.repo.remote(ctx)? else {
            ctx.info(format!("the repository {} is gone already", self.repo.url));
            return Ok(());
        };
        if let Some(store) = self.repo.secrets()? {
            for name in self.names() {
                store.delete(ctx, &name)?;
            }
        }
        if !matches!(remote.head(ctx, &self.repo.branch)?, RemoteHead::Head(_)) {
            ctx.info(format!(
                "branch `{}` of {} is gone already",
                self.repo.branch, self.repo.url
            ));
            return Ok(());
        }
        let edit = |wt: &Worktree| wt.remove(self.path);
        let message = |_: &bool| {
            format!(
                "ci: remove {}\n\nManaged by dtm ({}).",
                self.path, self.instance
            )
        };
        remote.edit_branch(ctx, &self.repo.branch, edit, message)?;
        Ok(())
    }
}
