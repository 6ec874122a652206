//! The plugin host: finds, loads and calls plugins (ABI v1, see `docs/plugin-abi.md`).
//!
//! A library is loaded once per process and never unloaded ([`PluginHost::load`] returns the same
//! [`LoadedPlugin`] for the same file). Calls run on plain OS threads, never inside an async task,
//! and are bounded: by a response size limit, by the tool's timeout (a call that never returns is
//! abandoned on its thread and reported as [`HostError::Timeout`]) and by the host's cancel flags.
//! A plugin that panics, speaks another ABI or answers garbage is named in a typed error; dtm
//! itself carries on.

mod loader;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dtm_plugin_protocol::{
    ABI_MAJOR, ABI_MINOR, Manifest, Operation, PluginError, Request, Response, unpack_abi_version,
};
use serde_json::Value;

use loader::{CallbackShim, RawPlugin, RawReply};

/// Default limit on a response's size.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Errors from loading or calling a plugin. Each names the plugin (file or name) and, for calls,
/// the tool instance and operation.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// No library for the plugin was found in any plugin directory.
    #[error("plugin `{name}` not found: looked for {file} in {}; build it (`cargo build --release`), point --plugin-dir at it, or run `dtm init`", crate::text::join(dirs.iter().map(|d| d.display()), ", "))]
    NotFound {
        /// The plugin, by the name configs give it.
        name: String,
        /// The file name looked for.
        file: String,
        /// Directories searched.
        dirs: Vec<PathBuf>,
    },
    /// The dynamic loader refused the library (not a library, wrong architecture, unresolved symbols).
    #[error("cannot load plugin library {}: {message}", path.display())]
    Open {
        /// Where the plugin library is on disk.
        path: PathBuf,
        /// The dynamic loader's own message.
        message: String,
    },
    /// A required ABI symbol is missing.
    #[error("{} is not a dtm plugin: it does not export `{symbol}`", path.display())]
    MissingSymbol {
        /// Where the plugin library is on disk.
        path: PathBuf,
        /// The ABI symbol the library does not export.
        symbol: &'static str,
    },
    /// The plugin was built for an ABI major this dtm does not speak.
    #[error("plugin {} speaks plugin ABI {plugin_major}.{plugin_minor}, but this dtm speaks ABI {host_major}.{host_minor}; use a build of the plugin for ABI {host_major}, or a dtm release that speaks ABI {plugin_major}", path.display())]
    AbiMismatch {
        /// Where the plugin library is on disk.
        path: PathBuf,
        /// Plugin's ABI major.
        plugin_major: u16,
        /// Plugin's ABI minor.
        plugin_minor: u16,
        /// Host's ABI major.
        host_major: u16,
        /// Host's ABI minor.
        host_minor: u16,
    },
    /// The manifest is missing, malformed or inconsistent.
    #[error("plugin {}: bad manifest: {message}", path.display())]
    BadManifest {
        /// Where the plugin library is on disk.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The library's manifest names another plugin than the one asked for.
    #[error("{} claims to be plugin `{found}`, but `{expected}` was asked for", path.display())]
    WrongPlugin {
        /// Where the plugin library is on disk.
        path: PathBuf,
        /// Name asked for.
        expected: String,
        /// Name in the manifest.
        found: String,
    },
    /// The plugin answered something that is not a valid ABI v1 response.
    #[error(
        "plugin `{plugin}` returned a malformed response to `{operation}` for {instance}: {message}"
    )]
    Malformed {
        /// The plugin, by the name configs give it.
        plugin: String,
        /// The tool instance the call was for (`name.instanceID`).
        instance: String,
        /// The plugin operation that was called (`create`, `read`, ...).
        operation: Operation,
        /// What was wrong, with an excerpt.
        message: String,
    },
    /// The response exceeded the size limit.
    #[error(
        "plugin `{plugin}` returned {size} bytes to `{operation}` for {instance}, over the {limit}-byte limit; the response was discarded"
    )]
    TooLarge {
        /// The plugin, by the name configs give it.
        plugin: String,
        /// The tool instance the call was for (`name.instanceID`).
        instance: String,
        /// The plugin operation that was called (`create`, `read`, ...).
        operation: Operation,
        /// Size of the response.
        size: usize,
        /// The largest response, in bytes, the host accepts.
        limit: usize,
    },
    /// The step did not finish within the tool's timeout.
    #[error("plugin `{plugin}` did not finish `{operation}` for {instance} within {}; the call was abandoned (raise the tool's `timeout` if it needs longer)", humanize(*after))]
    Timeout {
        /// The plugin, by the name configs give it.
        plugin: String,
        /// The tool instance the call was for (`name.instanceID`).
        instance: String,
        /// The plugin operation that was called (`create`, `read`, ...).
        operation: Operation,
        /// The timeout.
        after: Duration,
    },
    /// A long-running step was not polled again because the user interrupted; its progress data
    /// is kept and the next run resumes it.
    #[error(
        "`{operation}` for {instance} was paused by the interrupt while waiting ({message}); its progress is saved and the next run resumes it"
    )]
    Interrupted {
        /// The tool instance the call was for (`name.instanceID`).
        instance: String,
        /// The plugin operation that was called (`create`, `read`, ...).
        operation: Operation,
        /// What it was waiting for.
        message: String,
    },
    /// The host stopped waiting because the user interrupted twice.
    #[error(
        "`{operation}` for {instance} was abandoned on user interrupt; its outcome is unknown, so the tool is marked failed"
    )]
    Abandoned {
        /// The tool instance the call was for (`name.instanceID`).
        instance: String,
        /// The plugin operation that was called (`create`, `read`, ...).
        operation: Operation,
    },
    /// The plugin reported an error.
    #[error("{instance}: `{operation}` failed ({kind}{retry}): {message}", kind = error.kind, message = error.message, retry = if error.retryable { ", retryable" } else { "" })]
    Plugin {
        /// The plugin, by the name configs give it.
        plugin: String,
        /// The tool instance the call was for (`name.instanceID`).
        instance: String,
        /// The plugin operation that was called (`create`, `read`, ...).
        operation: Operation,
        /// The typed error the plugin answered with.
        error: PluginError,
    },
    /// The plugin rejected the options.
    #[error("{instance}: invalid options:\n{}", crate::text::indented_lines(problems.iter().map(ProblemLine)))]
    Invalid {
        /// The tool instance the call was for (`name.instanceID`).
        instance: String,
        /// Each invalid option, with the path to it and what is wrong.
        problems: Vec<dtm_plugin_protocol::Problem>,
    },
    /// The plugin's call failed without a JSON answer.
    #[error("plugin `{plugin}` failed `{operation}` for {instance} without an answer: {message}")]
    Failed {
        /// The plugin, by the name configs give it.
        plugin: String,
        /// The tool instance the call was for (`name.instanceID`).
        instance: String,
        /// The plugin operation that was called (`create`, `read`, ...).
        operation: Operation,
        /// Whatever text the plugin left.
        message: String,
    },
    /// The host could not start a thread for the call.
    #[error("cannot start a thread for plugin `{plugin}`")]
    Thread {
        /// The plugin, by the name configs give it.
        plugin: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// One line of a plugin's list of invalid options: `path: message`.
struct ProblemLine<'a>(&'a dtm_plugin_protocol::Problem);

impl fmt::Display for ProblemLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.0.path.is_empty() {
            "(options)"
        } else {
            &self.0.path
        };
        write!(f, "{path}: {}", self.0.message)
    }
}

impl HostError {
    /// Whether retrying the same step later might succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, HostError::Plugin { error, .. } if error.retryable)
    }
}

fn humanize(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}

/// Something a plugin reported during a call.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginEvent {
    /// A log line (level per `dtm_plugin_protocol::log_level`), secrets masked.
    Log {
        /// The log level, as ABI v1 numbers it (0 error .. 4 trace).
        level: u32,
        /// The line.
        message: String,
    },
    /// Progress of the current step.
    Progress {
        /// Percent done, if known.
        percent: Option<u8>,
        /// What is happening, secrets masked.
        message: String,
    },
    /// The step answered `pending`; `data` is what a later run resumes from.
    Pending {
        /// Opaque progress data.
        data: Value,
        /// What is being waited for.
        message: String,
    },
}

/// Receives [`PluginEvent`]s; called from plugin threads.
pub type EventSink = Arc<dyn Fn(PluginEvent) + Send + Sync>;

/// How one step is run: limits, cancellation and where events go.
#[derive(Clone)]
pub struct CallContext {
    /// Give up on the step after this long (all pending rounds together). None: wait forever.
    pub timeout: Option<Duration>,
    /// First Ctrl-C: the running call is allowed to finish, but a long-running step is not polled
    /// again; it ends with [`HostError::Interrupted`] and its progress data is kept for resuming.
    pub interrupt: Arc<AtomicBool>,
    /// Asks the plugin to stop early; the plugin sees it through the `cancelled` callback.
    pub cancel: Arc<AtomicBool>,
    /// Stop waiting for the running call altogether (second Ctrl-C): it is reported as
    /// [`HostError::Abandoned`] and left to finish, or not, on its own thread.
    pub abandon: Arc<AtomicBool>,
    /// Receives log lines, progress and pending data.
    pub events: EventSink,
    /// Clear-text secrets to mask in anything the plugin reports.
    pub secrets: Vec<String>,
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("timeout", &self.timeout)
            .field("interrupt", &self.interrupt)
            .field("cancel", &self.cancel)
            .field("abandon", &self.abandon)
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl Default for CallContext {
    fn default() -> Self {
        Self {
            timeout: None,
            interrupt: Arc::default(),
            cancel: Arc::default(),
            abandon: Arc::default(),
            events: Arc::new(|_| {}),
            secrets: Vec::new(),
        }
    }
}

impl CallContext {
    /// A context with a timeout and no event sink.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..Self::default()
        }
    }
}

/// Replaces every secret in `text` with `***`.
pub fn mask_secrets(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// The per-call callback target.
struct Shim {
    ctx: CallContext,
    call_cancel: Arc<AtomicBool>,
}

impl CallbackShim for Shim {
    fn log(&self, level: u32, message: String) {
        let message = mask_secrets(&message, &self.ctx.secrets);
        (self.ctx.events)(PluginEvent::Log { level, message });
    }
    fn progress(&self, percent: i32, message: String) {
        let percent = u8::try_from(percent).ok().filter(|p| *p <= 100);
        let message = mask_secrets(&message, &self.ctx.secrets);
        (self.ctx.events)(PluginEvent::Progress { percent, message });
    }
    fn cancelled(&self) -> bool {
        self.ctx.cancel.load(Ordering::Relaxed) || self.call_cancel.load(Ordering::Relaxed)
    }
}

/// A loaded plugin. Cheap to share; calls may run concurrently for different instances.
pub struct LoadedPlugin {
    path: PathBuf,
    manifest: Manifest,
    raw: RawPlugin,
    max_response: usize,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version)
            .finish()
    }
}

impl LoadedPlugin {
    /// The plugin's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The library file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs one step to completion: calls the plugin, and while it answers `pending`, reports the
    /// pending data (so the engine can persist it), waits the suggested delay and calls again with
    /// that data, until it is done, fails or the context's timeout passes.
    ///
    /// Returns `Done`, `Absent` (only for `read`) or `Invalid` (only for `validate`); a plugin
    /// error is `Err(HostError::Plugin)`.
    pub fn run(&self, request: &Request, ctx: &CallContext) -> Result<Response, HostError> {
        let started = Instant::now();
        let mut request = request.clone();
        loop {
            let remaining = match ctx.timeout {
                Some(t) => match t.checked_sub(started.elapsed()) {
                    Some(r) if !r.is_zero() => Some(r),
                    _ => return Err(self.timeout_error(&request, t)),
                },
                None => None,
            };
            match self.call_bounded(&request, ctx, remaining, ctx.timeout)? {
                Response::Pending {
                    pending,
                    delay_ms,
                    message,
                } => {
                    (ctx.events)(PluginEvent::Pending {
                        data: pending.clone(),
                        message: mask_secrets(&message, &ctx.secrets),
                    });
                    if ctx.abandon.load(Ordering::Relaxed) {
                        return Err(HostError::Abandoned {
                            instance: request.instance.clone(),
                            operation: request.operation,
                        });
                    }
                    if ctx.interrupt.load(Ordering::Relaxed) || ctx.cancel.load(Ordering::Relaxed) {
                        return Err(HostError::Interrupted {
                            instance: request.instance.clone(),
                            operation: request.operation,
                            message: mask_secrets(&message, &ctx.secrets),
                        });
                    }
                    let mut delay = Duration::from_millis(delay_ms.clamp(10, 60_000));
                    if let (Some(t), Some(r)) = (ctx.timeout, remaining) {
                        if delay >= r {
                            std::thread::sleep(r);
                            return Err(self.timeout_error(&request, t));
                        }
                        delay = delay.min(r);
                    }
                    sleep_unless(delay, &[&ctx.interrupt, &ctx.cancel, &ctx.abandon]);
                    request.pending = pending;
                }
                other => return Ok(other),
            }
        }
    }

    /// Makes exactly one call (no pending loop) and checks the response against the operation.
    pub fn call(&self, request: &Request, ctx: &CallContext) -> Result<Response, HostError> {
        self.call_bounded(request, ctx, ctx.timeout, ctx.timeout)
    }

    fn timeout_error(&self, request: &Request, after: Duration) -> HostError {
        HostError::Timeout {
            plugin: self.manifest.name.clone(),
            instance: request.instance.clone(),
            operation: request.operation,
            after,
        }
    }

    fn call_bounded(
        &self,
        request: &Request,
        ctx: &CallContext,
        limit: Option<Duration>,
        reported: Option<Duration>,
    ) -> Result<Response, HostError> {
        let bytes = serde_json::to_vec(request).map_err(|e| HostError::Malformed {
            plugin: self.manifest.name.clone(),
            instance: request.instance.clone(),
            operation: request.operation,
            message: format!("request could not be encoded: {e}"),
        })?;
        let call_cancel = Arc::new(AtomicBool::new(false));
        let shim = Shim {
            ctx: ctx.clone(),
            call_cancel: call_cancel.clone(),
        };
        let raw = self.raw;
        let max = self.max_response;
        let reply = match limit {
            // No timeout: call on this thread. (The executor always sets one, so a second
            // Ctrl-C can abandon its calls.)
            None => raw.call(&shim, &bytes, max),
            _ => {
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                run_detached(Box::new(move || {
                    let reply = raw.call(&shim, &bytes, max);
                    let _ = tx.send(reply);
                }))
                .map_err(|source| HostError::Thread {
                    plugin: self.manifest.name.clone(),
                    source,
                })?;
                let deadline = limit.map(|l| Instant::now() + l);
                loop {
                    let wait = match deadline {
                        Some(d) => d
                            .saturating_duration_since(Instant::now())
                            .min(Duration::from_millis(100)),
                        None => Duration::from_millis(100),
                    };
                    match rx.recv_timeout(wait) {
                        Ok(reply) => break reply,
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                            return Err(HostError::Failed {
                                plugin: self.manifest.name.clone(),
                                instance: request.instance.clone(),
                                operation: request.operation,
                                message: "the call's thread ended without an answer".into(),
                            });
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                            if ctx.abandon.load(Ordering::Relaxed) {
                                call_cancel.store(true, Ordering::Relaxed);
                                return Err(HostError::Abandoned {
                                    instance: request.instance.clone(),
                                    operation: request.operation,
                                });
                            }
                            if deadline.is_some_and(|d| Instant::now() >= d) {
                                // Ask it to stop; its thread is left to finish (or not) alone.
                                call_cancel.store(true, Ordering::Relaxed);
                                return Err(
                                    self.timeout_error(request, reported.unwrap_or_default())
                                );
                            }
                        }
                    }
                }
            }
        };
        self.decode(request, reply, &ctx.secrets)
    }

    fn decode(
        &self,
        request: &Request,
        reply: RawReply,
        secrets: &[String],
    ) -> Result<Response, HostError> {
        let plugin = || self.manifest.name.clone();
        let (code, bytes) = match reply {
            RawReply::TooLarge(size) => {
                return Err(HostError::TooLarge {
                    plugin: plugin(),
                    instance: request.instance.clone(),
                    operation: request.operation,
                    size,
                    limit: self.max_response,
                });
            }
            RawReply::Bytes(code, bytes) => (code, bytes),
        };
        if code != loader::OK {
            return Err(HostError::Failed {
                plugin: plugin(),
                instance: request.instance.clone(),
                operation: request.operation,
                message: mask_secrets(&excerpt(&bytes), secrets),
            });
        }
        let response: Response =
            serde_json::from_slice(&bytes).map_err(|e| HostError::Malformed {
                plugin: plugin(),
                instance: request.instance.clone(),
                operation: request.operation,
                message: format!(
                    "{e}; response began with: {}",
                    mask_secrets(&excerpt(&bytes), secrets)
                ),
            })?;
        let op = request.operation;
        let fits = match &response {
            Response::Done { .. } => true,
            Response::Error { .. } => true,
            Response::Absent => op == Operation::Read,
            Response::Pending { .. } => matches!(
                op,
                Operation::Create | Operation::Update | Operation::Delete
            ),
            Response::Invalid { .. } => op == Operation::Validate,
        };
        if !fits {
            return Err(HostError::Malformed {
                plugin: plugin(),
                instance: request.instance.clone(),
                operation: op,
                message: format!(
                    "`{}` is not a valid answer to `{op}`",
                    result_name(&response)
                ),
            });
        }
        match response {
            Response::Error { mut error } => {
                error.message = mask_secrets(&error.message, secrets);
                Err(HostError::Plugin {
                    plugin: plugin(),
                    instance: request.instance.clone(),
                    operation: op,
                    error,
                })
            }
            other => Ok(other),
        }
    }
}

fn result_name(r: &Response) -> &'static str {
    match r {
        Response::Done { .. } => "done",
        Response::Absent => "absent",
        Response::Pending { .. } => "pending",
        Response::Invalid { .. } => "invalid",
        Response::Error { .. } => "error",
    }
}

/// The first 200 characters of a byte string, for error messages.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(400)]);
    let mut s: String = text.chars().take(200).collect();
    if bytes.len() > s.len() {
        s.push('…');
    }
    if s.is_empty() { "(empty)".into() } else { s }
}

fn sleep_unless(total: Duration, flags: &[&AtomicBool]) {
    let end = Instant::now() + total;
    while !flags.iter().any(|f| f.load(Ordering::Relaxed)) {
        let now = Instant::now();
        if now >= end {
            break;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Work for a call thread.
type Task = Box<dyn FnOnce() + Send>;

/// Call threads waiting for work. A thread goes back on this list after each call; one whose call
/// never returns (a hung plugin, abandoned on timeout) never does, and new threads replace it.
/// Reusing threads keeps a run of thousands of short calls from paying a thread start each.
fn idle_call_threads() -> &'static Mutex<Vec<std::sync::mpsc::Sender<Task>>> {
    static IDLE: OnceLock<Mutex<Vec<std::sync::mpsc::Sender<Task>>>> = OnceLock::new();
    IDLE.get_or_init(Mutex::default)
}

/// Runs `task` on an idle call thread, or a new one.
fn run_detached(mut task: Task) -> std::io::Result<()> {
    loop {
        let next = idle_call_threads()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let Some(tx) = next else { break };
        match tx.send(task) {
            Ok(()) => return Ok(()),
            Err(std::sync::mpsc::SendError(t)) => task = t,
        }
    }
    let (tx, rx) = std::sync::mpsc::channel::<Task>();
    std::thread::Builder::new()
        .name("dtm-plugin-call".into())
        .spawn(move || {
            let mut next = Some(task);
            while let Some(task) = next.take() {
                task();
                idle_call_threads()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(tx.clone());
                next = rx.recv().ok();
            }
        })
        .map(|_| ())
}

/// The process-wide table of loaded libraries, keyed by canonical path.
fn loaded() -> &'static Mutex<HashMap<PathBuf, Arc<LoadedPlugin>>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<LoadedPlugin>>>> = OnceLock::new();
    LOADED.get_or_init(Mutex::default)
}

/// Loads plugins. All hosts in a process share one table of loaded libraries.
#[derive(Debug, Clone)]
pub struct PluginHost {
    max_response: usize,
}

impl Default for PluginHost {
    fn default() -> Self {
        Self {
            max_response: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// The file name a plugin's library has: what cargo builds for crate `dtm-plugin-<name>`.
pub fn library_file_name(name: &str) -> String {
    let stem = format!("dtm_plugin_{}", name.replace('-', "_"));
    if cfg!(target_os = "windows") {
        format!("{stem}.dll")
    } else if cfg!(target_os = "macos") {
        format!("lib{stem}.dylib")
    } else {
        format!("lib{stem}.so")
    }
}

impl PluginHost {
    /// A host with a custom response size limit.
    pub fn with_max_response(max_response: usize) -> Self {
        Self { max_response }
    }

    /// Finds plugin `name` in the first directory of `dirs` that has its library, and loads it.
    pub fn load_named(&self, name: &str, dirs: &[PathBuf]) -> Result<Arc<LoadedPlugin>, HostError> {
        let file = library_file_name(name);
        let path = dirs
            .iter()
            .map(|d| d.join(&file))
            .find(|p| p.is_file())
            .ok_or_else(|| HostError::NotFound {
                name: name.to_string(),
                file: file.clone(),
                dirs: dirs.to_vec(),
            })?;
        let plugin = self.load(&path)?;
        if plugin.manifest.name != name {
            return Err(HostError::WrongPlugin {
                path,
                expected: name.to_string(),
                found: plugin.manifest.name.clone(),
            });
        }
        Ok(plugin)
    }

    /// Loads the library at `path` (once per process), checks its ABI version and manifest.
    pub fn load(&self, path: &Path) -> Result<Arc<LoadedPlugin>, HostError> {
        let key = path.canonicalize().map_err(|e| HostError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        // Held across the load so two threads never open the same library twice.
        let mut table = loaded().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = table.get(&key) {
            return Ok(p.clone());
        }
        let raw =
            loader::open(&key, |v| unpack_abi_version(v).0 == ABI_MAJOR).map_err(|e| match e {
                loader::OpenError::Open(message) => HostError::Open {
                    path: key.clone(),
                    message,
                },
                loader::OpenError::MissingSymbol(symbol) => HostError::MissingSymbol {
                    path: key.clone(),
                    symbol,
                },
                loader::OpenError::Abi(v) => {
                    let (plugin_major, plugin_minor) = unpack_abi_version(v);
                    HostError::AbiMismatch {
                        path: key.clone(),
                        plugin_major,
                        plugin_minor,
                        host_major: ABI_MAJOR,
                        host_minor: ABI_MINOR,
                    }
                }
            })?;
        let manifest = read_manifest(&key, raw, self.max_response)?;
        let plugin = Arc::new(LoadedPlugin {
            path: key.clone(),
            manifest,
            raw,
            max_response: self.max_response,
        });
        table.insert(key, plugin.clone());
        Ok(plugin)
    }
}

fn read_manifest(path: &Path, raw: RawPlugin, max: usize) -> Result<Manifest, HostError> {
    let bad = |message: String| HostError::BadManifest {
        path: path.to_path_buf(),
        message,
    };
    let bytes = match raw.manifest(max) {
        RawReply::TooLarge(n) => return Err(bad(format!("{n} bytes, over the {max}-byte limit"))),
        RawReply::Bytes(code, bytes) if code != loader::OK => {
            return Err(bad(format!(
                "dtm_plugin_manifest failed: {}",
                excerpt(&bytes)
            )));
        }
        RawReply::Bytes(_, bytes) => bytes,
    };
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("{e}; it began with: {}", excerpt(&bytes))))?;
    let (major, _) = unpack_abi_version(manifest.abi_version);
    if major != ABI_MAJOR {
        return Err(bad(format!(
            "manifest says ABI major {major}, the version symbol said {ABI_MAJOR}"
        )));
    }
    if !crate::names::is_dns1123_label(&manifest.name) {
        return Err(bad(format!(
            "name `{}` is not a lower-case DNS-1123 label",
            manifest.name
        )));
    }
    if semver::Version::parse(&manifest.version).is_err() {
        return Err(bad(format!("version `{}` is not semver", manifest.version)));
    }
    Ok(manifest)
}

/// Builds a request for one operation.
pub fn request(
    operation: Operation,
    instance: &str,
    options: Value,
    status: Value,
    outputs: BTreeMap<String, Value>,
    pending: Value,
    workdir: &Path,
) -> Request {
    Request {
        abi_version: dtm_plugin_protocol::ABI_VERSION,
        operation,
        instance: instance.to_string(),
        options,
        status,
        outputs,
        pending,
        // The ABI promises an absolute directory; `-f conf/dtm.yaml` gives a relative one.
        workdir: std::path::absolute(workdir)
            .unwrap_or_else(|_| workdir.to_path_buf())
            .display()
            .to_string(),
    }
}
