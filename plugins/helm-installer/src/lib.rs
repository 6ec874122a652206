//! The `helm-installer` plugin: installs a Helm chart as a release, keeps it as the config says
//! and reports drift that Helm itself does not see.
//!
//! It drives the `helm` program (Helm 3.8+ or 4.x), as Argo CD and helmfile do, and never
//! renders a template itself: create and update run `helm upgrade --install`, read runs
//! `helm status` (and `get values`/`get manifest` where the status lacks them), delete runs
//! `helm uninstall`. Readiness and removal are awaited through the plugin protocol's pending
//! steps with the Kubernetes plugins' rules (`dtm_kube_support`), so a long rollout survives an
//! interrupted dtm. Drift: the recorded status holds the release's chart, version, values,
//! revision and state, and a fingerprint of each object of its manifest on the fields the chart
//! sets, so a value changed by hand, an object edited or deleted, a release rolled back or
//! uninstalled by hand all show in `dtm plan`. See `docs/plugins/helm-installer.md`.
#![forbid(unsafe_code)]

mod defaults;
mod duration;
mod helm;
mod options;
mod release;

use std::sync::Arc;

use dtm_kube_support::manage::{self, Settings};
use dtm_kube_support::objects::{Object, parse_yaml};
use dtm_kube_support::ready::readiness;
use dtm_kube_support::{Cluster, Deadline};
use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

pub use options::Options;

use crate::helm::Helm;
use crate::options::{ChartRef, Spec};
use crate::release::{ChartInfo, Location};

/// The pending phase of an install or upgrade waiting for its objects.
const WAITING: &str = "helm-ready";

/// One step's view of the world: the resolved options, helm and the cluster.
struct Run {
    spec: Spec,
    helm: Helm,
    cluster: Arc<Cluster>,
    at: Location,
    settings: Settings,
}

fn invalid(problems: Vec<Problem>) -> PluginError {
    let text: Vec<String> = problems
        .iter()
        .map(|p| {
            if p.path.is_empty() {
                p.message.clone()
            } else {
                format!("{}: {}", p.path, p.message)
            }
        })
        .collect();
    PluginError::invalid_options(text.join("; "))
}

impl Run {
    fn new(req: &Req<Options>) -> Result<Run, PluginError> {
        let spec = req
            .options
            .resolve(&req.instance, &req.workdir)
            .map_err(invalid)?;
        let helm = Helm::new(&req.options, &req.workdir)?;
        let cluster = Cluster::shared(&req.options.connection(), &req.workdir)?;
        let at = Location {
            release: spec.release.clone(),
            namespace: spec
                .namespace
                .clone()
                .unwrap_or_else(|| cluster.default_namespace().to_owned()),
        };
        let settings = Settings {
            owner: req.instance.clone(),
            field_manager: "dtm".into(),
            force: spec.force_conflicts,
            wait: spec.wait,
            wait_timeout: spec.timeout,
        };
        Ok(Run {
            spec,
            helm,
            cluster,
            at,
            settings,
        })
    }

    /// Install or upgrade, then wait; or go on waiting.
    fn converge(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        if let Some(data) = &req.pending
            && data.get("phase").and_then(Value::as_str) == Some(WAITING)
        {
            let status = data.get("status").cloned().unwrap_or(Value::Null);
            let before = data.get("before").and_then(Value::as_u64);
            let inner = data.get("wait").cloned().unwrap_or(Value::Null);
            return self.wait(ctx, status, before, Some(&inner));
        }
        let before = if self.spec.atomic {
            self.helm
                .status(&self.at.release, &self.at.namespace)?
                .and_then(|r| r.get("version").and_then(Value::as_u64))
        } else {
            None
        };
        if req.operation == Operation::Update && self.spec.upgrade_crds {
            self.upgrade_crds(ctx)?;
        }
        ctx.progress(
            None,
            format!(
                "helm upgrade --install {} in {}",
                self.at.release, self.at.namespace
            ),
        );
        let installed = match self
            .helm
            .upgrade(&self.spec, &self.at.namespace, &req.instance)
        {
            Ok(release) => release,
            Err(failure) => return Err(self.fail(before, failure.into_error())),
        };
        self.forget_moved(ctx, &req.status);
        // `helm upgrade -o json` prints the release with its chart: no second helm call.
        let status = match ChartInfo::of_release(&installed) {
            Some(chart) => {
                release::status_of_release(&self.helm, &self.cluster, &self.at, &installed, &chart)?
            }
            None => release::read(&self.helm, &self.cluster, &self.at, &Value::Null)?.ok_or_else(
                || {
                    PluginError::internal(format!(
                        "helm installed release {} in {}, but `helm status` cannot find it",
                        self.at.release, self.at.namespace
                    ))
                },
            )?,
        };
        self.wait(ctx, status, before, None)
    }

    /// Waits for the objects `status` records (from the start, or from pending data `inner`).
    fn wait(
        &self,
        ctx: &Ctx<'_>,
        status: Value,
        before: Option<u64>,
        inner: Option<&Value>,
    ) -> Result<Step, PluginError> {
        let step = match inner {
            Some(data) => manage::resume(ctx, &self.cluster, data, &self.settings, readiness)
                .map(|s| s.unwrap_or_else(|| Step::done(Value::Null))),
            None => manage::wait_ready(
                ctx,
                &self.cluster,
                release::objects_of(&status),
                Deadline::after(self.spec.timeout),
                &self.settings,
                readiness,
            ),
        };
        match step {
            Ok(Step::Done(_)) => Ok(release::done(status, &self.spec, &self.cluster).into()),
            Ok(Step::Pending(p)) => Ok(Pending::new(json!({
                "phase": WAITING,
                "status": status,
                "before": before,
                "wait": p.data,
            }))
            .after(p.delay)
            .message(p.message)
            .into()),
            Err(e) => Err(self.fail(before, e)),
        }
    }

    /// With `atomic`, undoes a failed install or upgrade: back to revision `before`, or
    /// uninstalled when there was none. Returns `error`, telling what was undone.
    fn fail(&self, before: Option<u64>, mut error: PluginError) -> PluginError {
        if !self.spec.atomic {
            return error;
        }
        let (release, ns) = (&self.at.release, &self.at.namespace);
        let undone = match before {
            Some(rev) => self
                .helm
                .rollback(release, ns, rev)
                .map(|()| format!("rolled release {release} back to revision {rev}")),
            None => self
                .helm
                .uninstall(release, ns)
                .map(|_| format!("uninstalled release {release}, which this step installed")),
        };
        match undone {
            Ok(what) => error
                .message
                .push_str(&format!("; as `atomic` asks, {what}")),
            Err(e) => error.message.push_str(&format!(
                "; `atomic` asked for a rollback, which failed too: {}",
                e.message
            )),
        }
        error
    }

    /// Uninstalls the release a recorded status names when the options now name another
    /// (a changed `releaseName` or `namespace`), so that it is not left behind.
    fn forget_moved(&self, ctx: &Ctx<'_>, recorded: &Value) {
        if let Some(old) = Location::recorded(recorded)
            && old != self.at
        {
            ctx.info(format!(
                "uninstalling release {} in {}: the options now name {} in {}",
                old.release, old.namespace, self.at.release, self.at.namespace
            ));
            if let Err(e) = self.helm.uninstall(&old.release, &old.namespace) {
                ctx.warn(format!(
                    "release {} in {} is left behind: {}",
                    old.release, old.namespace, e.message
                ));
            }
        }
    }

    /// Applies the chart's CustomResourceDefinitions, which `helm upgrade` leaves alone.
    fn upgrade_crds(&self, ctx: &Ctx<'_>) -> Result<(), PluginError> {
        if let ChartRef::Local(path) = &self.spec.chart
            && path.is_dir()
            && !path.join("crds").is_dir()
        {
            return Ok(());
        }
        let text = self.helm.show_crds(&self.spec)?;
        for doc in parse_yaml(&text, "the chart's CRDs")? {
            let object = Object::from_value(doc, "the chart's CRDs")?;
            let kind = self.cluster.require_kind(&object.key)?;
            ctx.progress(None, format!("applying {}", object.key));
            self.cluster
                .apply(&kind, &object, &self.settings.field_manager, true)?;
        }
        Ok(())
    }
}

/// The `helm-installer` plugin.
#[derive(Debug, Default)]
pub struct HelmInstaller;

impl Plugin for HelmInstaller {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "helm-installer",
            env!("CARGO_PKG_VERSION"),
            "Installs a Helm chart as a release with the helm program, and reports its drift",
        )
        .output("releaseName", "the Helm release name")
        .output("namespace", "the release's namespace")
        .output("revision", "the release revision dtm applied")
        .output("chart", "the chart's name")
        .output("chartVersion", "the chart's version")
        .output("appVersion", "the chart's app version")
        .output("status", "the release's status (`deployed`, ...)")
        .output(
            "jenkins_url",
            "DevStream's `jenkins` chart only: `http://SERVICE.NAMESPACE:8080`",
        )
        .output(
            "devlake_url",
            "DevStream's `devlake` chart only: `http://CLUSTER-IP:8080` of `devlake-lake`",
        )
    }

    fn options_example() -> Option<Value> {
        Some(json!({
            "repo": {"name": "argo", "url": "https://argoproj.github.io/argo-helm"},
            "chart": {
                "chartName": "argo/argo-cd",
                "version": "5.51.6",
                "releaseName": "argocd",
                "namespace": "argocd",
                "timeout": "10m",
            },
            "valuesYaml": "server:\n  service:\n    type: NodePort\n",
        }))
    }

    fn validate_request(&self, _ctx: &Ctx<'_>, req: &Req<Options>) -> Result<(), Vec<Problem>> {
        req.options.resolve(&req.instance, &req.workdir).map(drop)
    }

    fn create(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        Run::new(req)?.converge(ctx, req)
    }

    fn read(&self, _ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Option<Done>, PluginError> {
        let run = Run::new(req)?;
        let at = Location::recorded(&req.status).unwrap_or_else(|| run.at.clone());
        Ok(release::read(&run.helm, &run.cluster, &at, &req.status)?
            .map(|status| release::done(status, &run.spec, &run.cluster)))
    }

    fn update(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        Run::new(req)?.converge(ctx, req)
    }

    fn delete(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        let run = Run::new(req)?;
        if let Some(data) = &req.pending
            && let Some(step) = manage::resume(ctx, &run.cluster, data, &run.settings, readiness)?
        {
            return Ok(step);
        }
        let at = Location::recorded(&req.status).unwrap_or_else(|| run.at.clone());
        // A failed first install records no objects: take them from the release itself.
        let mut objects = release::objects_of(&req.status);
        if objects.is_empty()
            && let Some(status) = release::read(&run.helm, &run.cluster, &at, &Value::Null)?
        {
            objects = release::objects_of(&status);
        }
        ctx.progress(
            None,
            format!("helm uninstall {} in {}", at.release, at.namespace),
        );
        if !run.helm.uninstall(&at.release, &at.namespace)? {
            ctx.info(format!(
                "release {} in {} was already gone",
                at.release, at.namespace
            ));
        }
        manage::wait_gone(
            ctx,
            &run.cluster,
            objects,
            Deadline::after(run.spec.timeout),
            &run.settings,
        )
    }
}

dtm_plugin_sdk::export_plugin!(HelmInstaller, HelmInstaller);

#[cfg(test)]
mod tests;
