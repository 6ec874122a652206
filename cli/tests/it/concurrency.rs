//! Parallel execution, failure isolation, interruption and concurrent runs, through the real binary.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use common::{Sandbox, spawn_until};

fn stamp(name: &str, secs: &str) -> String {
    format!(
        "mkdir -p out && date +%s%N > out/{name}.start && sleep {secs} && date +%s%N > out/{name}.end"
    )
}

fn read_ns(s: &Sandbox, f: &str) -> u128 {
    s.read(f).trim().parse().unwrap()
}

#[test]
fn independent_tools_overlap_and_dependents_wait() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        &format!(
            r#"
tools:
- name: exec
  instanceID: a
  options: {{create: "{a}", delete: "true"}}
- name: exec
  instanceID: b
  options: {{create: "{b}", delete: "true"}}
- name: exec
  instanceID: c
  dependsOn: ["exec.a"]
  options: {{create: "{c}", delete: "true"}}
"#,
            a = stamp("a", "1"),
            b = stamp("b", "1"),
            c = stamp("c", "0")
        ),
    );
    s.run(&["apply", "-y", "--parallelism", "4"]).expect(0);
    let (a0, a1) = (read_ns(&s, "out/a.start"), read_ns(&s, "out/a.end"));
    let (b0, b1) = (read_ns(&s, "out/b.start"), read_ns(&s, "out/b.end"));
    let c0 = read_ns(&s, "out/c.start");
    assert!(
        a0 < b1 && b0 < a1,
        "a and b are independent and must run at the same time"
    );
    assert!(c0 >= a1, "c depends on a and must start after a ended");

    // With one worker nothing overlaps.
    s.run(&["destroy", "-y"]).expect(0);
    s.run(&["apply", "-y", "--parallelism", "1"]).expect(0);
    let (a0, a1) = (read_ns(&s, "out/a.start"), read_ns(&s, "out/a.end"));
    let (b0, b1) = (read_ns(&s, "out/b.start"), read_ns(&s, "out/b.end"));
    assert!(a1 <= b0 || b1 <= a0, "parallelism 1 must serialise");
}

#[test]
fn a_failure_stops_its_dependents_only() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        r#"
tools:
- name: exec
  instanceID: bad
  options: {create: "echo boom-from-create >&2; exit 3", delete: "true"}
- name: exec
  instanceID: after-bad
  dependsOn: ["exec.bad"]
  options: {create: "touch out-after-bad", delete: "true"}
- name: exec
  instanceID: independent
  options: {create: "touch out-independent", delete: "true"}
"#,
    );
    let r = s.run(&["apply", "-y"]).expect(1);
    let out = r.stdout();
    assert!(out.contains("boom-from-create"), "{}", r.all());
    assert!(
        out.contains("exec.after-bad") && out.contains("dependency exec.bad failed"),
        "{}",
        r.all()
    );
    assert!(s.path("out-independent").exists());
    assert!(!s.path("out-after-bad").exists());
    let state = s.state();
    assert_eq!(state["resources"]["exec.bad"]["lifecycle"], "failed");
    assert!(
        state["resources"]["exec.bad"]["last_error"]
            .as_str()
            .unwrap()
            .contains("boom-from-create")
    );
    assert_eq!(
        state["resources"]["exec.independent"]["lifecycle"],
        "completed"
    );
    assert!(state["resources"].get("exec.after-bad").is_none());

    // Fix the command: the next apply retries the failed tool and runs its dependent.
    let fixed = s
        .read("config.yaml")
        .replace("echo boom-from-create >&2; exit 3", "true");
    s.write("config.yaml", &fixed);
    let plan = s.run(&["plan"]).expect(0);
    assert!(plan.stdout().contains("last run failed"), "{}", plan.all());
    s.run(&["apply", "-y"]).expect(0);
    assert!(s.path("out-after-bad").exists());
}

#[test]
fn output_references_resolve_through_nested_maps_and_lists() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        r#"
tools:
- name: file
  instanceID: src
  options: {path: out/src.txt, content: "source"}
- name: exec
  instanceID: consumer
  options:
    create: "cat > request.json"
    delete: "true"
    options:
      nested:
        list:
        - ${{ file.src.outputs.sha256 }}
        - {deep: "sha=${{ file.src.outputs.sha256 }}", where: "${{ file.src.outputs.path }}"}
"#,
    );
    s.run(&["apply", "-y"]).expect(0);
    let sha = s.state()["resources"]["file.src"]["outputs"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sha.len(), 64);
    let req: serde_json::Value = serde_json::from_str(&s.read("request.json")).unwrap();
    let list = &req["options"]["nested"]["list"];
    assert_eq!(list[0], sha.as_str());
    assert_eq!(list[1]["deep"], format!("sha={sha}").as_str());
    assert!(list[1]["where"].as_str().unwrap().ends_with("out/src.txt"));
    // The reference implied the dependency: the consumer is recorded depending on the source.
    assert_eq!(
        s.state()["resources"]["exec.consumer"]["depends_on"],
        serde_json::json!(["file.src"])
    );
}

const SLOW_CHAIN: &str = r#"
tools:
- name: exec
  instanceID: slow
  options: {create: "sleep 2 && touch slow.done", delete: "rm -f slow.done"}
- name: exec
  instanceID: after
  dependsOn: ["exec.slow"]
  options: {create: "touch after.done", delete: "rm -f after.done"}
"#;

#[test]
fn sigint_finishes_running_steps_saves_state_and_exits_130() {
    let s = Sandbox::new();
    s.write("config.yaml", SLOW_CHAIN);
    let (mut child, rx) = spawn_until(&s, &["apply", "-y"], "exec.slow: creating");
    // SAFETY-free: plain kill(2) on our own child.
    let rc = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let status = child.wait().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    assert_eq!(status.code(), Some(130), "output:\n{}", rest.join("\n"));
    assert!(
        s.path("slow.done").exists(),
        "the running step was allowed to finish"
    );
    assert!(
        !s.path("after.done").exists(),
        "nothing new was started after the interrupt"
    );
    let state = s.state();
    assert_eq!(state["resources"]["exec.slow"]["lifecycle"], "completed");
    assert!(state["resources"].get("exec.after").is_none());
    assert!(!s.path("devstream.state.lock").exists(), "lock released");
    // A clean re-run finishes the job.
    s.run(&["apply", "-y"]).expect(0);
    assert!(s.path("after.done").exists());
    s.run(&["verify"]).expect(0);
}

#[test]
fn a_second_apply_on_the_same_state_is_refused() {
    let s = Sandbox::new();
    s.write("config.yaml", SLOW_CHAIN);
    let (mut child, _rx) = spawn_until(&s, &["apply", "-y"], "exec.slow: creating");
    let second = s.run(&["apply", "-y"]).expect(1);
    assert!(second.stderr().contains("locked by"), "{}", second.all());
    assert!(second.stderr().contains("apply"), "{}", second.all());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let state = s.state();
    assert_eq!(state["resources"]["exec.slow"]["lifecycle"], "completed");
    assert_eq!(state["resources"]["exec.after"]["lifecycle"], "completed");
    s.run(&["verify"]).expect(0);
}

#[test]
fn destroy_deletes_dependents_first() {
    let s = Sandbox::new();
    let tool = |id: &str, dep: Option<&str>| {
        let dep = dep
            .map(|d| format!("  dependsOn: [\"exec.{d}\"]\n"))
            .unwrap_or_default();
        format!(
            "- name: exec\n  instanceID: {id}\n{dep}  options: {{create: \"true\", delete: \"sleep 0.2; echo {id} >> order.txt\"}}\n"
        )
    };
    let config = format!(
        "tools:\n{}{}{}{}",
        tool("base", None),
        tool("middle", Some("base")),
        tool("top", Some("middle")),
        tool("side", Some("base"))
    );
    s.write("config.yaml", &config);
    s.run(&["apply", "-y"]).expect(0);
    s.run(&["destroy", "-y", "--parallelism", "8"]).expect(0);
    let order: Vec<String> = s.read("order.txt").lines().map(str::to_string).collect();
    let pos = |id: &str| {
        order
            .iter()
            .position(|l| l == id)
            .unwrap_or_else(|| panic!("{id} not deleted: {order:?}"))
    };
    assert!(pos("top") < pos("middle"), "{order:?}");
    assert!(pos("middle") < pos("base"), "{order:?}");
    assert!(pos("side") < pos("base"), "{order:?}");
    assert_eq!(order.len(), 4);
}
