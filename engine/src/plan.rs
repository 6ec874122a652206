//! Planning: config × state × live status → one [`Change`] per tool instance.

use std::collections::{BTreeSet, HashMap};

use dtm_plugin_protocol::Operation;
use serde::Serialize;
use serde_json::Value;

use crate::config::{Config, Tool};
use crate::graph::DepGraph;
use crate::state::{Lifecycle, PendingStep, Resource, State};

/// What will happen to one tool instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do.
    NoOp,
    /// Create it: the plugin makes the resource.
    Create,
    /// Bring it in line with the config.
    Update,
    /// Remove it.
    Delete,
}

impl Action {
    /// The plugin operation that carries out this action, if any.
    pub fn operation(self) -> Option<Operation> {
        match self {
            Action::NoOp => None,
            Action::Create => Some(Operation::Create),
            Action::Update => Some(Operation::Update),
            Action::Delete => Some(Operation::Delete),
        }
    }

    /// The name it is serialised as in JSON output and recorded as in state history:
    /// `no_op`, `create`, `update`, `delete`. Text for people says `no-op` (its `Display`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::NoOp => "no_op",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::NoOp => f.write_str("no-op"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// Why a change is planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum Reason {
    /// In the config, not in state.
    New,
    /// Recorded in state, but the plugin reports it absent.
    Absent,
    /// Options in the config differ from the recorded ones.
    OptionsChanged,
    /// Live status differs from the recorded status.
    Drift,
    /// In state, not in the config.
    Orphaned,
    /// The last run failed on it.
    LastRunFailed(String),
    /// A long-running step is to be resumed.
    Resume(String),
    /// An upstream tool changes, so its outputs (this tool's inputs) may too.
    UpstreamChanges(Vec<String>),
    /// Asked for by `dtm delete` / `dtm destroy`.
    Requested,
    /// A delete of a tool no longer in the config that cannot run yet: its secrets come from
    /// environment variables that are not set (the detail names them).
    SecretsNotSet(String),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::New => f.write_str("not in state"),
            Reason::Absent => f.write_str("recorded in state but absent: removed outside dtm"),
            Reason::OptionsChanged => f.write_str("options changed"),
            Reason::Drift => f.write_str("drift: live status differs from the recorded status"),
            Reason::Orphaned => f.write_str("in state but no longer in the config"),
            Reason::LastRunFailed(e) => write!(f, "last run failed: {e}"),
            Reason::Resume(op) => write!(f, "resuming a pending {op}"),
            Reason::UpstreamChanges(u) => write!(f, "inputs from {} may change", u.join(", ")),
            Reason::Requested => f.write_str("requested"),
            Reason::SecretsNotSet(what) => write!(f, "cannot run as things stand: {what}"),
        }
    }
}

/// The live status of a recorded resource, as its plugin's `read` reported it.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    /// It exists with this status.
    Present(Value),
    /// It does not exist.
    Absent,
    /// Not read (no plugin call was needed or possible).
    Unknown,
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// `name.instanceID`.
    pub key: String,
    /// The plugin, by the name configs give it.
    pub plugin: String,
    /// What will happen.
    pub action: Action,
    /// Why: every reason, in the order they were found.
    pub reasons: Vec<Reason>,
    /// Recorded options (secrets hashed), if recorded.
    pub before: Option<Value>,
    /// Options from the config (secrets hashed; references to outputs not yet known kept as
    /// `${{ ... }}`), if in the config.
    pub after: Option<Value>,
    /// Recorded status, when drift was detected.
    pub recorded_status: Option<Value>,
    /// Live status, when drift was detected.
    pub live_status: Option<Value>,
    /// Dependencies (`name.instanceID`) relevant to ordering.
    pub depends_on: Vec<String>,
    /// A long-running step to resume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<PendingStep>,
}

/// A plan: one change per tool instance considered, in a dependency-respecting order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// The changes, creates/updates in dependency order, deletes in reverse dependency order.
    pub changes: Vec<Change>,
}

/// Counts per action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// How many tools the plan creates.
    pub create: usize,
    /// How many tools the plan updates.
    pub update: usize,
    /// How many tools the plan deletes.
    pub delete: usize,
    /// How many tools the plan leaves as they are.
    pub unchanged: usize,
}

impl Plan {
    /// Counts per action.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Delete => s.delete += 1,
                Action::NoOp => s.unchanged += 1,
            }
        }
        s
    }

    /// Whether anything would change, in the world or in state: a delete of a tool that is
    /// already gone (a no-op with the reason `Absent`) still removes its record.
    pub fn has_changes(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.action != Action::NoOp || c.reasons.contains(&Reason::Absent))
    }
}

/// What a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Converge: create/update config tools, delete orphans.
    Apply,
    /// Delete the tools listed in the config.
    DeleteConfigured,
    /// Delete everything in state.
    Destroy,
}

/// Resolves a tool's output references against the outputs of completed tools in `state`.
pub fn resolve_in_state(tool: &Tool, state: &State) -> Result<Value, crate::config::RefError> {
    if tool.refs.is_empty() {
        return Ok(tool.options.clone());
    }
    let lookup = |t: &str, k: &str| state.completed_output(t, k);
    crate::config::resolve_refs(&tool.options, &lookup)
}

/// Resolves a tool's options against the outputs recorded in state. Returns the options (as
/// written, where something is unresolved) and whether every reference could be resolved.
pub fn resolve_from_state(tool: &Tool, state: &State) -> (Value, bool) {
    match resolve_in_state(tool, state) {
        Ok(v) => (v, true),
        Err(_) => (tool.options.clone(), false),
    }
}

/// Builds the plan. `live` holds the read result for each resource in state that was read.
pub fn plan(config: &Config, state: &State, live: &HashMap<String, Live>, mode: Mode) -> Plan {
    let configured: HashMap<String, &Tool> = config.tools.iter().map(|t| (t.key(), t)).collect();
    let mut changes = Vec::new();

    match mode {
        Mode::Apply => {
            let mut by_key: HashMap<String, Change> = HashMap::new();
            for tool in &config.tools {
                let change =
                    plan_tool(tool, state, live.get(&tool.key()).unwrap_or(&Live::Unknown));
                by_key.insert(change.key.clone(), change);
            }
            // A tool whose upstream changes may get new inputs: plan an update; the executor turns
            // it into a no-op if the resolved options turn out unchanged.
            for tool in config_order(config) {
                let key = tool.key();
                let changing: Vec<String> = tool
                    .refs
                    .iter()
                    .map(|r| r.tool.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .filter(|u| by_key.get(u).is_some_and(|c| c.action != Action::NoOp))
                    .collect();
                if let Some(c) = by_key.get_mut(&key)
                    && !changing.is_empty()
                    && c.action == Action::NoOp
                {
                    c.action = Action::Update;
                    c.reasons.push(Reason::UpstreamChanges(changing));
                }
            }
            let mut deletes: Vec<Change> = state
                .resources
                .values()
                .filter(|r| !configured.contains_key(&r.key()))
                .map(|r| delete_change(r, Reason::Orphaned))
                .collect();
            order_deletes(&mut deletes);
            changes.extend(deletes);
            for tool in config_order(config) {
                if let Some(c) = by_key.remove(&tool.key()) {
                    changes.push(c);
                }
            }
        }
        Mode::DeleteConfigured | Mode::Destroy => {
            let mut deletes: Vec<Change> = state
                .resources
                .values()
                .filter(|r| mode == Mode::Destroy || configured.contains_key(&r.key()))
                .map(|r| {
                    let mut c = delete_change(r, Reason::Requested);
                    if live.get(&r.key()) == Some(&Live::Absent) {
                        c.action = Action::NoOp;
                        c.reasons = vec![Reason::Absent];
                    }
                    c
                })
                .collect();
            order_deletes(&mut deletes);
            changes = deletes;
        }
    }
    Plan { changes }
}

fn plan_tool(tool: &Tool, state: &State, live: &Live) -> Change {
    let key = tool.key();
    let (resolved, complete) = resolve_from_state(tool, state);
    let after = state.redact(&resolved, &tool.secret_sources);
    let mut change = Change {
        key: key.clone(),
        plugin: tool.plugin.clone(),
        action: Action::NoOp,
        reasons: Vec::new(),
        before: None,
        after: Some(after.clone()),
        recorded_status: None,
        live_status: None,
        depends_on: tool.depends_on.clone(),
        resume: None,
    };
    let Some(res) = state.resources.get(&key) else {
        change.action = Action::Create;
        change.reasons.push(Reason::New);
        return change;
    };
    change.before = Some(res.options.clone());
    if let Some(p) = &res.pending {
        change.action = match p.operation {
            Operation::Delete => Action::Delete,
            Operation::Update => Action::Update,
            _ => Action::Create,
        };
        change.reasons.push(Reason::Resume(p.operation.to_string()));
        change.resume = Some(p.clone());
        return change;
    }
    match live {
        Live::Absent => {
            change.action = Action::Create;
            change.reasons.push(Reason::Absent);
            return change;
        }
        Live::Present(status) if res.lifecycle == Lifecycle::Completed && *status != res.status => {
            change.action = Action::Update;
            change.reasons.push(Reason::Drift);
            change.recorded_status = Some(res.status.clone());
            change.live_status = Some(status.clone());
        }
        _ => {}
    }
    if let Some(err) = res
        .last_error
        .as_ref()
        .filter(|_| res.lifecycle == Lifecycle::Failed)
    {
        change.action = if matches!(live, Live::Present(_)) || !res.status.is_null() {
            Action::Update
        } else {
            Action::Create
        };
        change.reasons.push(Reason::LastRunFailed(err.clone()));
    }
    if complete && !state.options_match(&res.options, &after) {
        if change.action == Action::NoOp {
            change.action = Action::Update;
        }
        change.reasons.push(Reason::OptionsChanged);
    }
    change
}

fn delete_change(r: &Resource, reason: Reason) -> Change {
    Change {
        key: r.key(),
        plugin: r.plugin.clone(),
        action: Action::Delete,
        reasons: vec![reason],
        before: Some(r.options.clone()),
        after: None,
        recorded_status: None,
        live_status: None,
        depends_on: r.depends_on.clone(),
        resume: r
            .pending
            .clone()
            .filter(|p| p.operation == Operation::Delete),
    }
}

/// Tools in dependency order (dependencies first), ties in config order.
pub fn config_order(config: &Config) -> Vec<&Tool> {
    let keys: Vec<String> = config.tools.iter().map(Tool::key).collect();
    let graph = DepGraph::from_names(&keys, |i| {
        config.tools[i].depends_on.iter().map(String::as_str)
    });
    graph
        .topo_order()
        .into_iter()
        .map(|i| &config.tools[i])
        .collect()
}

/// Orders deletes so that dependents are deleted before what they depend on.
fn order_deletes(deletes: &mut Vec<Change>) {
    let keys: Vec<&str> = deletes.iter().map(|c| c.key.as_str()).collect();
    let graph = DepGraph::from_names(&keys, |i| deletes[i].depends_on.iter().map(String::as_str));
    let mut order = graph.topo_order();
    order.reverse();
    let mut taken: Vec<Option<Change>> = std::mem::take(deletes).into_iter().map(Some).collect();
    *deletes = order.into_iter().filter_map(|i| taken[i].take()).collect();
}

/// Renders options for display: secrets as `(sensitive)`.
pub fn display_value(v: &Value) -> Value {
    match v {
        _ if crate::state::is_redacted(v) => Value::String("(sensitive)".into()),
        Value::Array(a) => Value::Array(a.iter().map(display_value).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), display_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn actions_serialise_as_their_names() {
        for a in [Action::NoOp, Action::Create, Action::Update, Action::Delete] {
            let json = serde_json::to_value(a).unwrap_or_default();
            assert_eq!(json, a.as_str(), "{a:?}");
        }
        assert_eq!(Action::NoOp.to_string(), "no-op");
    }
}
