//! The conformance story, through the real binary, for `k8s-manifest` and `argocdapp` against the
//! real kube-apiserver of scripts/test-servers.sh: create, read, no-op plan, drift by hand,
//! repair, option change → update, delete, delete again.
//!
//! The server has no scheduler, no kubelet and only the namespace and garbage-collector
//! controllers. Readiness is therefore tested with objects that become ready without Pods
//! (ConfigMap, Namespace, a CustomResourceDefinition the API server establishes, a LoadBalancer
//! Service whose address the test hands out as the cloud controller would, an Application whose
//! health the test reports as Argo CD would) and the Pod-backed path with a timeout.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::catalogue_support;
use crate::common;

use std::process::Child;
use std::sync::mpsc;

use catalogue_support::git;
use common::{Sandbox, server_var, spawn_until, unique};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

/// The cluster, seen from the test: a blocking wrapper over kube.
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

    fn dynamic(&self, ns: &str, group: &str, version: &str, kind: &str) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        Api::namespaced_with(self.client.clone(), ns, &ar)
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

    /// A change by someone else than dtm (a plain merge patch, like `kubectl edit`).
    fn edit<K>(&self, api: &Api<K>, name: &str, patch: Value)
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        self.rt
            .block_on(api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)))
            .unwrap();
    }

    fn edit_status<K>(&self, api: &Api<K>, name: &str, patch: Value)
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        self.rt
            .block_on(api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)))
            .unwrap();
    }

    fn create_namespace(&self, name: &str) {
        self.rt
            .block_on(Api::<Namespace>::all(self.client.clone()).create(
                &Default::default(),
                &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
            ))
            .unwrap();
    }

    fn remove_namespace(&self, name: &str) {
        self.remove(&Api::<Namespace>::all(self.client.clone()), name);
    }

    fn remove<K>(&self, api: &Api<K>, name: &str)
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        self.rt
            .block_on(api.delete(name, &Default::default()))
            .unwrap();
    }
}

fn finish(mut child: Child, rx: &mpsc::Receiver<String>) -> String {
    let status = child.wait().unwrap();
    let rest: Vec<String> = rx.iter().collect();
    assert!(
        status.success(),
        "dtm failed: {status}\n{}",
        rest.join("\n")
    );
    rest.join("\n")
}

#[track_caller]
fn no_changes(s: &Sandbox) {
    let plan = s.run(&["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("No changes"), "{}", plan.all());
}

fn crd(group: &str, kind: &str, plural: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
",
        singular = kind.to_lowercase()
    )
}

fn manifest_config(kubeconfig: &str, ns: &str, greeting: &str, with_service: bool) -> String {
    let service = if with_service {
        "    - apiVersion: v1
      kind: Service
      metadata: {name: web}
      spec:
        type: LoadBalancer
        selector: {app: web}
        ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
"
    } else {
        ""
    };
    format!(
        "tools:
- name: k8s-manifest
  instanceID: web
  options:
    kubeconfig: {kubeconfig}
    namespace: {ns}
    waitTimeout: 2m
    files: [widgets.yaml]
    content: |
      apiVersion: v1
      kind: Namespace
      metadata: {{name: {ns}}}
    manifests:
    - apiVersion: v1
      kind: ConfigMap
      metadata: {{name: settings, labels: {{app: web}}}}
      data: {{greeting: {greeting}}}
    # Workloads scaled to zero: ready once their (real) controllers have seen them.
    - apiVersion: apps/v1
      kind: Deployment
      metadata: {{name: api}}
      spec:
        replicas: 0
        selector: {{matchLabels: {{app: api}}}}
        template:
          metadata: {{labels: {{app: api}}}}
          spec: {{containers: [{{name: api, image: registry.invalid/api:1}}]}}
    - apiVersion: apps/v1
      kind: StatefulSet
      metadata: {{name: db}}
      spec:
        replicas: 0
        serviceName: db
        selector: {{matchLabels: {{app: db}}}}
        template:
          metadata: {{labels: {{app: db}}}}
          spec: {{containers: [{{name: db, image: registry.invalid/db:1}}]}}
    - apiVersion: apps/v1
      kind: DaemonSet
      metadata: {{name: agent}}
      spec:
        selector: {{matchLabels: {{app: agent}}}}
        template:
          metadata: {{labels: {{app: agent}}}}
          spec: {{containers: [{{name: agent, image: registry.invalid/agent:1}}]}}
{service}"
    )
}

#[test]
fn k8s_manifest_story() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let k = Cluster::new(&kubeconfig);
    let s = Sandbox::new();
    let ns = unique("dtm-k8s");
    let group = format!("{ns}.example.com");
    // A definition and an object of its kind in one file: the kind is served only once the
    // definition is established, which the plugin waits for.
    s.write(
        "widgets.yaml",
        &format!(
            "{}---\napiVersion: {group}/v1alpha1\nkind: Widget\nmetadata: {{name: w1}}\nspec: {{size: 3}}\n",
            crd(&group, "Widget", "widgets")
        ),
    );
    s.write(
        "dtm.yaml",
        &manifest_config(&kubeconfig, &ns, "hello", true),
    );
    let configmaps = k.ns::<ConfigMap>(&ns);
    let services = k.ns::<Service>(&ns);
    let widgets = k.dynamic(&ns, &group, "v1alpha1", "Widget");

    // create: everything is applied, then dtm waits for the load balancer's address, which the
    // test hands out like a cloud controller would.
    let (child, rx) = spawn_until(
        &s,
        &["apply", "-y", "-f", "dtm.yaml"],
        "no load balancer address yet",
    );
    assert!(k.get(&configmaps, "settings").is_some());
    assert_eq!(k.get(&widgets, "w1").unwrap()["spec"]["size"], 3);
    k.edit_status(
        &services,
        "web",
        json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}),
    );
    finish(child, &rx);
    let state = s.state();
    let recorded = &state["resources"]["k8s-manifest.web"];
    assert_eq!(recorded["lifecycle"], "completed", "{recorded}");
    let objects = recorded["status"]["objects"].as_object().unwrap();
    let mut keys: Vec<&str> = objects.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let widget_crd = format!("CustomResourceDefinition widgets.{group}");
    let mut expected = vec![
        format!("ConfigMap {ns}/settings"),
        format!("DaemonSet {ns}/agent"),
        format!("Deployment {ns}/api"),
        format!("StatefulSet {ns}/db"),
        widget_crd.clone(),
        format!("Namespace {ns}"),
        format!("Service {ns}/web"),
        format!("Widget {ns}/w1"),
    ];
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(recorded["outputs"]["namespace"], ns.as_str());
    let cm = k.get(&configmaps, "settings").unwrap();
    assert_eq!(
        cm["metadata"]["annotations"]["dtm/instance"],
        "k8s-manifest.web"
    );

    // read, no-op plan
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // Fields dtm did not set are not drift.
    k.edit(
        &configmaps,
        "settings",
        json!({"metadata": {"labels": {"team": "x"}}}),
    );
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);

    // drift by hand: an applied field edited, then an object deleted; apply repairs each
    k.edit(
        &configmaps,
        "settings",
        json!({"data": {"greeting": "edited"}}),
    );
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(
        out.all().contains("k8s-manifest.web (update)"),
        "{}",
        out.all()
    );
    assert!(
        out.all().contains(&format!("ConfigMap {ns}/settings")),
        "{}",
        out.all()
    );
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(
        k.get(&configmaps, "settings").unwrap()["data"]["greeting"],
        "hello"
    );
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    // A Deployment scaled by hand is drift; apply scales it back and waits for the rollout.
    let deployments = k.ns::<k8s_openapi::api::apps::v1::Deployment>(&ns);
    k.edit(&deployments, "api", json!({"spec": {"replicas": 2}}));
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(
        out.all().contains(&format!("Deployment {ns}/api")),
        "{}",
        out.all()
    );
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(k.get(&deployments, "api").unwrap()["spec"]["replicas"], 0);
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    k.remove(&widgets, "w1");
    s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(k.get(&widgets, "w1").is_some());
    no_changes(&s);

    // option change → update: a new value, and the Service dropped from the manifests is pruned
    s.write(
        "dtm.yaml",
        &manifest_config(&kubeconfig, &ns, "bonjour", false),
    );
    let plan = s.run(&["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("1 to update"), "{}", plan.all());
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(
        k.get(&configmaps, "settings").unwrap()["data"]["greeting"],
        "bonjour"
    );
    assert!(k.get(&services, "web").is_none());
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // delete waits until the namespace (and all in it) is gone; and again
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(
        k.get(&Api::<Namespace>::all(k.client.clone()), &ns)
            .is_none()
    );
    assert!(k.get(&configmaps, "settings").is_none());
    s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.state()["resources"], json!({}));
}

#[test]
fn k8s_manifest_pod_readiness_times_out_and_delete_removes_what_it_applied() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let k = Cluster::new(&kubeconfig);
    let s = Sandbox::new();
    let ns = unique("dtm-pod");
    k.create_namespace(&ns);
    // The service account Kubernetes' controller would create (the Pod's admission needs it).
    k.rt.block_on(
        k.ns::<k8s_openapi::api::core::v1::ServiceAccount>(&ns)
            .create(
                &Default::default(),
                &serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap(),
            ),
    )
    .unwrap();
    let pods = k.ns::<Pod>(&ns);
    let configmaps = k.ns::<ConfigMap>(&ns);
    // Someone else's ConfigMap of the same name as one in the manifests: never deleted by dtm.
    k.rt.block_on(
        configmaps.create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "theirs"}, "data": {"a": "b"}}))
                .unwrap(),
        ),
    )
    .unwrap();
    s.write(
        "dtm.yaml",
        &format!(
            "tools:
- name: k8s-manifest
  instanceID: pod
  options:
    kubeconfig: {kubeconfig}
    namespace: {ns}
    waitTimeout: 5s
    manifests:
    - apiVersion: v1
      kind: Pod
      metadata: {{name: web}}
      spec:
        automountServiceAccountToken: false
        containers: [{{name: app, image: registry.invalid/app:1}}]
    - apiVersion: apps/v1
      kind: Deployment
      metadata: {{name: api}}
      spec:
        replicas: 1
        selector: {{matchLabels: {{app: api}}}}
        template:
          metadata: {{labels: {{app: api}}}}
          spec:
            automountServiceAccountToken: false
            containers: [{{name: api, image: registry.invalid/api:1}}]
"
        ),
    );
    let out = s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(out.all().contains("timed out"), "{}", out.all());
    assert!(
        out.all().contains(&format!("Pod {ns}/web")),
        "{}",
        out.all()
    );
    assert!(out.all().contains("not scheduled"), "{}", out.all());
    // The Deployment's controller made a ReplicaSet and a Pod, which no node ever runs:
    // "0 of 1 replicas available" (or "updated", if the ReplicaSet's status lags on a busy
    // machine). Either way the real controller reported on it.
    let all = out.all();
    // The last mention is in the timeout error (earlier progress lines may predate the report).
    let said = all
        .rsplit(&format!("Deployment {ns}/api: "))
        .next()
        .unwrap_or_default();
    assert!(said.starts_with("0 of 1 replicas "), "{all}");
    assert!(k.get(&pods, "web").is_some());
    assert_eq!(
        s.state()["resources"]["k8s-manifest.pod"]["lifecycle"],
        "failed"
    );

    // Nothing was recorded but the failure, yet delete removes the Pod dtm applied (it carries
    // dtm's annotation), and leaves a look-alike it did not apply alone.
    let original = s.read("dtm.yaml");
    s.write(
        "dtm.yaml",
        &original.replace(
            "    manifests:\n",
            "    manifests:\n    - {apiVersion: v1, kind: ConfigMap, metadata: {name: theirs}, data: {a: b}}\n",
        ),
    );
    let out = s.run(&["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(
        out.all().contains("not deleting ConfigMap"),
        "{}",
        out.all()
    );
    assert!(k.get(&pods, "web").is_none());
    assert!(
        k.get(&k.ns::<k8s_openapi::api::apps::v1::Deployment>(&ns), "api")
            .is_none()
    );
    assert!(k.get(&configmaps, "theirs").is_some());

    // `wait: false` accepts the applied Pod as it is.
    s.write(
        "dtm.yaml",
        &original.replace("waitTimeout: 5s", "wait: false"),
    );
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    s.run(&["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(k.get(&pods, "web").is_none());
    k.remove_namespace(&ns);
}

/// The Application definition is cluster-wide: the tests that use it take turns.
static ARGO_DEFINITION: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn argocd_config(kubeconfig: &str, ns: &str, branch: &str, extra: &str) -> String {
    format!(
        "tools:
- name: k8s-manifest
  instanceID: argocd-crd
  options:
    kubeconfig: {kubeconfig}
    files: [application-crd.yaml]
- name: argocdapp
  instanceID: myapp
  dependsOn: [k8s-manifest.argocd-crd]
  options:
    kubeconfig: {kubeconfig}
    waitTimeout: 2m
    app: {{name: myapp, namespace: {ns}}}
    destination: {{server: https://kubernetes.default.svc, namespace: {ns}-apps}}
    source:
      valuefile: values.yaml
      path: helm/myapp
      repoURL: https://git.example.com/team/myapp
      repoBranch: {branch}
    imageRepo: {{user: team, tag: \"1.0\"}}
{extra}"
    )
}

#[test]
fn argocdapp_story() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let _turn = ARGO_DEFINITION
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let k = Cluster::new(&kubeconfig);
    let s = Sandbox::new();
    let ns = unique("dtm-argo");
    k.create_namespace(&ns);
    // Argo CD's Application definition (its schema trimmed: Argo CD's own is 20,000 lines).
    s.write(
        "application-crd.yaml",
        &crd("argoproj.io", "Application", "applications"),
    );
    let apps = k.dynamic(&ns, "argoproj.io", "v1alpha1", "Application");

    // Without the definition, argocdapp says Argo CD is missing.
    s.write(
        "alone.yaml",
        &argocd_config(&kubeconfig, &ns, "main", "")
            .split("- name: argocdapp")
            .nth(1)
            .map(|t| {
                format!("tools:\n- name: argocdapp{t}")
                    .replace("  dependsOn: [k8s-manifest.argocd-crd]\n", "")
            })
            .unwrap(),
    );
    if k.get(
        &Api::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>::all(k.client.clone()),
        "applications.argoproj.io",
    )
    .is_none()
    {
        let out = s.run(&["apply", "-y", "-f", "alone.yaml"]).expect(1);
        assert!(out.all().contains("install Argo CD"), "{}", out.all());
        s.run(&["state", "rm", "-f", "alone.yaml", "argocdapp.myapp"]).expect(0);
    }

    // create: the definition first (a dependency), then the Application
    s.write("dtm.yaml", &argocd_config(&kubeconfig, &ns, "main", ""));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let app = k.get(&apps, "myapp").unwrap();
    assert_eq!(app["spec"]["source"]["path"], "helm/myapp");
    assert_eq!(app["spec"]["source"]["targetRevision"], "main");
    assert_eq!(
        app["spec"]["destination"]["namespace"],
        format!("{ns}-apps")
    );
    assert_eq!(
        app["spec"]["source"]["helm"]["parameters"][0]["value"],
        "team/myapp"
    );
    assert_eq!(
        app["metadata"]["finalizers"],
        json!(["resources-finalizer.argocd.argoproj.io"])
    );
    let outputs = &s.state()["resources"]["argocdapp.myapp"]["outputs"];
    assert_eq!(outputs["name"], "myapp");
    assert_eq!(outputs["repoURL"], "https://git.example.com/team/myapp");
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // drift by hand, repaired by apply
    k.edit(
        &apps,
        "myapp",
        json!({"spec": {"source": {"path": "elsewhere"}}}),
    );
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(
        out.all().contains("argocdapp.myapp (update)"),
        "{}",
        out.all()
    );
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(
        k.get(&apps, "myapp").unwrap()["spec"]["source"]["path"],
        "helm/myapp"
    );
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);

    // option change → update, waiting until Argo CD (played by the test) reports health
    s.write(
        "dtm.yaml",
        &argocd_config(&kubeconfig, &ns, "release", "    waitForHealthy: true\n"),
    );
    let plan = s.run(&["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("1 to update"), "{}", plan.all());
    let (child, rx) = spawn_until(
        &s,
        &["apply", "-y", "-f", "dtm.yaml"],
        "Argo CD has not reported",
    );
    assert_eq!(
        k.get(&apps, "myapp").unwrap()["spec"]["source"]["targetRevision"],
        "release"
    );
    k.edit(
        &apps,
        "myapp",
        json!({"status": {"health": {"status": "Healthy"}, "sync": {"status": "Synced"}}}),
    );
    finish(child, &rx);
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    no_changes(&s);

    // destroy: dtm waits while Argo CD (the test) removes the app's resources and its finalizer
    let (child, rx) = spawn_until(
        &s,
        &["destroy", "-y", "-f", "dtm.yaml"],
        "resources-finalizer.argocd.argoproj.io",
    );
    assert!(k.get(&apps, "myapp").unwrap()["metadata"]["deletionTimestamp"].is_string());
    k.edit(&apps, "myapp", json!({"metadata": {"finalizers": null}}));
    finish(child, &rx);
    assert_eq!(s.state()["resources"], json!({}));
    s.run(&["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
    k.remove_namespace(&ns);
}

/// A loopback HTTP server answering every GET with `body`; counts the requests.
fn serve(body: String) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/service.yaml", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/yaml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, hits)
}

#[test]
fn k8s_manifest_interrupted_wait_resumes_on_the_next_apply() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let k = Cluster::new(&kubeconfig);
    let s = Sandbox::new();
    let ns = unique("dtm-intr");
    let (url, hits) = serve(
        "apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec:\n  type: LoadBalancer\n  ports: [{port: 443, protocol: TCP}]\n".into(),
    );
    s.write(
        "dtm.yaml",
        &format!(
            "tools:
- name: k8s-manifest
  instanceID: lb
  options:
    kubeconfig: {kubeconfig}
    namespace: {ns}
    waitTimeout: 5m
    content: |
      apiVersion: v1
      kind: Namespace
      metadata: {{name: {ns}}}
    urls: [\"{url}\"]
"
        ),
    );
    let (child, rx) = spawn_until(
        &s,
        &["apply", "-y", "-f", "dtm.yaml"],
        "no load balancer address yet",
    );
    assert!(hits.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let rc = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let mut child = child;
    let status = child.wait().unwrap();
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(status.code(), Some(130), "{}", rest.join("\n"));
    // The step is paused: still pending, with its progress data, and said so in the summary.
    let rest = rest.join("\n");
    assert!(
        rest.contains("Paused (the next run resumes them):"),
        "{rest}"
    );
    assert!(rest.contains("1 paused"), "{rest}");
    let recorded = s.state()["resources"]["k8s-manifest.lb"].clone();
    assert_eq!(recorded["lifecycle"], "pending", "{recorded}");
    assert!(recorded["last_error"].is_null(), "{recorded}");
    assert_eq!(recorded["pending"]["data"]["phase"], "ready", "{recorded}");

    // The address arrives while dtm is not running; the next apply resumes the wait (it does
    // not apply again) and finishes.
    let services = k.ns::<Service>(&ns);
    k.edit_status(
        &services,
        "lb",
        json!({"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}}),
    );
    let out = s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(!out.stdout().contains("applying"), "{}", out.all());
    assert_eq!(
        s.state()["resources"]["k8s-manifest.lb"]["lifecycle"],
        "completed"
    );
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    s.run(&["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(k.get(&services, "lb").is_none());
}

#[test]
fn k8s_manifest_bad_input_is_named_and_applies_nothing() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let k = Cluster::new(&kubeconfig);
    let s = Sandbox::new();
    let ns = unique("dtm-bad");
    let config = |extra: &str, manifests: &str| {
        format!(
            "tools:
- name: k8s-manifest
  instanceID: bad
  options:
    kubeconfig: {kubeconfig}
    namespace: {ns}
{extra}    manifests:
{manifests}"
        )
    };
    let cm = "    - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: b}}\n";

    // Caught by validation, before any request: no name, a bad duration, not a URL.
    s.write(
        "dtm.yaml",
        &config(
            "    waitTimeout: soon\n    urls: [manifests/app.yaml]\n",
            "    - {apiVersion: v1, kind: ConfigMap, data: {a: b}}\n",
        ),
    );
    let out = s.run(&["plan", "-f", "dtm.yaml"]).expect(1);
    for needle in ["metadata.name", "waitTimeout", "use `files` for paths"] {
        assert!(out.all().contains(needle), "{needle}: {}", out.all());
    }

    // A kind the cluster does not serve fails before anything is applied.
    s.write(
        "dtm.yaml",
        &config(
            "",
            &format!(
                "{cm}    - {{apiVersion: gadgets.example.com/v1, kind: Gadget, metadata: {{name: g}}}}\n"
            ),
        ),
    );
    let out = s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(
        out.all().contains("does not serve the kind Gadget"),
        "{}",
        out.all()
    );
    let configmaps = k.ns::<ConfigMap>(&ns);
    assert!(k.get(&configmaps, "c").is_none());

    // Credentials without rights: a permission error naming the server and the RBAC rights.
    s.write("dtm.yaml", &config("    context: limited\n", cm));
    let out = s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(out.all().contains("permission_denied"), "{}", out.all());
    assert!(out.all().contains("403"), "{}", out.all());

    // A kubeconfig that is not there.
    s.write(
        "dtm.yaml",
        &config("", cm).replace(&kubeconfig, "missing/kubeconfig"),
    );
    let out = s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(
        out.all().contains("cannot read kubeconfig"),
        "{}",
        out.all()
    );
    // Nothing was recorded as done; destroy has nothing of dtm's to delete.
    s.write("dtm.yaml", &config("", cm));
    s.run(&["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.state()["resources"], json!({}));
}

#[test]
fn devstream_apps_gitops_flow_scaffolds_adds_ci_and_creates_the_argo_cd_application() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let _turn = ARGO_DEFINITION
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let k = Cluster::new(&kubeconfig);
    let s = Sandbox::new();
    let ns = unique("dtm-apps");
    // Argo CD's Application definition, installed (and left) the way a cluster with Argo CD
    // has it.
    s.write(
        "argocd.yaml",
        &format!(
            "config: {{state: {{backend: local, options: {{stateFile: argocd.state}}}}}}\ntools:\n- name: k8s-manifest\n  instanceID: argocd\n  options:\n    kubeconfig: {kubeconfig}\n    content: |\n{}",
            crd("argoproj.io", "Application", "applications")
                .lines()
                .map(|l| format!("      {l}\n"))
                .collect::<String>()
        ),
    );
    s.run(&["apply", "-y", "-f", "argocd.yaml"]).expect(0);

    // DevStream's app-centric format: one app with a template, CI and CD.
    s.write(
        "dtm.yaml",
        &format!(
            "apps:
- name: myapp
  spec: {{language: python, framework: flask}}
  repo: {{scmType: git, url: remotes/myapp.git, branch: main}}
  repoTemplate: {{template: python}}
  ci:
  - type: github-actions
  cd:
  - type: argocdapp
    options:
      kubeconfig: {kubeconfig}
      app: {{namespace: {ns}}}
      cascade: false
"
        ),
    );
    k.create_namespace(&ns);
    let graph = s.run(&["graph", "-f", "dtm.yaml"]).expect(0);
    assert!(
        graph
            .stdout()
            .contains("\"argocdapp.myapp\" -> \"repo-scaffolding.myapp\"")
            || graph
                .stdout()
                .contains("\"repo-scaffolding.myapp\" -> \"argocdapp.myapp\""),
        "{}",
        graph.stdout()
    );
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let bare = s.path("remotes/myapp.git");
    let files = git(&bare, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(files.contains(".github/workflows/main.yml"), "{files}");
    let apps = k.dynamic(&ns, "argoproj.io", "v1alpha1", "Application");
    let app = k.get(&apps, "myapp").unwrap();
    assert_eq!(app["spec"]["source"]["path"], "helm/myapp");
    assert_eq!(app["spec"]["source"]["repoURL"], "remotes/myapp.git");
    assert_eq!(
        app["spec"]["destination"]["server"],
        "https://kubernetes.default.svc"
    );
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    s.run(&["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(k.get(&apps, "myapp").is_none());
    k.remove_namespace(&ns);
}

#[test]
fn k8s_manifest_uses_the_context_it_is_given() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let k = Cluster::new(&kubeconfig);
    let s = Sandbox::new();
    let ns = unique("dtm-ctx");
    // `admin-cert` authenticates with a client certificate instead of the default context's
    // bearer token.
    s.write(
        "dtm.yaml",
        &format!(
            "tools:
- name: k8s-manifest
  instanceID: ctx
  options:
    kubeconfig: {kubeconfig}
    context: admin-cert
    namespace: {ns}
    content: |
      apiVersion: v1
      kind: Namespace
      metadata: {{name: {ns}}}
      ---
      apiVersion: v1
      kind: ConfigMap
      metadata: {{name: via-cert}}
"
        ),
    );
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(k.get(&k.ns::<ConfigMap>(&ns), "via-cert").is_some());
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    s.run(&["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(k.get(&k.ns::<ConfigMap>(&ns), "via-cert").is_none());
}

#[test]
fn k8s_manifest_conflicts_namespace_default_and_field_manager() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let k = Cluster::new(&kubeconfig);
    let s = Sandbox::new();
    let name = unique("dtm-conflict");
    // No `namespace` option: the kubeconfig context names none, so `default` it is.
    let config = |force: bool, value: &str| {
        format!(
            "tools:
- name: k8s-manifest
  instanceID: cm
  options:
    kubeconfig: {kubeconfig}
    fieldManager: team-tool
    forceConflicts: {force}
    manifests:
    - {{apiVersion: v1, kind: ConfigMap, metadata: {{name: {name}}}, data: {{greeting: {value}}}}}
"
        )
    };
    s.write("dtm.yaml", &config(false, "hello"));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let configmaps = k.ns::<ConfigMap>("default");
    let cm = k.get(&configmaps, &name).unwrap();
    assert!(
        cm["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["manager"] == "team-tool" && m["operation"] == "Apply"),
        "{cm}"
    );
    assert_eq!(
        s.state()["resources"]["k8s-manifest.cm"]["outputs"]["namespace"],
        "default"
    );

    // Someone else takes the field over; without forceConflicts dtm will not take it back.
    k.edit(&configmaps, &name, json!({"data": {"greeting": "theirs"}}));
    s.write("dtm.yaml", &config(false, "bonjour"));
    let out = s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(
        out.all()
            .contains("set `forceConflicts: true` to take them over"),
        "{}",
        out.all()
    );
    assert_eq!(
        k.get(&configmaps, &name).unwrap()["data"]["greeting"],
        "theirs"
    );
    s.write("dtm.yaml", &config(true, "bonjour"));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(
        k.get(&configmaps, &name).unwrap()["data"]["greeting"],
        "bonjour"
    );
    s.run(&["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(k.get(&configmaps, &name).is_none());
}
