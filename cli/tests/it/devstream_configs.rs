//! DevStream v0.12.1's own configs are accepted by `dtm plan` unchanged.
//!
//! The fixtures in `tests/fixtures/devstream/` named `examples-*.yaml`, `helm-installer-*.yaml`,
//! `plugin-*.yaml` and `use-case-*.yaml` are byte-for-byte copies of DevStream v0.12.1's
//! `examples/` files and of complete configs on its documentation pages (see the README there).
//! Each is copied into a fresh sandbox and planned as it is, with a dummy value for every
//! environment variable it names in `[[ env NAME ]]`, no kubeconfig (HOME inside the sandbox) and
//! an empty state: `dtm plan` must exit 0 (nothing to do) or 2 (changes planned). A plan against empty state only validates, so
//! no network or cluster is needed. Do not edit the fixtures to make a test pass.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use std::path::{Path, PathBuf};

use common::{Run, Sandbox};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/devstream")
}

/// Names of the environment variables `text` reads with `[[ env NAME ]]`, `[[ env "NAME" ]]`
/// or `[[env 'NAME']]`.
fn env_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("[[") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find("]]") else { break };
        let expr = rest[..end].trim();
        let arg = expr
            .strip_prefix("env")
            .filter(|arg| arg.starts_with(char::is_whitespace));
        if let Some(arg) = arg {
            let name = arg.trim().trim_matches(['"', '\'']);
            if !name.is_empty() && !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        rest = &rest[end + 2..];
    }
    names
}

/// `dtm plan -f FIXTURE` on an unchanged copy in a fresh sandbox: exit 0 or 2, else a failure
/// that shows dtm's stdout and stderr.
fn plans_unchanged(fixture: &str) {
    let original = fixture_dir().join(fixture);
    let text = std::fs::read_to_string(&original)
        .unwrap_or_else(|e| panic!("read {}: {e}", original.display()));
    let s = Sandbox::new();
    s.write(fixture, &text);
    std::fs::create_dir_all(s.path("home")).unwrap();
    let mut cmd = s.cmd(&["plan", "-f", fixture]);
    cmd.env("HOME", s.path("home")).env_remove("KUBECONFIG");
    let names = env_names(&text);
    for name in &names {
        cmd.env(
            name,
            format!("dummy-{}", name.to_lowercase().replace('_', "-")),
        );
    }
    let run = Run(cmd.output().unwrap());
    assert!(
        matches!(run.code(), 0 | 2),
        "`dtm plan -f {fixture}` exited {} on DevStream v0.12.1's config, unchanged \
         (dummy environment: {names:?})\n{}",
        run.code(),
        run.all()
    );
}

macro_rules! devstream_configs {
    ($($test:ident => $file:literal,)*) => {
        const FIXTURES: &[&str] = &[$($file),*];
        $(
            #[test]
            fn $test() {
                plans_unchanged($file);
            }
        )*
    };
}

devstream_configs! {
    examples_quickstart => "examples-quickstart.yaml",
    examples_gitops => "examples-gitops.yaml",
    examples_apps => "examples-apps.yaml",
    helm_installer_argocd_1 => "helm-installer-argocd-1.yaml",
    helm_installer_artifactory_1 => "helm-installer-artifactory-1.yaml",
    helm_installer_devlake_1 => "helm-installer-devlake-1.yaml",
    helm_installer_harbor_1 => "helm-installer-harbor-1.yaml",
    helm_installer_kube_prometheus_1 => "helm-installer-kube-prometheus-1.yaml",
    helm_installer_openldap_1 => "helm-installer-openldap-1.yaml",
    helm_installer_sonarqube_1 => "helm-installer-sonarqube-1.yaml",
    helm_installer_tekton_1 => "helm-installer-tekton-1.yaml",
    helm_installer_vault_1 => "helm-installer-vault-1.yaml",
    plugin_gitlab_ce_docker_1 => "plugin-gitlab-ce-docker-1.yaml",
    plugin_harbor_docker_1 => "plugin-harbor-docker-1.yaml",
    plugin_zentao_1 => "plugin-zentao-1.yaml",
    use_case_gitlab_dtm_apps_1 => "use-case-gitlab-dtm-apps-1.yaml",
}

#[test]
fn every_devstream_copy_has_a_test() {
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let copied = ["examples-", "helm-installer-", "plugin-", "use-case-"]
            .iter()
            .any(|prefix| name.starts_with(prefix));
        if copied && name.ends_with(".yaml") && !FIXTURES.contains(&name.as_str()) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "fixtures without a test in devstream_configs.rs: {missing:?}"
    );
}

#[test]
fn env_names_finds_devstream_spellings() {
    assert_eq!(
        env_names(
            "a: [[ env GITHUB_TOKEN ]]\nb: [[env \"X\"]] [[ y ]] [[ environment ]]\nc: [[ env 'Z' ]]"
        ),
        ["GITHUB_TOKEN", "X", "Z"]
    );
}
