//! The executor: walks the plan's dependency graph with N workers.
//!
//! One coordinator (the calling thread) owns the state. Workers run plugin steps and report back;
//! the coordinator applies each result to the state and saves it before it schedules anything that
//! depends on that result, so every completed change is durable before its dependents start.
//! Results that arrive together are saved together (one write per batch, not per tool).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dtm_plugin_protocol::{Operation, Request, Response};
use serde::Serialize;
use serde_json::Value;

use crate::config::{Config, Tool};
use crate::plan::{Action, Change, Plan, Reason};
use crate::plugin::{CallContext, HostError, LoadedPlugin, PluginEvent, request};
use crate::state::{Lifecycle, PendingStep, Resource, RestoreError, State, now_rfc3339};
use crate::store::StateStore;
use crate::workspace::EnvLookup;

/// Something that happened during execution, for progress display.
#[derive(Debug, Clone)]
pub enum ExecEvent {
    /// A step started.
    Started {
        /// Tool key.
        key: String,
        /// Action.
        action: Action,
    },
    /// A plugin reported something.
    Plugin {
        /// Tool key.
        key: String,
        /// What.
        event: PluginEvent,
    },
    /// A step completed.
    Done {
        /// Tool key.
        key: String,
        /// Action.
        action: Action,
        /// How long it took.
        elapsed: Duration,
    },
    /// A step failed.
    Failed {
        /// Tool key.
        key: String,
        /// Action.
        action: Action,
        /// The error.
        error: String,
    },
    /// A long-running step was left pending by an interrupt; the next run resumes it.
    Paused {
        /// Tool key.
        key: String,
        /// Action.
        action: Action,
        /// What it was waiting for, and that it will resume.
        message: String,
    },
    /// Something the user should know about a step that still runs.
    Warning {
        /// Tool key.
        key: String,
        /// What.
        message: String,
    },
    /// A step was not run.
    Skipped {
        /// Tool key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// Receives [`ExecEvent`]s; called from the coordinator and worker threads.
pub type ExecSink = Arc<dyn Fn(ExecEvent) + Send + Sync>;

/// How to execute.
#[derive(Clone)]
pub struct ExecOptions {
    /// Workers.
    pub parallelism: usize,
    /// Stop scheduling; let running steps finish (first Ctrl-C, or a fatal error).
    pub interrupt: Arc<AtomicBool>,
    /// Ask running steps to stop and stop waiting for them (second Ctrl-C).
    pub abandon: Arc<AtomicBool>,
    /// Step timeout for tools without their own.
    pub default_timeout: Duration,
    /// Directory relative paths in options are resolved against.
    pub workdir: PathBuf,
    /// Progress sink.
    pub events: ExecSink,
}

impl std::fmt::Debug for ExecOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecOptions")
            .field("parallelism", &self.parallelism)
            .finish_non_exhaustive()
    }
}

/// What happened to one tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolResult {
    /// Tool key.
    pub key: String,
    /// Planned action.
    pub action: Action,
    /// `done`, `unchanged`, `failed`, `paused` (left pending by an interrupt), `skipped`.
    pub result: String,
    /// Error or skip reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Duration of the step in milliseconds, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
}

/// The result of executing a plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Per tool, in the order they finished.
    pub results: Vec<ToolResult>,
    /// Whether the run was interrupted.
    pub interrupted: bool,
    /// A failure that stopped the whole run (state could not be saved).
    pub fatal: Option<String>,
}

impl Outcome {
    /// Results with the given result word.
    pub fn with_result<'a>(&'a self, result: &'a str) -> impl Iterator<Item = &'a ToolResult> + 'a {
        self.results.iter().filter(move |r| r.result == result)
    }

    /// Whether everything that was planned succeeded.
    pub fn success(&self) -> bool {
        !self.interrupted
            && self.fatal.is_none()
            && self
                .results
                .iter()
                .all(|r| r.result == "done" || r.result == "unchanged")
    }
}

/// What the executor needs besides the plan and the state.
#[derive(Debug)]
pub struct ExecInput<'a> {
    /// The config (tools' options, secrets, timeouts).
    pub config: &'a Config,
    /// Loaded plugins by name.
    pub plugins: &'a HashMap<String, Arc<LoadedPlugin>>,
    /// Environment variables, to rebuild the secrets of tools no longer in the config.
    pub env: &'a EnvLookup,
}

struct Job {
    idx: usize,
    plugin: Arc<LoadedPlugin>,
    request: Request,
    ctx: CallContext,
}

enum Msg {
    Pending {
        idx: usize,
        data: Value,
        message: String,
    },
    Finished {
        idx: usize,
        result: Result<Response, HostError>,
        elapsed: Duration,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NodeState {
    Waiting,
    Running,
    Finished,
    Failed,
    Skipped,
}

/// Executes `plan` against `store`, saving after every batch of completed steps.
pub fn execute(
    plan: &Plan,
    input: &ExecInput<'_>,
    store: &mut StateStore,
    opts: &ExecOptions,
) -> Outcome {
    let changes: Vec<&Change> = plan.changes.iter().collect();
    let n = changes.len();
    let index: HashMap<&str, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.key.as_str(), i))
        .collect();
    let tools: HashMap<String, &Tool> = input.config.tools.iter().map(|t| (t.key(), t)).collect();

    // Edges: deps[i] = nodes i waits for.
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, c) in changes.iter().enumerate() {
        match c.action {
            Action::Delete => {
                // What this delete depends on must wait for it: dependents are deleted first.
                for d in &c.depends_on {
                    if let Some(&j) = index.get(d.as_str())
                        && changes[j].action == Action::Delete
                    {
                        deps[j].push(i);
                    }
                }
            }
            _ => {
                for d in &c.depends_on {
                    if let Some(&j) = index.get(d.as_str())
                        && changes[j].action != Action::Delete
                    {
                        deps[i].push(j);
                    }
                }
            }
        }
    }
    let mut remaining: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let deletes_total = changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .count();
    let mut deletes_left = deletes_total;

    let mut node = vec![NodeState::Waiting; n];
    let mut outcome = Outcome::default();
    let mut ready: std::collections::VecDeque<usize> =
        (0..n).filter(|&i| remaining[i] == 0).collect();
    let mut running = 0usize;
    let mut started_at: Vec<Option<Instant>> = vec![None; n];

    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (msg_tx, msg_rx) = mpsc::channel::<Msg>();
    let workers = opts.parallelism.max(1).min(n.max(1));

    std::thread::scope(|scope| {
        for w in 0..workers {
            let job_rx = job_rx.clone();
            let msg_tx = msg_tx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("dtm-worker-{w}"))
                .spawn_scoped(scope, move || {
                    loop {
                        let job = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        let t = Instant::now();
                        let result = job.plugin.run(&job.request, &job.ctx);
                        let _ = msg_tx.send(Msg::Finished {
                            idx: job.idx,
                            result,
                            elapsed: t.elapsed(),
                        });
                    }
                });
            if spawned.is_err() && w == 0 {
                outcome.fatal = Some("cannot start worker threads".into());
                return;
            }
        }

        let mut finished_batch: Vec<(usize, bool)> = Vec::new();
        // Keys whose state entry changed since the last save.
        let mut dirty: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        loop {
            // Schedule.
            let stopping = opts.interrupt.load(Ordering::Relaxed) || outcome.fatal.is_some();
            if !stopping {
                let mut deferred = Vec::new();
                while let Some(i) = ready.pop_front() {
                    let c = changes[i];
                    // Deletes run first; creates and updates wait until every delete is over.
                    if c.action != Action::Delete && deletes_left > 0 {
                        deferred.push(i);
                        continue;
                    }
                    match prepare(c, i, &tools, input, store, opts, &msg_tx) {
                        Prepared::Job(job) => {
                            (opts.events)(ExecEvent::Started {
                                key: c.key.clone(),
                                action: c.action,
                            });
                            node[i] = NodeState::Running;
                            started_at[i] = Some(Instant::now());
                            running += 1;
                            if job_tx.send(*job).is_err() {
                                outcome.fatal = Some("worker threads ended unexpectedly".into());
                                break;
                            }
                        }
                        Prepared::Unchanged => {
                            node[i] = NodeState::Finished;
                            // A delete of something already gone only forgets the record
                            // (plan() makes those no-ops with the reason `Absent`).
                            let forgotten = c.action == Action::NoOp
                                && c.reasons.contains(&Reason::Absent)
                                && store.state.resources.remove(&c.key).is_some();
                            if forgotten {
                                dirty.insert(c.key.clone());
                            }
                            outcome.results.push(ToolResult {
                                key: c.key.clone(),
                                action: c.action,
                                result: "unchanged".into(),
                                message: forgotten
                                    .then(|| "already gone: removed from state".to_owned()),
                                elapsed_ms: None,
                            });
                            finished_batch.push((i, true));
                        }
                        Prepared::Fail(error) => {
                            node[i] = NodeState::Failed;
                            (opts.events)(ExecEvent::Failed {
                                key: c.key.clone(),
                                action: c.action,
                                error: error.clone(),
                            });
                            if store.state.resources.contains_key(&c.key) {
                                record_failure(store, c, &tools, input, &error, false);
                                dirty.insert(c.key.clone());
                            }
                            outcome.results.push(ToolResult {
                                key: c.key.clone(),
                                action: c.action,
                                result: "failed".into(),
                                message: Some(error),
                                elapsed_ms: None,
                            });
                            finished_batch.push((i, false));
                        }
                    }
                }
                ready.extend(deferred);
            }

            if finished_batch.is_empty() {
                if running == 0 {
                    break;
                }
                // Wait for at least one message, then drain what else arrived.
                let mut msgs = Vec::new();
                match msg_rx.recv() {
                    Ok(m) => msgs.push(m),
                    Err(_) => break,
                }
                while let Ok(m) = msg_rx.try_recv() {
                    msgs.push(m);
                }
                for m in msgs {
                    match m {
                        Msg::Pending { idx, data, message } => {
                            record_pending(store, changes[idx], &tools, input, data, message);
                            dirty.insert(changes[idx].key.clone());
                        }
                        Msg::Finished {
                            idx,
                            result,
                            elapsed,
                        } => {
                            running -= 1;
                            let c = changes[idx];
                            dirty.insert(c.key.clone());
                            match apply_result(store, c, &tools, input, result) {
                                Ok(()) => {
                                    node[idx] = NodeState::Finished;
                                    (opts.events)(ExecEvent::Done {
                                        key: c.key.clone(),
                                        action: c.action,
                                        elapsed,
                                    });
                                    outcome.results.push(ToolResult {
                                        key: c.key.clone(),
                                        action: c.action,
                                        result: "done".into(),
                                        message: None,
                                        elapsed_ms: Some(elapsed.as_millis() as u64),
                                    });
                                    finished_batch.push((idx, true));
                                }
                                Err(error) => {
                                    // A paused step is not finished either: its dependents
                                    // wait for a later run.
                                    node[idx] = NodeState::Failed;
                                    let (result, message) = match error {
                                        StepError::Paused(message) => {
                                            (opts.events)(ExecEvent::Paused {
                                                key: c.key.clone(),
                                                action: c.action,
                                                message: message.clone(),
                                            });
                                            ("paused", message)
                                        }
                                        StepError::Failed(error) => {
                                            (opts.events)(ExecEvent::Failed {
                                                key: c.key.clone(),
                                                action: c.action,
                                                error: error.clone(),
                                            });
                                            ("failed", error)
                                        }
                                    };
                                    outcome.results.push(ToolResult {
                                        key: c.key.clone(),
                                        action: c.action,
                                        result: result.into(),
                                        message: Some(message),
                                        elapsed_ms: Some(elapsed.as_millis() as u64),
                                    });
                                    finished_batch.push((idx, false));
                                }
                            }
                        }
                    }
                }
            }

            // Persist before releasing dependents.
            if !dirty.is_empty() {
                if let Err(e) = store.save_changes(&dirty) {
                    outcome.fatal = Some(format!("cannot save state: {e}"));
                    opts.interrupt.store(true, Ordering::Relaxed);
                }
                dirty.clear();
            }
            for (i, ok) in std::mem::take(&mut finished_batch) {
                if changes[i].action == Action::Delete {
                    deletes_left -= 1;
                }
                if ok {
                    for &j in &dependents[i] {
                        remaining[j] -= 1;
                        if remaining[j] == 0 && node[j] == NodeState::Waiting {
                            ready.push_back(j);
                        }
                    }
                } else {
                    skip_dependents(
                        i,
                        &changes,
                        &dependents,
                        &mut node,
                        &mut outcome,
                        opts,
                        &mut deletes_left,
                    );
                }
            }
            if opts.interrupt.load(Ordering::Relaxed) && running == 0 {
                break;
            }
        }
        drop(job_tx);
    });

    if outcome.fatal.is_none()
        && let Err(e) = store.compact()
    {
        outcome.fatal = Some(format!("cannot save state: {e}"));
    }
    if opts.interrupt.load(Ordering::Relaxed) && outcome.fatal.is_none() {
        outcome.interrupted = true;
    }
    for (i, c) in changes.iter().enumerate() {
        if node[i] == NodeState::Waiting {
            let reason = if outcome.fatal.is_some() {
                "the run stopped: state could not be saved"
            } else {
                "interrupted"
            };
            (opts.events)(ExecEvent::Skipped {
                key: c.key.clone(),
                reason: reason.into(),
            });
            outcome.results.push(ToolResult {
                key: c.key.clone(),
                action: c.action,
                result: "skipped".into(),
                message: Some(reason.into()),
                elapsed_ms: None,
            });
        }
    }
    outcome
}

fn skip_dependents(
    failed: usize,
    changes: &[&Change],
    dependents: &[Vec<usize>],
    node: &mut [NodeState],
    outcome: &mut Outcome,
    opts: &ExecOptions,
    deletes_left: &mut usize,
) {
    let mut stack = vec![(failed, changes[failed].key.clone())];
    while let Some((i, cause)) = stack.pop() {
        for &j in &dependents[i] {
            if node[j] != NodeState::Waiting {
                continue;
            }
            node[j] = NodeState::Skipped;
            if changes[j].action == Action::Delete {
                *deletes_left -= 1;
            }
            let reason = if changes[failed].action == Action::Delete {
                format!("not deleted: {cause} depends on it and could not be deleted")
            } else {
                format!("dependency {cause} failed")
            };
            (opts.events)(ExecEvent::Skipped {
                key: changes[j].key.clone(),
                reason: reason.clone(),
            });
            outcome.results.push(ToolResult {
                key: changes[j].key.clone(),
                action: changes[j].action,
                result: "skipped".into(),
                message: Some(reason),
                elapsed_ms: None,
            });
            stack.push((j, changes[failed].key.clone()));
        }
    }
}

enum Prepared {
    Job(Box<Job>),
    Unchanged,
    Fail(String),
}

fn prepare(
    c: &Change,
    idx: usize,
    tools: &HashMap<String, &Tool>,
    input: &ExecInput<'_>,
    store: &StateStore,
    opts: &ExecOptions,
    msg_tx: &mpsc::Sender<Msg>,
) -> Prepared {
    let Some(op) = c.action.operation() else {
        return Prepared::Unchanged;
    };
    let Some(plugin) = input.plugins.get(&c.plugin) else {
        return Prepared::Fail(format!("plugin `{}` is not loaded", c.plugin));
    };
    let recorded = store.state.resources.get(&c.key);
    let tool = tools.get(&c.key).copied();
    let mut warnings = Vec::new();
    let (options, secrets) = match (tool, recorded) {
        (Some(tool), _) => match crate::plan::resolve_in_state(tool, &store.state) {
            Ok(v) => (v, tool.secret_values.clone()),
            Err(error) => return Prepared::Fail(error.to_string()),
        },
        // No longer in the config (an orphan, or `destroy`): the recorded options, with the
        // secrets rebuilt from the variables they came from.
        (None, Some(r)) => match store.state.restore(&r.options, &|name| input.env.get(name)) {
            Ok(restored) => {
                for (option, vars) in &restored.changed {
                    let (variable, holds) = if vars.len() == 1 {
                        ("variable", "holds")
                    } else {
                        ("variables", "hold")
                    };
                    let vars = vars
                        .iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    warnings.push(format!(
                        "option `{option}`: environment {variable} {vars} now {holds} another value than the one {} was applied with; using the current value",
                        c.key
                    ));
                }
                for option in &restored.unsourced {
                    warnings.push(format!(
                        "option `{option}` is a secret recorded by an older dtm, without the variable it came from: the plugin gets its keyed hash, not the value"
                    ));
                }
                (restored.options, restored.secrets)
            }
            Err(e) => return Prepared::Fail(missing_secrets(&c.key, &e)),
        },
        (None, None) => (Value::Null, Vec::new()),
    };
    // An update planned only because an upstream might change its outputs is a no-op if the
    // inputs turned out the same.
    if op == Operation::Update
        && c.reasons
            .iter()
            .all(|r| matches!(r, Reason::UpstreamChanges(_)))
        && let (Some(tool), Some(rec)) = (tool, recorded)
        && store.state.options_match(
            &rec.options,
            &store.state.redact(&options, &tool.secret_sources),
        )
    {
        return Prepared::Unchanged;
    }
    for message in warnings {
        (opts.events)(ExecEvent::Warning {
            key: c.key.clone(),
            message,
        });
    }
    let pending = c
        .resume
        .as_ref()
        .filter(|p| p.operation == op)
        .map(|p| p.data.clone())
        .or_else(|| {
            recorded
                .and_then(|r| r.pending.as_ref())
                .filter(|p| p.operation == op)
                .map(|p| p.data.clone())
        })
        .unwrap_or(Value::Null);
    let request = request(
        op,
        &c.key,
        options,
        recorded.map(|r| r.status.clone()).unwrap_or(Value::Null),
        recorded.map(|r| r.outputs.clone()).unwrap_or_default(),
        pending,
        &opts.workdir,
    );
    let key = c.key.clone();
    let events = opts.events.clone();
    let tx = msg_tx.clone();
    let ctx = CallContext {
        timeout: Some(tool.and_then(|t| t.timeout).unwrap_or(opts.default_timeout)),
        interrupt: opts.interrupt.clone(),
        cancel: opts.abandon.clone(),
        abandon: opts.abandon.clone(),
        events: Arc::new(move |event: PluginEvent| {
            if let PluginEvent::Pending { data, message } = &event {
                let _ = tx.send(Msg::Pending {
                    idx,
                    data: data.clone(),
                    message: message.clone(),
                });
            }
            events(ExecEvent::Plugin {
                key: key.clone(),
                event,
            });
        }),
        secrets,
    };
    Prepared::Job(Box::new(Job {
        idx,
        plugin: plugin.clone(),
        request,
        ctx,
    }))
}

/// The error of a step on a tool no longer in the config whose secrets cannot be rebuilt.
fn missing_secrets(key: &str, e: &RestoreError) -> String {
    let RestoreError::NotSet(missing) = e;
    let (them, values) = if missing.len() == 1 {
        ("it", "the value")
    } else {
        ("them", "the values")
    };
    format!(
        "{key} is no longer in the config, and state keeps only keyed hashes of its secrets: {e}. Set {them} to {values} {key} was applied with (or the current one, if rotated) and run again"
    )
}

/// Brings the recorded secrets of tools whose options are unchanged up to date with where the
/// config says they come from, without calling any plugin: a record written by format version 1
/// gains the variables its secrets come from, a renamed variable is recorded under its new name,
/// a secret recorded in clear (a typed one, before format version 2) is replaced by its hash.
/// Returns the keys changed, to be saved. `apply` runs it, so that a tool removed from the config
/// later can be deleted with its secrets.
pub fn record_secret_sources(config: &Config, state: &mut State) -> Vec<String> {
    let mut updates = Vec::new();
    for tool in &config.tools {
        if tool.secret_sources.is_empty() {
            continue;
        }
        let key = tool.key();
        let Some(rec) = state.resources.get(&key) else {
            continue;
        };
        if rec.lifecycle != Lifecycle::Completed || rec.pending.is_some() {
            continue;
        }
        let Ok(resolved) = crate::plan::resolve_in_state(tool, state) else {
            continue;
        };
        let desired = state.redact(&resolved, &tool.secret_sources);
        if desired != rec.options && state.options_match(&rec.options, &desired) {
            updates.push((key, desired));
        }
    }
    let mut keys = Vec::with_capacity(updates.len());
    for (key, options) in updates {
        if let Some(r) = state.resources.get_mut(&key) {
            r.options = options;
            keys.push(key);
        }
    }
    keys
}

/// Creates or fetches the state entry for a change.
fn entry<'s>(
    store: &'s mut StateStore,
    c: &Change,
    tools: &HashMap<String, &Tool>,
    input: &ExecInput<'_>,
) -> &'s mut Resource {
    let now = now_rfc3339();
    let version = input
        .plugins
        .get(&c.plugin)
        .map(|p| p.manifest().version.clone())
        .unwrap_or_default();
    let tool = tools.get(&c.key).copied();
    store
        .state
        .resources
        .entry(c.key.clone())
        .or_insert_with(|| Resource {
            plugin: c.plugin.clone(),
            instance_id: tool.map(|t| t.instance_id.clone()).unwrap_or_else(|| {
                c.key
                    .split_once('.')
                    .map(|(_, i)| i.to_string())
                    .unwrap_or_default()
            }),
            plugin_version: version,
            depends_on: c.depends_on.clone(),
            options: Value::Null,
            status: Value::Null,
            outputs: BTreeMap::new(),
            lifecycle: Lifecycle::Pending,
            pending: None,
            last_error: None,
            created: now.clone(),
            updated: now,
            history: Vec::new(),
        })
}

fn record_pending(
    store: &mut StateStore,
    c: &Change,
    tools: &HashMap<String, &Tool>,
    input: &ExecInput<'_>,
    data: Value,
    message: String,
) {
    let Some(op) = c.action.operation() else {
        return;
    };
    let now = now_rfc3339();
    let r = entry(store, c, tools, input);
    let since = r
        .pending
        .as_ref()
        .filter(|p| p.operation == op)
        .map(|p| p.since.clone())
        .unwrap_or_else(|| now.clone());
    r.lifecycle = Lifecycle::Pending;
    r.pending = Some(PendingStep {
        operation: op,
        data,
        message,
        since,
    });
    r.updated = now;
}

/// Why a step did not complete.
enum StepError {
    /// It failed; the message says why.
    Failed(String),
    /// An interrupt left it pending; the next run resumes it.
    Paused(String),
}

/// A step an interrupt left pending: still pending (the next plan resumes it), not failed.
fn record_paused(
    store: &mut StateStore,
    c: &Change,
    tools: &HashMap<String, &Tool>,
    input: &ExecInput<'_>,
    message: &str,
) {
    let now = now_rfc3339();
    let r = entry(store, c, tools, input);
    r.lifecycle = Lifecycle::Pending;
    r.updated = now.clone();
    r.record(c.action.as_str(), format!("paused: {message}"), &now);
}

fn record_failure(
    store: &mut StateStore,
    c: &Change,
    tools: &HashMap<String, &Tool>,
    input: &ExecInput<'_>,
    error: &str,
    keep_pending: bool,
) {
    let now = now_rfc3339();
    let r = entry(store, c, tools, input);
    r.lifecycle = Lifecycle::Failed;
    r.last_error = Some(error.to_string());
    if !keep_pending {
        r.pending = None;
    }
    r.updated = now.clone();
    r.record(c.action.as_str(), format!("failed: {error}"), &now);
}

fn apply_result(
    store: &mut StateStore,
    c: &Change,
    tools: &HashMap<String, &Tool>,
    input: &ExecInput<'_>,
    result: Result<Response, HostError>,
) -> Result<(), StepError> {
    let now = now_rfc3339();
    match result {
        Ok(Response::Done { status, outputs }) => {
            if c.action == Action::Delete {
                store.state.resources.remove(&c.key);
                return Ok(());
            }
            let tool = tools.get(&c.key).copied();
            let options = match tool {
                Some(t) => {
                    let resolved = crate::plan::resolve_from_state(t, &store.state).0;
                    store.state.redact(&resolved, &t.secret_sources)
                }
                None => Value::Null,
            };
            let version = input
                .plugins
                .get(&c.plugin)
                .map(|p| p.manifest().version.clone())
                .unwrap_or_default();
            let r = entry(store, c, tools, input);
            r.options = options;
            r.status = status;
            r.outputs = outputs;
            r.lifecycle = Lifecycle::Completed;
            r.pending = None;
            r.last_error = None;
            r.plugin_version = version;
            r.depends_on = c.depends_on.clone();
            r.updated = now.clone();
            r.record(c.action.as_str(), "ok".into(), &now);
            Ok(())
        }
        Ok(other) => {
            // The host only lets `absent`, `pending` and `invalid` through where they are valid,
            // so this is a `validate`/`read`-only answer to a create, update or delete.
            let kind = match other {
                Response::Absent => "absent",
                Response::Invalid { .. } => "invalid",
                Response::Pending { .. } => "pending",
                Response::Done { .. } | Response::Error { .. } => "unexpected",
            };
            let error = format!("the plugin answered `{kind}` to `{}`", c.action.as_str());
            record_failure(store, c, tools, input, &error, false);
            Err(StepError::Failed(error))
        }
        Err(e) => {
            // A timed-out or abandoned long-running step keeps its progress data: the next run resumes it.
            let error = e.to_string();
            if matches!(e, HostError::Interrupted { .. }) {
                record_paused(store, c, tools, input, &error);
                return Err(StepError::Paused(error));
            }
            let keep = matches!(e, HostError::Timeout { .. } | HostError::Abandoned { .. });
            record_failure(store, c, tools, input, &error, keep);
            Err(StepError::Failed(error))
        }
    }
}
