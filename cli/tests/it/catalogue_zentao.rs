//! The conformance story of `zentao`, through the real binary, against the real kube-apiserver of
//! scripts/test-servers.sh (with the Deployment and ReplicaSet controllers, but no scheduler or
//! kubelet, no volume binder and no pv/pvc-protection controllers).
//!
//! So: the story's Deployment has zero replicas, which its real controller reports ready; a
//! Deployment of one replica never becomes available, which tests `wait: false` and the
//! timeout; and where deletion waits on the `kubernetes.io/pv(c)-protection` finalizers the
//! API server adds, the test removes them as those controllers would for unused volumes.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use std::process::Child;
use std::sync::mpsc;

use common::{Sandbox, server_var, spawn_until, unique};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

struct Cluster {
    rt: tokio::runtime::Runtime,
    client: kube::Client,
}

impl Cluster {
    fn new(kubeconfig: &str) -> Cluster {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt.block_on(async {
            let file = Kubeconfig::read_from(kubeconfig).unwrap();
            let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .unwrap();
            kube::Client::try_from(config).unwrap()
        });
        Cluster { rt, client }
    }

    fn ns<K>(&self, ns: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    fn all<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::all(self.client.clone())
    }

    fn get<K>(&self, api: &Api<K>, name: &str) -> Option<Value>
    where
        K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        self.rt
            .block_on(api.get_opt(name))
            .unwrap()
            .map(|o| serde_json::to_value(o).unwrap())
    }

    /// A change by someone else than dtm (a merge patch, like `kubectl edit`).
    fn edit<K>(&self, api: &Api<K>, name: &str, patch: Value)
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        self.rt
            .block_on(api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)))
            .unwrap();
    }

    fn remove<K>(&self, api: &Api<K>, name: &str)
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let _ = self.rt.block_on(api.delete(name, &Default::default()));
    }

    /// What the pv- and pvc-protection controllers do for volumes no Pod uses.
    fn release_volumes(&self, ns: &str, pvcs: &[String], pvs: &[String]) {
        let gone = json!({"metadata": {"finalizers": null}});
        let claims = self.ns::<PersistentVolumeClaim>(ns);
        for name in pvcs {
            if self.get(&claims, name).is_some() {
                self.edit(&claims, name, gone.clone());
            }
        }
        let volumes = self.all::<PersistentVolume>();
        for name in pvs {
            if self.get(&volumes, name).is_some() {
                self.edit(&volumes, name, gone.clone());
            }
        }
    }
}

struct Names {
    ns: String,
    pvs: Vec<String>,
    pvcs: Vec<String>,
    node_port: u16,
}

impl Names {
    fn new(prefix: &str) -> Names {
        let ns = unique(prefix);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Names {
            pvs: vec![format!("{ns}-zentao"), format!("{ns}-mysql")],
            pvcs: vec!["zentao-pvc".into(), "mysql-pvc".into()],
            node_port: 30000 + u16::try_from(nanos % 2700).unwrap(),
            ns,
        }
    }
}

fn config(kubeconfig: &str, n: &Names, replicas: u32, image: &str, extra: &str) -> String {
    format!(
        "tools:
- name: zentao
  instanceID: default
  options:
    kubeconfig: {kubeconfig}
    namespace: {ns}
    storageClassName: zentao-storage
    persistentVolumes:
    - {{pvName: {pv0}, pvCapacity: 1G, hostPath: /www/zentaopms}}
    - {{pvName: {pv1}, pvCapacity: 1G, hostPath: /var/lib/mysql}}
    persistentVolumeClaims:
    - {{pvcName: zentao-pvc, pvcCapacity: 1G, mountPath: /www/zentaopms}}
    - {{pvcName: mysql-pvc, pvcCapacity: 1G}}
    deployment:
      name: zentao-dp
      replicas: {replicas}
      image: {image}
      envs:
      - {{key: MYSQL_ROOT_PASSWORD, value: '123456'}}
    service:
      name: zentao-svc
      nodePort: {port}
{extra}",
        ns = n.ns,
        pv0 = n.pvs[0],
        pv1 = n.pvs[1],
        port = n.node_port,
    )
}

#[track_caller]
fn no_changes(s: &Sandbox) {
    let plan = s.run(&["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("No changes"), "{}", plan.all());
}

fn finish(mut child: Child, rx: &mpsc::Receiver<String>) {
    let status = child.wait().unwrap();
    let rest: Vec<String> = rx.iter().collect();
    assert!(
        status.success(),
        "dtm failed: {status}\n{}",
        rest.join("\n")
    );
}

/// `dtm delete`, releasing the volumes once dtm waits for them to go.
fn delete(k: &Cluster, s: &Sandbox, n: &Names) {
    let (child, rx) = spawn_until(s, &["delete", "-y", "-f", "dtm.yaml"], "to go:");
    k.release_volumes(&n.ns, &n.pvcs, &n.pvs);
    finish(child, &rx);
}

#[test]
fn zentao_story() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let k = Cluster::new(&kubeconfig);
    let s = Sandbox::new();
    let n = Names::new("dtm-zentao");
    s.write(
        "dtm.yaml",
        &config(&kubeconfig, &n, 0, "easysoft/zentao:latest", ""),
    );
    let deployments = k.ns::<Deployment>(&n.ns);
    let services = k.ns::<Service>(&n.ns);

    // create: the namespace (DevStream's label), volumes, claims, Deployment and Service; ready
    // once the Deployment controller has seen the Deployment
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let namespace = k.get(&k.all::<Namespace>(), &n.ns).unwrap();
    assert_eq!(namespace["metadata"]["labels"]["created_by"], "DevStream");
    let pv = k.get(&k.all::<PersistentVolume>(), &n.pvs[1]).unwrap();
    assert_eq!(pv["spec"]["hostPath"]["path"], "/var/lib/mysql");
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    let dp = k.get(&deployments, "zentao-dp").unwrap();
    let container = &dp["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["env"][0]["name"], "MYSQL_ROOT_PASSWORD");
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/www/zentaopms");
    let svc = k.get(&services, "zentao-svc").unwrap();
    assert_eq!(svc["spec"]["type"], "NodePort");
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], n.node_port);
    let state = s.state();
    let recorded = &state["resources"]["zentao.default"];
    assert_eq!(recorded["lifecycle"], "completed", "{recorded}");
    assert_eq!(
        recorded["status"]["objects"].as_object().unwrap().len(),
        7,
        "{recorded}"
    );
    assert_eq!(recorded["outputs"]["nodePort"], n.node_port);
    assert!(
        !recorded["status"].to_string().contains("123456"),
        "the password reached the status"
    );

    // read, no-op plan
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // drift by hand: the image edited, then the Service deleted; apply repairs each
    k.edit(
        &deployments,
        "zentao-dp",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "zentao", "image": "other:1"}]}}}}),
    );
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(
        out.all().contains("zentao.default (update)"),
        "{}",
        out.all()
    );
    assert!(
        out.all()
            .contains(&format!("Deployment {}/zentao-dp", n.ns)),
        "{}",
        out.all()
    );
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let dp = k.get(&deployments, "zentao-dp").unwrap();
    assert_eq!(
        dp["spec"]["template"]["spec"]["containers"][0]["image"],
        "easysoft/zentao:latest"
    );
    k.remove(&services, "zentao-svc");
    s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(k.get(&services, "zentao-svc").is_some());
    no_changes(&s);

    // option change → update
    s.write(
        "dtm.yaml",
        &config(&kubeconfig, &n, 0, "easysoft/zentao:18.5", ""),
    );
    let plan = s.run(&["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("1 to update"), "{}", plan.all());
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let dp = k.get(&deployments, "zentao-dp").unwrap();
    assert_eq!(
        dp["spec"]["template"]["spec"]["containers"][0]["image"],
        "easysoft/zentao:18.5"
    );
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // delete: everything, the namespace dtm created included; and again
    delete(&k, &s, &n);
    assert!(k.get(&k.all::<Namespace>(), &n.ns).is_none());
    assert!(k.get(&k.all::<PersistentVolume>(), &n.pvs[0]).is_none());
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.state()["resources"], json!({}));
}

#[test]
fn zentao_readiness_wait_false_and_timeout_in_a_namespace_it_does_not_own() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let k = Cluster::new(&kubeconfig);
    let s = Sandbox::new();
    let n = Names::new("dtm-zentao-own");
    // The namespace exists before: it is used, not recorded, and never deleted.
    k.rt.block_on(k.all::<Namespace>().create(
        &Default::default(),
        &serde_json::from_value(json!({"metadata": {"name": n.ns}})).unwrap(),
    ))
    .unwrap();

    // One replica never becomes available here (no scheduler): `wait: false` records it at once.
    s.write(
        "dtm.yaml",
        &config(
            &kubeconfig,
            &n,
            1,
            "easysoft/zentao:latest",
            "    wait: false\n",
        ),
    );
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let objects = s.state()["resources"]["zentao.default"]["status"]["objects"].clone();
    assert!(
        objects.get(format!("Namespace {}", n.ns)).is_none(),
        "{objects}"
    );
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);

    // With waiting, the apply times out naming the Deployment and what it waits for.
    s.write(
        "dtm.yaml",
        &config(
            &kubeconfig,
            &n,
            1,
            "easysoft/zentao:latest",
            "    waitTimeout: 6s\n",
        ),
    );
    let out = s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(
        out.all().contains("timed out after `waitTimeout` (6s)"),
        "{}",
        out.all()
    );
    assert!(
        out.all()
            .contains(&format!("Deployment {}/zentao-dp", n.ns)),
        "{}",
        out.all()
    );

    s.write(
        "dtm.yaml",
        &config(
            &kubeconfig,
            &n,
            1,
            "easysoft/zentao:latest",
            "    waitTimeout: 2m\n",
        ),
    );
    delete(&k, &s, &n);
    assert!(k.get(&k.ns::<Deployment>(&n.ns), "zentao-dp").is_none());
    assert!(
        k.get(&k.all::<Namespace>(), &n.ns).is_some(),
        "a namespace dtm did not create was deleted"
    );
    k.remove(&k.all::<Namespace>(), &n.ns);
}
