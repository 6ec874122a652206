//! The same create → read → drift → update → delete story, run through the real plugin host
//! against the real `file` and `exec` plugins (and the `noop` fixture), built as libraries by
//! `cargo build --workspace`.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dtm_engine::plugin::{
    CallContext, HostError, LoadedPlugin, PluginHost, library_file_name, request,
};
use dtm_plugin_protocol::{ErrorKind, Operation, Response};
use serde_json::{Value, json};

/// The library of plugin `name`, next to this test's executable's `deps/` directory.
fn plugin(name: &str) -> Arc<LoadedPlugin> {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/plugin_story-xxxx → target/<profile>/
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(library_file_name(name));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    let plugin = PluginHost::default()
        .load(&path)
        .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
    assert_eq!(plugin.manifest().name, name);
    plugin
}

/// One tool instance as the engine sees it: options, recorded status and outputs.
struct Tool {
    plugin: Arc<LoadedPlugin>,
    instance: String,
    options: Value,
    workdir: PathBuf,
    status: Value,
    outputs: BTreeMap<String, Value>,
}

impl Tool {
    fn new(plugin: &str, options: Value, workdir: &Path) -> Self {
        Self {
            plugin: self::plugin(plugin),
            instance: format!("{plugin}.story"),
            options,
            workdir: workdir.to_path_buf(),
            status: Value::Null,
            outputs: BTreeMap::new(),
        }
    }

    fn run(&self, operation: Operation) -> Result<Response, HostError> {
        let req = request(
            operation,
            &self.instance,
            self.options.clone(),
            self.status.clone(),
            self.outputs.clone(),
            Value::Null,
            &self.workdir,
        );
        self.plugin.run(&req, &CallContext::default())
    }

    /// Runs a create or update and records its status and outputs, as the engine would.
    fn apply(&mut self, operation: Operation) {
        match self.run(operation) {
            Ok(Response::Done { status, outputs }) => {
                self.status = status;
                self.outputs = outputs;
            }
            other => panic!(
                "{} {operation}: expected done, got {other:?}",
                self.instance
            ),
        }
    }

    /// The live status, or `None` if the resource is absent.
    fn live(&self) -> Option<Value> {
        match self.run(Operation::Read) {
            Ok(Response::Done { status, .. }) => Some(status),
            Ok(Response::Absent) => None,
            other => panic!(
                "{} read: expected done or absent, got {other:?}",
                self.instance
            ),
        }
    }

    fn delete(&self) {
        match self.run(Operation::Delete) {
            Ok(Response::Done { .. }) => {}
            other => panic!("{} delete: expected done, got {other:?}", self.instance),
        }
    }
}

/// The story every plugin must tell the same way. `drift` changes the resource behind dtm's back.
fn story(tool: &mut Tool, drift: impl Fn()) {
    assert!(
        matches!(tool.run(Operation::Validate), Ok(Response::Done { .. })),
        "{}: valid options must validate",
        tool.instance
    );

    tool.apply(Operation::Create);
    let recorded = tool.status.clone();
    assert_eq!(
        tool.live().as_ref(),
        Some(&recorded),
        "{}: read right after create",
        tool.instance
    );

    drift();
    let drifted = tool.live().expect("the resource still exists after drift");
    assert_ne!(
        drifted, recorded,
        "{}: drift must show in read",
        tool.instance
    );

    tool.apply(Operation::Update);
    assert_eq!(
        tool.status, recorded,
        "{}: update restores the recorded status",
        tool.instance
    );
    assert_eq!(
        tool.live().as_ref(),
        Some(&recorded),
        "{}: read after update",
        tool.instance
    );

    tool.delete();
    assert_eq!(tool.live(), None, "{}: read after delete", tool.instance);
    tool.delete();
    assert_eq!(tool.live(), None, "{}: delete is idempotent", tool.instance);
}

#[test]
fn file_plugin_story() {
    let dir = tempfile::tempdir().unwrap();
    let options = json!({"path": "etc/motd.txt", "content": "hello from dtm\n", "mode": "0640"});
    let mut tool = Tool::new("file", options, dir.path());
    let file = dir.path().join("etc/motd.txt");

    story(&mut tool, || {
        std::fs::write(&file, "edited by hand\n").unwrap()
    });

    // Outputs recorded by the last update: the absolute path and the content's hash.
    assert_eq!(tool.outputs["path"], json!(file.display().to_string()));
    assert_eq!(tool.outputs["sha256"], tool.status["sha256"]);
    assert!(!file.exists());
}

#[test]
fn file_plugin_writes_what_the_options_say() {
    let dir = tempfile::tempdir().unwrap();
    let options =
        json!({"path": "greeting.txt", "template": "hello, [[ who ]]!", "vars": {"who": "team"}});
    let mut tool = Tool::new("file", options, dir.path());
    tool.apply(Operation::Create);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("greeting.txt")).unwrap(),
        "hello, team!"
    );
    assert_eq!(tool.status["size"], json!(12));
}

#[test]
fn file_plugin_reports_bad_options_with_a_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let tool = Tool::new(
        "file",
        json!({"path": "x", "content": "y", "mode": "rw-r--r--"}),
        dir.path(),
    );
    match tool.run(Operation::Validate) {
        Ok(Response::Invalid { problems }) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].path, "/mode");
        }
        other => panic!("expected invalid, got {other:?}"),
    }
    match tool.run(Operation::Create) {
        Err(HostError::Plugin { error, .. }) => {
            assert_eq!(error.kind, ErrorKind::InvalidOptions);
            assert!(error.message.contains("/mode"), "{}", error.message);
        }
        other => panic!("expected an invalid_options error, got {other:?}"),
    }
    assert!(!dir.path().join("x").exists());
}

#[test]
fn exec_plugin_story() {
    let dir = tempfile::tempdir().unwrap();
    let options = json!({
        "create": "printf '{\"release\":\"%s\"}' \"$DTM_OPT_RELEASE\" > deployed.json && echo '{\"outputs\":{\"url\":\"http://localhost/app\"}}'",
        "read": "cat deployed.json 2>/dev/null || true",
        "update": ["sh", "-c", "printf '{\"release\":\"%s\"}' \"$DTM_OPT_RELEASE\" > deployed.json"],
        "delete": ["rm", "-f", "deployed.json"],
        "timeout": "30s",
        "options": {"release": "1.4.2"}
    });
    let mut tool = Tool::new("exec", options, dir.path());
    let state = dir.path().join("deployed.json");

    tool.apply(Operation::Create);
    assert_eq!(tool.status, json!({"release": "1.4.2"}));
    assert_eq!(tool.outputs["url"], json!("http://localhost/app"));
    tool.delete();

    story(&mut tool, || {
        std::fs::write(&state, r#"{"release":"0.9.0-hotfix"}"#).unwrap()
    });
}

#[test]
fn exec_plugin_failure_is_a_named_error() {
    let dir = tempfile::tempdir().unwrap();
    let tool = Tool::new(
        "exec",
        json!({"create": "echo 'quota exceeded' >&2; exit 4"}),
        dir.path(),
    );
    match tool.run(Operation::Create) {
        Err(err @ HostError::Plugin { .. }) => {
            let message = err.to_string();
            assert!(message.contains("exec.story"), "{message}");
            assert!(message.contains("exited with status 4"), "{message}");
            assert!(message.contains("quota exceeded"), "{message}");
        }
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

#[test]
fn noop_fixture_story() {
    let dir = tempfile::tempdir().unwrap();
    let options = json!({"value": {"replicas": 3}, "state_dir": "live", "pending_steps": 2});
    let mut tool = Tool::new("fixture-noop", options, dir.path());
    let live = dir.path().join("live/fixture-noop.story.json");
    story(&mut tool, || {
        std::fs::write(&live, r#"{"value":{"replicas":1}}"#).unwrap()
    });
    assert_eq!(tool.outputs["value"], json!({"replicas": 3}));
}
