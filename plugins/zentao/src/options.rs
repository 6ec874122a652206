//! The options of a `zentao` tool (DevStream's, all required as there, plus a few of dtm's) and
//! the Kubernetes objects they describe, as DevStream's plugin created them.

use dtm_kube_support::{Connection, defaults, parse_duration};
use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

/// The label DevStream put on the namespaces it created; only such a namespace is ever deleted.
pub(crate) const NAMESPACE_LABEL: (&str, &str) = ("created_by", "DevStream");
/// Labels of the Deployment, its Pods and the Service (DevStream's).
const APP: &str = "zentao";

/// DevStream's host paths of the volumes it knew by name.
fn default_host_path(pv: &str) -> Option<&'static str> {
    match pv {
        "zentao-pv" => Some("/www/zentaopms"),
        "mysql-pv" => Some("/var/lib/mysql"),
        _ => None,
    }
}

fn wait_timeout() -> String {
    "10m".into()
}

/// A PersistentVolume (a host path) for ZenTao's or MySQL's data.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersistentVolume {
    /// Name of the PersistentVolume.
    #[serde(rename = "pvName")]
    pub pv_name: String,
    /// Its capacity, a Kubernetes quantity such as `1G` or `10Gi`.
    #[serde(rename = "pvCapacity")]
    pub pv_capacity: String,
    /// The host directory it is (dtm). Default: `/www/zentaopms` for `zentao-pv` and
    /// `/var/lib/mysql` for `mysql-pv`, DevStream's paths; other names must give one.
    #[serde(default, rename = "hostPath")]
    pub host_path: Option<String>,
}

/// A PersistentVolumeClaim in the namespace, bound through `storageClassName`.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersistentVolumeClaim {
    /// Name of the PersistentVolumeClaim (and of the Deployment's volume).
    #[serde(rename = "pvcName")]
    pub pvc_name: String,
    /// The storage it requests, a Kubernetes quantity such as `1G`.
    #[serde(rename = "pvcCapacity")]
    pub pvc_capacity: String,
    /// Where the ZenTao container mounts the claim (dtm). Without it the claim is a volume of
    /// the Pod but mounted nowhere, as in DevStream.
    #[serde(default, rename = "mountPath")]
    pub mount_path: Option<String>,
}

/// An environment variable of the ZenTao container.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Env {
    /// The variable's name, e.g. `MYSQL_ROOT_PASSWORD`.
    pub key: String,
    /// Its value.
    pub value: String,
}

fn example_envs() -> Value {
    json!([{"key": "MYSQL_ROOT_PASSWORD", "value": "change-me"}])
}

/// The Deployment that runs ZenTao (with its bundled MySQL).
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// Name of the Deployment.
    pub name: String,
    /// Number of Pods.
    pub replicas: u32,
    /// ZenTao's image, e.g. `easysoft/zentao:latest`.
    pub image: String,
    /// Environment variables; ZenTao's image takes MySQL's root password as
    /// `MYSQL_ROOT_PASSWORD`.
    #[schemars(example = example_envs())]
    pub envs: Vec<Env>,
}

/// The NodePort Service in front of ZenTao's web port 80.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Name of the Service.
    pub name: String,
    /// The node port ZenTao is reached on (the cluster's NodePort range, 30000-32767 by
    /// default).
    #[serde(rename = "nodePort")]
    pub node_port: u16,
}

fn example_pvs() -> Value {
    json!([{"pvName": "zentao-pv", "pvCapacity": "1G"}, {"pvName": "mysql-pv", "pvCapacity": "1G"}])
}
fn example_pvcs() -> Value {
    json!([{"pvcName": "zentao-pvc", "pvcCapacity": "1G"}, {"pvcName": "mysql-pvc", "pvcCapacity": "1G"}])
}
fn example_deployment() -> Value {
    json!({"name": "zentao-dp", "replicas": 1, "image": "easysoft/zentao:latest",
           "envs": [{"key": "MYSQL_ROOT_PASSWORD", "value": "change-me"}]})
}
fn example_service() -> Value {
    json!({"name": "zentao-svc", "nodePort": 30081})
}

/// Options of a `zentao` tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Options {
    /// Namespace of ZenTao's objects; created (labelled `created_by: DevStream`) when missing,
    /// and then deleted with the tool.
    #[schemars(example = &"zentao")]
    pub namespace: String,
    /// The storage class that binds the claims to the volumes.
    #[schemars(example = &"zentao-storage")]
    pub storage_class_name: String,
    /// The PersistentVolumes (host paths), one for ZenTao and one for MySQL.
    #[schemars(example = example_pvs())]
    pub persistent_volumes: Vec<PersistentVolume>,
    /// The PersistentVolumeClaims, one for ZenTao and one for MySQL.
    #[schemars(example = example_pvcs())]
    pub persistent_volume_claims: Vec<PersistentVolumeClaim>,
    /// The Deployment.
    #[schemars(example = example_deployment())]
    pub deployment: Deployment,
    /// The Service.
    #[schemars(example = example_service())]
    pub service: Service,
    /// Wait after apply until the Deployment is available, and after delete until the objects
    /// are gone (dtm).
    #[serde(default = "defaults::yes")]
    pub wait: bool,
    /// How long to wait, e.g. `90s`, `10m` (dtm; DevStream waited 10 minutes).
    #[serde(default = "wait_timeout")]
    pub wait_timeout: String,
    /// Path of a kubeconfig file, relative to the config file. Default: `KUBECONFIG`, then
    /// `~/.kube/config`, then the pod's service account (dtm).
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context to use instead of the current one (dtm).
    #[serde(default)]
    pub context: Option<String>,
    /// Use the pod's service account (dtm running in the cluster), ignoring any kubeconfig
    /// (dtm).
    #[serde(default)]
    pub in_cluster: bool,
}

/// Whether `name` is a DNS-1123 name as Kubernetes wants for these objects.
fn dns_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

impl Options {
    /// How to reach the cluster.
    pub fn connection(&self) -> Connection {
        Connection {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            in_cluster: self.in_cluster,
        }
    }

    /// Problems the schema cannot express.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut name = |path: String, value: &str| {
            if !dns_name_ok(value) {
                problems.push(Problem {
                    path,
                    message: format!(
                        "`{value}` is not a Kubernetes name: lower-case letters, digits and `-`, \
                         starting and ending with a letter or digit"
                    ),
                });
            }
        };
        name("/namespace".into(), &self.namespace);
        name("/storageClassName".into(), &self.storage_class_name);
        name("/deployment/name".into(), &self.deployment.name);
        name("/service/name".into(), &self.service.name);
        for (i, pv) in self.persistent_volumes.iter().enumerate() {
            name(format!("/persistentVolumes/{i}/pvName"), &pv.pv_name);
        }
        for (i, pvc) in self.persistent_volume_claims.iter().enumerate() {
            name(
                format!("/persistentVolumeClaims/{i}/pvcName"),
                &pvc.pvc_name,
            );
        }
        for (i, pv) in self.persistent_volumes.iter().enumerate() {
            if pv.host_path.is_none() && default_host_path(&pv.pv_name).is_none() {
                problems.push(Problem {
                    path: format!("/persistentVolumes/{i}"),
                    message: format!(
                        "give the host directory of `{}` as `hostPath`: only `zentao-pv` and \
                         `mysql-pv` have one by default",
                        pv.pv_name
                    ),
                });
            }
        }
        for (i, env) in self.deployment.envs.iter().enumerate() {
            if env.key.trim().is_empty() {
                problems.push(Problem {
                    path: format!("/deployment/envs/{i}/key"),
                    message: "must not be empty".into(),
                });
            }
        }
        if let Err(e) = parse_duration(&self.wait_timeout, "waitTimeout") {
            problems.push(Problem {
                path: "/waitTimeout".into(),
                message: e.message,
            });
        }
        problems
    }

    /// The objects to apply, in DevStream's order; with `namespace` the Namespace first.
    pub fn objects(&self, namespace: bool) -> Vec<Value> {
        let ns = &self.namespace;
        let mut out = Vec::new();
        if namespace {
            out.push(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
                "name": ns, "labels": {NAMESPACE_LABEL.0: NAMESPACE_LABEL.1}}}),
            );
        }
        for pv in &self.persistent_volumes {
            let path = pv
                .host_path
                .as_deref()
                .or_else(|| default_host_path(&pv.pv_name))
                .unwrap_or_default();
            out.push(json!({"apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": pv.pv_name},
                "spec": {"storageClassName": self.storage_class_name,
                         "accessModes": ["ReadWriteOnce"],
                         "capacity": {"storage": pv.pv_capacity},
                         "persistentVolumeReclaimPolicy": "Retain",
                         "hostPath": {"path": path}}}));
        }
        for pvc in &self.persistent_volume_claims {
            out.push(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": pvc.pvc_name, "namespace": ns},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": pvc.pvc_capacity}},
                         "storageClassName": self.storage_class_name}}));
        }
        out.push(self.deployment_object());
        out.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": self.service.name, "namespace": ns, "labels": {"app": APP}},
            "spec": {"type": "NodePort", "selector": {"app": APP},
                     "ports": [{"name": "zentao", "port": 80, "targetPort": 80,
                                "nodePort": self.service.node_port, "protocol": "TCP"}]}}));
        out
    }

    fn deployment_object(&self) -> Value {
        let d = &self.deployment;
        let env: Vec<Value> = d
            .envs
            .iter()
            .map(|e| json!({"name": e.key, "value": e.value}))
            .collect();
        let claims = &self.persistent_volume_claims;
        let volumes: Vec<Value> = claims
            .iter()
            .map(
                |c| json!({"name": c.pvc_name, "persistentVolumeClaim": {"claimName": c.pvc_name}}),
            )
            .collect();
        let mounts: Vec<Value> = claims
            .iter()
            .filter_map(|c| {
                let at = c.mount_path.as_ref()?;
                Some(json!({"name": c.pvc_name, "mountPath": at}))
            })
            .collect();
        let mut container = json!({"name": APP, "image": d.image, "env": env, "ports": [
            {"name": "zentao", "containerPort": 80, "protocol": "TCP"},
            {"name": "mysql", "containerPort": 3306, "protocol": "TCP"}]});
        if !mounts.is_empty() {
            container["volumeMounts"] = json!(mounts);
        }
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": d.name, "namespace": self.namespace, "labels": {"app": APP}},
            "spec": {"replicas": d.replicas, "selector": {"matchLabels": {"app": APP}},
                     "template": {"metadata": {"labels": {"app": APP}},
                                  "spec": {"containers": [container], "volumes": volumes}}}})
    }
}
