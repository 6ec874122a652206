//! Snapshots of the text a user reads: help, a plan, an apply's summary (with a failure and what
//! it skipped), a plan with nothing to do, and a config error. Paths, times and ids are filtered
//! (`common::user_text`); `cargo insta review` (or `INSTA_UPDATE=always`) takes a new snapshot.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common::{Sandbox, dtm_snapshot};

const CONFIG: &str = r#"
tools:
- name: file
  instanceID: motd
  options:
    path: out/motd.txt
    content: "hello\n"
- name: file
  instanceID: banner
  dependsOn: ["file.motd"]
  options:
    path: out/banner.txt
    content: "welcome\n"
"#;

#[test]
fn help() {
    let s = Sandbox::new();
    dtm_snapshot!(s, ["--help"], 0);
}

#[test]
fn apply_help() {
    let s = Sandbox::new();
    dtm_snapshot!(s, ["apply", "--help"], 0);
}

#[test]
fn plan_then_apply_then_nothing_to_do() {
    let s = Sandbox::new();
    s.write("config.yaml", CONFIG);
    dtm_snapshot!(s, ["plan"], 0);
    dtm_snapshot!(s, ["apply", "-y"], 0);
    dtm_snapshot!(s, ["plan"], 0);
}

#[test]
fn apply_summary_with_a_failure_and_what_it_skipped() {
    // Two tools, one after the other: the progress lines come in one order.
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        r#"
tools:
- name: exec
  instanceID: broken
  options: {create: "echo the disk is full >&2; exit 3", delete: "true"}
- name: file
  instanceID: after
  dependsOn: ["exec.broken"]
  options: {path: out/after.txt, content: "x"}
"#,
    );
    dtm_snapshot!(s, ["apply", "-y"], 1);
}

#[test]
fn config_errors_name_the_file_line_and_key() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        r#"
tools:
- name: file
  instanceID: motd
  dependsOn: ["file.missing"]
  options: {path: out/motd.txt, content: "x"}
"#,
    );
    dtm_snapshot!(s, ["plan"], 1);
}

#[test]
fn an_unreadable_config_prints_its_cause_once() {
    let s = Sandbox::new();
    dtm_snapshot!(s, ["plan", "-f", "nowhere.yaml"], 1);
}
