//! The `helm` program: finding it, checking its version, and the subcommands the plugin runs
//! (`upgrade --install`, `status`, `get values`, `get manifest`, `rollback`, `uninstall`,
//! `show crds`), each with the tool's kubeconfig, context and namespace and a private set of
//! `HELM_*_HOME` directories, so that runs never depend on the user's own helm repositories.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use dtm_plugin_sdk::prelude::*;
use semver::Version;
use serde_json::Value;

use crate::duration::go_seconds;
use crate::options::{Options, Spec, resolve};

/// The oldest Helm the plugin drives (`upgrade --install -o json`, `--values -`).
const MINIMUM: Version = Version::new(3, 8, 0);

/// Where the service account's credentials are in a pod.
const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A located, version-checked helm program with the flags and environment of one tool.
#[derive(Debug, Clone)]
pub(crate) struct Helm {
    program: PathBuf,
    /// Its version.
    pub version: Version,
    global: Vec<String>,
    env: Vec<(String, OsString)>,
    env_remove: Vec<&'static str>,
}

/// A failed helm command: what ran and what it said.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// `helm upgrade`, ...
    pub command: String,
    /// Its error text (stderr, `Error: ` removed), or why it could not run.
    pub message: String,
}

impl Failure {
    /// Whether helm said the release does not exist.
    pub(crate) fn release_not_found(&self) -> bool {
        self.message.contains("release: not found")
            || self.message.contains("has no deployed releases")
    }

    /// The error for the step, classified by what helm said.
    pub(crate) fn into_error(self) -> PluginError {
        let text = format!("{} failed: {}", self.command, self.message);
        let m = self.message.to_lowercase();
        if self.release_not_found() {
            PluginError::not_found(text)
        } else if m.contains("kubernetes cluster unreachable")
            || m.contains("connection refused")
            || m.contains("no such host")
            || m.contains("i/o timeout")
            || m.contains("tls handshake timeout")
        {
            PluginError::unavailable(text).mark_retryable()
        } else if m.contains(" is forbidden") || m.contains("unauthorized") {
            PluginError::new(ErrorKind::PermissionDenied, text)
        } else if m.contains("another operation (install/upgrade/rollback) is in progress") {
            PluginError::conflict(format!(
                "{text}; wait for it to finish, or roll the release back with `helm rollback`"
            ))
        } else if m.contains("context deadline exceeded") || m.contains("timed out waiting") {
            PluginError::timeout(text)
        } else if m.contains("failed to fetch")
            || m.contains("looks like \"")
            || m.contains("not found in")
            || m.contains("no chart version found")
            || m.contains("no chart name found")
        {
            PluginError::not_found(text)
        } else {
            PluginError::internal(text)
        }
    }
}

/// The dtm home (`DTM_HOME`, else `~/.dtm`), where helm's private homes live.
fn dtm_home() -> PathBuf {
    if let Some(home) = std::env::var_os("DTM_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".dtm"),
        None => std::env::temp_dir().join("dtm-helm"),
    }
}

/// Finds `name` on `PATH` (a name with a `/` is a path).
fn on_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The helm program the options name: the `helm` option, else `DTM_HELM`, else `helm` on PATH.
fn locate(options: &Options, workdir: &Path) -> Result<PathBuf, PluginError> {
    let (wanted, from) = match (&options.helm, std::env::var("DTM_HELM")) {
        (Some(h), _) => (h.clone(), "the `helm` option"),
        (None, Ok(h)) if !h.trim().is_empty() => (h, "DTM_HELM"),
        _ => ("helm".to_owned(), "PATH"),
    };
    let candidate = if wanted.contains('/') {
        Some(resolve(workdir, &wanted)).filter(|p| p.is_file())
    } else {
        on_path(&wanted)
    };
    candidate.ok_or_else(|| {
        PluginError::not_found(format!(
            "the helm program `{wanted}` (from {from}) was not found: install Helm 3.8 or newer \
             (https://helm.sh/docs/intro/install/), or name the program with the tool's `helm` \
             option or the DTM_HELM environment variable"
        ))
    })
}

/// `helm version`, asked once per program per process.
fn version_of(program: &Path) -> Result<Version, PluginError> {
    static SEEN: OnceLock<Mutex<HashMap<PathBuf, Version>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if let Some(v) = seen.lock().unwrap_or_else(|p| p.into_inner()).get(program) {
        return Ok(v.clone());
    }
    let out = Command::new(program)
        .args(["version", "--template", "{{.Version}}"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| PluginError::unavailable(format!("cannot run {}: {e}", program.display())))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() {
        return Err(PluginError::unavailable(format!(
            "`{} version` failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let version = Version::parse(text.trim_start_matches('v')).map_err(|_| {
        PluginError::unavailable(format!(
            "{} does not look like helm: `helm version` printed `{text}`",
            program.display()
        ))
    })?;
    let plain = Version::new(version.major, version.minor, version.patch);
    if plain < MINIMUM {
        return Err(PluginError::unavailable(format!(
            "{} is Helm {version}, but dtm needs Helm 3.8 or newer (3.x or 4.x): install a \
             newer one (https://helm.sh/docs/intro/install/)",
            program.display()
        )));
    }
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(program.to_path_buf(), version.clone());
    Ok(version)
}

impl Helm {
    /// The helm program for `options`, checked, with the tool's connection flags.
    pub(crate) fn new(options: &Options, workdir: &Path) -> Result<Helm, PluginError> {
        let program = locate(options, workdir)?;
        let version = version_of(&program)?;
        let home = dtm_home().join("helm");
        let mut env: Vec<(String, OsString)> = ["cache", "config", "data"]
            .iter()
            .map(|d| {
                (
                    format!("HELM_{}_HOME", d.to_uppercase()),
                    home.join(d).into_os_string(),
                )
            })
            .collect();
        let mut env_remove = vec!["HELM_NAMESPACE"];
        let mut global = Vec::new();
        if options.in_cluster {
            env_remove.extend(["KUBECONFIG", "HELM_KUBECONTEXT"]);
            let host = std::env::var("KUBERNETES_SERVICE_HOST").unwrap_or_default();
            let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
            let token =
                std::fs::read_to_string(format!("{SERVICE_ACCOUNT}/token")).map_err(|e| {
                    PluginError::invalid_options(format!(
                        "inCluster: true, but the pod's service account token cannot be read: {e}"
                    ))
                })?;
            env.push((
                "HELM_KUBEAPISERVER".into(),
                format!("https://{host}:{port}").into(),
            ));
            env.push(("HELM_KUBETOKEN".into(), token.trim().into()));
            env.push((
                "HELM_KUBECAFILE".into(),
                format!("{SERVICE_ACCOUNT}/ca.crt").into(),
            ));
        } else {
            if let Some(k) = &options.kubeconfig {
                global.extend([
                    "--kubeconfig".into(),
                    resolve(workdir, k).display().to_string(),
                ]);
            }
            if let Some(c) = &options.context {
                global.extend(["--kube-context".into(), c.clone()]);
            }
        }
        Ok(Helm {
            program,
            version,
            global,
            env,
            env_remove,
        })
    }

    /// Whether this is Helm 4 (server-side apply, `--force-conflicts`).
    pub(crate) fn is_v4(&self) -> bool {
        self.version.major >= 4
    }

    /// Runs `helm ARGS` (with the global flags), feeding `stdin`; stdout on success.
    fn run(&self, args: &[String], stdin: Option<&[u8]>) -> Result<String, Failure> {
        let command = format!(
            "helm {}",
            args.iter()
                .take_while(|a| !a.starts_with('-'))
                .take(2)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        );
        let fail = |message: String| Failure {
            command: command.clone(),
            message,
        };
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .args(&self.global)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", self.program.display())))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // Helm reads `--values -` before it writes anything, so this cannot deadlock.
            pipe.write_all(input)
                .map_err(|e| fail(format!("cannot write the values to helm: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| fail(format!("waiting for helm: {e}")))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let message = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim().trim_start_matches("Error: "))
            .collect::<Vec<_>>()
            .join("; ");
        Err(fail(if message.is_empty() {
            format!("exit status {}", out.status)
        } else {
            message
        }))
    }

    fn json(&self, args: &[String]) -> Result<Value, Failure> {
        let text = self.run(args, None)?;
        serde_json::from_str(&text).map_err(|e| Failure {
            command: format!("helm {}", args.first().cloned().unwrap_or_default()),
            message: format!("printed something that is not JSON ({e}): {}", clip(&text)),
        })
    }

    /// `helm status RELEASE -n NS -o json`; `None` when there is no such release.
    pub(crate) fn status(&self, release: &str, ns: &str) -> Result<Option<Value>, PluginError> {
        match self.json(&strings(&["status", release, "-n", ns, "-o", "json"])) {
            Ok(v) => Ok(Some(v)),
            Err(f) if f.release_not_found() => Ok(None),
            Err(f) => Err(f.into_error()),
        }
    }

    /// `helm get values RELEASE -n NS -o json`: the user-supplied values (`{}` for none).
    pub(crate) fn values(&self, release: &str, ns: &str) -> Result<Value, PluginError> {
        let v = self
            .json(&strings(&[
                "get", "values", release, "-n", ns, "-o", "json",
            ]))
            .map_err(Failure::into_error)?;
        Ok(if v.is_null() {
            Value::Object(Default::default())
        } else {
            v
        })
    }

    /// The newest entry of `helm history RELEASE -n NS -o json`: revision, `chart` as
    /// `NAME-VERSION`, `app_version`, status (`helm status` leaves the chart out).
    pub(crate) fn last_revision(&self, release: &str, ns: &str) -> Result<Value, PluginError> {
        let v = self
            .json(&strings(&[
                "history", release, "-n", ns, "--max", "1", "-o", "json",
            ]))
            .map_err(Failure::into_error)?;
        Ok(v.as_array()
            .and_then(|a| a.last())
            .cloned()
            .unwrap_or(Value::Null))
    }

    /// `helm get manifest RELEASE -n NS`.
    pub(crate) fn manifest(&self, release: &str, ns: &str) -> Result<String, PluginError> {
        self.run(&strings(&["get", "manifest", release, "-n", ns]), None)
            .map_err(Failure::into_error)
    }

    /// `helm upgrade --install` of `spec` into `ns`, values on stdin; the release as JSON.
    pub(crate) fn upgrade(&self, spec: &Spec, ns: &str, instance: &str) -> Result<Value, Failure> {
        let mut args = strings(&["upgrade", &spec.release]);
        args.extend(spec.chart.args());
        args.extend(strings(&[
            "--install",
            "-n",
            ns,
            "--values",
            "-",
            "-o",
            "json",
        ]));
        args.extend(["--timeout".into(), go_seconds(spec.timeout)]);
        args.extend([
            "--description".into(),
            format!("applied by dtm ({instance})"),
        ]);
        if let Some(v) = &spec.version {
            args.extend(["--version".into(), v.clone()]);
        }
        if spec.create_namespace {
            args.push("--create-namespace".into());
        }
        if self.is_v4() && spec.force_conflicts {
            args.push("--force-conflicts".into());
        }
        let values = serde_json::to_vec(&spec.values).unwrap_or_else(|_| b"{}".to_vec());
        let text = self.run(&args, Some(&values))?;
        serde_json::from_str(&text).map_err(|e| Failure {
            command: "helm upgrade".into(),
            message: format!("printed something that is not JSON ({e}): {}", clip(&text)),
        })
    }

    /// `helm rollback RELEASE REVISION -n NS`.
    pub(crate) fn rollback(
        &self,
        release: &str,
        ns: &str,
        revision: u64,
    ) -> Result<(), PluginError> {
        self.run(
            &strings(&["rollback", release, &revision.to_string(), "-n", ns]),
            None,
        )
        .map(drop)
        .map_err(Failure::into_error)
    }

    /// `helm uninstall RELEASE -n NS`; `false` when there was no such release.
    pub(crate) fn uninstall(&self, release: &str, ns: &str) -> Result<bool, PluginError> {
        match self.run(&strings(&["uninstall", release, "-n", ns]), None) {
            Ok(_) => Ok(true),
            Err(f) if f.release_not_found() => Ok(false),
            Err(f) => Err(f.into_error()),
        }
    }

    /// `helm show crds CHART`: the chart's CustomResourceDefinitions as YAML text.
    pub(crate) fn show_crds(&self, spec: &Spec) -> Result<String, PluginError> {
        let mut args = strings(&["show", "crds"]);
        args.extend(spec.chart.args());
        if let Some(v) = &spec.version {
            args.extend(["--version".into(), v.clone()]);
        }
        self.run(&args, None).map_err(Failure::into_error)
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn clip(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_owned(),
    }
}
