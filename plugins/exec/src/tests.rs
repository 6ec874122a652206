#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::Path;
use std::time::Instant;

use dtm_plugin_sdk::protocol::Request;
use dtm_plugin_sdk::testing::{TestHost, call, request};
use serde_json::{Value, json};

use super::*;

fn req(op: Operation, dir: &Path, options: Value) -> Request {
    let mut r = request(op, "exec.test", options);
    r.workdir = dir.display().to_string();
    r
}

fn done(resp: Response) -> (Value, BTreeMap<String, Value>) {
    match resp {
        Response::Done { status, outputs } => (status, outputs),
        other => panic!("expected done, got {other:?}"),
    }
}

fn error(resp: Response) -> PluginError {
    match resp {
        Response::Error { error } => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn env_keys_are_upper_snake_case() {
    assert_eq!(env_key("repoName"), "REPO_NAME");
    assert_eq!(env_key("log-level"), "LOG_LEVEL");
    assert_eq!(env_key("a.b c"), "A_B_C");
    assert_eq!(env_key("HTTPPort"), "HTTPPORT");
    assert_eq!(env_key("v2Api"), "V2_API");
}

#[test]
fn the_whole_story_with_a_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::new();
    let options = json!({
        "create": r#"printf '{"v":"%s"}' "$DTM_OPT_VERSION" > state.json; echo '{"outputs":{"url":"http://x"}}'"#,
        "read": "cat state.json 2>/dev/null || true",
        "delete": ["rm", "-f", "state.json"],
        "options": {"version": "1.0"}
    });
    let (status, outputs) = done(call(
        &ExecPlugin,
        &host,
        &req(Operation::Create, dir.path(), options.clone()),
    ));
    assert_eq!(status, json!({"v": "1.0"}));
    assert_eq!(outputs["url"], "http://x");

    let mut read = req(Operation::Read, dir.path(), options.clone());
    read.status = status.clone();
    read.outputs = outputs.clone();
    assert_eq!(
        done(call(&ExecPlugin, &host, &read)),
        (status.clone(), outputs.clone())
    );

    std::fs::write(dir.path().join("state.json"), r#"{"v":"hand-edited"}"#).unwrap();
    assert_eq!(
        done(call(&ExecPlugin, &host, &read)).0,
        json!({"v": "hand-edited"})
    );

    // No update command: create runs again.
    let (status2, _) = done(call(
        &ExecPlugin,
        &host,
        &req(Operation::Update, dir.path(), options.clone()),
    ));
    assert_eq!(status2, status);

    done(call(
        &ExecPlugin,
        &host,
        &req(Operation::Delete, dir.path(), options.clone()),
    ));
    assert_eq!(call(&ExecPlugin, &host, &read), Response::Absent);
    done(call(
        &ExecPlugin,
        &host,
        &req(Operation::Delete, dir.path(), options),
    ));
}

#[test]
fn commands_get_the_request_on_stdin_and_dtm_variables() {
    let dir = tempfile::tempdir().unwrap();
    let options = json!({
        "create": r#"cat > stdin.json; env | grep '^DTM_\|^EXTRA=' | sort > env.txt; pwd > pwd.txt"#,
        "env": {"EXTRA": 42},
        "options": {"repoName": "dtm", "count": 3, "on": true, "nested": {"x": 1}}
    });
    let mut r = req(Operation::Create, dir.path(), options);
    r.status = json!({"old": true});
    done(call(&ExecPlugin, &TestHost::new(), &r));

    let stdin: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("stdin.json")).unwrap())
            .unwrap();
    assert_eq!(stdin["instance"], "exec.test");
    assert_eq!(stdin["operation"], "create");
    assert_eq!(stdin["options"]["repoName"], "dtm");
    assert_eq!(stdin["status"], json!({"old": true}));

    let env = std::fs::read_to_string(dir.path().join("env.txt")).unwrap();
    for line in [
        "DTM_INSTANCE=exec.test",
        "DTM_OPERATION=create",
        "DTM_OPT_REPO_NAME=dtm",
        "DTM_OPT_COUNT=3",
        "DTM_OPT_ON=true",
        "EXTRA=42",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} missing from\n{env}");
    }
    assert!(!env.contains("DTM_OPT_NESTED"), "{env}");
    assert!(env.contains(r#"DTM_OPTIONS_JSON={"count":3,"#), "{env}");
    let pwd = std::fs::read_to_string(dir.path().join("pwd.txt")).unwrap();
    assert_eq!(
        Path::new(pwd.trim()).canonicalize().unwrap(),
        dir.path().canonicalize().unwrap()
    );
}

#[test]
fn a_failing_command_reports_its_exit_status_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let options = json!({"create": "echo 'no credentials for the registry' >&2; exit 3"});
    let err = error(call(
        &ExecPlugin,
        &TestHost::new(),
        &req(Operation::Create, dir.path(), options),
    ));
    assert_eq!(err.kind, ErrorKind::Internal);
    assert!(
        err.message.contains("create command of exec.test"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("exited with status 3"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("no credentials for the registry"),
        "{}",
        err.message
    );
}

#[test]
fn a_missing_program_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let options = json!({"create": ["/nonexistent/dtm-test-program"]});
    let err = error(call(
        &ExecPlugin,
        &TestHost::new(),
        &req(Operation::Create, dir.path(), options),
    ));
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(
        err.message.contains("/nonexistent/dtm-test-program"),
        "{}",
        err.message
    );
}

#[test]
fn a_timeout_kills_the_command_and_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    // The background job outlives its parent shell unless the whole process group is killed.
    let options = json!({"create": "(sleep 1; touch survived) & sleep 30", "timeout": "300ms"});
    let start = Instant::now();
    let err = error(call(
        &ExecPlugin,
        &TestHost::new(),
        &req(Operation::Create, dir.path(), options),
    ));
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert!(err.message.contains("300ms"), "{}", err.message);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !dir.path().join("survived").exists(),
        "the background job survived the timeout"
    );
}

#[test]
fn cancellation_stops_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::new();
    host.cancel();
    let start = Instant::now();
    let err = error(call(
        &ExecPlugin,
        &host,
        &req(
            Operation::Delete,
            dir.path(),
            json!({"create": "true", "delete": "sleep 30"}),
        ),
    ));
    assert_eq!(err.kind, ErrorKind::Cancelled);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn read_without_a_command_echoes_and_non_json_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = req(Operation::Read, dir.path(), json!({"create": "true"}));
    r.status = json!({"recorded": 1});
    assert_eq!(
        done(call(&ExecPlugin, &TestHost::new(), &r)).0,
        json!({"recorded": 1})
    );

    let r = req(
        Operation::Read,
        dir.path(),
        json!({"create": "true", "read": "echo not json"}),
    );
    let err = error(call(&ExecPlugin, &TestHost::new(), &r));
    assert!(err.message.contains("must print JSON"), "{}", err.message);
}

#[test]
fn create_stdout_may_carry_a_status_when_there_is_no_read_command() {
    let dir = tempfile::tempdir().unwrap();
    let options =
        json!({"create": r#"echo progress; echo '{"status": {"id": 7}, "outputs": {"id": 7}}'"#});
    // Two lines: not one JSON document, so nothing is taken from stdout.
    let (status, outputs) = done(call(
        &ExecPlugin,
        &TestHost::new(),
        &req(Operation::Create, dir.path(), options),
    ));
    assert_eq!((status, outputs.len()), (Value::Null, 0));

    let options = json!({"create": r#"echo '{"status": {"id": 7}, "outputs": {"id": 7}}'"#});
    let (status, outputs) = done(call(
        &ExecPlugin,
        &TestHost::new(),
        &req(Operation::Create, dir.path(), options),
    ));
    assert_eq!(status, json!({"id": 7}));
    assert_eq!(outputs["id"], 7);

    let options = json!({"create": r#"echo '{"outputs": [1]}'"#});
    let err = error(call(
        &ExecPlugin,
        &TestHost::new(),
        &req(Operation::Create, dir.path(), options),
    ));
    assert!(
        err.message.contains("must be a JSON object"),
        "{}",
        err.message
    );
}

#[test]
fn validate_names_bad_commands_timeouts_and_env() {
    let options = json!({"create": [], "read": " ", "timeout": "soon", "env": {"A=B": "x"}});
    let Response::Invalid { problems } = call(
        &ExecPlugin,
        &TestHost::new(),
        &request(Operation::Validate, "exec.t", options),
    ) else {
        panic!("expected invalid")
    };
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["/create", "/read", "/timeout", "/env/A=B"]);

    let options = json!({"create": 3});
    let Response::Invalid { problems } = call(
        &ExecPlugin,
        &TestHost::new(),
        &request(Operation::Validate, "exec.t", options),
    ) else {
        panic!("expected invalid")
    };
    assert_eq!(problems[0].path, "/create");
    assert!(
        problems[0].message.contains("a command"),
        "{}",
        problems[0].message
    );
}
