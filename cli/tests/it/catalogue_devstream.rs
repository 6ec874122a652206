//! DevStream's own example configs load unchanged, and the options they give this workspace's
//! plugins (repo-scaffolding, github-actions, argocdapp) pass those plugins' schemas and checks.
//!
//! The fixtures in `tests/fixtures/devstream/` are DevStream's published examples, as written in
//! its documentation: the quickstart (Go, GitHub, GitHub Actions; written down from DevStream's
//! quickstart page, which cannot be fetched here), the repo-scaffolding plugin page (Golang), the
//! config reference's tools section (a GitOps toolchain) and the "GitHub + GitHub Actions with DTM Apps" best practice.
//! `helm-installer` is not a plugin of this workspace, so a full plan cannot run; the tools of
//! this workspace's plugins are planned on their own (no network or cluster needed: a plan
//! against empty state only validates).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use std::path::Path;

use common::{Run, Sandbox};
use serde_json::Value;

const OURS: &[&str] = &[
    "repo-scaffolding",
    "github-actions",
    "gitlab-ci",
    "ci-generic",
    "argocdapp",
    "k8s-manifest",
];

fn run(s: &Sandbox, args: &[&str]) -> Run {
    Run(s
        .cmd(args)
        .env("GITHUB_TOKEN", "example-token")
        .env("IMAGE_REPO_PASSWORD", "example-password")
        .output()
        .unwrap())
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/devstream")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// Loads `text` with `dtm show config`, then plans the tools of this workspace's plugins.
/// Returns how many such tools there were.
fn loads_and_our_tools_validate(text: &str) -> usize {
    let s = Sandbox::new();
    s.write("devstream.yaml", text);
    let shown = run(
        &s,
        &["show", "config", "-f", "devstream.yaml", "-o", "json"],
    )
    .expect(0);
    let config: Value = serde_json::from_str(&shown.stdout()).unwrap();
    let ours: Vec<&Value> = config["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| OURS.contains(&t["name"].as_str().unwrap_or_default()))
        .collect();
    // YAML is a superset of JSON: one flow mapping per tool.
    let mut derived = String::from("tools:\n");
    for tool in &ours {
        let mut tool = (*tool).clone();
        let map = tool.as_object_mut().unwrap();
        map.retain(|k, v| !v.is_null() && k != "dependsOn");
        derived.push_str(&format!("- {tool}\n"));
    }
    s.write("ours.yaml", &derived);
    let plan = run(&s, &["plan", "-f", "ours.yaml"]).expect(0);
    assert!(
        plan.stdout().contains(&format!("{} to create", ours.len())),
        "{derived}\n{}",
        plan.all()
    );
    ours.len()
}

#[test]
fn devstream_repo_scaffolding_example_validates() {
    assert_eq!(
        loads_and_our_tools_validate(&fixture("repo-scaffolding-golang.yaml")),
        1
    );
}

#[test]
fn devstream_quickstart_example_validates_unchanged() {
    assert_eq!(loads_and_our_tools_validate(&fixture("quickstart.yaml")), 2);
}

#[test]
fn devstream_gitops_tools_example_validates() {
    assert_eq!(
        loads_and_our_tools_validate(&fixture("gitops-tools.yaml")),
        3
    );
}

#[test]
fn devstream_gitops_apps_example_validates_unchanged() {
    // DevStream's example writes `[[ env GITHUB_TOKEN ]]` without quotes; the apps expand into
    // repo-scaffolding, github-actions and argocdapp tools whose options pass the plugins' checks.
    assert!(fixture("gitops-apps.yaml").contains("[[ env GITHUB_TOKEN ]]"));
    assert_eq!(
        loads_and_our_tools_validate(&fixture("gitops-apps.yaml")),
        3
    );
}

#[test]
fn typos_in_repository_options_fail_before_anything_runs() {
    let s = Sandbox::new();
    s.write(
        "dtm.yaml",
        "tools:\n- name: repo-scaffolding\n  instanceID: x\n  options:\n    destinationRepo: {owner: a, name: n, scmType: githbu}\n    sourceRepo: {template: cobol}\n",
    );
    let out = run(&s, &["plan", "-f", "dtm.yaml"]).expect(1);
    assert!(out.all().contains("scmType"), "{}", out.all());
    assert!(out.all().contains("template"), "{}", out.all());
}
