//! The `zentao` plugin: installs ZenTao in a Kubernetes cluster as DevStream's plugin of that
//! name did (a namespace when missing, PersistentVolumes on host paths, PersistentVolumeClaims,
//! a Deployment and a NodePort Service), waits until the Deployment is available, reports drift
//! on what it applied and deletes it all again.
//!
//! The objects go through `dtm-kube-support` like `k8s-manifest`'s (server-side apply, an owner
//! annotation, pending steps for the waits); see `docs/plugins/zentao.md`.
#![forbid(unsafe_code)]

mod options;

use std::sync::Arc;

use dtm_kube_support::manage::{self, Settings, owned_by, recorded};
use dtm_kube_support::ready::readiness;
use dtm_kube_support::{Cluster, Deadline, Object, ObjectKey, Readiness, defaults, parse_duration};
use dtm_plugin_sdk::prelude::*;
use serde_json::Value;

pub use options::Options;

/// The `zentao` plugin.
#[derive(Debug, Default)]
pub struct Zentao;

struct Run {
    cluster: Arc<Cluster>,
    settings: Settings,
}

fn connect(req: &Req<Options>) -> Result<Run, PluginError> {
    let settings = Settings {
        owner: req.instance.clone(),
        field_manager: defaults::field_manager(),
        force: true,
        wait: req.options.wait,
        wait_timeout: parse_duration(&req.options.wait_timeout, "waitTimeout")?,
    };
    let cluster = Cluster::shared(&req.options.connection(), &req.workdir)?;
    Ok(Run { cluster, settings })
}

/// DevStream waited for the Deployment only: a claim binds once a Pod uses it (or a volume
/// controller gets to it), so claims count as ready as soon as they exist.
fn zentao_readiness(live: &Value) -> Readiness {
    match live.get("kind").and_then(Value::as_str) {
        Some("PersistentVolumeClaim") => Readiness::Ready,
        _ => readiness(live),
    }
}

/// Whether the tool manages the namespace: it recorded it, or (nothing recorded yet) the
/// namespace does not exist or carries this tool's owner annotation. A namespace that was
/// there before is left alone, and never deleted, as DevStream did.
fn owns_namespace(run: &Run, req: &Req<Options>) -> Result<bool, PluginError> {
    let key = ObjectKey {
        api_version: "v1".into(),
        kind: "Namespace".into(),
        namespace: None,
        name: req.options.namespace.clone(),
    };
    let previous = recorded(&req.status);
    if previous.iter().any(|r| r.key == key) {
        return Ok(true);
    }
    if !previous.is_empty() {
        return Ok(false);
    }
    let kind = run.cluster.require_kind(&key)?;
    Ok(match run.cluster.get(&kind, &key)? {
        None => true,
        Some(live) => owned_by(&live, &run.settings.owner),
    })
}

fn desired(run: &Run, req: &Req<Options>) -> Result<Vec<Object>, PluginError> {
    let namespace = owns_namespace(run, req)?;
    req.options
        .objects(namespace)
        .into_iter()
        .map(|body| Object::from_value(body, &req.instance))
        .collect()
}

fn finished(status: Value, options: &Options) -> Done {
    Done::new(status)
        .output("namespace", options.namespace.clone())
        .output("deployment", options.deployment.name.clone())
        .output("service", options.service.name.clone())
        .output("nodePort", options.service.node_port)
}

fn with_outputs(step: Step, options: &Options) -> Step {
    match step {
        Step::Done(done) => finished(done.status, options).into(),
        pending => pending,
    }
}

impl Zentao {
    fn converge(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        let run = connect(req)?;
        if let Some(data) = &req.pending
            && let Some(step) =
                manage::resume(ctx, &run.cluster, data, &run.settings, zentao_readiness)?
        {
            return Ok(with_outputs(step, &req.options));
        }
        let objects = desired(&run, req)?;
        let ns = req.options.namespace.clone();
        let applied =
            manage::apply_all(ctx, &run.cluster, objects, &ns, &run.settings, &req.status)?;
        let deadline = Deadline::after(run.settings.wait_timeout);
        let step = manage::wait_ready(
            ctx,
            &run.cluster,
            applied,
            deadline,
            &run.settings,
            zentao_readiness,
        )?;
        Ok(with_outputs(step, &req.options))
    }
}

impl Plugin for Zentao {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "zentao",
            env!("CARGO_PKG_VERSION"),
            "Installs ZenTao in a Kubernetes cluster (volumes, claims, Deployment, NodePort Service)",
        )
        .output("namespace", "the namespace of ZenTao's objects")
        .output("deployment", "the Deployment's name")
        .output("service", "the Service's name")
        .output("nodePort", "the node port ZenTao is reached on")
    }

    fn validate(&self, _ctx: &Ctx<'_>, options: &Options) -> Result<(), Vec<Problem>> {
        let problems = options.problems();
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
        let objects = desired(&run, req)?;
        let live = manage::read_all(
            &run.cluster,
            objects,
            &req.options.namespace,
            &run.settings,
            &req.status,
        )?;
        Ok(live.map(|status| finished(status, &req.options)))
    }

    fn update(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        self.converge(ctx, req)
    }

    fn delete(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        let run = connect(req)?;
        if let Some(data) = &req.pending
            && let Some(step) =
                manage::resume(ctx, &run.cluster, data, &run.settings, zentao_readiness)?
        {
            return Ok(step);
        }
        let objects = desired(&run, req)?;
        manage::delete_all(
            ctx,
            &run.cluster,
            objects,
            &req.options.namespace,
            &run.settings,
            &req.status,
        )
    }
}

dtm_plugin_sdk::export_plugin!(Zentao, Zentao);

#[cfg(test)]
mod tests {
    use super::*;
    use dtm_plugin_sdk::testing::{TestHost, call, request};
    use serde_json::json;

    fn devstreams_example() -> Value {
        json!({
            "namespace": "zentao", "storageClassName": "zentao-storage",
            "persistentVolumes": [{"pvName": "zentao-pv", "pvCapacity": "1G"},
                                  {"pvName": "mysql-pv", "pvCapacity": "1G"}],
            "persistentVolumeClaims": [{"pvcName": "zentao-pvc", "pvcCapacity": "1G"},
                                       {"pvcName": "mysql-pvc", "pvcCapacity": "1G"}],
            "deployment": {"name": "zentao-dp", "replicas": 1, "image": "easysoft/zentao:latest",
                           "envs": [{"key": "MYSQL_ROOT_PASSWORD", "value": "123456"}]},
            "service": {"name": "zentao-svc", "nodePort": 30081},
        })
    }

    #[test]
    fn devstreams_objects() {
        let o: Options = serde_json::from_value(devstreams_example()).unwrap();
        let objects = o.objects(true);
        let keys: Vec<String> = objects
            .iter()
            .map(|v| {
                format!(
                    "{} {}",
                    v["kind"].as_str().unwrap(),
                    v["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                "Namespace zentao",
                "PersistentVolume zentao-pv",
                "PersistentVolume mysql-pv",
                "PersistentVolumeClaim zentao-pvc",
                "PersistentVolumeClaim mysql-pvc",
                "Deployment zentao-dp",
                "Service zentao-svc"
            ]
        );
        assert_eq!(objects[1]["spec"]["hostPath"]["path"], "/www/zentaopms");
        assert_eq!(objects[2]["spec"]["hostPath"]["path"], "/var/lib/mysql");
        let container = &objects[5]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["env"][0],
            json!({"name": "MYSQL_ROOT_PASSWORD", "value": "123456"})
        );
        assert!(container.get("volumeMounts").is_none());
        assert_eq!(objects[6]["spec"]["ports"][0]["nodePort"], 30081);
        assert_eq!(o.objects(false).len(), 6);
    }

    #[test]
    fn a_volume_dtm_cannot_place_is_reported() {
        let mut options = devstreams_example();
        options["persistentVolumes"][1]["pvName"] = json!("db-pv");
        options["namespace"] = json!("Zentao");
        let r = call(
            &Zentao,
            &TestHost::new(),
            &request(Operation::Validate, "zentao.default", options),
        );
        let Response::Invalid { problems } = r else {
            panic!("{r:?}")
        };
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/namespace", "/persistentVolumes/1"]);
        let r = call(
            &Zentao,
            &TestHost::new(),
            &request(Operation::Validate, "zentao.default", devstreams_example()),
        );
        assert!(matches!(r, Response::Done { .. }), "{r:?}");
    }
}
