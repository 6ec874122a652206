//! A deployed release as dtm records it: what helm says about it (chart, version, values,
//! revision, status) and, for drift Helm itself does not see, the fingerprint of each object of
//! its manifest as the cluster holds it now.
//!
//! The status is
//! `{"release", "namespace", "chart", "chartVersion", "appVersion", "revision", "deployed",
//! "status", "values", "objects": {"Kind ns/name": {"apiVersion", "digest"}}}`; `objects` has the shape
//! `dtm_kube_support::manage` records, so its waits and `recorded` work on it unchanged.

use dtm_kube_support::Cluster;
use dtm_kube_support::manage::{Recorded, recorded, status_of};
use dtm_kube_support::objects::{Object, ObjectKey, fingerprint, parse_yaml};
use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

use crate::defaults::Extra;
use crate::helm::Helm;
use crate::options::Spec;

/// Where a release is: its name and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    /// The release name.
    pub release: String,
    /// Its namespace.
    pub namespace: String,
}

impl Location {
    /// The release a recorded status names, if it names one.
    pub(crate) fn recorded(status: &Value) -> Option<Location> {
        Some(Location {
            release: status.get("release")?.as_str()?.to_owned(),
            namespace: status.get("namespace")?.as_str()?.to_owned(),
        })
    }
}

/// Numbers as Helm's JSON gives them back: Go decodes YAML numbers to `float64`, so `2` may come
/// back as `2.0`; integral floats are made integers on both sides of a comparison.
pub(crate) fn normalize(value: Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 =>
            {
                #[allow(clippy::cast_possible_truncation, reason = "integral and in range")]
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}

/// The objects of a release manifest, namespaced ones placed in `ns` unless they name one.
/// Kinds the cluster does not serve are left out (their objects cannot exist).
pub(crate) fn manifest_objects(
    cluster: &Cluster,
    manifest: &str,
    ns: &str,
) -> Result<Vec<Object>, PluginError> {
    let mut objects = Vec::new();
    for doc in parse_yaml(manifest, "the release manifest")? {
        let mut object = Object::from_value(doc, "the release manifest")?;
        if let Some(kind) = cluster.kind(&object.key.api_version, &object.key.kind)? {
            object.settle_namespace(kind.namespaced, ns);
            objects.push(object);
        }
    }
    Ok(objects)
}

/// The live fingerprint of each object that exists.
pub(crate) fn fingerprints(
    cluster: &Cluster,
    objects: &[Object],
) -> Result<Vec<Recorded>, PluginError> {
    let mut out = Vec::with_capacity(objects.len());
    for object in objects {
        let Some(kind) = cluster.kind(&object.key.api_version, &object.key.kind)? else {
            continue;
        };
        if let Some(live) = cluster.get(&kind, &object.key)? {
            out.push(Recorded {
                key: object.key.clone(),
                digest: fingerprint(&live, &object.body),
            });
        }
    }
    Ok(out)
}

fn text(v: &Value, pointer: &str) -> Value {
    v.pointer(pointer).cloned().unwrap_or(Value::Null)
}

/// The chart of a release: name, version, app version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChartInfo {
    /// The chart's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its app version.
    pub app_version: String,
}

impl ChartInfo {
    /// From a release JSON that carries its chart (`helm upgrade -o json` does).
    pub(crate) fn of_release(release: &Value) -> Option<ChartInfo> {
        let meta = release.pointer("/chart/metadata")?;
        let field = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        Some(ChartInfo {
            name: field("name"),
            version: field("version"),
            app_version: field("appVersion"),
        })
    }

    /// From a status dtm recorded.
    fn of_status(status: &Value) -> ChartInfo {
        let field = |k: &str| {
            status
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        ChartInfo {
            name: field("chart"),
            version: field("chartVersion"),
            app_version: field("appVersion"),
        }
    }

    /// From the newest `helm history` entry (`chart` is `NAME-VERSION`).
    fn of_history(entry: &Value) -> ChartInfo {
        let (name, version) = split_chart(entry.get("chart").and_then(Value::as_str).unwrap_or(""));
        ChartInfo {
            name,
            version,
            app_version: entry
                .get("app_version")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        }
    }
}

/// The status of the release at `at` as it is now, or `None` when helm knows no such release
/// (or only an uninstalled one kept with `--keep-history`). `recorded` is the status dtm
/// recorded for it (or null).
pub(crate) fn read(
    helm: &Helm,
    cluster: &Cluster,
    at: &Location,
    recorded: &Value,
) -> Result<Option<Value>, PluginError> {
    let Some(release) = helm.status(&at.release, &at.namespace)? else {
        return Ok(None);
    };
    if release.pointer("/info/status").and_then(Value::as_str) == Some("uninstalled") {
        return Ok(None);
    }
    // `helm status` prints the release without its chart. A revision never changes once
    // written, so the chart recorded for the same revision still holds; otherwise the history
    // names it.
    let same_revision = release.get("version").is_some()
        && release.get("version") == recorded.get("revision")
        && release.pointer("/info/last_deployed") == recorded.get("deployed")
        && Location::recorded(recorded).as_ref() == Some(at);
    let chart = match ChartInfo::of_release(&release) {
        Some(chart) => chart,
        None if same_revision => ChartInfo::of_status(recorded),
        None => ChartInfo::of_history(&helm.last_revision(&at.release, &at.namespace)?),
    };
    status_of_release(helm, cluster, at, &release, &chart).map(Some)
}

/// The status recording `release` (a release as `helm status -o json` or `helm upgrade -o json`
/// print it) of `chart`, with the live fingerprints of its objects.
pub(crate) fn status_of_release(
    helm: &Helm,
    cluster: &Cluster,
    at: &Location,
    release: &Value,
    chart: &ChartInfo,
) -> Result<Value, PluginError> {
    // Helm's release JSON carries the values and the manifest; older helms may leave them out.
    let values = match release.get("config") {
        Some(v) if v.is_object() => v.clone(),
        _ => helm.values(&at.release, &at.namespace)?,
    };
    let manifest = match release.get("manifest").and_then(Value::as_str) {
        Some(m) => m.to_owned(),
        None => helm.manifest(&at.release, &at.namespace)?,
    };
    let objects = manifest_objects(cluster, &manifest, &at.namespace)?;
    let live = fingerprints(cluster, &objects)?;
    let mut status = json!({
        "release": at.release,
        "namespace": at.namespace,
        "chart": chart.name,
        "chartVersion": chart.version,
        "appVersion": chart.app_version,
        "revision": text(release, "/version"),
        "deployed": text(release, "/info/last_deployed"),
        "status": text(release, "/info/status"),
        "values": normalize(values),
    });
    if let (Some(map), Value::Object(objects)) = (status.as_object_mut(), status_of(&live)) {
        map.insert(
            "objects".into(),
            objects.get("objects").cloned().unwrap_or_default(),
        );
    }
    Ok(status)
}

/// `NAME-VERSION` (helm's history form) split at the first `-` that starts a semver version:
/// `web-2-1.0.0-rc.1` is `web-2` at `1.0.0-rc.1`.
pub(crate) fn split_chart(text: &str) -> (String, String) {
    for (i, _) in text.match_indices('-') {
        let version = &text[i + 1..];
        if semver::Version::parse(version).is_ok() {
            return (text[..i].to_owned(), version.to_owned());
        }
    }
    (text.to_owned(), String::new())
}

/// The objects a status records, for waits.
pub(crate) fn objects_of(status: &Value) -> Vec<Recorded> {
    recorded(status)
}

/// A finished step: the status and the outputs derived from it.
pub(crate) fn done(status: Value, spec: &Spec, cluster: &Cluster) -> Done {
    let field = |k: &str| status.get(k).cloned().unwrap_or(Value::Null);
    let mut d = Done::new(status.clone())
        .output("releaseName", field("release"))
        .output("namespace", field("namespace"))
        .output("revision", field("revision"))
        .output("chart", field("chart"))
        .output("chartVersion", field("chartVersion"))
        .output("appVersion", field("appVersion"))
        .output("status", field("status"));
    let ns = status
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match spec.extra {
        Extra::None => {}
        Extra::JenkinsUrl => {
            d = d.output(
                "jenkins_url",
                format!("http://{}.{ns}:8080", jenkins_service(spec)),
            );
        }
        Extra::DevLakeUrl => {
            if let Some(ip) = cluster_ip(cluster, ns, "devlake-lake") {
                d = d.output("devlake_url", format!("http://{ip}:8080"));
            }
        }
    }
    d
}

/// DevStream's name of the Jenkins chart's Service: the release name when the chart name holds
/// it, else `RELEASE-CHART`, cut to 63 characters.
fn jenkins_service(spec: &Spec) -> String {
    let name = if spec.chart_name.contains(&spec.release) {
        spec.release.clone()
    } else {
        format!("{}-{}", spec.release, spec.chart_name)
    };
    let cut: String = name.chars().take(63).collect();
    cut.trim_end_matches('-').to_owned()
}

fn cluster_ip(cluster: &Cluster, ns: &str, name: &str) -> Option<String> {
    let key = ObjectKey {
        api_version: "v1".into(),
        kind: "Service".into(),
        namespace: Some(ns.to_owned()),
        name: name.to_owned(),
    };
    let kind = cluster.kind("v1", "Service").ok()??;
    let live = cluster.get(&kind, &key).ok()??;
    live.pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty() && *ip != "None")
        .map(str::to_owned)
}
