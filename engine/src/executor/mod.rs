//! The executor: walks the plan's dependency graph with N workers.
//!
//! Where a step goes, for a reader new to this module:
//! - [`execute`] builds the [`DependencyQueue`] over the plan, starts the workers and hands over
//!   to `Run::drain`, the main loop: schedule what is ready, wait for results, handle them,
//!   persist and release dependents.
//! - A step is **scheduled** in `Run::spawn_work_if_possible`: deletes first, then creates and
//!   updates; `step::prepare` resolves its options and builds the plugin request (or decides
//!   that nothing needs doing).
//! - It **runs** on a worker thread (`work`), which calls the plugin and sends the answer back.
//! - It is **recorded** in `Run::handle_event`, which hands the answer to the `Ledger` (the
//!   run's view of the state: one place that writes resource entries), and made durable in
//!   `Run::persist_and_release`, which saves the state before anything that depends on the step
//!   is released. Results that arrive together are saved together (one write per batch).
//!
//! One coordinator (the calling thread) owns the state; workers only call plugins.

mod ledger;
mod step;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dtm_plugin_protocol::{Request, Response};
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::graph::{DepGraph, DependencyQueue};
use crate::plan::{Action, Change, Plan, Reason};
use crate::plugin::{CallContext, HostError, LoadedPlugin, PluginEvent};
use crate::state::{Lifecycle, State};
use crate::store::StateStore;
use crate::text::Chain;
use crate::workspace::EnvLookup;

use ledger::{Ledger, StepError};
use step::Prepared;

/// Something that happened during execution, for progress display.
#[derive(Debug, Clone)]
pub enum ExecEvent {
    /// A step started.
    Started {
        /// The tool instance, as `name.instanceID`.
        key: String,
        /// What the plan does to the tool.
        action: Action,
    },
    /// A plugin reported something.
    Plugin {
        /// The tool instance, as `name.instanceID`.
        key: String,
        /// What the plugin reported: a log line, progress, a pending step.
        event: PluginEvent,
    },
    /// A step completed.
    Done {
        /// The tool instance, as `name.instanceID`.
        key: String,
        /// What the plan does to the tool.
        action: Action,
        /// How long it took.
        elapsed: Duration,
    },
    /// A step failed.
    Failed {
        /// The tool instance, as `name.instanceID`.
        key: String,
        /// What the plan does to the tool.
        action: Action,
        /// The error, with its causes.
        error: String,
    },
    /// A long-running step was left pending by an interrupt; the next run resumes it.
    Paused {
        /// The tool instance, as `name.instanceID`.
        key: String,
        /// What the plan does to the tool.
        action: Action,
        /// What it was waiting for, and that it will resume.
        message: String,
    },
    /// Something the user should know about a step that still runs.
    Warning {
        /// The tool instance, as `name.instanceID`.
        key: String,
        /// What the user should know, in a sentence.
        message: String,
    },
    /// A step was not run.
    Skipped {
        /// The tool instance, as `name.instanceID`.
        key: String,
        /// Why it was not run: the dependency that failed, or the interrupt.
        reason: String,
    },
}

/// Receives [`ExecEvent`]s; called from the coordinator and worker threads.
pub type ExecSink = Arc<dyn Fn(ExecEvent) + Send + Sync>;

/// How to execute.
#[derive(Clone)]
pub struct ExecOptions {
    /// How many steps may run at once (worker threads).
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
    /// The tool instance, as `name.instanceID`.
    pub key: String,
    /// What the plan did to the tool.
    pub action: Action,
    /// How the step ended.
    pub result: StepResult,
    /// Error or skip reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Duration of the step in milliseconds, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
}

impl ToolResult {
    fn new(
        change: &Change,
        result: StepResult,
        message: Option<String>,
        elapsed: Option<Duration>,
    ) -> Self {
        Self {
            key: change.key.clone(),
            action: change.action,
            result,
            message,
            elapsed_ms: elapsed.map(|e| e.as_millis() as u64),
        }
    }
}

/// How one step ended; serialised as the lower-case word (`done`, `unchanged`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepResult {
    /// The plugin call completed the change.
    Done,
    /// Nothing needed doing (a no-op, or an update whose inputs turned out the same).
    Unchanged,
    /// The step failed; the message says why.
    Failed,
    /// An interrupt left a long-running step pending; the next run resumes it.
    Paused,
    /// Not run: a dependency failed, or the run was interrupted or stopped first.
    Skipped,
}

impl StepResult {
    /// The word it is serialised as.
    pub fn as_str(self) -> &'static str {
        match self {
            StepResult::Done => "done",
            StepResult::Unchanged => "unchanged",
            StepResult::Failed => "failed",
            StepResult::Paused => "paused",
            StepResult::Skipped => "skipped",
        }
    }

    /// Whether the tool is where the plan wanted it.
    pub fn succeeded(self) -> bool {
        matches!(self, StepResult::Done | StepResult::Unchanged)
    }
}

impl std::fmt::Display for StepResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// Results that ended as `result`, in the order they finished.
    pub fn with_result(&self, result: StepResult) -> impl Iterator<Item = &ToolResult> + '_ {
        self.results.iter().filter(move |r| r.result == result)
    }

    /// Whether everything that was planned succeeded.
    pub fn success(&self) -> bool {
        !self.interrupted
            && self.fatal.is_none()
            && self.results.iter().all(|r| r.result.succeeded())
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

/// A plugin call handed to a worker.
struct Job {
    idx: usize,
    plugin: Arc<LoadedPlugin>,
    request: Request,
    ctx: CallContext,
}

/// What workers and plugin callbacks tell the coordinator.
enum Msg {
    /// A long-running step reported progress data to keep (resumable after a crash).
    Pending {
        idx: usize,
        data: Value,
        message: String,
    },
    /// A plugin call returned.
    Finished {
        idx: usize,
        result: Result<Response, HostError>,
        elapsed: Duration,
    },
}

/// Executes `plan` against `store`, saving after every batch of completed steps.
pub fn execute(
    plan: &Plan,
    input: &ExecInput<'_>,
    store: &mut StateStore,
    opts: &ExecOptions,
) -> Outcome {
    let changes: Vec<&Change> = plan.changes.iter().collect();
    let (msg_tx, msg_rx) = mpsc::channel::<Msg>();
    let mut run = Run {
        queue: DependencyQueue::new(step_graph(&changes)),
        deletes_left: changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .count(),
        changes,
        ledger: Ledger::new(store, input),
        opts,
        msgs: msg_tx,
        outcome: Outcome::default(),
        running: 0,
        finished: Vec::new(),
    };
    let workers = opts.parallelism.max(1).min(run.changes.len().max(1));
    std::thread::scope(|scope| {
        let Some(jobs) = start_workers(scope, workers, &run.msgs) else {
            run.outcome.fatal = Some("cannot start worker threads".into());
            return;
        };
        run.drain(&jobs, &msg_rx);
        // Dropping `jobs` here closes the channel: idle workers end and the scope can join them.
    });
    run.finish()
}

/// The order steps may run in: a create or update waits for the creates and updates it depends
/// on; a delete waits for the deletes of what depends on it (dependents are deleted first).
/// Creates and updates never wait for deletes here: [`Run`] holds them until every delete is
/// over.
fn step_graph(changes: &[&Change]) -> DepGraph {
    let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
    let index = DepGraph::index(&keys);
    // waits[i]: the steps i waits for. Collected first so that every step's dependents come
    // in index order, which is the order a finished step releases them in.
    let mut waits: Vec<Vec<usize>> = vec![Vec::new(); changes.len()];
    for (i, c) in changes.iter().enumerate() {
        let deleting = c.action == Action::Delete;
        for d in &c.depends_on {
            match index.get(d.as_str()) {
                Some(&j) if deleting && changes[j].action == Action::Delete => waits[j].push(i),
                Some(&j) if !deleting && changes[j].action != Action::Delete => waits[i].push(j),
                _ => {}
            }
        }
    }
    let mut graph = DepGraph::with_nodes(changes.len());
    for (i, ws) in waits.iter().enumerate() {
        for &j in ws {
            graph.add_dependency(i, j);
        }
    }
    graph
}

/// Starts up to `count` workers (at least one, or none at all); returns where to send jobs.
fn start_workers<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    count: usize,
    msgs: &mpsc::Sender<Msg>,
) -> Option<mpsc::Sender<Job>> {
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    for w in 0..count {
        let (jobs, msgs) = (job_rx.clone(), msgs.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("dtm-worker-{w}"))
            .spawn_scoped(scope, move || work(&jobs, &msgs));
        if spawned.is_err() && w == 0 {
            return None;
        }
    }
    Some(job_tx)
}

/// A worker: takes jobs until the channel closes, calls the plugin, reports the answer.
fn work(jobs: &Mutex<mpsc::Receiver<Job>>, msgs: &mpsc::Sender<Msg>) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let started = Instant::now();
        let result = job.plugin.run(&job.request, &job.ctx);
        let _ = msgs.send(Msg::Finished {
            idx: job.idx,
            result,
            elapsed: started.elapsed(),
        });
    }
}

/// One execution of a plan: the coordinator's state between the main loop's steps.
struct Run<'a> {
    /// The plan's changes; a node of `queue` is an index into it.
    changes: Vec<&'a Change>,
    /// What is ready, running, finished, failed or skipped.
    queue: DependencyQueue,
    /// The state, and the entries changed since the last save.
    ledger: Ledger<'a>,
    opts: &'a ExecOptions,
    /// Where plugin callbacks send pending-step progress.
    msgs: mpsc::Sender<Msg>,
    outcome: Outcome,
    /// Jobs handed to workers and not yet answered.
    running: usize,
    /// Deletes neither finished nor skipped: creates and updates wait until none is left.
    deletes_left: usize,
    /// Steps finished since the last save, and whether each succeeded.
    finished: Vec<(usize, bool)>,
}

impl Run<'_> {
    /// The main loop: runs until nothing is running and nothing more can be scheduled.
    fn drain(&mut self, jobs: &mpsc::Sender<Job>, events: &mpsc::Receiver<Msg>) {
        loop {
            if !self.stopping() {
                self.spawn_work_if_possible(jobs);
            }
            if self.finished.is_empty() {
                if self.running == 0 {
                    break;
                }
                let Some(msgs) = wait_for_events(events) else {
                    break;
                };
                for msg in msgs {
                    self.handle_event(msg);
                }
            }
            self.persist_and_release();
            if self.opts.interrupt.load(Ordering::Relaxed) && self.running == 0 {
                break;
            }
        }
    }

    /// Whether to stop scheduling: interrupted, or state can no longer be saved.
    fn stopping(&self) -> bool {
        self.opts.interrupt.load(Ordering::Relaxed) || self.outcome.fatal.is_some()
    }

    /// Starts every ready step (deletes before anything else); steps that need no plugin call
    /// finish right here.
    fn spawn_work_if_possible(&mut self, jobs: &mpsc::Sender<Job>) {
        let mut deferred = Vec::new();
        while let Some(i) = self.queue.dequeue() {
            let c = self.changes[i];
            if c.action != Action::Delete && self.deletes_left > 0 {
                deferred.push(i);
                continue;
            }
            match step::prepare(c, i, &self.ledger, self.opts, &self.msgs) {
                Prepared::Job(job) => {
                    (self.opts.events)(ExecEvent::Started {
                        key: c.key.clone(),
                        action: c.action,
                    });
                    if jobs.send(*job).is_err() {
                        self.outcome.fatal = Some("worker threads ended unexpectedly".into());
                        break;
                    }
                    self.running += 1;
                }
                Prepared::Unchanged => self.unchanged(i),
                Prepared::Fail(error) => self.failed(i, error, None),
            }
        }
        self.queue.requeue(deferred);
    }

    /// Records a worker's or a plugin callback's message.
    fn handle_event(&mut self, msg: Msg) {
        match msg {
            Msg::Pending { idx, data, message } => {
                self.ledger.pending(self.changes[idx], data, message);
            }
            Msg::Finished {
                idx,
                result,
                elapsed,
            } => {
                self.running -= 1;
                let c = self.changes[idx];
                match self.ledger.answer(c, result) {
                    Ok(()) => {
                        (self.opts.events)(ExecEvent::Done {
                            key: c.key.clone(),
                            action: c.action,
                            elapsed,
                        });
                        self.record(idx, StepResult::Done, None, Some(elapsed));
                    }
                    Err(StepError::Paused(message)) => {
                        (self.opts.events)(ExecEvent::Paused {
                            key: c.key.clone(),
                            action: c.action,
                            message: message.clone(),
                        });
                        // A paused step is not finished either: its dependents wait for a
                        // later run.
                        self.record(idx, StepResult::Paused, Some(message), Some(elapsed));
                    }
                    Err(StepError::Failed(error)) => self.failed(idx, error, Some(elapsed)),
                }
            }
        }
    }

    /// Saves what changed, then releases the dependents of what finished (or skips them).
    fn persist_and_release(&mut self) {
        if let Err(e) = self.ledger.save() {
            self.outcome.fatal = Some(format!("cannot save state: {}", Chain::of(&e)));
            self.opts.interrupt.store(true, Ordering::Relaxed);
        }
        for (i, ok) in std::mem::take(&mut self.finished) {
            if self.changes[i].action == Action::Delete {
                self.deletes_left -= 1;
            }
            for j in self.queue.finish(i, ok) {
                self.skip(j, i);
            }
        }
    }

    /// A step that needed no plugin call. A delete of something already gone only forgets
    /// the record (plan() makes those no-ops with the reason `Absent`).
    fn unchanged(&mut self, i: usize) {
        let c = self.changes[i];
        let forgotten = c.action == Action::NoOp
            && c.reasons.contains(&Reason::Absent)
            && self.ledger.forget(c);
        let message = forgotten.then(|| "already gone: removed from state".to_owned());
        self.record(i, StepResult::Unchanged, message, None);
    }

    /// A step that failed: before its plugin was called (`elapsed` is None) or after.
    fn failed(&mut self, i: usize, error: String, elapsed: Option<Duration>) {
        let c = self.changes[i];
        (self.opts.events)(ExecEvent::Failed {
            key: c.key.clone(),
            action: c.action,
            error: error.clone(),
        });
        if elapsed.is_none() {
            self.ledger.failed_before_call(c, &error);
        }
        self.record(i, StepResult::Failed, Some(error), elapsed);
    }

    /// A step not run because `failed`, which it waits for, did not succeed.
    fn skip(&mut self, i: usize, failed: usize) {
        let (c, cause) = (self.changes[i], &self.changes[failed]);
        if c.action == Action::Delete {
            self.deletes_left -= 1;
        }
        let reason = if cause.action == Action::Delete {
            format!(
                "not deleted: {} depends on it and could not be deleted",
                cause.key
            )
        } else {
            format!("dependency {} failed", cause.key)
        };
        (self.opts.events)(ExecEvent::Skipped {
            key: c.key.clone(),
            reason: reason.clone(),
        });
        self.outcome
            .results
            .push(ToolResult::new(c, StepResult::Skipped, Some(reason), None));
    }

    /// Adds a finished step's result; its dependents are released after the next save.
    fn record(
        &mut self,
        i: usize,
        result: StepResult,
        message: Option<String>,
        elapsed: Option<Duration>,
    ) {
        let c = self.changes[i];
        let succeeded = result.succeeded();
        self.outcome
            .results
            .push(ToolResult::new(c, result, message, elapsed));
        self.finished.push((i, succeeded));
    }

    /// After the loop: the last save, and a `skipped` result for every step never reached.
    fn finish(mut self) -> Outcome {
        if self.outcome.fatal.is_none()
            && let Err(e) = self.ledger.compact()
        {
            self.outcome.fatal = Some(format!("cannot save state: {}", Chain::of(&e)));
        }
        if self.opts.interrupt.load(Ordering::Relaxed) && self.outcome.fatal.is_none() {
            self.outcome.interrupted = true;
        }
        let reason = if self.outcome.fatal.is_some() {
            "the run stopped: state could not be saved"
        } else {
            "interrupted"
        };
        let waiting: Vec<usize> = self.queue.waiting().collect();
        for i in waiting {
            let c = self.changes[i];
            (self.opts.events)(ExecEvent::Skipped {
                key: c.key.clone(),
                reason: reason.into(),
            });
            self.outcome.results.push(ToolResult::new(
                c,
                StepResult::Skipped,
                Some(reason.into()),
                None,
            ));
        }
        self.outcome
    }
}

/// Waits for at least one message, then takes whatever else has arrived; None when every
/// sender is gone.
fn wait_for_events(events: &mpsc::Receiver<Msg>) -> Option<Vec<Msg>> {
    let mut msgs = vec![events.recv().ok()?];
    msgs.extend(events.try_iter());
    Some(msgs)
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
