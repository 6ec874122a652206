//! For tests of the git plugins, here and through the `dtm` binary: git with a throw-away
//! identity. The one copy of it; a test that needs git calls this.

use std::path::Path;
use std::process::Command;

/// Runs `git ARGS` in `dir` with a throw-away identity (the machine may have no git config) and
/// no prompts; returns its trimmed stdout. Panics, with git's stderr, if git fails: a test
/// helper.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "someone")
        .env("GIT_AUTHOR_EMAIL", "someone@localhost")
        .env("GIT_COMMITTER_NAME", "someone")
        .env("GIT_COMMITTER_EMAIL", "someone@localhost")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap_or_else(|e| panic!("cannot run git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
