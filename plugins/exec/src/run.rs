//! Running one command: environment, stdin, captured output, timeout and cancellation.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dtm_plugin_sdk::prelude::*;

/// Output kept per stream; the rest is read and dropped.
const CAPTURE_LIMIT: usize = 8 * 1024 * 1024;
/// How much of stderr an error message quotes (its end, where the reason usually is).
const STDERR_IN_MESSAGE: usize = 2000;
/// How often the wait loop looks at the child, the clock and the cancel flag.
const POLL: Duration = Duration::from_millis(10);

/// A command ready to run.
#[derive(Debug)]
pub(crate) struct Spec {
    /// What the user sees in messages, e.g. `sh -c 'make install'`.
    pub display: String,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Working directory (inherited when `None`).
    pub dir: Option<PathBuf>,
    /// Extra environment, in order.
    pub env: BTreeMap<String, String>,
    /// Bytes for stdin.
    pub stdin: Vec<u8>,
    /// When to give up.
    pub timeout: Duration,
}

/// What a command that exited 0 printed.
#[derive(Debug)]
pub(crate) struct Output {
    /// Captured stdout (at most [`CAPTURE_LIMIT`] bytes).
    pub stdout: Vec<u8>,
    /// Captured stderr (at most [`CAPTURE_LIMIT`] bytes).
    pub stderr: Vec<u8>,
}

struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

fn capture(mut stream: impl Read + Send + 'static) -> JoinHandle<Captured> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut truncated = false;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    let room = CAPTURE_LIMIT.saturating_sub(bytes.len());
                    truncated |= n > room;
                    bytes.extend_from_slice(&chunk[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        Captured { bytes, truncated }
    })
}

fn join(handle: JoinHandle<Captured>) -> Captured {
    handle.join().unwrap_or(Captured {
        bytes: Vec::new(),
        truncated: false,
    })
}

/// Runs `spec`, for `what` (e.g. "create command of exec.build") in messages.
pub(crate) fn run(ctx: &Ctx, what: &str, spec: &Spec) -> Result<Output, PluginError> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(PluginError::invalid_options(format!(
            "{what}: the command is empty"
        )));
    };
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .envs(&spec.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = &spec.dir {
        command.current_dir(dir);
    }
    #[cfg(unix)]
    {
        // Its own process group, so that a timeout kills whatever the command started too.
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    ctx.debug(format!("{what}: running {}", spec.display));
    let mut child = command.spawn().map_err(|e| {
        let dir = spec
            .dir
            .as_ref()
            .map(|d| format!(" in {}", d.display()))
            .unwrap_or_default();
        PluginError::io(format!("{what}: cannot start `{}`{dir}", spec.display), &e)
    })?;

    let writer = child.stdin.take().map(|mut stdin| {
        let input = spec.stdin.clone();
        // A command that does not read its stdin closes the pipe: that is fine.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        })
    });
    let stdout = child.stdout.take().map(capture);
    let stderr = child.stderr.take().map(capture);

    let start = Instant::now();
    let mut exited: Option<ExitStatus> = None;
    let status = loop {
        if exited.is_none() {
            exited = child.try_wait().map_err(|e| {
                PluginError::io(format!("{what}: waiting for `{}`", spec.display), &e)
            })?;
        }
        let streams_done = stdout.as_ref().is_none_or(JoinHandle::is_finished)
            && stderr.as_ref().is_none_or(JoinHandle::is_finished);
        if let (Some(status), true) = (exited, streams_done) {
            break status;
        }
        if ctx.is_cancelled() {
            kill(&mut child);
            return Err(PluginError::cancelled(format!(
                "{what}: `{}` was stopped because dtm was interrupted",
                spec.display
            )));
        }
        if start.elapsed() >= spec.timeout {
            kill(&mut child);
            let hint = if exited.is_some() {
                " (the command exited, but a process it started in the background kept its \
                 output open: redirect that process's output, e.g. `cmd >/dev/null 2>&1 &`)"
            } else {
                ""
            };
            return Err(PluginError::timeout(format!(
                "{what}: `{}` did not finish within {} and was killed{hint}; raise `timeout` if it needs longer",
                spec.display,
                humantime::format_duration(spec.timeout)
            )));
        }
        std::thread::sleep(POLL);
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let stdout = stdout.map(join).unwrap_or(Captured {
        bytes: Vec::new(),
        truncated: false,
    });
    let stderr = stderr.map(join).unwrap_or(Captured {
        bytes: Vec::new(),
        truncated: false,
    });
    if !status.success() {
        return Err(PluginError::internal(format!(
            "{what}: `{}` {}{}",
            spec.display,
            describe(status),
            stderr_excerpt(&stderr.bytes)
        )));
    }
    if stdout.truncated {
        return Err(PluginError::internal(format!(
            "{what}: `{}` printed more than {} MiB on stdout",
            spec.display,
            CAPTURE_LIMIT / (1024 * 1024)
        )));
    }
    Ok(Output {
        stdout: stdout.bytes,
        stderr: stderr.bytes,
    })
}

/// Kills the child's whole process group (on Unix), then the child, and reaps it.
fn kill(child: &mut Child) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(child.id()) {
        // The group id is the child's pid (`process_group(0)`); it may already be gone.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    format!("failed ({status})")
}

fn stderr_excerpt(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.is_empty() {
        return " (no stderr)".to_string();
    }
    let mut start = text.len().saturating_sub(STDERR_IN_MESSAGE);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = if start > 0 { "…" } else { "" };
    format!(": {cut}{}", &text[start..])
}
