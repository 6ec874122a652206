//! The `exec` plugin: the escape hatch. Each operation runs a command the config gives.
//!
//! See `docs/plugins/exec.md` for the options and the contract with the commands: the request
//! on stdin, `DTM_*` environment variables, what stdout means for each operation, how errors,
//! timeouts and cancellation are reported.
#![forbid(unsafe_code)]

mod run;

use std::collections::BTreeMap;
use std::time::Duration;

use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

/// Default per-command timeout.
const DEFAULT_TIMEOUT: &str = "5m";
/// How much of an unparsable stdout an error message quotes.
const STDOUT_IN_MESSAGE: usize = 200;

/// A command: a string run with `sh -c`, or a program and its arguments.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    untagged,
    expecting = "a command: a string (run with `sh -c`) or a list of strings (program and arguments)"
)]
pub enum Command {
    /// Run with `sh -c` (`cmd /C` on Windows).
    Shell(String),
    /// Program and arguments, run without a shell.
    Argv(Vec<String>),
}

impl Command {
    fn argv(&self) -> Vec<String> {
        match self {
            #[cfg(not(windows))]
            Command::Shell(script) => vec!["sh".into(), "-c".into(), script.clone()],
            #[cfg(windows)]
            Command::Shell(script) => vec!["cmd".into(), "/C".into(), script.clone()],
            Command::Argv(argv) => argv.clone(),
        }
    }

    fn display(&self) -> String {
        match self {
            Command::Shell(script) => script.clone(),
            Command::Argv(argv) => argv.join(" "),
        }
    }
}

/// A scalar value for an environment variable.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged, expecting = "a string, number or boolean")]
pub enum Scalar {
    /// Used as it is.
    String(String),
    /// Written as in JSON.
    Number(serde_json::Number),
    /// `true` or `false`.
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::String(s) => s.clone(),
            Scalar::Number(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// Options of an `exec` tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Creates the resource. Its stdout may be a JSON object with `outputs` (and `status`).
    #[schemars(example = r#"echo "$DTM_OPT_GREETING" > greeting.txt"#)]
    pub create: Command,
    /// Prints the live status as JSON; prints nothing if the resource is absent. Without it, the
    /// recorded status is taken as live (no drift detection).
    #[serde(default)]
    pub read: Option<Command>,
    /// Updates the resource; without it, `create` runs again (so make it idempotent).
    #[serde(default)]
    pub update: Option<Command>,
    /// Removes the resource; without it, delete only forgets the tool.
    #[serde(default)]
    #[schemars(example = serde_json::json!(["rm", "-f", "greeting.txt"]))]
    pub delete: Option<Command>,
    /// Extra environment variables for every command.
    #[serde(default)]
    pub env: BTreeMap<String, Scalar>,
    /// Working directory of the commands, relative to the config's directory (default: the
    /// config's directory).
    #[serde(default)]
    pub workdir: Option<String>,
    /// Time limit of each command, e.g. `30s`, `5m`, `1h 30m`; the command and everything it
    /// started are killed when it runs out.
    #[serde(default = "default_timeout")]
    pub timeout: String,
    /// Arbitrary JSON for the commands: sent on stdin, as `DTM_OPTIONS_JSON`, and each top-level
    /// scalar as `DTM_OPT_<KEY>` (key in UPPER_SNAKE_CASE).
    #[serde(default)]
    #[schemars(example = serde_json::json!({ "greeting": "hello" }))]
    pub options: Value,
}

fn default_timeout() -> String {
    DEFAULT_TIMEOUT.to_string()
}

impl Options {
    fn timeout(&self) -> Result<Duration, Problem> {
        match humantime::parse_duration(&self.timeout) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => Err(Problem {
                path: "/timeout".into(),
                message: "must be longer than zero".into(),
            }),
            Err(e) => Err(Problem {
                path: "/timeout".into(),
                message: format!(
                    "`{}` is not a duration like \"30s\" or \"5m\": {e}",
                    self.timeout
                ),
            }),
        }
    }
}

/// The `exec` plugin.
#[derive(Debug, Default)]
pub struct ExecPlugin;

/// `repoName` → `REPO_NAME`, `log-level` → `LOG_LEVEL`, `HTTPPort` → `HTTPPORT`.
pub fn env_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut previous_lower_or_digit = false;
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && previous_lower_or_digit {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
            previous_lower_or_digit = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            previous_lower_or_digit = false;
        }
    }
    out
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What the command is told: stdin, environment, directory, timeout.
fn spec(
    req: &Req<Options>,
    operation: Operation,
    command: &Command,
) -> Result<run::Spec, PluginError> {
    let opts = &req.options;
    let timeout = opts.timeout().map_err(|p| {
        PluginError::invalid_options(format!("options at {}: {}", p.path, p.message))
    })?;
    let stdin = json!({
        "instance": req.instance,
        "operation": operation,
        "options": opts.options,
        "status": req.status,
        "outputs": req.outputs,
        "workdir": req.workdir,
    });
    let mut env = BTreeMap::new();
    env.insert("DTM_INSTANCE".to_string(), req.instance.clone());
    env.insert("DTM_OPERATION".to_string(), operation.to_string());
    env.insert("DTM_WORKDIR".to_string(), req.workdir.display().to_string());
    env.insert("DTM_OPTIONS_JSON".to_string(), opts.options.to_string());
    if let Value::Object(map) = &opts.options {
        for (key, value) in map {
            if let Some(text) = scalar_text(value) {
                env.insert(format!("DTM_OPT_{}", env_key(key)), text);
            }
        }
    }
    for (key, value) in &opts.env {
        env.insert(key.clone(), value.text());
    }
    let dir = match &opts.workdir {
        Some(dir) => Some(req.resolve(dir)),
        None if req.workdir.as_os_str().is_empty() => None,
        None => Some(req.workdir.clone()),
    };
    Ok(run::Spec {
        display: command.display(),
        argv: command.argv(),
        dir,
        env,
        stdin: stdin.to_string().into_bytes(),
        timeout,
    })
}

fn execute(
    ctx: &Ctx,
    req: &Req<Options>,
    operation: Operation,
    role: &str,
    command: &Command,
) -> Result<run::Output, PluginError> {
    let what = format!("{role} command of {}", req.instance);
    let output = run::run(ctx, &what, &spec(req, operation, command)?)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        ctx.debug(format!("{role}: {line}"));
    }
    Ok(output)
}

fn excerpt(text: &str) -> String {
    match text.char_indices().nth(STDOUT_IN_MESSAGE) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// What a create/update command printed: `status` and `outputs`, when its stdout is one JSON
/// object with those keys. Other stdout is only logged.
type Printed = (Option<Value>, Option<BTreeMap<String, Value>>);

fn parse_result(ctx: &Ctx, role: &str, stdout: &[u8]) -> Result<Printed, PluginError> {
    let text = String::from_utf8_lossy(stdout);
    let text = text.trim();
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(text) else {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            ctx.debug(format!("{role}: {line}"));
        }
        return Ok((None, None));
    };
    let outputs = match object.remove("outputs") {
        None => None,
        Some(Value::Null) => Some(BTreeMap::new()),
        Some(Value::Object(map)) => Some(map.into_iter().collect()),
        Some(other) => {
            return Err(PluginError::internal(format!(
                "the {role} command printed `outputs` as {}, but it must be a JSON object",
                kind_of(&other)
            )));
        }
    };
    let status = object.remove("status");
    Ok((status, outputs))
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl ExecPlugin {
    /// Runs the read command; `None` when it printed nothing (the resource is absent).
    fn live(
        &self,
        ctx: &Ctx,
        req: &Req<Options>,
        command: &Command,
    ) -> Result<Option<Value>, PluginError> {
        let output = execute(ctx, req, Operation::Read, "read", command)?;
        let text = String::from_utf8_lossy(&output.stdout);
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        serde_json::from_str(text).map(Some).map_err(|e| {
            PluginError::internal(format!(
                "the read command of {} must print JSON (or nothing when the resource is absent), \
                 but printed `{}`: {e}",
                req.instance,
                excerpt(text)
            ))
        })
    }

    fn apply(
        &self,
        ctx: &Ctx,
        req: &Req<Options>,
        role: &str,
        command: &Command,
    ) -> Result<Step, PluginError> {
        let output = execute(ctx, req, req.operation, role, command)?;
        let (printed_status, outputs) = parse_result(ctx, role, &output.stdout)?;
        // An update that prints no `outputs` keeps the recorded ones.
        let outputs = match (outputs, req.operation) {
            (Some(outputs), _) => outputs,
            (None, Operation::Update) => req.outputs.clone(),
            (None, _) => BTreeMap::new(),
        };
        // Record what `read` will report, so that an unchanged resource shows no drift.
        let status = match &req.options.read {
            Some(read) => match self.live(ctx, req, read)? {
                Some(status) => status,
                None => {
                    ctx.warn(format!(
                        "the read command of {} reports it absent right after {role}",
                        req.instance
                    ));
                    Value::Null
                }
            },
            None => printed_status.unwrap_or(Value::Null),
        };
        Ok(Done { status, outputs }.into())
    }
}

impl Plugin for ExecPlugin {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "exec",
            env!("CARGO_PKG_VERSION"),
            "Runs commands for create, read, update and delete: the escape hatch",
        )
        .output(
            "*",
            "any key of the `outputs` object that create or update print",
        )
    }

    fn validate(&self, _ctx: &Ctx, options: &Options) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let commands = [
            ("create", Some(&options.create)),
            ("read", options.read.as_ref()),
            ("update", options.update.as_ref()),
            ("delete", options.delete.as_ref()),
        ];
        for (name, command) in commands {
            let empty = match command {
                Some(Command::Argv(argv)) => argv.first().is_none_or(|p| p.is_empty()),
                Some(Command::Shell(script)) => script.trim().is_empty(),
                None => false,
            };
            if empty {
                problems.push(Problem {
                    path: format!("/{name}"),
                    message: "the command is empty".into(),
                });
            }
        }
        if let Err(p) = options.timeout() {
            problems.push(p);
        }
        for key in options.env.keys() {
            if key.is_empty() || key.contains(['=', '\0']) {
                problems.push(Problem {
                    path: format!("/env/{}", key.replace('~', "~0").replace('/', "~1")),
                    message: "not a valid environment variable name".into(),
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn create(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        self.apply(ctx, req, "create", &req.options.create)
    }

    fn read(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Option<Done>, PluginError> {
        let status = match &req.options.read {
            Some(read) => match self.live(ctx, req, read)? {
                Some(status) => status,
                None => return Ok(None),
            },
            None => req.status.clone(),
        };
        Ok(Some(Done {
            status,
            outputs: req.outputs.clone(),
        }))
    }

    fn update(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        match &req.options.update {
            Some(update) => self.apply(ctx, req, "update", update),
            None => self.apply(ctx, req, "create (as update)", &req.options.create),
        }
    }

    fn delete(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        if let Some(delete) = &req.options.delete {
            let output = execute(ctx, req, Operation::Delete, "delete", delete)?;
            let text = String::from_utf8_lossy(&output.stdout);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                ctx.debug(format!("delete: {line}"));
            }
        }
        Ok(Done::default().into())
    }
}

dtm_plugin_sdk::export_plugin!(ExecPlugin, ExecPlugin);

#[cfg(test)]
mod tests;
