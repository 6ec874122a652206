//! Git remotes and throw-away work trees: what the plugins do with repositories.
//!
//! Everything goes through the real `git` CLI ([`crate::cmd`]), so every transport git speaks
//! works (local paths, `file://`, `git://`, `ssh://`, `https://`), with the user's own git
//! configuration for credentials, plus a token passed as an HTTP header when the options give one.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use dtm_plugin_sdk::prelude::*;

use crate::args;
use crate::cmd::{GitEnv, failed, git, git_raw};

/// A git remote: a URL or a local path, and how to talk to it.
#[derive(Debug, Clone)]
pub struct Remote {
    /// What git is given: a URL, or an absolute path for local repositories.
    pub url: String,
    /// Environment (token header, identity) for git commands that talk to it.
    pub env: GitEnv,
}

/// What a remote has for one branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteHead {
    /// There is no repository at the URL.
    NoRepo,
    /// The repository exists, the branch does not.
    NoBranch,
    /// The branch points at this commit.
    Head(String),
}

/// Whether `url` names a local path rather than a network URL (`scheme://` or scp-like
/// `user@host:path`). `file://` URLs count as local.
pub fn is_local(url: &str) -> bool {
    if url.starts_with("file://") {
        return true;
    }
    if url.contains("://") {
        return false;
    }
    match url.find(':') {
        // `host:path` (scp-like) has no `/` before its first `:`.
        Some(colon) => url[..colon].contains('/'),
        None => true,
    }
}

/// The path of a local remote (`file://` stripped).
pub fn local_path(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("file://").unwrap_or(url))
}

/// Checks that `rel` is a relative path that stays inside a work tree.
pub fn check_relative(rel: &str) -> Result<PathBuf, String> {
    let path = Path::new(rel);
    if rel.is_empty() {
        return Err("the path is empty".into());
    }
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => {
                if part == ".git" {
                    return Err(format!("`{rel}` points into the `.git` directory"));
                }
                clean.push(part);
            }
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "`{rel}` must be a relative path inside the repository (no `..`, not absolute)"
                ));
            }
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(format!("`{rel}` names the repository's root, not a file"));
    }
    Ok(clean)
}

impl Remote {
    /// A remote for `url` with `env`.
    pub fn new(url: impl Into<String>, env: GitEnv) -> Self {
        Self {
            url: url.into(),
            env,
        }
    }

    /// Whether this remote is a local path.
    pub fn is_local(&self) -> bool {
        is_local(&self.url)
    }

    /// The URL as shown to users (credentials masked).
    pub fn shown(&self) -> String {
        crate::cmd::mask_userinfo(&self.url)
    }

    /// What the remote has for `branch`.
    pub fn head(&self, ctx: &Ctx, branch: &str) -> Result<RemoteHead, PluginError> {
        if self.is_local() {
            let path = local_path(&self.url);
            if !path.exists() {
                return Ok(RemoteHead::NoRepo);
            }
        }
        let what = format!("looking up branch `{branch}` of {}", self.shown());
        let args = args![
            "ls-remote",
            "--heads",
            "--",
            self.url.as_str(),
            format!("refs/heads/{branch}")
        ];
        let out = git_raw(ctx, &self.env, None, &args, &what)?;
        if !out.status.success() {
            let stderr = out.stderr_text().to_ascii_lowercase();
            let missing = [
                "not found",
                "does not appear to be a git repository",
                "does not exist",
                "no such file",
                "could not read from remote repository",
            ];
            if missing.iter().any(|m| stderr.contains(m)) && !stderr.contains("could not resolve") {
                return Ok(RemoteHead::NoRepo);
            }
            return Err(failed(&what, &args, &out));
        }
        let text = out.text();
        let wanted = format!("refs/heads/{branch}");
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            if let (Some(sha), Some(name)) = (parts.next(), parts.next())
                && name == wanted
            {
                return Ok(RemoteHead::Head(sha.to_string()));
            }
        }
        Ok(RemoteHead::NoBranch)
    }

    /// Creates a bare repository at this (local) remote's path, with `branch` as its HEAD.
    pub fn init_bare(&self, ctx: &Ctx, branch: &str) -> Result<(), PluginError> {
        let path = local_path(&self.url);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| PluginError::io(format!("creating {}", parent.display()), &e))?;
        }
        let what = format!("creating the bare repository {}", path.display());
        git(
            ctx,
            &self.env,
            None,
            &args![
                "init",
                "--quiet",
                "--bare",
                format!("--initial-branch={branch}"),
                "--",
                path.as_os_str()
            ],
            &what,
        )?;
        Ok(())
    }

    /// Fetches `branch` into a temporary bare repository, for reading without a work tree.
    /// `None` when the remote has no repository or no such branch.
    pub fn fetch(&self, ctx: &Ctx, branch: &str) -> Result<Option<Fetched>, PluginError> {
        if !matches!(self.head(ctx, branch)?, RemoteHead::Head(_)) {
            return Ok(None);
        }
        let dir = tempfile::Builder::new()
            .prefix("dtm-git-")
            .tempdir()
            .map_err(|e| PluginError::io("creating a temporary repository", &e))?;
        let what = format!("fetching branch `{branch}` of {}", self.shown());
        git(
            ctx,
            &self.env,
            Some(dir.path()),
            &args!["init", "--quiet", "--bare"],
            &what,
        )?;
        let fetch = args![
            "fetch",
            "--quiet",
            "--no-tags",
            "--",
            self.url.as_str(),
            format!("+refs/heads/{branch}:refs/heads/fetched")
        ];
        let fetched = git_raw(ctx, &self.env, Some(dir.path()), &fetch, &what)?;
        if !fetched.status.success() {
            // Deleted between the look-up and the fetch.
            if matches!(self.head(ctx, branch)?, RemoteHead::Head(_)) {
                return Err(failed(&what, &fetch, &fetched));
            }
            return Ok(None);
        }
        Ok(Some(Fetched {
            dir,
            env: self.env.clone(),
        }))
    }

    /// Clones `branch` (or starts it empty, when the remote does not have it) into a temporary
    /// work tree.
    pub fn checkout(&self, ctx: &Ctx, branch: &str) -> Result<Worktree, PluginError> {
        let dir = tempfile::Builder::new()
            .prefix("dtm-git-")
            .tempdir()
            .map_err(|e| PluginError::io("creating a temporary work tree", &e))?;
        let wt = Worktree {
            dir,
            remote: self.clone(),
            branch: branch.to_string(),
            base: None,
        };
        let what = format!("fetching branch `{branch}` of {}", self.shown());
        wt.git(ctx, &args!["init", "--quiet"], &what)?;
        wt.git(
            ctx,
            &args!["symbolic-ref", "HEAD", format!("refs/heads/{branch}")],
            &what,
        )?;
        let head = self.head(ctx, branch)?;
        let base = match head {
            RemoteHead::NoRepo => {
                return Err(PluginError::not_found(format!(
                    "there is no git repository at {}",
                    self.shown()
                )));
            }
            RemoteHead::NoBranch => None,
            RemoteHead::Head(_) => {
                wt.git(
                    ctx,
                    &args![
                        "fetch",
                        "--quiet",
                        "--no-tags",
                        "--",
                        self.url.as_str(),
                        format!("+refs/heads/{branch}:refs/remotes/origin/{branch}")
                    ],
                    &what,
                )?;
                wt.git(
                    ctx,
                    &args![
                        "reset",
                        "--quiet",
                        "--hard",
                        format!("refs/remotes/origin/{branch}")
                    ],
                    &what,
                )?;
                Some(wt.rev_parse(ctx, "HEAD")?)
            }
        };
        Ok(Worktree { base, ..wt })
    }

    /// A shallow copy of `branch` (default: the remote's default branch), for reading files.
    pub fn snapshot(
        &self,
        ctx: &Ctx,
        branch: Option<&str>,
    ) -> Result<tempfile::TempDir, PluginError> {
        let dir = tempfile::Builder::new()
            .prefix("dtm-src-")
            .tempdir()
            .map_err(|e| PluginError::io("creating a temporary directory", &e))?;
        let mut args = args!["clone", "--quiet", "--depth", "1"].to_vec();
        if let Some(branch) = branch {
            args.extend(args!["--branch", branch]);
        }
        args.extend(args!["--", self.url.as_str(), dir.path().as_os_str()]);
        let what = format!("cloning the template repository {}", self.shown());
        git(ctx, &self.env, None, &args, &what)?;
        Ok(dir)
    }

    /// Clones `branch`, lets `edit` change the work tree, commits with the message `message`
    /// makes of `edit`'s value, and pushes.
    /// When the push loses a race with another push to the branch (another tool, a person),
    /// the whole step starts again from the new head, a few times. Returns the work tree (for
    /// its `base`), the new commit (`None` when `edit` changed nothing) and `edit`'s value.
    pub fn edit_branch<T>(
        &self,
        ctx: &Ctx,
        branch: &str,
        edit: impl Fn(&Worktree) -> Result<T, PluginError>,
        message: impl Fn(&T) -> String,
    ) -> Result<(Worktree, Option<String>, T), PluginError> {
        const ATTEMPTS: u32 = 6;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let wt = self.checkout(ctx, branch)?;
            let value = edit(&wt)?;
            match wt.commit_and_push(ctx, &message(&value)) {
                Ok(commit) => return Ok((wt, commit, value)),
                Err(e) if e.kind == ErrorKind::Conflict && attempt < ATTEMPTS => {
                    ctx.info(format!(
                        "branch `{branch}` of {} moved while dtm was pushing; trying again",
                        self.shown()
                    ));
                    std::thread::sleep(std::time::Duration::from_millis(50 * u64::from(attempt)));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Deletes `branch` on the remote. A branch that is already gone is fine. Returns `false`
    /// when the remote refuses because the branch is its current (default) branch.
    pub fn delete_branch(&self, ctx: &Ctx, branch: &str) -> Result<bool, PluginError> {
        if !matches!(self.head(ctx, branch)?, RemoteHead::Head(_)) {
            return Ok(true);
        }
        let what = format!("deleting branch `{branch}` of {}", self.shown());
        // `git push` needs a repository to push from, even to push a deletion.
        let scratch = tempfile::Builder::new()
            .prefix("dtm-git-")
            .tempdir()
            .map_err(|e| PluginError::io("creating a temporary directory", &e))?;
        git(
            ctx,
            &self.env,
            Some(scratch.path()),
            &args!["init", "--quiet"],
            &what,
        )?;
        let args = args![
            "push",
            "--quiet",
            "--",
            self.url.as_str(),
            format!(":refs/heads/{branch}")
        ];
        let out = git_raw(ctx, &self.env, Some(scratch.path()), &args, &what)?;
        if out.status.success() {
            return Ok(true);
        }
        let stderr = out.stderr_text().to_ascii_lowercase();
        if stderr.contains("current branch") || stderr.contains("default branch") {
            return Ok(false);
        }
        Err(failed(&what, &args, &out))
    }
}

/// One branch fetched into a temporary bare repository, removed when dropped.
#[derive(Debug)]
pub struct Fetched {
    dir: tempfile::TempDir,
    env: GitEnv,
}

impl Fetched {
    /// The content of `rel` at the branch's head, `None` if there is no such file.
    pub fn read(&self, ctx: &Ctx, rel: &str) -> Result<Option<Vec<u8>>, PluginError> {
        let clean = check_relative(rel).map_err(PluginError::invalid_options)?;
        let spec = format!(
            "refs/heads/fetched:{}",
            clean
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        );
        let kind = git_raw(
            ctx,
            &self.env,
            Some(self.dir.path()),
            &args!["cat-file", "-t", spec.as_str()],
            "reading the branch",
        )?;
        if !kind.status.success() || kind.text() != "blob" {
            return Ok(None);
        }
        let out = git(
            ctx,
            &self.env,
            Some(self.dir.path()),
            &args!["cat-file", "blob", spec.as_str()],
            &format!("reading `{rel}` at the branch's head"),
        )?;
        Ok(Some(out.stdout))
    }

    /// Whether `commit` is the branch's head or one of its ancestors.
    pub fn contains(&self, ctx: &Ctx, commit: &str) -> Result<bool, PluginError> {
        if commit.is_empty() {
            return Ok(false);
        }
        let out = git_raw(
            ctx,
            &self.env,
            Some(self.dir.path()),
            &args!["merge-base", "--is-ancestor", commit, "refs/heads/fetched"],
            "checking the branch's history",
        )?;
        Ok(out.status.success())
    }
}

/// A temporary clone of one branch, removed when dropped.
#[derive(Debug)]
pub struct Worktree {
    dir: tempfile::TempDir,
    remote: Remote,
    branch: String,
    /// The commit the branch pointed at when it was fetched; `None` for a new branch.
    pub base: Option<String>,
}

impl Worktree {
    /// The work tree's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(
        &self,
        ctx: &Ctx,
        args: &[OsString],
        what: &str,
    ) -> Result<crate::cmd::Output, PluginError> {
        git(ctx, &self.remote.env, Some(self.path()), args, what)
    }

    fn rev_parse(&self, ctx: &Ctx, rev: &str) -> Result<String, PluginError> {
        Ok(self
            .git(
                ctx,
                &args!["rev-parse", "--verify", rev],
                "reading a commit id",
            )?
            .text())
    }

    fn file(&self, rel: &str) -> Result<PathBuf, PluginError> {
        let clean = check_relative(rel).map_err(PluginError::invalid_options)?;
        Ok(self.path().join(clean))
    }

    /// The content of `rel` in the work tree, `None` if there is no such file.
    pub fn read(&self, rel: &str) -> Result<Option<Vec<u8>>, PluginError> {
        let path = self.file(rel)?;
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) if path.is_dir() => Err(PluginError::conflict(format!(
                "`{rel}` is a directory in {}: {e}",
                self.remote.shown()
            ))),
            Err(e) => Err(PluginError::io(format!("reading `{rel}`"), &e)),
        }
    }

    /// Writes `rel` (creating directories), with the executable bit when `executable`.
    pub fn write(&self, rel: &str, bytes: &[u8], executable: bool) -> Result<(), PluginError> {
        let path = self.file(rel)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| PluginError::io(format!("creating the directory of `{rel}`"), &e))?;
        }
        std::fs::write(&path, bytes)
            .map_err(|e| PluginError::io(format!("writing `{rel}`"), &e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = if executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| PluginError::io(format!("setting the mode of `{rel}`"), &e))?;
        }
        #[cfg(not(unix))]
        let _ = executable;
        Ok(())
    }

    /// Removes `rel`; returns whether it was there.
    pub fn remove(&self, rel: &str) -> Result<bool, PluginError> {
        let path = self.file(rel)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(PluginError::io(format!("removing `{rel}`"), &e)),
        }
    }

    /// Whether `commit` is the work tree's HEAD or one of its ancestors.
    pub fn contains(&self, ctx: &Ctx, commit: &str) -> Result<bool, PluginError> {
        if self.base.is_none() || commit.is_empty() {
            return Ok(false);
        }
        let out = git_raw(
            ctx,
            &self.remote.env,
            Some(self.path()),
            &args!["merge-base", "--is-ancestor", commit, "HEAD"],
            "checking the branch's history",
        )?;
        Ok(out.status.success())
    }

    /// Commits every change in the work tree with `message` and pushes the branch. Returns the
    /// new commit, or `None` when there was nothing to commit.
    pub fn commit_and_push(&self, ctx: &Ctx, message: &str) -> Result<Option<String>, PluginError> {
        let what = format!(
            "committing to branch `{}` of {}",
            self.branch,
            self.remote.shown()
        );
        self.git(ctx, &args!["add", "--all"], &what)?;
        let changes = self
            .git(ctx, &args!["status", "--porcelain"], &what)?
            .text();
        if changes.is_empty() {
            return Ok(None);
        }
        self.git(
            ctx,
            &args!["commit", "--quiet", "--no-verify", "-m", message],
            &what,
        )?;
        let commit = self.rev_parse(ctx, "HEAD")?;
        let what = format!(
            "pushing branch `{}` to {}",
            self.branch,
            self.remote.shown()
        );
        self.git(
            ctx,
            &args![
                "push",
                "--quiet",
                "--",
                self.remote.url.as_str(),
                format!("HEAD:refs/heads/{}", self.branch)
            ],
            &what,
        )?;
        ctx.info(format!(
            "pushed {} to branch `{}` of {}",
            &commit[..commit.len().min(12)],
            self.branch,
            self.remote.shown()
        ));
        Ok(Some(commit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_local_paths_from_urls() {
        assert!(is_local("/srv/git/a.git"));
        assert!(is_local("out/remotes/a.git"));
        assert!(is_local("file:///srv/a.git"));
        assert!(is_local("./a:b.git"));
        assert!(!is_local("https://example.com/a.git"));
        assert!(!is_local("git://127.0.0.1:9418/a.git"));
        assert!(!is_local("git@github.com:owner/a.git"));
    }

    #[test]
    fn relative_paths_stay_inside() {
        assert!(check_relative(".github/workflows/main.yml").is_ok());
        assert!(check_relative("../x").is_err());
        assert!(check_relative("/etc/passwd").is_err());
        assert!(check_relative(".git/config").is_err());
        assert!(check_relative("").is_err());
        assert!(check_relative(".").is_err());
    }
}
