//! `dtm state pull | push | rm | mv | migrate | import-devstream` through the real binary, on the
//! local backend.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use common::Sandbox;
use serde_json::Value;

const CONFIG: &str = r#"
tools:
- name: file
  instanceID: a
  options:
    path: out/a.txt
    content: "a\n"
- name: file
  instanceID: b
  dependsOn: ["file.a"]
  options:
    path: out/b.txt
    content: "b\n"
"#;

fn applied() -> Sandbox {
    let s = Sandbox::new();
    s.write("config.yaml", CONFIG);
    s.run(&["apply", "-y"]).expect(0);
    s
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn pull_prints_the_state_and_push_puts_it_back() {
    let s = applied();
    let pulled = s.run(&["state", "pull"]).expect(0);
    let state = json(&pulled.stdout());
    assert_eq!(state["serial"], s.state()["serial"]);
    assert!(state["resources"]["file.b"].is_object(), "{}", pulled.all());

    // Forget b, push the edited copy: serial must grow.
    let mut edited = state.clone();
    edited["resources"]
        .as_object_mut()
        .unwrap()
        .remove("file.b");
    edited["serial"] = Value::from(state["serial"].as_u64().unwrap() + 1);
    s.write("edited.json", &edited.to_string());
    let push = s
        .run(&["state", "push", "edited.json", "-o", "json"])
        .expect(0);
    assert_eq!(json(&push.stdout())["tools"], 1, "{}", push.all());
    let stored = s.state();
    assert!(stored["resources"]["file.b"].is_null());
    assert_eq!(stored["serial"], edited["serial"]);

    // The old copy is older now: refused, then forced (the serial still grows).
    s.write("old.json", &pulled.stdout());
    let refused = s.run(&["state", "push", "old.json"]).expect(1);
    assert!(
        refused.stderr().contains("newer than old.json") && refused.stderr().contains("--force"),
        "{}",
        refused.all()
    );
    assert!(
        s.state()["resources"]["file.b"].is_null(),
        "nothing written"
    );
    s.run(&["state", "push", "old.json", "--force"]).expect(0);
    let stored = s.state();
    assert!(stored["resources"]["file.b"].is_object());
    assert!(stored["serial"].as_u64() > edited["serial"].as_u64());
}

#[test]
fn push_refuses_another_lineage_and_garbage() {
    let s = applied();
    let mut other = json(&s.run(&["state", "pull"]).expect(0).stdout());
    other["lineage"] = Value::from("0123456789abcdef0123456789abcdef");
    other["serial"] = Value::from(100);
    s.write("other.json", &other.to_string());
    let refused = s.run(&["state", "push", "other.json"]).expect(1);
    assert!(
        refused.stderr().contains("different states"),
        "{}",
        refused.all()
    );
    s.write("garbage.json", "{ not a state");
    let refused = s.run(&["state", "push", "garbage.json"]).expect(1);
    assert!(refused.stderr().contains("corrupt"), "{}", refused.all());
    assert_ne!(s.state()["lineage"], other["lineage"], "nothing written");
    s.run(&["state", "push", "other.json", "--force"]).expect(0);
    assert_eq!(s.state()["lineage"], other["lineage"]);

    // A stored state that cannot be read is replaced only with --force.
    std::fs::write(s.path("devstream.state"), "{ broken").unwrap();
    let refused = s.run(&["state", "push", "other.json"]).expect(1);
    assert!(refused.stderr().contains("--force"), "{}", refused.all());
    assert_eq!(s.read("devstream.state"), "{ broken");
    s.run(&["state", "push", "other.json", "--force"]).expect(0);
    assert_eq!(s.state()["lineage"], other["lineage"]);
    assert!(!s.path("devstream.state.lock").exists(), "lock released");
}

#[test]
fn rm_forgets_tools_and_names_dependents() {
    let s = applied();
    let missing = s.run(&["state", "rm", "file.a", "file.nope"]).expect(1);
    assert!(
        missing.stderr().contains("`file.nope`"),
        "{}",
        missing.all()
    );
    assert!(
        s.state()["resources"]["file.a"].is_object(),
        "nothing removed"
    );

    let rm = s.run(&["state", "rm", "file.a"]).expect(0);
    assert!(
        rm.stdout().contains("file.b"),
        "dependents named: {}",
        rm.all()
    );
    assert!(s.state()["resources"]["file.a"].is_null());
    assert!(
        s.path("out/a.txt").exists(),
        "the tool itself is not touched"
    );
}

#[test]
fn mv_renames_and_updates_dependencies() {
    let s = applied();
    let wrong = s.run(&["state", "mv", "file.a", "exec.a"]).expect(1);
    assert!(
        wrong.stderr().contains("cannot change its plugin"),
        "{}",
        wrong.all()
    );
    let taken = s.run(&["state", "mv", "file.a", "file.b"]).expect(1);
    assert!(
        taken.stderr().contains("already recorded"),
        "{}",
        taken.all()
    );

    let mv = s
        .run(&["state", "mv", "file.a", "file.first", "-o", "json"])
        .expect(0);
    assert_eq!(
        json(&mv.stdout())["dependents_updated"],
        serde_json::json!(["file.b"])
    );
    let state = s.state();
    assert!(state["resources"]["file.a"].is_null());
    assert_eq!(state["resources"]["file.first"]["instance_id"], "first");
    assert_eq!(
        state["resources"]["file.b"]["depends_on"],
        serde_json::json!(["file.first"])
    );
}

#[test]
fn commands_that_change_state_respect_the_lock() {
    let s = applied();
    s.write(
        "devstream.state.lock",
        r#"{"id": "held-1", "who": "bob", "host": "ci-7", "pid": 1, "operation": "apply",
            "created": "2026-01-01T00:00:00Z", "version": "0.1.0"}"#,
    );
    for args in [
        vec!["state", "rm", "file.a"],
        vec!["state", "mv", "file.a", "file.c"],
    ] {
        let run = s.run(&args).expect(1);
        assert!(
            run.stderr().contains("bob@ci-7") && run.stderr().contains("dtm state unlock held-1"),
            "{args:?}: {}",
            run.all()
        );
    }
    assert!(
        s.state()["resources"]["file.a"].is_object(),
        "nothing changed"
    );
    s.run(&["state", "unlock", "held-1"]).expect(0);
    s.run(&["state", "rm", "file.a"]).expect(0);
}

#[test]
fn migrate_copies_to_another_backend_and_refuses_to_overwrite() {
    let s = applied();
    s.write(
        "moved/config.yaml",
        &format!("config:\n  state:\n    backend: local\n    options:\n      stateFile: moved.state\n{CONFIG}"),
    );
    let migrate = s
        .run(&[
            "state",
            "migrate",
            "--to",
            "moved/config.yaml",
            "-o",
            "json",
        ])
        .expect(0);
    let report = json(&migrate.stdout());
    assert_eq!(report["verified"], true);
    assert_eq!(report["tools"], 2);
    let source = s.read("devstream.state");
    let target = s.read("moved/moved.state");
    assert_eq!(json(&source), json(&target));

    // A target that already holds tools is not overwritten without --force.
    let again = s
        .run(&["state", "migrate", "--to", "moved/config.yaml"])
        .expect(1);
    assert!(
        again
            .stderr()
            .contains("already holds a state with 2 tools"),
        "{}",
        again.all()
    );
    s.run(&["state", "migrate", "--to", "moved/config.yaml", "--force"])
        .expect(0);

    let same = s
        .run(&["state", "migrate", "--to", "config.yaml"])
        .expect(1);
    assert!(same.stderr().contains("same state"), "{}", same.all());
    // Neither lock is left behind.
    assert!(!s.path("devstream.state.lock").exists());
    assert!(!s.path("moved/moved.state.lock").exists());
}

const DEVSTREAM_STATE: &str = r#"
file_a:
  name: file
  instanceID: a
  dependsOn: []
  options:
    path: out/a.txt
    content: "a\n"
  resourceStatus:
    path: out/a.txt
    outputs:
      path: out/a.txt
file_b:
  name: file
  instanceID: b
  dependsOn: ["file.a"]
  options:
    path: out/b.txt
    content: "b\n"
  resourceStatus:
    path: out/b.txt
"#;

#[test]
fn import_devstream_converts_and_refuses_to_mix() {
    let s = Sandbox::new();
    s.write("config.yaml", CONFIG);
    s.write("devstream-old.state", DEVSTREAM_STATE);
    // Reading DevStream's file as dtm state is refused with a pointer to the import.
    s.write("devstream.state", DEVSTREAM_STATE);
    let foreign = s.run(&["state", "list"]).expect(1);
    assert!(
        foreign.stderr().contains("import-devstream"),
        "{}",
        foreign.all()
    );
    std::fs::remove_file(s.path("devstream.state")).unwrap();

    let import = s
        .run(&["state", "import-devstream", "devstream-old.state"])
        .expect(0);
    assert!(
        import.stdout().contains("Imported 2 tools"),
        "{}",
        import.all()
    );
    let state = s.state();
    let a = &state["resources"]["file.a"];
    assert_eq!(a["lifecycle"], "completed");
    assert_eq!(a["status"]["path"], "out/a.txt");
    assert_eq!(a["outputs"]["path"], "out/a.txt");
    assert_eq!(
        state["resources"]["file.b"]["depends_on"],
        serde_json::json!(["file.a"])
    );

    let again = s
        .run(&["state", "import-devstream", "devstream-old.state"])
        .expect(1);
    assert!(
        again.stderr().contains("already records 2 tools"),
        "{}",
        again.all()
    );
    s.run(&[
        "state",
        "import-devstream",
        "devstream-old.state",
        "--force",
    ])
    .expect(0);

    let garbage = s.write("garbage.state", "- not\n- a map\n");
    let refused = s
        .run(&["state", "import-devstream", garbage.to_str().unwrap()])
        .expect(1);
    assert!(
        refused.stderr().contains("not a DevStream state"),
        "{}",
        refused.all()
    );
}

#[test]
fn every_state_command_has_help() {
    let s = Sandbox::new();
    for (command, expected) in [
        ("pull", "Print the state document"),
        ("push", "lineage"),
        ("rm", "Forget tools"),
        ("mv", "Rename a recorded tool"),
        ("migrate", "--to <CONFIG>"),
        ("import-devstream", "DevStream"),
        ("unlock", "lock id"),
    ] {
        let help = s.run(&["state", command, "--help"]).expect(0);
        assert!(
            help.stdout().contains(expected),
            "{command}: {}",
            help.all()
        );
    }
}
