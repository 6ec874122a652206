//! The `k8s-manifest` plugin: applies Kubernetes manifests with server-side apply, waits until
//! the objects are ready, reports drift on the fields it applied, prunes objects dropped from
//! the manifests and deletes what it applied.
//!
//! Manifests come inline (`content` as YAML text, `manifests` as objects in the config), from
//! files or from URLs; see `docs/plugins/k8s-manifest.md`. Waiting uses the plugin protocol's
//! pending steps, so a long rollout survives an interrupted dtm and shows progress meanwhile.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use dtm_kube_support::manage::{self, Settings};
use dtm_kube_support::objects::{Object, check_unique, flatten_into, parse_yaml};
use dtm_kube_support::ready::readiness;
use dtm_kube_support::{Cluster, Connection, Deadline, defaults, parse_duration};
use dtm_plugin_sdk::prelude::*;
use serde_json::Value;

/// Time limit of one manifest download.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

fn example_manifests() -> Vec<Value> {
    vec![serde_json::json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP"}]},
    })]
}

/// Options of a `k8s-manifest` tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Options {
    /// Manifests as YAML text: one or more documents separated by `---` (`kind: List` documents
    /// are flattened).
    #[serde(default)]
    #[schemars(example = &"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: hello\n")]
    pub content: Option<String>,
    /// Manifests written as objects in the config.
    #[serde(default)]
    #[schemars(example = example_manifests())]
    pub manifests: Vec<Value>,
    /// Manifest files (YAML, several documents allowed), relative to the config file. A change
    /// to a file shows as drift.
    #[serde(default)]
    pub files: Vec<String>,
    /// Manifest URLs (`https://`, or `http://`), fetched on every plan and apply.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Namespace of namespaced objects that name none. Default: the kubeconfig context's
    /// namespace, else `default`. Objects that name a namespace keep it.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Wait after apply until every object is ready, and after delete until every object is
    /// gone.
    #[serde(default = "defaults::yes")]
    pub wait: bool,
    /// How long to wait, e.g. `90s`, `5m`.
    #[serde(default = "defaults::wait_timeout")]
    pub wait_timeout: String,
    /// The server-side apply field manager dtm applies as.
    #[serde(default = "defaults::field_manager")]
    pub field_manager: String,
    /// Take over fields another field manager set (for example by `kubectl edit`), so that
    /// `dtm apply` can repair drift. With `false`, such a conflict fails the apply.
    #[serde(default = "defaults::yes")]
    pub force_conflicts: bool,
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

impl Options {
    fn connection(&self) -> Connection {
        Connection {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            in_cluster: self.in_cluster,
        }
    }

    fn settings(&self, owner: &str) -> Result<Settings, PluginError> {
        Ok(Settings {
            owner: owner.to_owned(),
            field_manager: self.field_manager.clone(),
            force: self.force_conflicts,
            wait: self.wait,
            wait_timeout: parse_duration(&self.wait_timeout, "waitTimeout")?,
        })
    }

    /// The inline manifests, parsed (files and URLs are read at apply time).
    fn inline(&self) -> Result<Vec<Object>, PluginError> {
        let mut objects = Vec::new();
        if let Some(text) = &self.content {
            for doc in parse_yaml(text, "content")? {
                objects.push(Object::from_value(doc, "content")?);
            }
        }
        let mut docs = Vec::new();
        for m in &self.manifests {
            flatten_into(m.clone(), &mut docs);
        }
        for (i, doc) in docs.into_iter().enumerate() {
            objects.push(Object::from_value(doc, &format!("manifests[{i}]"))?);
        }
        Ok(objects)
    }
}

/// All manifests of the options: inline, files and URLs, in that order.
fn desired(req: &Req<Options>) -> Result<Vec<Object>, PluginError> {
    let mut objects = req.options.inline()?;
    for file in &req.options.files {
        let path = req.resolve(file);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            PluginError::io(format!("reading manifest file {}", path.display()), &e)
        })?;
        for doc in parse_yaml(&text, file)? {
            objects.push(Object::from_value(doc, file)?);
        }
    }
    for url in &req.options.urls {
        let text = download(url)?;
        for doc in parse_yaml(&text, url)? {
            objects.push(Object::from_value(doc, url)?);
        }
    }
    if objects.is_empty() {
        return Err(PluginError::invalid_options(
            "the manifests hold no objects: give `content`, `manifests`, `files` or `urls`",
        ));
    }
    check_unique(&objects)?;
    Ok(objects)
}

fn download(url: &str) -> Result<String, PluginError> {
    // The plugin has its own copy of rustls: give it a crypto provider once. An error means
    // one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(DOWNLOAD_TIMEOUT)
        .user_agent(concat!(
            "dtm-plugin-k8s-manifest/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .map_err(|e| PluginError::internal(format!("setting up the HTTP client: {e}")))?;
    let answer = client.get(url).send().map_err(|e| {
        PluginError::unavailable(format!("downloading manifests from {url}: {e}")).mark_retryable()
    })?;
    let status = answer.status();
    if !status.is_success() {
        let e =
            PluginError::unavailable(format!("downloading manifests from {url}: HTTP {status}"));
        return Err(if status.is_server_error() {
            e.mark_retryable()
        } else {
            e
        });
    }
    answer.text().map_err(|e| {
        PluginError::unavailable(format!("downloading manifests from {url}: {e}")).mark_retryable()
    })
}

struct Run {
    cluster: Arc<Cluster>,
    namespace: String,
    settings: Settings,
}

fn connect(req: &Req<Options>) -> Result<Run, PluginError> {
    let settings = req.options.settings(&req.instance)?;
    let cluster = Cluster::shared(&req.options.connection(), &req.workdir)?;
    let namespace = req
        .options
        .namespace
        .clone()
        .unwrap_or_else(|| cluster.default_namespace().to_owned());
    Ok(Run {
        cluster,
        namespace,
        settings,
    })
}

/// A finished step's status with the outputs derived from it.
fn finished(status: Value, namespace: &str) -> Done {
    let objects: Vec<Value> = status
        .get("objects")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(|k| Value::String(k.clone())).collect())
        .unwrap_or_default();
    Done::new(status)
        .output("namespace", namespace)
        .output("objects", Value::Array(objects))
}

/// Adds the outputs to a finished step.
fn with_outputs(step: Step, namespace: &str) -> Step {
    match step {
        Step::Done(done) => finished(done.status, namespace).into(),
        pending => pending,
    }
}

/// The `k8s-manifest` plugin.
#[derive(Debug, Default)]
pub struct K8sManifest;

impl K8sManifest {
    fn converge(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        let run = connect(req)?;
        if let Some(data) = &req.pending
            && let Some(step) = manage::resume(ctx, &run.cluster, data, &run.settings, readiness)?
        {
            return Ok(with_outputs(step, &run.namespace));
        }
        let objects = desired(req)?;
        let applied = manage::apply_all(
            ctx,
            &run.cluster,
            objects,
            &run.namespace,
            &run.settings,
            &req.status,
        )?;
        let deadline = Deadline::after(run.settings.wait_timeout);
        let step = manage::wait_ready(
            ctx,
            &run.cluster,
            applied,
            deadline,
            &run.settings,
            readiness,
        )?;
        Ok(with_outputs(step, &run.namespace))
    }
}

impl Plugin for K8sManifest {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "k8s-manifest",
            env!("CARGO_PKG_VERSION"),
            "Applies Kubernetes manifests (server-side apply) and waits until they are ready",
        )
        .output(
            "namespace",
            "the namespace given to namespaced objects that name none",
        )
        .output("objects", "the applied objects, as `Kind namespace/name`")
    }

    fn validate(&self, _ctx: &Ctx<'_>, options: &Options) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let problem = |path: &str, message: String| Problem {
            path: path.into(),
            message,
        };
        if options.content.is_none()
            && options.manifests.is_empty()
            && options.files.is_empty()
            && options.urls.is_empty()
        {
            problems.push(problem(
                "",
                "give the manifests: `content` (YAML text), `manifests` (objects), `files` or `urls`"
                    .into(),
            ));
        }
        if let Err(e) = options.inline().and_then(|o| check_unique(&o)) {
            problems.push(problem("", e.message));
        }
        if let Err(e) = parse_duration(&options.wait_timeout, "waitTimeout") {
            problems.push(problem("/waitTimeout", e.message));
        }
        if options.field_manager.trim().is_empty() {
            problems.push(problem("/fieldManager", "must not be empty".into()));
        }
        for (i, url) in options.urls.iter().enumerate() {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                problems.push(problem(
                    &format!("/urls/{i}"),
                    format!("`{url}` is not an http(s) URL; use `files` for paths"),
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn create(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        self.converge(ctx, req)
    }

    fn read(&self, _ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Option<Done>, PluginError> {
        let run = connect(req)?;
        let objects = desired(req)?;
        let live = manage::read_all(
            &run.cluster,
            objects,
            &run.namespace,
            &run.settings,
            &req.status,
        )?;
        Ok(live.map(|status| finished(status, &run.namespace)))
    }

    fn update(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        self.converge(ctx, req)
    }

    fn delete(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        let run = connect(req)?;
        if let Some(data) = &req.pending
            && let Some(step) = manage::resume(ctx, &run.cluster, data, &run.settings, readiness)?
        {
            return Ok(step);
        }
        // Objects dtm recorded are deleted even when the manifests can no longer be read.
        let objects = desired(req).unwrap_or_else(|e| {
            ctx.warn(format!(
                "deleting only the recorded objects: cannot read the manifests: {}",
                e.message
            ));
            Vec::new()
        });
        manage::delete_all(
            ctx,
            &run.cluster,
            objects,
            &run.namespace,
            &run.settings,
            &req.status,
        )
    }
}

dtm_plugin_sdk::export_plugin!(K8sManifest, K8sManifest);
