//! Locks between runs, the confirmation prompt on a terminal, and the second Ctrl-C.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::{Sandbox, spawn_until};

const SLOW: &str = r#"
tools:
- name: exec
  instanceID: slow
  options: {create: "sleep 2 && touch slow.done", delete: "rm -f slow.done"}
"#;

fn signal(child: &std::process::Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn lock_timeout_waits_for_the_other_run() {
    let s = Sandbox::new();
    s.write("config.yaml", SLOW);
    let mut first = spawn_until(&s, &["apply", "-y"], "exec.slow: creating").0;
    let second = s.run(&["apply", "-y", "--lock-timeout", "60s"]).expect(0);
    assert_eq!(first.wait().unwrap().code(), Some(0));
    // The second run waited, then found nothing left to do.
    assert!(second.stdout().contains("No changes"), "{}", second.all());
}

#[test]
fn the_lock_of_a_killed_run_is_taken_over_by_the_next_run() {
    let s = Sandbox::new();
    s.write("config.yaml", SLOW);
    let mut first = spawn_until(&s, &["apply", "-y"], "exec.slow: creating").0;
    let pid = first.id();
    signal(&first, "-KILL");
    first.wait().unwrap();
    // The killed run could not release its lock.
    let left: serde_json::Value = serde_json::from_str(&s.read("devstream.state.lock")).unwrap();
    assert_eq!(left["pid"], pid);

    // The next run needs no `dtm state unlock`, and says what it found.
    let next = s.run(&["apply", "-y"]).expect(0);
    let err = next.stderr();
    assert!(
        err.contains("warning: state local file")
            && err.contains("took over the lock left by")
            && err.contains(&format!("pid {pid}, `dtm apply`"))
            && err.contains(&format!("lock id {}", left["id"].as_str().unwrap()))
            && err.contains(&format!("process {pid} on this host"))
            && err.contains("is gone"),
        "{}",
        next.all()
    );
    assert!(s.path("slow.done").exists());
    assert!(!s.path("devstream.state.lock").exists(), "lock released");
    s.run(&["verify"]).expect(0);
}

#[test]
fn a_stale_lock_of_another_host_still_needs_unlock() {
    let s = Sandbox::new();
    s.write("config.yaml", SLOW);
    // Left by a run on another machine sharing the directory: its process cannot be checked.
    s.write(
        "devstream.state.lock",
        r#"{"id": "far-1", "who": "bob", "host": "elsewhere-7", "pid": 4242, "operation": "apply",
            "created": "2026-01-01T00:00:00Z", "version": "0.1.0"}"#,
    );
    let blocked = s.run(&["apply", "-y"]).expect(1);
    let err = blocked.stderr();
    assert!(
        err.contains("bob@elsewhere-7")
            && err.contains("no longer running")
            && err.contains("dtm state unlock far-1"),
        "{}",
        blocked.all()
    );
    let listed = s.run(&["state", "list"]).expect(0);
    assert!(listed.stdout().contains("locked by"), "{}", listed.all());
    s.run(&["state", "unlock", "wrong-id"]).expect(1);
    s.run(&["state", "unlock", "far-1"]).expect(0);
    s.run(&["apply", "-y"]).expect(0);
    assert!(s.path("slow.done").exists());
}

#[test]
fn a_second_interrupt_abandons_a_hung_step_and_marks_it_failed() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "tools:\n- name: fixture-slow\n  instanceID: hung\n  options: {sleep_ms: 3600000, ignore_cancel: true}\n- name: file\n  instanceID: later\n  dependsOn: [\"fixture-slow.hung\"]\n  options: {path: later.txt, content: x}\n",
    );
    let mut child = spawn_until(&s, &["apply", "-y"], "fixture-slow.hung: creating").0;
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "-INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let state = s.state();
    let hung = &state["resources"]["fixture-slow.hung"];
    assert_eq!(hung["lifecycle"], "failed", "{hung}");
    assert!(
        hung["last_error"].as_str().unwrap().contains("abandoned"),
        "{hung}"
    );
    assert!(state["resources"].get("file.later").is_none());
    assert!(!s.path("later.txt").exists());
    assert!(!s.path("devstream.state.lock").exists(), "lock released");
}

/// Runs `dtm apply` under a pseudo-terminal (util-linux `script`), typing `answer`.
fn apply_on_a_terminal(s: &Sandbox, answer: &str) -> (Option<i32>, String) {
    let dtm = env!("CARGO_BIN_EXE_dtm");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{dtm} apply"), "/dev/null"])
        .current_dir(s.dir.path())
        .env("DTM_HOME", s.path(".dtm-home"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Give dtm time to reach the prompt before typing (the terminal echoes it anyway).
    std::thread::sleep(Duration::from_millis(1500));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{answer}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_prompt_on_a_terminal_needs_a_literal_yes() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "tools:\n- name: file\n  instanceID: a\n  options: {path: a.txt, content: a}\n",
    );
    let (code, out) = apply_on_a_terminal(&s, "y");
    assert!(out.contains("Only 'yes' will be accepted"), "{out}");
    assert_eq!(code, Some(1), "{out}");
    assert!(!s.path("a.txt").exists());
    let (code, out) = apply_on_a_terminal(&s, "yes");
    assert_eq!(code, Some(0), "{out}");
    assert!(s.path("a.txt").exists());
}
