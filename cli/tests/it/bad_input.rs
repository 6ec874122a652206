//! Bad input gets a named error and loses nothing.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use common::Sandbox;

#[test]
fn dependency_cycle_is_reported_with_its_path() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        r#"
tools:
- name: file
  instanceID: a
  dependsOn: ["file.b"]
  options: {path: out/a.txt, content: "a"}
- name: file
  instanceID: b
  options: {path: out/b.txt, content: "${{ file.a.outputs.path }}"}
"#,
    );
    let r = s.run(&["apply", "-y"]).expect(1);
    assert!(r.stderr().contains("cycle"), "{}", r.all());
    assert!(
        r.stderr().contains("file.a -> file.b -> file.a")
            || r.stderr().contains("file.b -> file.a -> file.b"),
        "{}",
        r.all()
    );
    assert!(!s.path("devstream.state").exists());
}

#[test]
fn missing_variables_are_all_reported_with_locations() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "vars:\n  a: 1\ntools:\n- name: file\n  instanceID: x\n  options:\n    path: \"[[ nope ]]\"\n    content: '[[ env \"DTM_TEST_SURELY_UNSET\" ]]'\n",
    );
    let r = s.run(&["plan"]).expect(1);
    let err = r.stderr();
    assert!(err.contains("config.yaml:7:"), "{}", r.all());
    assert!(err.contains("nope"), "{}", r.all());
    assert!(err.contains("DTM_TEST_SURELY_UNSET"), "{}", r.all());
}

#[test]
fn unknown_key_suggests_the_right_one() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "tools:\n- name: file\n  instanceId: x\n  options: {path: a, content: b}\n",
    );
    let r = s.run(&["plan"]).expect(1);
    assert!(r.stderr().contains("instanceID"), "{}", r.all());
    assert!(r.stderr().contains("config.yaml:3:"), "{}", r.all());
}

#[test]
fn broken_yaml_names_the_position() {
    let s = Sandbox::new();
    s.write("config.yaml", "tools:\n- name: file\n  options: {path: [\n");
    let r = s.run(&["plan"]).expect(1);
    assert!(r.stderr().contains("config.yaml:"), "{}", r.all());
}

#[test]
fn unknown_plugin_says_where_it_looked() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "tools:\n- name: no-such-plugin\n  instanceID: x\n  options: {}\n",
    );
    let r = s.run(&["plan"]).expect(1);
    assert!(r.stderr().contains("no-such-plugin"), "{}", r.all());
}

#[test]
fn options_failing_the_schema_are_refused_before_anything_runs() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "tools:\n- name: file\n  instanceID: x\n  options: {path: 42}\n",
    );
    let r = s.run(&["apply", "-y"]).expect(1);
    assert!(
        r.stderr().contains("file.x")
            || r.stderr().contains("/path")
            || r.stderr().contains("path"),
        "{}",
        r.all()
    );
    assert!(!s.path("devstream.state").exists());
}

#[test]
fn corrupt_state_is_refused_and_left_untouched() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "tools:\n- name: file\n  instanceID: x\n  options: {path: out/x, content: x}\n",
    );
    let garbage = "{\"format_version\": 1, \"lineage\": tru";
    s.write("devstream.state", garbage);
    let r = s.run(&["apply", "-y"]).expect(1);
    assert!(r.stderr().contains("corrupt"), "{}", r.all());
    assert_eq!(s.read("devstream.state"), garbage);
    assert!(!s.path("out/x").exists());
}

#[test]
fn future_state_version_is_refused_and_left_untouched() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "tools:\n- name: file\n  instanceID: x\n  options: {path: out/x, content: x}\n",
    );
    let future = r#"{"format_version": 7, "lineage": "abc", "serial": 3, "resources": {}}"#;
    s.write("devstream.state", future);
    let r = s.run(&["apply", "-y"]).expect(1);
    assert!(r.stderr().contains("format version 7"), "{}", r.all());
    assert!(r.stderr().contains("upgrade dtm"), "{}", r.all());
    assert_eq!(s.read("devstream.state"), future);
}

#[test]
fn devstream_state_is_recognised_as_foreign() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "tools:\n- name: file\n  instanceID: x\n  options: {path: out/x, content: x}\n",
    );
    let ds = "file_x:\n  name: file\n  instanceID: x\n  dependsOn: []\n  options: {}\n  resourceStatus: {}\n";
    s.write("devstream.state", ds);
    let r = s.run(&["plan"]).expect(1);
    assert!(r.stderr().contains("DevStream"), "{}", r.all());
    assert_eq!(s.read("devstream.state"), ds);
}

#[test]
fn secrets_never_reach_state_or_output() {
    let s = Sandbox::new();
    let secret = "hunter2-very-secret";
    s.write(
        "config.yaml",
        r#"
tools:
- name: file
  instanceID: creds
  options:
    path: out/creds
    content: "token=[[ env "DTM_TEST_TOKEN" ]]"
"#,
    );
    let plan = s
        .cmd(&["plan"])
        .env("DTM_TEST_TOKEN", secret)
        .output()
        .unwrap();
    let apply = s
        .cmd(&["apply", "-y"])
        .env("DTM_TEST_TOKEN", secret)
        .output()
        .unwrap();
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    let json = s
        .cmd(&["plan", "-o", "json"])
        .env("DTM_TEST_TOKEN", secret)
        .output()
        .unwrap();
    let show = s
        .cmd(&["show", "config"])
        .env("DTM_TEST_TOKEN", secret)
        .output()
        .unwrap();
    for out in [&plan, &apply, &json, &show] {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains(secret), "secret leaked into output:\n{text}");
    }
    assert!(String::from_utf8_lossy(&plan.stdout).contains("(sensitive)"));
    let state = s.read("devstream.state");
    assert!(!state.contains(secret), "secret leaked into state");
    // Recorded as a keyed hash plus where it comes from, to rebuild it once the tool is removed.
    assert!(
        state.contains(r#""template":["token=",{"env":"DTM_TEST_TOKEN"}]"#),
        "{state}"
    );
    assert!(
        state.contains(r#"{"$secret":{"hmac":"hmac-sha256:"#),
        "{state}"
    );
    // The plugin got the clear value.
    assert_eq!(s.read("out/creds"), format!("token={secret}"));
    // Unchanged secret: no change. Changed secret: detected as a change, still masked.
    let same = s
        .cmd(&["verify"])
        .env("DTM_TEST_TOKEN", secret)
        .output()
        .unwrap();
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    let changed = s
        .cmd(&["verify"])
        .env("DTM_TEST_TOKEN", "another-secret-value")
        .output()
        .unwrap();
    assert_eq!(changed.status.code(), Some(2));
    let text = String::from_utf8_lossy(&changed.stdout);
    assert!(
        !text.contains("another-secret-value") && text.contains("options changed"),
        "{text}"
    );
}

#[test]
fn a_panicking_plugin_fails_its_tool_not_dtm() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        r#"
tools:
- name: fixture-panic
  instanceID: boom
  options: {}
- name: file
  instanceID: fine
  options: {path: out/fine, content: fine}
"#,
    );
    let r = s.run(&["apply", "-y"]).expect(1);
    assert!(r.stdout().contains("fixture-panic.boom"), "{}", r.all());
    assert!(r.stdout().contains("panic"), "{}", r.all());
    assert!(
        s.path("out/fine").exists(),
        "independent tool must still be applied"
    );
    let state = s.state();
    assert_eq!(
        state["resources"]["fixture-panic.boom"]["lifecycle"],
        "failed"
    );
    assert_eq!(state["resources"]["file.fine"]["lifecycle"], "completed");
}

#[test]
fn a_plugin_that_never_returns_times_out_and_dtm_exits() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        r#"
tools:
- name: fixture-slow
  instanceID: stuck
  timeout: 1s
  options: {sleep_ms: 3600000, ignore_cancel: true}
"#,
    );
    let r = s.run(&["apply", "-y"]).expect(1);
    assert!(r.stdout().contains("did not finish"), "{}", r.all());
    assert_eq!(
        s.state()["resources"]["fixture-slow.stuck"]["lifecycle"],
        "failed"
    );
    // The lock was released.
    assert!(!s.path("devstream.state.lock").exists());
}

#[test]
fn a_plugin_for_another_abi_is_refused_by_name() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "tools:\n- name: fixture-wrong-abi\n  instanceID: x\n  options: {}\n",
    );
    let r = s.run(&["plan"]).expect(1);
    assert!(r.stderr().contains("ABI 2.0"), "{}", r.all());
    assert!(r.stderr().contains("ABI 1.0"), "{}", r.all());
}

#[test]
fn secrets_in_plugin_errors_and_logs_are_masked() {
    let s = Sandbox::new();
    let secret = "tok-3f9a-very-secret";
    s.write(
        "config.yaml",
        r#"
tools:
- name: exec
  instanceID: leaky
  options:
    create: 'echo "using $DTM_OPT_TOKEN" >&2; exit 4'
    delete: "true"
    options:
      token: [[ env "DTM_TEST_TOKEN" ]]
"#,
    );
    let out = s
        .cmd(&["apply", "-y"])
        .env("DTM_TEST_TOKEN", secret)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("using ***"),
        "the error should still be shown, masked:\n{text}"
    );
    assert!(!text.contains(secret), "secret leaked into output:\n{text}");
    let state = s.read("devstream.state");
    assert!(state.contains("using ***"), "{state}");
    assert!(
        !state.contains(secret),
        "secret leaked into state:\n{state}"
    );
}

#[test]
fn plugins_validate_options_before_anything_runs() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        r#"
tools:
- name: file
  instanceID: fine
  options: {path: out/fine, content: fine}
- name: exec
  instanceID: blank
  options: {create: "   "}
- name: exec
  instanceID: slowpoke
  options: {create: "true", timeout: "whenever"}
"#,
    );
    let r = s.run(&["apply", "-y"]).expect(1);
    let err = r.stderr();
    assert!(err.contains("2 tools with invalid options"), "{}", r.all());
    assert!(
        err.contains("exec.blank") && err.contains("/create"),
        "{}",
        r.all()
    );
    assert!(
        err.contains("exec.slowpoke") && err.contains("/timeout"),
        "{}",
        r.all()
    );
    assert!(
        !s.path("out/fine").exists(),
        "nothing may run when options are invalid"
    );
    assert!(!s.path("devstream.state").exists());
}
