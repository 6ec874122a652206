//! The options of a `helm-installer` tool (DevStream's, unchanged, plus a few of dtm's) and
//! their resolution, with DevStream's default charts, into one [`Spec`] of what to install.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dtm_kube_support::Connection;
use dtm_plugin_sdk::prelude::*;
use serde_json::{Map, Value};

use crate::defaults::{self, Extra};
use crate::duration::parse_go_duration;

fn yes() -> bool {
    true
}

/// The chart repository (DevStream's `repo`).
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Repo {
    /// The repository's name, as the prefix of `chart.chartName` (`argo` in `argo/argo-cd`).
    #[serde(default)]
    #[schemars(example = &"argo")]
    pub name: Option<String>,
    /// The chart repository's URL (where its `index.yaml` is).
    #[serde(default)]
    #[schemars(example = &"https://argoproj.github.io/argo-helm")]
    pub url: Option<String>,
}

/// The chart and its release (DevStream's `chart`).
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Chart {
    /// A local chart: a chart directory or a packaged `.tgz`, relative to the config file.
    /// Takes the place of `repo` and `chartName`.
    #[serde(default)]
    pub chart_path: Option<String>,
    /// The chart in the repository, as `REPO/CHART` (`argo/argo-cd`) or `CHART`; or an
    /// `oci://` reference.
    #[serde(default)]
    #[schemars(example = &"argo/argo-cd")]
    pub chart_name: Option<String>,
    /// The chart version (a version or a semver range); default: the newest.
    #[serde(default)]
    pub version: Option<String>,
    /// The Helm release name. Default: the instanceID.
    #[serde(default)]
    #[schemars(example = &"argocd")]
    pub release_name: Option<String>,
    /// The release's namespace, created if missing. Default: the kubeconfig context's
    /// namespace, else `default`.
    #[serde(default)]
    #[schemars(example = &"argocd")]
    pub namespace: Option<String>,
    /// Wait until the release's objects are ready after an install or upgrade, and gone after
    /// an uninstall (default `true`).
    #[serde(default = "yes")]
    pub wait: bool,
    /// How long to wait, as a Go duration (`90s`, `10m`, `1.5h`, `2h45m`). Default `10m` for
    /// DevStream's default charts, else `5m`.
    #[serde(default)]
    #[schemars(example = &"10m")]
    pub timeout: Option<String>,
    /// Apply the chart's CustomResourceDefinitions (its `crds/` directory) before an upgrade,
    /// which Helm itself never does (default `true`).
    #[serde(default = "yes", rename = "upgradeCRDs")]
    pub upgrade_crds: bool,
    /// Values as YAML text.
    #[serde(default)]
    pub values_yaml: Option<String>,
}

impl Default for Chart {
    fn default() -> Self {
        Chart {
            chart_path: None,
            chart_name: None,
            version: None,
            release_name: None,
            namespace: None,
            wait: true,
            timeout: None,
            upgrade_crds: true,
            values_yaml: None,
        }
    }
}

/// Options of a `helm-installer` tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Options {
    /// The chart repository. An instanceID starting with one of DevStream's default charts
    /// (`argocd`, `artifactory`, `devlake`, `harbor`, `jenkins`, `kube-prometheus`, `openldap`,
    /// `sonarqube`, `tekton`, `vault`) gets the chart's repository by default.
    #[serde(default)]
    pub repo: Repo,
    /// The chart and its release.
    #[serde(default)]
    pub chart: Chart,
    /// Values as YAML text, or the path of a values file relative to the config file (DevStream
    /// reads it as YAML when it contains `: `). Merged over `chart.valuesYaml`.
    #[serde(default)]
    #[schemars(example = &"server:\n  service:\n    type: NodePort\n")]
    pub values_yaml: Option<String>,
    /// Values as a mapping in the config, merged over `valuesYaml`.
    #[serde(default)]
    pub values: Option<Map<String, Value>>,
    /// When an install or upgrade fails, or its objects do not become ready in time, roll the
    /// release back to the revision before (an install is uninstalled), like Helm's `--atomic`.
    #[serde(default)]
    pub atomic: bool,
    /// Create the release's namespace when it does not exist (default `true`).
    #[serde(default = "yes")]
    pub create_namespace: bool,
    /// With Helm 4 (server-side apply), take over fields another field manager set, for
    /// example by `kubectl edit`, so that `dtm apply` repairs drift (default `true`).
    #[serde(default = "yes")]
    pub force_conflicts: bool,
    /// The helm program: a path (relative to the config file) or a name on `PATH`. Default:
    /// `DTM_HELM`, else `helm` on `PATH`.
    #[serde(default)]
    pub helm: Option<String>,
    /// Path of a kubeconfig file, relative to the config file. Default: `KUBECONFIG`, then
    /// `~/.kube/config`, then the pod's service account.
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context to use instead of the current one.
    #[serde(default)]
    pub context: Option<String>,
    /// Use the pod's service account (dtm running in the cluster), ignoring any kubeconfig.
    #[serde(default)]
    pub in_cluster: bool,
}

/// Where the chart comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartRef {
    /// A chart directory or `.tgz` on this machine.
    Local(PathBuf),
    /// `CHART` in the repository at `url`.
    Repo {
        /// The repository URL.
        url: String,
        /// The chart's name in it.
        chart: String,
    },
    /// An `oci://` reference.
    Oci(String),
}

impl ChartRef {
    /// The CHART argument and the flags that locate it.
    pub fn args(&self) -> Vec<String> {
        match self {
            ChartRef::Local(path) => vec![path.display().to_string()],
            ChartRef::Repo { url, chart } => vec![chart.clone(), "--repo".into(), url.clone()],
            ChartRef::Oci(reference) => vec![reference.clone()],
        }
    }
}

/// Everything an install needs, with DevStream's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The release name.
    pub release: String,
    /// The namespace, or `None` for the kubeconfig context's.
    pub namespace: Option<String>,
    /// The chart.
    pub chart: ChartRef,
    /// `chart.chartName` as written (DevStream's Jenkins URL is derived from it).
    pub chart_name: String,
    /// The chart version, if pinned.
    pub version: Option<String>,
    /// Wait for readiness and removal.
    pub wait: bool,
    /// How long.
    pub timeout: Duration,
    /// Apply the chart's CRDs before an upgrade.
    pub upgrade_crds: bool,
    /// The merged values (a mapping).
    pub values: Value,
    /// Roll back on failure.
    pub atomic: bool,
    /// Create the namespace.
    pub create_namespace: bool,
    /// Take over conflicting fields (Helm 4).
    pub force_conflicts: bool,
    /// Extra outputs of a DevStream default chart.
    pub extra: Extra,
}

/// The instanceID of `name.instanceID` (split at the first dot: instance IDs may hold dots).
pub(crate) fn instance_id(instance: &str) -> &str {
    instance.split_once('.').map_or(instance, |(_, id)| id)
}

/// Whether `name` is a valid Helm release name: lower-case DNS-1123 labels joined by dots, at
/// most 53 characters.
pub(crate) fn valid_release_name(name: &str) -> bool {
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !name.is_empty() && name.len() <= 53 && name.split('.').all(label)
}

fn problem(path: &str, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
    }
}

/// Deep-merges `over` into `base`: mappings merge key by key, anything else replaces.
pub(crate) fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, other) => *slot = other,
    }
}

/// Parses values YAML text into a mapping (`{}` for an empty document).
pub(crate) fn parse_values(text: &str, path: &str) -> Result<Value, Problem> {
    let value: Value = serde_yaml::from_str(text)
        .map_err(|e| problem(path, format!("is not valid values YAML: {e}")))?;
    match value {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(value),
        other => Err(problem(
            path,
            format!("values must be a YAML mapping, not `{other}`"),
        )),
    }
}

/// DevStream's rule for the top-level `valuesYaml`: YAML text when it contains `: ` (we also
/// take any multi-line text or a flow mapping), else the path of a values file.
fn is_yaml_text(text: &str) -> bool {
    text.contains(": ")
        || text.contains(":\n")
        || text.contains('\n')
        || text.trim_start().starts_with('{')
}

impl Options {
    /// The cluster connection.
    pub fn connection(&self) -> Connection {
        Connection {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            in_cluster: self.in_cluster,
        }
    }

    /// The values from `chart.valuesYaml`, `valuesYaml` (text or file) and `values`, merged in
    /// that order.
    fn values(&self, workdir: &Path, problems: &mut Vec<Problem>) -> Value {
        let mut values = Value::Object(Map::new());
        if let Some(text) = &self.chart.values_yaml {
            match parse_values(text, "/chart/valuesYaml") {
                Ok(v) => merge(&mut values, v),
                Err(p) => problems.push(p),
            }
        }
        if let Some(text) = self.values_yaml.as_deref().filter(|t| !t.trim().is_empty()) {
            let parsed = if is_yaml_text(text) {
                parse_values(text, "/valuesYaml")
            } else {
                let path = resolve(workdir, text.trim());
                std::fs::read_to_string(&path)
                    .map_err(|e| {
                        problem(
                            "/valuesYaml",
                            format!(
                                "is read as the path of a values file (it holds no `: `), but \
                                 {} cannot be read: {e}",
                                path.display()
                            ),
                        )
                    })
                    .and_then(|t| parse_values(&t, "/valuesYaml"))
            };
            match parsed {
                Ok(v) => merge(&mut values, v),
                Err(p) => problems.push(p),
            }
        }
        if let Some(map) = &self.values {
            merge(&mut values, Value::Object(map.clone()));
        }
        values
    }

    /// Resolves the options of `instance` (`helm-installer.ID`) into a [`Spec`], with
    /// DevStream's default chart for the instanceID filled in where the options are silent.
    pub fn resolve(&self, instance: &str, workdir: &Path) -> Result<Spec, Vec<Problem>> {
        let id = instance_id(instance);
        let default = defaults::for_instance(id);
        let mut problems = Vec::new();
        let given = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());

        let repo_url = given(&self.repo.url).or_else(|| default.map(|d| d.repo_url.to_owned()));
        let repo_name = given(&self.repo.name).or_else(|| default.map(|d| d.repo_name.to_owned()));
        let chart_name =
            given(&self.chart.chart_name).or_else(|| default.map(|d| d.chart_name.to_owned()));
        let chart = match (given(&self.chart.chart_path), &chart_name) {
            (Some(path), _) => Some(ChartRef::Local(resolve(workdir, &path))),
            (None, Some(name)) if name.starts_with("oci://") => Some(ChartRef::Oci(name.clone())),
            (None, Some(name)) => match &repo_url {
                Some(url) => match repo_chart(name, repo_name.as_deref()) {
                    Ok(chart) => Some(ChartRef::Repo {
                        url: url.clone(),
                        chart,
                    }),
                    Err(message) => {
                        problems.push(problem("/chart/chartName", message));
                        None
                    }
                },
                None => {
                    problems.push(problem(
                        "/repo/url",
                        format!(
                            "`chart.chartName: {name}` needs the chart repository's URL in \
                             `repo.url` (or give a local chart in `chart.chartPath`)"
                        ),
                    ));
                    None
                }
            },
            (None, None) => {
                problems.push(problem(
                    "/chart",
                    format!(
                        "say which chart to install: `chart.chartPath` (a local chart), or \
                         `repo.url` and `chart.chartName`; instance IDs starting with {} get \
                         DevStream's default chart",
                        defaults::DEFAULT_CHARTS
                            .iter()
                            .map(|d| format!("`{}`", d.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                None
            }
        };

        let release = given(&self.chart.release_name)
            .or_else(|| default.map(|d| d.release_name.to_owned()))
            .unwrap_or_else(|| id.to_owned());
        if !valid_release_name(&release) {
            let path = if self.chart.release_name.is_some() {
                "/chart/releaseName"
            } else {
                "/chart"
            };
            problems.push(problem(
                path,
                format!(
                    "`{release}` is not a valid Helm release name (lower-case letters, digits, \
                     `-` and `.`, at most 53 characters){}",
                    if self.chart.release_name.is_none() {
                        "; it comes from the instanceID: set `chart.releaseName`"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let namespace =
            given(&self.chart.namespace).or_else(|| default.map(|d| d.namespace.to_owned()));
        let timeout_text = given(&self.chart.timeout)
            .or_else(|| default.map(|d| d.timeout.to_owned()))
            .unwrap_or_else(|| "5m".to_owned());
        let timeout = parse_go_duration(&timeout_text).unwrap_or_else(|| {
            problems.push(problem(
                "/chart/timeout",
                format!(
                    "`{timeout_text}` is not a duration: write e.g. `90s`, `10m`, `1.5h` or `2h45m`"
                ),
            ));
            Duration::ZERO
        });
        let values = self.values(workdir, &mut problems);
        if let Some(path) = &self.helm
            && path.trim().is_empty()
        {
            problems.push(problem("/helm", "must not be empty"));
        }

        match chart {
            Some(chart) if problems.is_empty() => Ok(Spec {
                release,
                namespace,
                chart,
                chart_name: chart_name.unwrap_or_default(),
                version: given(&self.chart.version),
                wait: self.chart.wait,
                timeout,
                upgrade_crds: self.chart.upgrade_crds,
                values,
                atomic: self.atomic,
                create_namespace: self.create_namespace,
                force_conflicts: self.force_conflicts,
                extra: default.map_or(Extra::None, |d| d.extra),
            }),
            _ => Err(problems),
        }
    }
}

/// The chart's name inside its repository: `argo/argo-cd` with repository `argo` is `argo-cd`.
fn repo_chart(name: &str, repo_name: Option<&str>) -> Result<String, String> {
    match name.split_once('/') {
        None => Ok(name.to_owned()),
        Some((prefix, chart)) if Some(prefix) == repo_name || repo_name.is_none() => {
            if chart.is_empty() || chart.contains('/') {
                Err(format!("`{name}` is not `REPO/CHART`"))
            } else {
                Ok(chart.to_owned())
            }
        }
        Some((prefix, _)) => Err(format!(
            "`{name}` names the repository `{prefix}`, but `repo.name` is `{}`",
            repo_name.unwrap_or_default()
        )),
    }
}

/// `path` against the config's directory, with `~/` as the home directory.
pub(crate) fn resolve(workdir: &Path, path: &str) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    let p = PathBuf::from(path);
    if p.is_absolute() { p } else { workdir.join(p) }
}
