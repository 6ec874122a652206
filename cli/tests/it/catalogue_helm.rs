//! The conformance story, through the real binary, for `helm-installer` against the real
//! kube-apiserver of scripts/test-servers.sh and a real Helm engine: create, no-op plan, values
//! change → upgrade, a chart object edited or deleted by hand → drift → repair, a hand
//! `helm upgrade`, `helm rollback` and `helm uninstall` → drift → repair, a failing upgrade
//! rolled back with `atomic`, readiness timeout, delete and delete again.
//!
//! Helm is the Helm v4 SDK driven through scripts/helm-standin/helm (`DTM_TEST_HELM`), a
//! helm-compatible command; charts are packaged and indexed by it and served from a chart
//! repository on loopback (`python3 -m http.server`), or read from a local `chartPath`.
//! The cluster has no scheduler or kubelet, so the charts hold ConfigMaps and Services (ready at
//! once); a Deployment tests the timeout.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, Sandbox, server_var, spawn_until, unique};
use serde_json::Value;

/// The helm stand-in, run by the test itself (the "by hand" changes), with its own homes.
struct Helm {
    bin: String,
    kubeconfig: String,
    home: tempfile::TempDir,
}

impl Helm {
    fn new(bin: &str, kubeconfig: &str) -> Helm {
        Helm {
            bin: bin.to_owned(),
            kubeconfig: kubeconfig.to_owned(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn output(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args).args(["--kubeconfig", &self.kubeconfig]);
        for d in ["CACHE", "CONFIG", "DATA"] {
            cmd.env(format!("HELM_{d}_HOME"), self.home.path().join(d));
        }
        cmd.stdin(Stdio::null()).output().unwrap()
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "helm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `helm status -o json`, or `None` when the release does not exist.
    fn status(&self, release: &str, ns: &str) -> Option<Value> {
        let out = self.output(&["status", release, "-n", ns, "-o", "json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }
}

/// A chart `web` at `version`: a ConfigMap holding `greeting`, a Service, a Deployment when
/// `deployment` is set, and from 0.2.0 on a second ConfigMap.
fn write_chart(dir: &Path, version: &str) -> PathBuf {
    let root = dir.join(format!("web-{version}"));
    let t = root.join("templates");
    std::fs::create_dir_all(&t).unwrap();
    let app = if version == "0.1.0" { "1.0" } else { "2.0" };
    std::fs::write(
        root.join("Chart.yaml"),
        format!("apiVersion: v2\nname: web\nversion: {version}\nappVersion: \"{app}\"\n"),
    )
    .unwrap();
    std::fs::write(
        root.join("values.yaml"),
        "greeting: hello\nport: 80\ndeployment: false\nconfigName: settings\nserviceType: ClusterIP\n",
    )
    .unwrap();
    std::fs::write(
        t.join("configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Values.configName }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
    )
    .unwrap();
    std::fs::write(
        t.join("service.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  type: {{ .Values.serviceType }}\n  selector: {app: web}\n  ports:\n  - name: http\n    port: {{ .Values.port }}\n    protocol: TCP\n",
    )
    .unwrap();
    std::fs::write(
        t.join("deployment.yaml"),
        "{{- if .Values.deployment }}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: registry.invalid/web:1}]\n{{- end }}\n",
    )
    .unwrap();
    if version != "0.1.0" {
        std::fs::write(
            t.join("extra.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\ndata:\n  version: \"2\"\n",
        )
        .unwrap();
    }
    root
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A chart repository on loopback: charts packaged and indexed by helm, served over HTTP.
struct ChartRepo {
    _dir: tempfile::TempDir,
    server: Child,
    url: String,
}

impl ChartRepo {
    fn start(helm: &Helm, versions: &[&str]) -> ChartRepo {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        for v in versions {
            let chart = write_chart(dir.path(), v);
            helm.run(&[
                "package",
                chart.to_str().unwrap(),
                "-d",
                repo.to_str().unwrap(),
            ]);
        }
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/charts");
        std::fs::create_dir_all(repo.join("charts")).unwrap();
        for entry in std::fs::read_dir(&repo).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "tgz") {
                std::fs::rename(&p, repo.join("charts").join(p.file_name().unwrap())).unwrap();
            }
        }
        helm.run(&[
            "repo",
            "index",
            repo.join("charts").to_str().unwrap(),
            "--url",
            &url,
        ]);
        let server = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(&repo)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the chart repository did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        ChartRepo {
            _dir: dir,
            server,
            url,
        }
    }
}

impl Drop for ChartRepo {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// A kubectl-free view of the cluster for the checks: the stand-in cannot read objects, so the
/// test reads them through the API server with kube.
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
            let file = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
            let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
                .await
                .unwrap();
            kube::Client::try_from(config).unwrap()
        });
        Cluster { rt, client }
    }

    fn configmaps(&self, ns: &str) -> kube::Api<k8s_openapi::api::core::v1::ConfigMap> {
        kube::Api::namespaced(self.client.clone(), ns)
    }

    fn greeting(&self, ns: &str, name: &str) -> Option<String> {
        let cm = self
            .rt
            .block_on(self.configmaps(ns).get_opt(name))
            .unwrap()?;
        cm.data.and_then(|d| d.get("greeting").cloned())
    }

    fn exists(&self, ns: &str, name: &str) -> bool {
        self.rt
            .block_on(self.configmaps(ns).get_opt(name))
            .unwrap()
            .is_some()
    }

    fn edit_greeting(&self, ns: &str, name: &str, value: &str) {
        let patch = serde_json::json!({"data": {"greeting": value}});
        self.rt
            .block_on(self.configmaps(ns).patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            ))
            .unwrap();
    }

    fn delete(&self, ns: &str, name: &str) {
        self.rt
            .block_on(self.configmaps(ns).delete(name, &Default::default()))
            .unwrap();
    }
}

struct Story<'a> {
    kubeconfig: &'a str,
    helm_bin: &'a str,
    url: &'a str,
    release: String,
    ns: String,
}

impl Story<'_> {
    fn config(&self, version: &str, values: &str, extra: &str) -> String {
        format!(
            "tools:
- name: helm-installer
  instanceID: web
  options:
    kubeconfig: {kubeconfig}
    helm: {helm}
    repo: {{name: team, url: \"{url}\"}}
    chart:
      chartName: team/web
      version: {version}
      releaseName: {release}
      namespace: {ns}
      timeout: 1m
    valuesYaml: |
      {values}
{extra}",
            kubeconfig = self.kubeconfig,
            helm = self.helm_bin,
            url = self.url,
            release = self.release,
            ns = self.ns,
        )
    }
}

#[track_caller]
fn in_sync(s: &Sandbox) {
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    let plan = s.run(&["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("No changes"), "{}", plan.all());
}

#[track_caller]
fn drift(s: &Sandbox, needle: &str) -> Run {
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(
        out.all().contains(needle),
        "{needle:?} not in\n{}",
        out.all()
    );
    out
}

#[test]
fn helm_installer_story() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let Some(helm_bin) = server_var("DTM_TEST_HELM") else {
        return;
    };
    let helm = Helm::new(&helm_bin, &kubeconfig);
    let repo = ChartRepo::start(&helm, &["0.1.0", "0.2.0"]);
    let k = Cluster::new(&kubeconfig);
    let s = Sandbox::new();
    let story = Story {
        kubeconfig: &kubeconfig,
        helm_bin: &helm_bin,
        url: &repo.url,
        release: unique("web"),
        ns: unique("dtm-helm"),
    };
    let (rel, ns) = (story.release.clone(), story.ns.clone());
    let settings = format!("{rel}-settings");

    // create: installed from the repository into a namespace helm creates
    s.write("dtm.yaml", &story.config("0.1.0", "greeting: hello", ""));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(k.greeting(&ns, &settings).as_deref(), Some("hello"));
    let state = s.state();
    let r = &state["resources"]["helm-installer.web"];
    assert_eq!(r["lifecycle"], "completed", "{r}");
    assert_eq!(r["status"]["revision"], 1);
    assert_eq!(r["status"]["status"], "deployed");
    assert_eq!(r["status"]["chartVersion"], "0.1.0");
    assert_eq!(
        r["status"]["values"],
        serde_json::json!({"greeting": "hello"})
    );
    let objects = r["status"]["objects"].as_object().unwrap();
    let mut keys: Vec<&String> = objects.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("ConfigMap {ns}/{settings}"),
            format!("Service {ns}/{rel}")
        ]
        .iter()
        .collect::<Vec<_>>()
    );
    assert_eq!(r["outputs"]["releaseName"], rel.as_str());
    assert_eq!(r["outputs"]["namespace"], ns.as_str());
    assert_eq!(r["outputs"]["appVersion"], "1.0");
    in_sync(&s);

    // values change → upgrade
    s.write("dtm.yaml", &story.config("0.1.0", "greeting: hi", ""));
    drift(&s, "helm-installer.web (update)");
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(k.greeting(&ns, &settings).as_deref(), Some("hi"));
    assert_eq!(
        s.state()["resources"]["helm-installer.web"]["status"]["revision"],
        2
    );
    in_sync(&s);

    // a chart object edited by hand is drift, which apply repairs
    k.edit_greeting(&ns, &settings, "edited");
    drift(&s, &format!("ConfigMap {ns}/{settings}"));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(k.greeting(&ns, &settings).as_deref(), Some("hi"));
    in_sync(&s);

    // ... and so is one deleted by hand
    k.delete(&ns, &settings);
    drift(&s, &format!("ConfigMap {ns}/{settings}"));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(k.greeting(&ns, &settings).as_deref(), Some("hi"));
    in_sync(&s);

    // a value changed by hand with helm itself
    helm.run(&[
        "upgrade",
        &rel,
        "web",
        "--repo",
        &repo.url,
        "--version",
        "0.1.0",
        "-n",
        &ns,
        "--set",
        "greeting=manual",
    ]);
    assert_eq!(k.greeting(&ns, &settings).as_deref(), Some("manual"));
    drift(&s, "manual");
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(k.greeting(&ns, &settings).as_deref(), Some("hi"));
    in_sync(&s);

    // a release rolled back by hand
    helm.run(&["rollback", &rel, "1", "-n", &ns]);
    assert_eq!(k.greeting(&ns, &settings).as_deref(), Some("hello"));
    drift(&s, "revision");
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(k.greeting(&ns, &settings).as_deref(), Some("hi"));
    in_sync(&s);

    // a new chart version
    s.write("dtm.yaml", &story.config("0.2.0", "greeting: hi", ""));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(k.exists(&ns, &format!("{rel}-extra")));
    let st = s.state();
    assert_eq!(
        st["resources"]["helm-installer.web"]["status"]["chartVersion"],
        "0.2.0"
    );
    assert_eq!(
        st["resources"]["helm-installer.web"]["outputs"]["appVersion"],
        "2.0"
    );
    in_sync(&s);

    // a release uninstalled by hand is drift; apply installs it again
    helm.run(&["uninstall", &rel, "-n", &ns]);
    assert!(helm.status(&rel, &ns).is_none());
    let out = s.run(&["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(out.all().contains("helm-installer.web"), "{}", out.all());
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(k.greeting(&ns, &settings).as_deref(), Some("hi"));
    in_sync(&s);

    // a failing upgrade (the API server refuses an object) is rolled back with `atomic`
    let before = helm.status(&rel, &ns).unwrap()["version"].as_u64().unwrap();
    s.write(
        "dtm.yaml",
        &story.config(
            "0.2.0",
            "greeting: broken\n      configName: Bad_Name",
            "    atomic: true\n",
        ),
    );
    let out = s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(
        out.all()
            .contains(&format!("rolled release {rel} back to revision {before}")),
        "{}",
        out.all()
    );
    let after = helm.status(&rel, &ns).unwrap();
    assert_eq!(after["info"]["status"], "deployed", "{after}");
    assert_eq!(after["config"]["greeting"], "hi", "{after}");
    assert_eq!(k.greeting(&ns, &settings).as_deref(), Some("hi"));
    s.write("dtm.yaml", &story.config("0.2.0", "greeting: hi", ""));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    in_sync(&s);

    // delete: uninstalled, the objects gone; delete again changes nothing
    s.run(&["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(helm.status(&rel, &ns).is_none());
    assert!(!k.exists(&ns, &settings));
    assert!(!k.exists(&ns, &format!("{rel}-extra")));
    s.run(&["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
}

#[test]
fn local_chart_and_readiness_timeout() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let Some(helm_bin) = server_var("DTM_TEST_HELM") else {
        return;
    };
    let s = Sandbox::new();
    let chart = write_chart(s.dir.path(), "0.1.0");
    let ns = unique("dtm-helm-local");
    let config = |wait: bool| {
        format!(
            "tools:
- name: helm-installer
  instanceID: tools
  options:
    kubeconfig: {kubeconfig}
    helm: {helm_bin}
    chart:
      chartPath: {chart}
      namespace: {ns}
      timeout: 6s
      wait: {wait}
    values:
      deployment: true
",
            chart = chart.file_name().unwrap().to_str().unwrap(),
        )
    };
    // The Deployment's Pod never runs (no kubelet): the step fails naming it, after the timeout.
    s.write("dtm.yaml", &config(true));
    let out = s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(
        out.all().contains(&format!("Deployment {ns}/tools")) && out.all().contains("timed out"),
        "{}",
        out.all()
    );
    // Not waiting, the same release is recorded as it is.
    s.write("dtm.yaml", &config(false));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let state = s.state();
    let status = &state["resources"]["helm-installer.tools"]["status"];
    assert_eq!(status["release"], "tools");
    assert!(
        status["objects"]
            .as_object()
            .unwrap()
            .contains_key(&format!("Deployment {ns}/tools")),
        "{status}"
    );
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    s.run(&["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
    let helm = Helm::new(&helm_bin, &kubeconfig);
    assert!(helm.status("tools", &ns).is_none());
}

#[test]
fn a_missing_or_old_helm_is_a_clear_error() {
    let s = Sandbox::new();
    s.write(
        "dtm.yaml",
        "tools:\n- name: helm-installer\n  instanceID: argocd\n",
    );
    let out = Run(s
        .cmd(&["apply", "-y", "-f", "dtm.yaml"])
        .env("DTM_HELM", "/nonexistent/helm")
        .output()
        .unwrap())
    .expect(1);
    assert!(
        out.all()
            .contains("`/nonexistent/helm` (from DTM_HELM) was not found")
            && out.all().contains("install Helm 3.8 or newer"),
        "{}",
        out.all()
    );
    let old = s.write("old-helm", "#!/bin/sh\necho v3.2.4\n");
    std::fs::set_permissions(&old, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Run(s
        .cmd(&["apply", "-y", "-f", "dtm.yaml"])
        .env("DTM_HELM", &old)
        .output()
        .unwrap())
    .expect(1);
    assert!(
        out.all()
            .contains("is Helm 3.2.4, but dtm needs Helm 3.8 or newer"),
        "{}",
        out.all()
    );
}

#[test]
fn every_devstream_default_chart_plans_without_helm_or_network() {
    let s = Sandbox::new();
    let ids = [
        "argocd",
        "artifactory",
        "devlake",
        "harbor",
        "jenkins",
        "kube-prometheus",
        "openldap",
        "sonarqube",
        "tekton",
        "vault",
    ];
    let mut config = String::from("tools:\n");
    for id in ids {
        config.push_str(&format!("- name: helm-installer\n  instanceID: {id}\n"));
    }
    s.write("dtm.yaml", &config);
    let out = Run(s
        .cmd(&["plan", "-f", "dtm.yaml"])
        .env("DTM_HELM", "/nonexistent/helm")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap())
    .expect(0);
    assert!(out.stdout().contains("10 to create"), "{}", out.all());
    s.write(
        "dtm.yaml",
        "tools:\n- name: helm-installer\n  instanceID: nginx\n",
    );
    let out = s.run(&["plan", "-f", "dtm.yaml"]).expect(1);
    assert!(
        out.all().contains("helm-installer.nginx") && out.all().contains("chartPath"),
        "{}",
        out.all()
    );
}

impl Cluster {
    fn services(&self, ns: &str) -> kube::Api<k8s_openapi::api::core::v1::Service> {
        kube::Api::namespaced(self.client.clone(), ns)
    }

    /// Hands out a load balancer address, as a cloud controller would.
    fn give_address(&self, ns: &str, name: &str) {
        let patch =
            serde_json::json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.7"}]}}});
        self.rt
            .block_on(self.services(ns).patch_status(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            ))
            .unwrap();
    }

    /// The versions a CustomResourceDefinition serves.
    fn crd_versions(&self, name: &str) -> Vec<String> {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let api: kube::Api<CustomResourceDefinition> = kube::Api::all(self.client.clone());
        let crd = self.rt.block_on(api.get(name)).unwrap();
        crd.spec.versions.into_iter().map(|v| v.name).collect()
    }
}

#[test]
fn an_interrupted_wait_resumes_without_a_second_upgrade() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let Some(helm_bin) = server_var("DTM_TEST_HELM") else {
        return;
    };
    let k = Cluster::new(&kubeconfig);
    let s = Sandbox::new();
    let chart = write_chart(s.dir.path(), "0.1.0");
    let ns = unique("dtm-helm-intr");
    s.write(
        "dtm.yaml",
        &format!(
            "tools:
- name: helm-installer
  instanceID: lb
  options:
    kubeconfig: {kubeconfig}
    helm: {helm_bin}
    chart: {{chartPath: {chart}, namespace: {ns}, timeout: 5m}}
    values: {{serviceType: LoadBalancer}}
",
            chart = chart.file_name().unwrap().to_str().unwrap(),
        ),
    );
    let (mut child, rx) = spawn_until(
        &s,
        &["apply", "-y", "-f", "dtm.yaml"],
        "no load balancer address yet",
    );
    let rc = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let status = child.wait().unwrap();
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(status.code(), Some(130), "{}", rest.join("\n"));
    let recorded = s.state()["resources"]["helm-installer.lb"].clone();
    assert_eq!(recorded["lifecycle"], "pending", "{recorded}");
    assert_eq!(
        recorded["pending"]["data"]["phase"], "helm-ready",
        "{recorded}"
    );
    assert_eq!(
        recorded["pending"]["data"]["status"]["revision"], 1,
        "{recorded}"
    );

    // The address arrives while dtm is not running; the next apply only waits, and finishes.
    k.give_address(&ns, "lb");
    let out = s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(!out.stdout().contains("helm upgrade"), "{}", out.all());
    let state = s.state();
    let r = &state["resources"]["helm-installer.lb"];
    assert_eq!(r["lifecycle"], "completed", "{r}");
    assert_eq!(r["status"]["revision"], 1, "{r}");
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    s.run(&["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
}

/// A chart whose `crds/` holds a definition serving `versions`.
fn write_crd_chart(dir: &Path, chart_version: &str, group: &str, versions: &[&str]) -> PathBuf {
    let root = dir.join(format!("gadgets-{chart_version}"));
    std::fs::create_dir_all(root.join("crds")).unwrap();
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::write(
        root.join("Chart.yaml"),
        format!("apiVersion: v2\nname: gadgets\nversion: {chart_version}\n"),
    )
    .unwrap();
    let versions: String = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "  - name: {v}\n    served: true\n    storage: {}\n    schema:\n      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}\n",
                i == 0
            )
        })
        .collect();
    std::fs::write(
        root.join("crds/gadgets.yaml"),
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}}\n  versions:\n{versions}"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  chart: {{ .Chart.Version | quote }}\n",
    )
    .unwrap();
    root
}

#[test]
fn upgrade_crds_applies_the_charts_definitions_which_helm_upgrade_does_not() {
    let Some(kubeconfig) = server_var("DTM_TEST_KUBECONFIG") else {
        return;
    };
    let Some(helm_bin) = server_var("DTM_TEST_HELM") else {
        return;
    };
    let k = Cluster::new(&kubeconfig);
    let s = Sandbox::new();
    let ns = unique("dtm-helm-crd");
    let group = format!("{ns}.example.com");
    write_crd_chart(s.dir.path(), "0.1.0", &group, &["v1alpha1"]);
    write_crd_chart(s.dir.path(), "0.2.0", &group, &["v1alpha1", "v1beta1"]);
    let config = |version: &str, upgrade: bool| {
        format!(
            "tools:
- name: helm-installer
  instanceID: gadgets
  options:
    kubeconfig: {kubeconfig}
    helm: {helm_bin}
    chart: {{chartPath: gadgets-{version}, namespace: {ns}, upgradeCRDs: {upgrade}}}
"
        )
    };
    let crd = format!("gadgets.{group}");
    s.write("dtm.yaml", &config("0.1.0", true));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(k.crd_versions(&crd), ["v1alpha1"]);

    // Without upgradeCRDs, helm upgrades the release and leaves the definition as it was.
    s.write("dtm.yaml", &config("0.2.0", false));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(k.crd_versions(&crd), ["v1alpha1"]);
    // With it (the default), dtm applies the chart's definitions first.
    s.write("dtm.yaml", &config("0.2.0", true));
    s.run(&["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(k.crd_versions(&crd), ["v1alpha1", "v1beta1"]);
    s.run(&["verify", "-f", "dtm.yaml"]).expect(0);
    s.run(&["destroy", "-y", "-f", "dtm.yaml"]).expect(0);
}
