//! The `docker` program: finding it, running it (cancellable), and what its failures mean.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dtm_plugin_sdk::prelude::*;
use serde_json::Value;

/// How often a running command checks for cancellation.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// A failed or impossible docker command.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The program is not installed where the options or the environment say.
    #[error(
        "the program `{wanted}` (from {from}) was not found: install Docker's command-line \
         client, or name the program with the tool's `{option}` option"
    )]
    NotFound {
        /// The name or path looked for.
        wanted: String,
        /// Where the name came from.
        from: &'static str,
        /// The option that names the program.
        option: &'static str,
    },
    /// The program exists but could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The Docker daemon did not answer.
    #[error(
        "`{command}` cannot reach the Docker daemon ({host}): {message}; start the daemon there, \
         or point the tool's `dockerHost` option (or DOCKER_HOST) at a running one"
    )]
    Daemon {
        /// The command.
        command: String,
        /// Where the client looked for the daemon.
        host: String,
        /// What the client said.
        message: String,
    },
    /// The daemon refused the user.
    #[error(
        "`{command}` was refused by the Docker daemon ({host}): {message}; run dtm as root or \
         as a member of the `docker` group"
    )]
    Permission {
        /// The command.
        command: String,
        /// Where the client looked for the daemon.
        host: String,
        /// What the client said.
        message: String,
    },
    /// The host asked the step to stop.
    #[error("`{command}` was stopped: dtm was interrupted or the step's time limit passed")]
    Cancelled {
        /// The command.
        command: String,
    },
    /// Any other failure, with what the command printed.
    #[error("`{command}` failed: {message}")]
    Failed {
        /// The command.
        command: String,
        /// Its error output.
        message: String,
    },
}

impl DockerError {
    /// Whether docker said the named container, image or object does not exist.
    pub fn is_no_such(&self) -> bool {
        matches!(self, DockerError::Failed { message, .. }
            if message.contains("No such container")
                || message.contains("No such object")
                || message.contains("No such image"))
    }
}

impl From<DockerError> for PluginError {
    fn from(e: DockerError) -> PluginError {
        let text = e.to_string();
        match &e {
            DockerError::NotFound { .. } => PluginError::not_found(text),
            DockerError::Spawn { .. } => PluginError::internal(text),
            DockerError::Daemon { .. } => PluginError::unavailable(text).mark_retryable(),
            DockerError::Permission { .. } => PluginError::permission_denied(text),
            DockerError::Cancelled { .. } => PluginError::cancelled(text),
            DockerError::Failed { message, .. } => {
                let m = message.to_lowercase();
                if m.contains("port is already allocated")
                    || m.contains("address already in use")
                    || m.contains("is already in use by container")
                {
                    PluginError::conflict(text)
                } else if e.is_no_such()
                    || m.contains("pull access denied")
                    || m.contains("manifest unknown")
                    || m.contains("not found")
                {
                    PluginError::not_found(text)
                } else {
                    PluginError::internal(text)
                }
            }
        }
    }
}

/// Finds `name` on `PATH`; a name with a `/` is a path, relative to `workdir`.
pub fn locate(name: &str, workdir: &Path) -> Option<PathBuf> {
    if name.contains('/') {
        let p = workdir.join(name);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Where the docker client looks for the daemon, for messages.
fn daemon_host() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.is_empty() => format!("DOCKER_HOST={h}"),
        _ => "the client's default, unix:///var/run/docker.sock unless a docker context says \
              otherwise"
            .to_owned(),
    }
}

/// A located docker program.
#[derive(Debug, Clone)]
pub struct Docker {
    program: PathBuf,
    host: Option<String>,
}

impl Docker {
    /// The program the tool's `docker` option names, else `docker` on `PATH`, talking to the
    /// daemon at `host` (else where `DOCKER_HOST` or the current docker context says).
    pub fn locate(
        option: Option<&str>,
        host: Option<&str>,
        workdir: &Path,
    ) -> Result<Docker, DockerError> {
        let (wanted, from) = match option {
            Some(p) if !p.trim().is_empty() => (p.to_owned(), "the `docker` option"),
            _ => ("docker".to_owned(), "PATH"),
        };
        locate(&wanted, workdir)
            .map(|program| Docker {
                program,
                host: host.filter(|h| !h.trim().is_empty()).map(str::to_owned),
            })
            .ok_or(DockerError::NotFound {
                wanted,
                from,
                option: "docker",
            })
    }

    /// The program's path.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The daemon address the options name, if any.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// Runs `docker ARGS` and returns its standard output; stops it when `ctx` is cancelled.
    pub fn run(&self, ctx: &Ctx<'_>, args: &[String]) -> Result<String, DockerError> {
        let run = Run {
            program: &self.program,
            name: "docker",
            dir: None,
            host: self.host(),
        };
        run.run(ctx, args)
    }

    /// `docker container inspect NAME`, or `None` when there is no such container.
    pub fn inspect_container(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
    ) -> Result<Option<Value>, DockerError> {
        match self.run(ctx, &strings(&["container", "inspect", name])) {
            Ok(text) => first_of(&text, "docker container inspect").map(Some),
            Err(e) if e.is_no_such() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the image is present on the engine.
    pub fn has_image(&self, ctx: &Ctx<'_>, image: &str) -> Result<bool, DockerError> {
        match self.run(
            ctx,
            &strings(&["image", "inspect", "--format", "{{.Id}}", image]),
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.is_no_such() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Pulls the image unless the engine has it.
    pub fn ensure_image(&self, ctx: &Ctx<'_>, image: &str) -> Result<(), DockerError> {
        if self.has_image(ctx, image)? {
            return Ok(());
        }
        ctx.progress(None, format!("pulling {image}"));
        self.run(ctx, &strings(&["pull", "--quiet", image]))
            .map(|_| ())
    }

    /// Names of the containers (running or not) carrying `label` (`key=value`).
    pub fn containers_labelled(
        &self,
        ctx: &Ctx<'_>,
        label: &str,
    ) -> Result<Vec<String>, DockerError> {
        let out = self.run(
            ctx,
            &strings(&[
                "container",
                "ls",
                "--all",
                "--filter",
                &format!("label={label}"),
                "--format",
                "{{.Names}}",
            ]),
        )?;
        let mut names: Vec<String> = out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        names.sort();
        Ok(names)
    }

    /// `docker container rm --force --volumes NAME`; `false` when there was none.
    pub fn remove_container(&self, ctx: &Ctx<'_>, name: &str) -> Result<bool, DockerError> {
        match self.run(
            ctx,
            &strings(&["container", "rm", "--force", "--volumes", name]),
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.is_no_such() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `docker container start NAME`.
    pub fn start_container(&self, ctx: &Ctx<'_>, name: &str) -> Result<(), DockerError> {
        self.run(ctx, &strings(&["container", "start", name]))
            .map(|_| ())
    }
}

/// The first element of a `docker inspect` answer (a JSON array).
fn first_of(text: &str, command: &str) -> Result<Value, DockerError> {
    let parsed: Value = serde_json::from_str(text).map_err(|e| DockerError::Failed {
        command: command.to_owned(),
        message: format!("printed something that is not JSON: {e}"),
    })?;
    match parsed {
        Value::Array(mut items) if !items.is_empty() => Ok(items.swap_remove(0)),
        other => Ok(other),
    }
}

/// `&str`s as owned arguments.
pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// One program to run: how it is named in messages, where, and against which daemon.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The program.
    pub program: &'a Path,
    /// Its name in messages (`docker`, `docker-compose`).
    pub name: &'a str,
    /// Its working directory; the current one when `None`.
    pub dir: Option<&'a Path>,
    /// The daemon address, given to the program as `DOCKER_HOST`.
    pub host: Option<&'a str>,
}

impl Run<'_> {
    /// Runs the program with `args`; standard output on success. The command's name in
    /// messages is the program's name followed by its first two arguments before any flag.
    pub fn run(&self, ctx: &Ctx<'_>, args: &[String]) -> Result<String, DockerError> {
        let words: Vec<&str> = args
            .iter()
            .map(String::as_str)
            .take_while(|a| !a.starts_with('-'))
            .take(2)
            .collect();
        let command = format!("{} {}", self.name, words.join(" "));
        let mut cmd = Command::new(self.program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = self.dir {
            cmd.current_dir(dir);
        }
        if let Some(host) = self.host {
            cmd.env("DOCKER_HOST", host);
        }
        let child = cmd.spawn().map_err(|source| DockerError::Spawn {
            program: self.program.display().to_string(),
            source,
        })?;
        let (ok, stdout, stderr) = wait_cancellable(ctx, child, &command)?;
        if ok {
            return Ok(stdout);
        }
        Err(self.failure(command, &stderr))
    }

    /// The error for a command that failed printing `stderr`.
    fn failure(&self, command: String, stderr: &str) -> DockerError {
        let message = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.trim_start_matches("Error: ")
                    .trim_start_matches("ERROR: ")
            })
            .collect::<Vec<_>>()
            .join("; ");
        let message = if message.is_empty() {
            "it exited with an error and printed nothing".to_owned()
        } else {
            message
        };
        let lower = message.to_lowercase();
        let host = || match self.host {
            Some(h) => format!("`dockerHost` {h}"),
            None => daemon_host(),
        };
        if lower.contains("cannot connect to the docker daemon")
            || lower.contains("error during connect")
            || lower.contains("connection refused")
        {
            return DockerError::Daemon {
                command,
                host: host(),
                message,
            };
        }
        if lower.contains("permission denied while trying to connect") {
            return DockerError::Permission {
                command,
                host: host(),
                message,
            };
        }
        DockerError::Failed { command, message }
    }
}

/// Waits for `child`, reading its output, and kills it when `ctx` is cancelled.
fn wait_cancellable(
    ctx: &Ctx<'_>,
    mut child: Child,
    command: &str,
) -> Result<(bool, String, String), DockerError> {
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let failed = |e: std::io::Error| DockerError::Failed {
        command: command.to_owned(),
        message: format!("waiting for it: {e}"),
    };
    let status = loop {
        if let Some(status) = child.try_wait().map_err(failed)? {
            break status;
        }
        if ctx.is_cancelled() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(DockerError::Cancelled {
                command: command.to_owned(),
            });
        }
        std::thread::sleep(POLL_EVERY);
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok((status.success(), stdout, stderr))
}
