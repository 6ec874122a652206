//! `dtm show config -p NAME` prints a commented sample config, and that sample is a valid
//! config: planned against empty state (which only validates, no network) it creates one tool.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use common::Sandbox;
use serde_json::Value;

/// Plugins whose sample must plan: every plugin of the workspace.
const SAMPLED: &[&str] = &[
    "file",
    "exec",
    "repo-scaffolding",
    "github-actions",
    "gitlab-ci",
    "ci-generic",
    "k8s-manifest",
    "argocdapp",
    "helm-installer",
    "jenkins-pipeline",
    "devlake-config",
    "trello",
    "jira",
    "gitlab-ce-docker",
    "harbor-docker",
    "zentao",
];

#[test]
fn every_plugins_sample_config_plans_one_tool() {
    let plugin_dir = common::target_dir();
    let plugin_dir = plugin_dir.to_str().unwrap();
    let mut failures = Vec::new();
    for name in SAMPLED {
        let s = Sandbox::new();
        let sample = s
            .run(&["show", "config", "-p", name, "--plugin-dir", plugin_dir])
            .expect(0)
            .stdout();
        assert!(
            sample.contains(&format!("- name: {name}\n")),
            "{name}: no tool entry in the sample\n{sample}"
        );
        s.write("dtm.yaml", &sample);
        let plan = s.run(&["plan", "-f", "dtm.yaml", "--plugin-dir", plugin_dir]);
        if plan.code() != 0 || !plan.stdout().contains("1 to create") {
            failures.push(format!(
                "{name}: the sample does not plan\n{sample}\n{}",
                plan.all()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn json_output_is_the_manifest_and_schema_flag_the_options_schema() {
    let s = Sandbox::new();
    let manifest: Value = serde_json::from_str(
        &s.run(&["show", "config", "-p", "file", "-o", "json"])
            .expect(0)
            .stdout(),
    )
    .unwrap();
    assert_eq!(manifest["name"], "file");
    assert_eq!(
        manifest["options_schema"]["required"],
        serde_json::json!(["path"])
    );
    let schema: Value = serde_json::from_str(
        &s.run(&["show", "config", "-p", "file", "--schema"])
            .expect(0)
            .stdout(),
    )
    .unwrap();
    assert_eq!(schema, manifest["options_schema"]);
}
