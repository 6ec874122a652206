//! Option resolution, DevStream's defaults and validation, without helm or a cluster.

use std::path::Path;

use dtm_plugin_sdk::parse_options;
use dtm_plugin_sdk::testing::{TestHost, call, request};
use serde_json::{Value, json};

use super::*;
use crate::defaults::{DEFAULT_CHARTS, Extra};
use crate::options::{ChartRef, instance_id, valid_release_name};
use crate::release::{normalize, split_chart};

fn options(v: Value) -> Options {
    parse_options(&v).expect("options parse")
}

fn resolve(instance: &str, v: Value) -> Result<Spec, Vec<Problem>> {
    options(v).resolve(instance, Path::new("/srv/conf"))
}

#[test]
fn every_devstream_default_chart_resolves_with_no_options() {
    for d in DEFAULT_CHARTS {
        let spec = resolve(&format!("helm-installer.{}", d.name), Value::Null)
            .unwrap_or_else(|p| panic!("{}: {p:?}", d.name));
        let (_, chart) = d.chart_name.split_once('/').unwrap();
        assert_eq!(
            spec.chart,
            ChartRef::Repo {
                url: d.repo_url.into(),
                chart: chart.into()
            },
            "{}",
            d.name
        );
        assert_eq!(spec.release, d.release_name);
        assert_eq!(spec.namespace.as_deref(), Some(d.namespace));
        assert_eq!(spec.timeout.as_secs(), 600);
        assert!(spec.wait && spec.upgrade_crds);
    }
}

#[test]
fn devstream_defaults_fill_only_what_the_config_leaves_out() {
    let spec = resolve(
        "helm-installer.argocd-prod",
        json!({"chart": {"namespace": "gitops", "version": "5.1.0", "wait": false}}),
    )
    .unwrap();
    assert_eq!(spec.release, "argocd");
    assert_eq!(spec.namespace.as_deref(), Some("gitops"));
    assert_eq!(spec.version.as_deref(), Some("5.1.0"));
    assert!(!spec.wait);
    assert_eq!(
        spec.chart,
        ChartRef::Repo {
            url: "https://argoproj.github.io/argo-helm".into(),
            chart: "argo-cd".into()
        }
    );
    let jenkins = resolve("helm-installer.jenkins-001", Value::Null).unwrap();
    assert_eq!(jenkins.extra, Extra::JenkinsUrl);
}

#[test]
fn a_chart_without_defaults_needs_a_chart_and_defaults_its_release_to_the_instance_id() {
    let problems = resolve("helm-installer.nginx", Value::Null).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "/chart");
    assert!(problems[0].message.contains("chartPath"), "{problems:?}");
    assert!(problems[0].message.contains("`argocd`"), "{problems:?}");

    let spec = resolve(
        "helm-installer.web",
        json!({"repo": {"url": "http://127.0.0.1:1/charts"}, "chart": {"chartName": "web"}}),
    )
    .unwrap();
    assert_eq!(spec.release, "web");
    assert_eq!(spec.namespace, None);
    assert_eq!(spec.timeout.as_secs(), 300);

    let local = resolve(
        "helm-installer.web",
        json!({"chart": {"chartPath": "charts/web"}}),
    )
    .unwrap();
    assert_eq!(local.chart, ChartRef::Local("/srv/conf/charts/web".into()));
}

#[test]
fn chart_names_and_repositories_must_agree() {
    let p = resolve(
        "helm-installer.x",
        json!({"repo": {"name": "a", "url": "https://a"}, "chart": {"chartName": "b/web"}}),
    )
    .unwrap_err();
    assert_eq!(p[0].path, "/chart/chartName");
    assert!(p[0].message.contains("`repo.name` is `a`"), "{p:?}");
    let p = resolve("helm-installer.x", json!({"chart": {"chartName": "a/web"}})).unwrap_err();
    assert_eq!(p[0].path, "/repo/url");
    let oci = resolve(
        "helm-installer.x",
        json!({"chart": {"chartName": "oci://registry.local/charts/web"}}),
    )
    .unwrap();
    assert_eq!(
        oci.chart,
        ChartRef::Oci("oci://registry.local/charts/web".into())
    );
}

#[test]
fn values_merge_chart_values_yaml_then_values_yaml_then_values() {
    let spec = resolve(
        "helm-installer.argocd",
        json!({
            "chart": {"valuesYaml": "a: 1\nb: {c: 2, d: 3}\n"},
            "valuesYaml": "b:\n  c: 20\n",
            "values": {"b": {"e": 5}, "f": [1, 2]},
        }),
    )
    .unwrap();
    assert_eq!(
        spec.values,
        json!({"a": 1, "b": {"c": 20, "d": 3, "e": 5}, "f": [1, 2]})
    );
}

#[test]
fn values_yaml_without_a_colon_is_a_file_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("values.yaml"), "replicas: 2\n").unwrap();
    let spec = options(json!({"valuesYaml": "values.yaml"}))
        .resolve("helm-installer.argocd", dir.path())
        .unwrap();
    assert_eq!(spec.values, json!({"replicas": 2}));
    let p = options(json!({"valuesYaml": "missing.yaml"}))
        .resolve("helm-installer.argocd", dir.path())
        .unwrap_err();
    assert_eq!(p[0].path, "/valuesYaml");
    assert!(p[0].message.contains("missing.yaml"), "{p:?}");
}

#[test]
fn bad_values_timeouts_and_release_names_are_named() {
    let p = resolve(
        "helm-installer.argocd",
        json!({"chart": {"timeout": "ten minutes", "valuesYaml": "a: [1"}, "valuesYaml": "- 1\n- 2\n"}),
    )
    .unwrap_err();
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/chart/timeout", "/chart/valuesYaml", "/valuesYaml"].map(String::from),
        "{p:?}"
    );
    let p = resolve(
        "helm-installer.Web_App",
        json!({"chart": {"chartPath": "c"}}),
    )
    .unwrap_err();
    assert!(p[0].message.contains("set `chart.releaseName`"), "{p:?}");
    assert!(valid_release_name("argocd"));
    assert!(valid_release_name("a.b-c"));
    assert!(!valid_release_name("-a"));
    assert!(!valid_release_name(&"a".repeat(54)));
}

#[test]
fn instance_ids_split_at_the_first_dot() {
    assert_eq!(instance_id("helm-installer.argocd"), "argocd");
    assert_eq!(instance_id("helm-installer.argocd.prod"), "argocd.prod");
}

#[test]
fn helm_numbers_compare_equal_to_ours() {
    assert_eq!(
        normalize(json!({"a": 2.0, "b": [1.5, 3.0], "c": "2.0"})),
        json!({"a": 2, "b": [1.5, 3], "c": "2.0"})
    );
}

#[test]
fn validate_applies_the_defaults_and_names_problems() {
    let host = TestHost::new();
    let ok = request(Operation::Validate, "helm-installer.argocd", Value::Null);
    assert!(matches!(
        call(&HelmInstaller, &host, &ok),
        Response::Done { .. }
    ));
    let bad = request(Operation::Validate, "helm-installer.nginx", json!({}));
    match call(&HelmInstaller, &host, &bad) {
        Response::Invalid { problems } => assert_eq!(problems[0].path, "/chart"),
        other => panic!("{other:?}"),
    }
    let typo = request(
        Operation::Validate,
        "helm-installer.argocd",
        json!({"chart": {"chartname": "x"}}),
    );
    assert!(matches!(
        call(&HelmInstaller, &host, &typo),
        Response::Invalid { .. }
    ));
}

#[test]
fn history_chart_names_split_at_the_version() {
    let split = |t: &str| {
        let (a, b) = split_chart(t);
        (a, b)
    };
    assert_eq!(split("web-0.1.0"), ("web".into(), "0.1.0".into()));
    assert_eq!(
        split("web-2-1.0.0-rc.1"),
        ("web-2".into(), "1.0.0-rc.1".into())
    );
    assert_eq!(split("argo-cd-5.51.6"), ("argo-cd".into(), "5.51.6".into()));
    assert_eq!(split("odd"), ("odd".into(), String::new()));
}
