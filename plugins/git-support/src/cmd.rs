//! Running the `git` CLI: no shell, no prompts, a time limit, and cancellation that kills the
//! whole process group.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dtm_plugin_sdk::prelude::*;

/// How long one git command may take.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(600);
/// How often the wait loop looks at the child and the cancel flag.
const POLL: Duration = Duration::from_millis(10);
/// How much of stderr a message quotes.
const STDERR_IN_MESSAGE: usize = 1500;

/// Author and committer of the commits dtm makes, unless the options name another.
pub const DEFAULT_AUTHOR: (&str, &str) = ("dtm", "dtm@localhost");

/// What a finished git command printed, and whether it succeeded.
#[derive(Debug)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Stdout as trimmed text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_string()
    }

    /// Stderr as trimmed text, cut to its last part.
    pub fn stderr_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let text = text.trim();
        let mut start = text.len().saturating_sub(STDERR_IN_MESSAGE);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_string()
    }
}

/// Environment for every git command: no terminal prompts, a fixed identity, and (when given)
/// extra configuration passed through `GIT_CONFIG_*` so that it never appears on a command
/// line (tokens in `http.extraHeader`).
#[derive(Debug, Clone, Default)]
pub struct GitEnv {
    /// `(key, value)` pairs for `GIT_CONFIG_KEY_n` / `GIT_CONFIG_VALUE_n`.
    pub config: Vec<(String, String)>,
    /// Author/committer name and email.
    pub author: Option<(String, String)>,
}

impl GitEnv {
    fn apply(&self, command: &mut Command) {
        let (name, email) = self
            .author
            .clone()
            .unwrap_or_else(|| (DEFAULT_AUTHOR.0.into(), DEFAULT_AUTHOR.1.into()));
        command
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true")
            .env("SSH_ASKPASS", "true")
            .env("GCM_INTERACTIVE", "never")
            .env("GIT_AUTHOR_NAME", &name)
            .env("GIT_AUTHOR_EMAIL", &email)
            .env("GIT_COMMITTER_NAME", &name)
            .env("GIT_COMMITTER_EMAIL", &email)
            .env("LC_ALL", "C")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE");
        // Commits are made by dtm, not by the user: never ask for a signing key.
        let mut config: Vec<(String, String)> = vec![
            ("commit.gpgsign".into(), "false".into()),
            ("tag.gpgsign".into(), "false".into()),
            ("core.hooksPath".into(), "/dev/null".into()),
        ];
        config.extend(self.config.iter().cloned());
        command.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (key, value)) in config.iter().enumerate() {
            command
                .env(format!("GIT_CONFIG_KEY_{i}"), key)
                .env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
    }
}

fn capture(mut stream: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        bytes
    })
}

/// Runs `git ARGS` in `dir` and returns its output whatever its exit status; errors are
/// failures to start it, the time limit and cancellation. `what` names the step in messages.
pub fn git_raw(
    ctx: &Ctx,
    env: &GitEnv,
    dir: Option<&Path>,
    args: &[OsString],
    what: &str,
) -> Result<Output, PluginError> {
    let mut command = Command::new("git");
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    env.apply(&mut command);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let shown = display(args);
    ctx.debug(format!("{what}: git {shown}"));
    let mut child = command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            PluginError::not_found(format!(
                "{what}: the `git` program was not found; install git and make sure it is on PATH"
            ))
        } else {
            PluginError::io(format!("{what}: cannot start `git {shown}`"), &e)
        }
    })?;
    let stdout = child.stdout.take().map(capture);
    let stderr = child.stderr.take().map(capture);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| PluginError::io(format!("{what}: waiting for git"), &e))?
        {
            break status;
        }
        if ctx.is_cancelled() {
            kill(&mut child);
            return Err(PluginError::cancelled(format!(
                "{what}: `git {shown}` was stopped because dtm was interrupted"
            )));
        }
        if start.elapsed() >= GIT_TIMEOUT {
            kill(&mut child);
            return Err(PluginError::timeout(format!(
                "{what}: `git {shown}` did not finish within {} s and was killed",
                GIT_TIMEOUT.as_secs()
            ))
            .mark_retryable());
        }
        std::thread::sleep(POLL);
    };
    let stdout = stdout.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Like [`git_raw`], but a non-zero exit is an error quoting stderr.
pub fn git(
    ctx: &Ctx,
    env: &GitEnv,
    dir: Option<&Path>,
    args: &[OsString],
    what: &str,
) -> Result<Output, PluginError> {
    let out = git_raw(ctx, env, dir, args, what)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(failed(what, args, &out))
    }
}

/// The error for a git command that exited non-zero.
pub fn failed(what: &str, args: &[OsString], out: &Output) -> PluginError {
    let stderr = out.stderr_text();
    let detail = if stderr.is_empty() {
        "no message".to_string()
    } else {
        stderr
    };
    let message = format!(
        "{what}: `git {}` failed ({}): {detail}",
        display(args),
        out.status
    );
    let lower = detail.to_ascii_lowercase();
    if denied(&lower) {
        PluginError::permission_denied(message)
    } else if lower.contains("could not resolve host")
        || lower.contains("connection refused")
        || lower.contains("timed out")
        || lower.contains("unable to access")
    {
        PluginError::unavailable(message).mark_retryable()
    } else if lower.contains("non-fast-forward")
        || lower.contains("fetch first")
        || lower.contains("rejected")
    {
        PluginError::conflict(format!(
            "{message} (someone pushed to the branch at the same time; run dtm again)"
        ))
        .mark_retryable()
    } else {
        PluginError::internal(message)
    }
}

/// Whether git's (lower-cased) stderr says the credentials were refused. HTTP status codes
/// count only in the phrases git prints them in: a bare `403` may be part of a commit hash.
fn denied(lower: &str) -> bool {
    lower.contains("authentication failed")
        || lower.contains("permission denied")
        || (lower.contains("permission to") && lower.contains("denied"))
        || ["401", "403"].iter().any(|code| {
            lower.contains(&format!("returned error: {code}"))
                || lower.contains(&format!("http {code}"))
                || lower.contains(&format!("http/1.1 {code}"))
                || lower.contains(&format!("http/2 {code}"))
        })
}

/// Arguments as shown in messages. URLs never carry credentials here (tokens travel in
/// `GIT_CONFIG_*`), but a URL with `user:password@` written by the user is masked anyway.
pub fn display(args: &[OsString]) -> String {
    args.iter()
        .map(|a| mask_userinfo(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Replaces the password of `scheme://user:password@host/...` with `***`.
pub fn mask_userinfo(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_string();
    };
    let rest = &text[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return text.to_string();
    };
    let userinfo = &authority[..at];
    let user = userinfo.split(':').next().unwrap_or_default();
    if !userinfo.contains(':') {
        return text.to_string();
    }
    format!("{}://{user}:***@{}", &text[..scheme_end], &rest[at + 1..])
}

fn kill(child: &mut Child) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Builds an argument list from anything string-like.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        [$(::std::ffi::OsString::from($a)),*]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(stderr: &str) -> ErrorKind {
        use std::os::unix::process::ExitStatusExt;
        let out = Output {
            status: ExitStatus::from_raw(1 << 8),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        };
        failed("pushing", &[], &out).kind
    }

    #[test]
    fn a_commit_hash_holding_403_is_no_permission_error() {
        // A push race: the hashes in git's hint hold "403" and "401".
        let race = "To git://127.0.0.1:9418/o/r.git\n ! [rejected]        main -> main (fetch first)\n\
                    error: failed to push some refs to 'git://127.0.0.1/o/r.git'\n\
                    hint: Updates were rejected because the remote contains work (4031ab2..401cd9e)";
        assert_eq!(classify(race), ErrorKind::Conflict);
        assert_eq!(
            classify(
                "fatal: unable to access 'https://h/r.git/': The requested URL returned error: 403"
            ),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            classify("remote: Permission to o/r.git denied to bot."),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            classify("fatal: Authentication failed for 'https://h/r.git/'"),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            classify("fatal: unable to access 'https://h/': Could not resolve host: h"),
            ErrorKind::Unavailable
        );
    }

    #[test]
    fn masks_passwords_in_urls() {
        assert_eq!(
            mask_userinfo("https://me:s3cret@example.com/a.git"),
            "https://me:***@example.com/a.git"
        );
        assert_eq!(
            mask_userinfo("https://me@example.com/a.git"),
            "https://me@example.com/a.git"
        );
        assert_eq!(mask_userinfo("/srv/a.git"), "/srv/a.git");
    }
}
