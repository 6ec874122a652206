//! The run's side of the state: the one place the executor writes resource entries, and the set
//! of entries changed since the last save.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dtm_plugin_protocol::Response;
use serde_json::Value;

use super::ExecInput;
use crate::config::Tool;
use crate::plan::{Action, Change};
use crate::plugin::HostError;
use crate::state::{Lifecycle, PendingStep, Resource, now_rfc3339};
use crate::store::{StateStore, StoreError};

/// Why a step did not complete.
pub(super) enum StepError {
    /// It failed; the message says why.
    Failed(String),
    /// An interrupt left it pending; the next run resumes it.
    Paused(String),
}

/// What a failed step does with the progress data of its long-running operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Keep it: the next run resumes the operation (it timed out or was abandoned).
    Keep,
    /// Drop it: the operation failed.
    Drop,
}

/// The state being executed against, with what the run needs to write its entries.
pub(super) struct Ledger<'a> {
    store: &'a mut StateStore,
    input: &'a ExecInput<'a>,
    /// The config's tools by key.
    tools: HashMap<String, &'a Tool>,
    /// Keys whose entry changed since the last save.
    dirty: BTreeSet<String>,
}

impl<'a> Ledger<'a> {
    pub(super) fn new(store: &'a mut StateStore, input: &'a ExecInput<'a>) -> Self {
        Self {
            tools: input.config.tools.iter().map(|t| (t.key(), t)).collect(),
            store,
            input,
            dirty: BTreeSet::new(),
        }
    }

    /// The state as it stands.
    pub(super) fn state(&self) -> &crate::state::State {
        &self.store.state
    }

    /// What the executor was given besides the plan.
    pub(super) fn input(&self) -> &ExecInput<'a> {
        self.input
    }

    /// The config's tool `key`, if it is in the config.
    pub(super) fn tool(&self, key: &str) -> Option<&'a Tool> {
        self.tools.get(key).copied()
    }

    /// Saves the entries changed since the last save (one write for all of them).
    pub(super) fn save(&mut self) -> Result<(), StoreError> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let saved = self.store.save_changes(&self.dirty);
        self.dirty.clear();
        saved
    }

    /// Folds the saved changes into one document, after the run.
    pub(super) fn compact(&mut self) -> Result<(), StoreError> {
        self.store.compact()
    }

    /// Removes the record of a tool found already gone; whether there was one.
    pub(super) fn forget(&mut self, c: &Change) -> bool {
        let forgotten = self.store.state.resources.remove(&c.key).is_some();
        if forgotten {
            self.dirty.insert(c.key.clone());
        }
        forgotten
    }

    /// Keeps a long-running step's progress data, so that a later run can resume it.
    pub(super) fn pending(&mut self, c: &Change, data: Value, message: String) {
        let Some(op) = c.action.operation() else {
            return;
        };
        let now = now_rfc3339();
        let r = self.entry(c);
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

    /// A step that failed before its plugin was called: recorded only on a tool state knows.
    pub(super) fn failed_before_call(&mut self, c: &Change, error: &str) {
        if self.store.state.resources.contains_key(&c.key) {
            self.failure(c, error, Progress::Drop);
        }
    }

    /// Records a plugin's answer to a step.
    pub(super) fn answer(
        &mut self,
        c: &Change,
        result: Result<Response, HostError>,
    ) -> Result<(), StepError> {
        self.dirty.insert(c.key.clone());
        match result {
            Ok(Response::Done { status, outputs }) => {
                self.done(c, status, outputs);
                Ok(())
            }
            Ok(other) => {
                // The host only lets `absent`, `pending` and `invalid` through where they are
                // valid, so this is a `validate`/`read`-only answer to a create, update or delete.
                let kind = match other {
                    Response::Absent => "absent",
                    Response::Invalid { .. } => "invalid",
                    Response::Pending { .. } => "pending",
                    Response::Done { .. } | Response::Error { .. } => "unexpected",
                };
                let error = format!("the plugin answered `{kind}` to `{}`", c.action.as_str());
                self.failure(c, &error, Progress::Drop);
                Err(StepError::Failed(error))
            }
            Err(e) => {
                // A timed-out or abandoned long-running step keeps its progress data: the next
                // run resumes it.
                let error = crate::text::Chain::of(&e).to_string();
                if matches!(e, HostError::Interrupted { .. }) {
                    self.paused(c, &error);
                    return Err(StepError::Paused(error));
                }
                let progress = match e {
                    HostError::Timeout { .. } | HostError::Abandoned { .. } => Progress::Keep,
                    _ => Progress::Drop,
                };
                self.failure(c, &error, progress);
                Err(StepError::Failed(error))
            }
        }
    }

    /// A completed step: a delete removes the entry, anything else records the new status.
    fn done(&mut self, c: &Change, status: Value, outputs: BTreeMap<String, Value>) {
        if c.action == Action::Delete {
            self.store.state.resources.remove(&c.key);
            return;
        }
        let options = match self.tool(&c.key) {
            Some(t) => {
                let resolved = crate::plan::resolve_from_state(t, &self.store.state).0;
                self.store.state.redact(&resolved, &t.secret_sources)
            }
            None => Value::Null,
        };
        let version = self.plugin_version(c);
        let now = now_rfc3339();
        let r = self.entry(c);
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
    }

    /// A step an interrupt left pending: still pending (the next plan resumes it), not failed.
    fn paused(&mut self, c: &Change, message: &str) {
        let now = now_rfc3339();
        let r = self.entry(c);
        r.lifecycle = Lifecycle::Pending;
        r.updated = now.clone();
        r.record(c.action.as_str(), format!("paused: {message}"), &now);
    }

    fn failure(&mut self, c: &Change, error: &str, progress: Progress) {
        let now = now_rfc3339();
        let r = self.entry(c);
        r.lifecycle = Lifecycle::Failed;
        r.last_error = Some(error.to_string());
        if progress == Progress::Drop {
            r.pending = None;
        }
        r.updated = now.clone();
        r.record(c.action.as_str(), format!("failed: {error}"), &now);
        self.dirty.insert(c.key.clone());
    }

    fn plugin_version(&self, c: &Change) -> String {
        self.input
            .plugins
            .get(&c.plugin)
            .map(|p| p.manifest().version.clone())
            .unwrap_or_default()
    }

    /// The state entry for a change, created if there is none yet; marked changed.
    fn entry(&mut self, c: &Change) -> &mut Resource {
        let now = now_rfc3339();
        let version = self.plugin_version(c);
        let instance_id = match self.tool(&c.key) {
            Some(t) => t.instance_id.clone(),
            None => c
                .key
                .split_once('.')
                .map(|(_, i)| i.to_string())
                .unwrap_or_default(),
        };
        self.dirty.insert(c.key.clone());
        self.store
            .state
            .resources
            .entry(c.key.clone())
            .or_insert_with(|| Resource {
                plugin: c.plugin.clone(),
                instance_id,
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
}
