//! Preparing a step: the options its plugin gets (references resolved, secrets restored), the
//! progress data of a step to resume, and the call's context (timeout, interrupts, callbacks).

use std::sync::Arc;
use std::sync::mpsc;

use dtm_plugin_protocol::Operation;
use serde_json::Value;

use super::ledger::Ledger;
use super::{ExecEvent, ExecOptions, Job, Msg};
use crate::config::Tool;
use crate::plan::{Change, Reason};
use crate::plugin::{CallContext, PluginEvent, request};
use crate::state::{Resource, RestoreError};
use crate::text::{Plural, quoted_list};

/// What to do with a ready step.
pub(super) enum Prepared {
    /// Call its plugin.
    Job(Box<Job>),
    /// Nothing needs doing.
    Unchanged,
    /// It cannot run; the message says why.
    Fail(String),
}

/// The options a step's plugin gets, the secret values to keep out of its logs, and warnings
/// for the user.
struct StepOptions {
    options: Value,
    secrets: Vec<String>,
    warnings: Vec<String>,
}

/// Decides what a ready step needs and builds its plugin call.
pub(super) fn prepare(
    c: &Change,
    idx: usize,
    ledger: &Ledger<'_>,
    opts: &ExecOptions,
    msgs: &mpsc::Sender<Msg>,
) -> Prepared {
    let Some(op) = c.action.operation() else {
        return Prepared::Unchanged;
    };
    let Some(plugin) = ledger.input().plugins.get(&c.plugin) else {
        return Prepared::Fail(format!("plugin `{}` is not loaded", c.plugin));
    };
    let state = ledger.state();
    let recorded = state.resources.get(&c.key);
    let tool = ledger.tool(&c.key);
    let step = match step_options(c, tool, recorded, ledger) {
        Ok(step) => step,
        Err(error) => return Prepared::Fail(error),
    };
    if inputs_unchanged(op, c, tool, recorded, ledger, &step.options) {
        return Prepared::Unchanged;
    }
    for message in step.warnings {
        (opts.events)(ExecEvent::Warning {
            key: c.key.clone(),
            message,
        });
    }
    let request = request(
        op,
        &c.key,
        step.options,
        recorded.map(|r| r.status.clone()).unwrap_or(Value::Null),
        recorded.map(|r| r.outputs.clone()).unwrap_or_default(),
        pending_data(c, op, recorded),
        &opts.workdir,
    );
    let timeout = tool.and_then(|t| t.timeout).unwrap_or(opts.default_timeout);
    Prepared::Job(Box::new(Job {
        idx,
        plugin: plugin.clone(),
        request,
        ctx: call_context(c, idx, timeout, step.secrets, opts, msgs),
    }))
}

/// The options for a tool in the config (references resolved), or, for a tool no longer in it
/// (an orphan, or `destroy`), the recorded options with the secrets rebuilt from the variables
/// they came from.
fn step_options(
    c: &Change,
    tool: Option<&Tool>,
    recorded: Option<&Resource>,
    ledger: &Ledger<'_>,
) -> Result<StepOptions, String> {
    let state = ledger.state();
    match (tool, recorded) {
        (Some(tool), _) => match crate::plan::resolve_in_state(tool, state) {
            Ok(options) => Ok(StepOptions {
                options,
                secrets: tool.secret_values.clone(),
                warnings: Vec::new(),
            }),
            Err(error) => Err(error.to_string()),
        },
        (None, Some(r)) => {
            let env = ledger.input().env;
            let restored = state
                .restore(&r.options, &|name| env.get(name))
                .map_err(|e| missing_secrets(&c.key, &e))?;
            let mut warnings = Vec::new();
            for (option, vars) in &restored.changed {
                let n = vars.len();
                warnings.push(format!(
                    "option `{option}`: environment {} {} now {} another value than the one {} \
                     was applied with; using the current value",
                    Plural(n, "variable", "variables"),
                    quoted_list(vars),
                    Plural(n, "holds", "hold"),
                    c.key
                ));
            }
            for option in &restored.unsourced {
                warnings.push(format!(
                    "option `{option}` is a secret recorded by an older dtm, without the variable \
                     it came from: the plugin gets its keyed hash, not the value"
                ));
            }
            Ok(StepOptions {
                options: restored.options,
                secrets: restored.secrets,
                warnings,
            })
        }
        (None, None) => Ok(StepOptions {
            options: Value::Null,
            secrets: Vec::new(),
            warnings: Vec::new(),
        }),
    }
}

/// An update planned only because an upstream might change its outputs is a no-op if the
/// inputs turned out the same.
fn inputs_unchanged(
    op: Operation,
    c: &Change,
    tool: Option<&Tool>,
    recorded: Option<&Resource>,
    ledger: &Ledger<'_>,
    options: &Value,
) -> bool {
    let state = ledger.state();
    op == Operation::Update
        && c.reasons
            .iter()
            .all(|r| matches!(r, Reason::UpstreamChanges(_)))
        && match (tool, recorded) {
            (Some(tool), Some(rec)) => {
                state.options_match(&rec.options, &state.redact(options, &tool.secret_sources))
            }
            _ => false,
        }
}

/// The progress data of a long-running step to resume: from the plan, else from the record.
fn pending_data(c: &Change, op: Operation, recorded: Option<&Resource>) -> Value {
    c.resume
        .as_ref()
        .filter(|p| p.operation == op)
        .map(|p| p.data.clone())
        .or_else(|| {
            recorded
                .and_then(|r| r.pending.as_ref())
                .filter(|p| p.operation == op)
                .map(|p| p.data.clone())
        })
        .unwrap_or(Value::Null)
}

/// How the plugin call runs: its timeout, the run's interrupt flags, and callbacks that pass
/// the plugin's events on (and keep a pending step's progress data).
fn call_context(
    c: &Change,
    idx: usize,
    timeout: std::time::Duration,
    secrets: Vec<String>,
    opts: &ExecOptions,
    msgs: &mpsc::Sender<Msg>,
) -> CallContext {
    let key = c.key.clone();
    let events = opts.events.clone();
    let tx = msgs.clone();
    CallContext {
        timeout: Some(timeout),
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
    }
}

/// The error of a step on a tool no longer in the config whose secrets cannot be rebuilt.
fn missing_secrets(key: &str, e: &RestoreError) -> String {
    let RestoreError::NotSet(missing) = e;
    let n = missing.len();
    format!(
        "{key} is no longer in the config, and state keeps only keyed hashes of its secrets: {e}. \
         Set {} to {} {key} was applied with (or the current one, if rotated) and run again",
        Plural(n, "it", "them"),
        Plural(n, "the value", "the values"),
    )
}
