//! The whole loop a user runs: plan, apply, drift, verify, repair, destroy.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use common::Sandbox;

const CONFIG: &str = r#"
tools:
- name: file
  instanceID: motd
  options:
    path: out/motd.txt
    content: "hello\n"
"#;

#[test]
fn plan_apply_drift_verify_repair_destroy() {
    let s = Sandbox::new();
    s.write("config.yaml", CONFIG);

    let plan = s.run(&["plan", "--detailed-exitcode"]).expect(2);
    assert!(
        plan.stdout()
            .contains("Plan: 1 to create, 0 to update, 0 to delete"),
        "{}",
        plan.all()
    );
    assert!(
        !s.path("out/motd.txt").exists(),
        "plan must not change anything"
    );
    assert!(
        !s.path("devstream.state").exists(),
        "plan must not write state"
    );

    let apply = s.run(&["apply", "-y"]).expect(0);
    assert!(apply.stdout().contains("1 created"), "{}", apply.all());
    assert_eq!(s.read("out/motd.txt"), "hello\n");
    let state = s.state();
    assert_eq!(state["resources"]["file.motd"]["lifecycle"], "completed");
    assert_eq!(state["serial"], 1);

    s.run(&["verify"]).expect(0);
    s.run(&["plan", "--detailed-exitcode"]).expect(0);

    // Drift: an edit by hand.
    std::fs::write(s.path("out/motd.txt"), "edited by hand\n").unwrap();
    let verify = s.run(&["verify"]).expect(2);
    assert!(verify.stdout().contains("drift"), "{}", verify.all());
    assert!(verify.stdout().contains("file.motd"), "{}", verify.all());

    s.run(&["apply", "-y"]).expect(0);
    assert_eq!(s.read("out/motd.txt"), "hello\n");
    s.run(&["verify"]).expect(0);

    // Option change → update.
    s.write("config.yaml", &CONFIG.replace("hello", "goodbye"));
    let plan = s.run(&["plan"]).expect(0);
    assert!(plan.stdout().contains("options changed"), "{}", plan.all());
    assert!(
        plan.stdout().contains("+   \"content\": \"goodbye\\n\","),
        "{}",
        plan.all()
    );
    s.run(&["apply", "-y"]).expect(0);
    assert_eq!(s.read("out/motd.txt"), "goodbye\n");

    // Deleted by hand → recreated.
    std::fs::remove_file(s.path("out/motd.txt")).unwrap();
    let plan = s.run(&["plan"]).expect(0);
    assert!(plan.stdout().contains("absent"), "{}", plan.all());
    s.run(&["apply", "-y"]).expect(0);
    assert!(s.path("out/motd.txt").exists());

    let destroy = s.run(&["destroy", "-y"]).expect(0);
    assert!(destroy.stdout().contains("1 deleted"), "{}", destroy.all());
    assert!(!s.path("out/motd.txt").exists());
    assert_eq!(s.state()["resources"], serde_json::json!({}));
    // Nothing left: destroy again is a no-op.
    s.run(&["destroy", "-y"]).expect(0);
}

#[test]
fn removing_a_tool_from_the_config_deletes_it() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        r#"
tools:
- name: file
  instanceID: a
  options: {path: out/a.txt, content: "a"}
- name: file
  instanceID: b
  options: {path: out/b.txt, content: "b"}
"#,
    );
    s.run(&["apply", "-y"]).expect(0);
    s.write(
        "config.yaml",
        "tools:\n- name: file\n  instanceID: a\n  options: {path: out/a.txt, content: \"a\"}\n",
    );
    let plan = s.run(&["plan"]).expect(0);
    assert!(
        plan.stdout().contains("no longer in the config"),
        "{}",
        plan.all()
    );
    s.run(&["apply", "-y"]).expect(0);
    assert!(s.path("out/a.txt").exists());
    assert!(!s.path("out/b.txt").exists());
}

#[test]
fn delete_removes_only_configured_tools() {
    let s = Sandbox::new();
    s.write(
        "a.yaml",
        "tools:\n- name: file\n  instanceID: a\n  options: {path: out/a.txt, content: \"a\"}\n",
    );
    s.run(&["apply", "-y", "-f", "a.yaml"]).expect(0);
    s.run(&["delete", "-y", "-f", "a.yaml"]).expect(0);
    assert!(!s.path("out/a.txt").exists());
}

#[test]
fn apply_refuses_to_prompt_without_a_terminal() {
    let s = Sandbox::new();
    s.write("config.yaml", CONFIG);
    let r = s.run(&["apply"]).expect(1);
    assert!(
        r.stderr().contains("stdin is not a terminal"),
        "{}",
        r.all()
    );
    assert!(r.stderr().contains("-y"), "{}", r.all());
    assert!(!s.path("out/motd.txt").exists());
    // The lock was released: a confirmed run works at once.
    s.run(&["apply", "-y"]).expect(0);
}

#[test]
fn json_output_is_one_document() {
    let s = Sandbox::new();
    s.write("config.yaml", CONFIG);
    let r = s.run(&["plan", "-o", "json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(v["summary"]["create"], 1);
    assert_eq!(v["changes"][0]["key"], "file.motd");
    assert_eq!(v["changes"][0]["action"], "create");

    let r = s.run(&["apply", "-y", "-o", "json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(v["outcome"]["results"][0]["result"], "done");

    let r = s.run(&["verify", "-o", "json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(v["in_sync"], true);
}

#[test]
fn version_and_help() {
    let s = Sandbox::new();
    let r = s.run(&["version"]).expect(0);
    assert!(r.stdout().starts_with("dtm "), "{}", r.all());
    assert!(r.stdout().contains("plugin ABI 1."), "{}", r.all());
    for cmd in [
        "plan",
        "apply",
        "delete",
        "destroy",
        "verify",
        "graph",
        "state",
        "show",
        "list",
        "completion",
    ] {
        let r = s.run(&[cmd, "--help"]).expect(0);
        assert!(r.stdout().contains("Usage: dtm"), "{cmd}: {}", r.all());
    }
    s.run(&["completion", "bash"]).expect(0);
}

#[test]
fn graph_prints_dot() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        r#"
tools:
- name: file
  instanceID: a
  options: {path: out/a.txt, content: "a"}
- name: file
  instanceID: b
  options: {path: out/b.txt, content: "${{ file.a.outputs.sha256 }}"}
"#,
    );
    let r = s.run(&["graph"]).expect(0);
    assert!(r.stdout().starts_with("digraph dtm {"), "{}", r.all());
    assert!(
        r.stdout().contains("\"file.a\" -> \"file.b\";"),
        "{}",
        r.all()
    );
}

#[test]
fn destroy_forgets_a_tool_that_is_already_gone() {
    let s = Sandbox::new();
    s.write("config.yaml", CONFIG);
    s.run(&["apply", "-y"]).expect(0);
    std::fs::remove_file(s.path("out/motd.txt")).unwrap();
    let out = s.run(&["destroy", "-y"]).expect(0);
    assert!(out.stdout().contains("absent"), "{}", out.all());
    assert_eq!(
        s.state()["resources"],
        serde_json::json!({}),
        "{}",
        out.all()
    );
    let out = s.run(&["destroy", "-y"]).expect(0);
    assert!(out.stdout().contains("No changes"), "{}", out.all());
}

#[test]
fn a_changed_path_moves_the_file_instead_of_recreating_it() {
    let s = Sandbox::new();
    s.write("config.yaml", CONFIG);
    s.run(&["apply", "-y"]).expect(0);
    s.write(
        "config.yaml",
        &CONFIG.replace("out/motd.txt", "out/moved.txt"),
    );
    // The file is where dtm wrote it, so this is an update of the options, not a file removed
    // outside dtm that must be created again.
    let plan = s.run(&["plan", "--detailed-exitcode"]).expect(2);
    assert!(
        plan.stdout().contains("file.motd will be updated")
            && !plan.stdout().contains("removed outside dtm"),
        "{}",
        plan.all()
    );
    s.run(&["apply", "-y"]).expect(0);
    assert_eq!(s.read("out/moved.txt"), "hello\n");
    assert!(
        !s.path("out/motd.txt").exists(),
        "the old file stayed behind"
    );
    s.run(&["verify"]).expect(0);
    s.run(&["destroy", "-y"]).expect(0);
    assert!(!s.path("out/moved.txt").exists());
}

#[test]
fn plugins_get_an_absolute_workdir_from_a_relative_config_path() {
    let s = Sandbox::new();
    s.write(
        "conf/dtm.yaml",
        "tools:\n- name: exec\n  instanceID: wd\n  options:\n    create: 'printf \"{\\\"outputs\\\": {\\\"wd\\\": \\\"%s\\\"}}\" \"$DTM_WORKDIR\"'\n",
    );
    s.run(&["apply", "-y", "-f", "conf/dtm.yaml"]).expect(0);
    let state: serde_json::Value = serde_json::from_str(&s.read("conf/devstream.state")).unwrap();
    let wd = state["resources"]["exec.wd"]["outputs"]["wd"]
        .as_str()
        .unwrap_or_else(|| panic!("{state}"))
        .to_string();
    assert!(std::path::Path::new(&wd).is_absolute(), "{wd}");
    assert_eq!(
        std::fs::canonicalize(&wd).unwrap(),
        std::fs::canonicalize(s.path("conf")).unwrap()
    );
}
