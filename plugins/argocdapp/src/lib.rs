//! The `argocdapp` plugin: an Argo CD `Application` (argoproj.io/v1alpha1) with DevStream's
//! options, applied with server-side apply.
//!
//! Options are DevStream's (`app`, `destination`, `source`, `imageRepo`) plus the connection and
//! waiting options of `k8s-manifest`; see `docs/plugins/argocdapp.md`. A `source.token` becomes
//! an Argo CD repository Secret next to the Application. The Application carries Argo CD's
//! resources finalizer (unless `cascade: false`), so deleting it removes what Argo CD deployed;
//! dtm waits until Argo CD has done so.
#![forbid(unsafe_code)]

use std::sync::Arc;

use dtm_kube_support::manage::{self, Settings};
use dtm_kube_support::objects::Object;
use dtm_kube_support::ready::{Readiness, readiness};
use dtm_kube_support::{Cluster, Connection, Deadline, defaults, parse_duration};
use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

/// Argo CD's finalizer: deleting the Application deletes the resources it deployed.
const CASCADE_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
const APPLICATION_API: &str = "argoproj.io/v1alpha1";

fn argocd() -> String {
    "argocd".into()
}

fn in_cluster_server() -> String {
    "https://kubernetes.default.svc".into()
}

fn default_ns() -> String {
    "default".into()
}

fn default_project() -> String {
    "default".into()
}

/// The Application object.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// The Application's name (a DNS subdomain: lower-case letters, digits, `-` and `.`).
    #[schemars(example = &"myapp")]
    pub name: String,
    /// The namespace Argo CD runs in, where the Application object goes.
    #[serde(default = "argocd")]
    pub namespace: String,
}

/// Where Argo CD deploys the application.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// The cluster's API server; the default is the cluster Argo CD runs in.
    #[serde(default = "in_cluster_server")]
    pub server: String,
    /// The namespace the application's resources go to (created by Argo CD if missing).
    #[serde(default = "default_ns")]
    pub namespace: String,
}

impl Default for Destination {
    fn default() -> Self {
        Destination {
            server: in_cluster_server(),
            namespace: default_ns(),
        }
    }
}

/// The git repository holding the application's Helm chart or manifests.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The Helm values file inside `path` (DevStream's `valuefile`).
    #[serde(default)]
    #[schemars(example = &"values.yaml")]
    pub valuefile: Option<String>,
    /// The chart's (or manifests') directory in the repository.
    #[schemars(example = &"helm/myapp")]
    pub path: String,
    /// The repository's clone URL; often `${{ repo-scaffolding.myapp.outputs.repoURL }}`.
    #[serde(rename = "repoURL")]
    #[schemars(example = &"https://github.com/my-org/myapp")]
    pub repo_url: String,
    /// The branch, tag or commit Argo CD follows (default `HEAD`).
    #[serde(default, rename = "repoBranch")]
    pub repo_branch: Option<String>,
    /// A token for a private repository: dtm stores it in an Argo CD repository Secret.
    #[serde(default)]
    pub token: Option<String>,
}

/// The container image, passed to the chart as `image.repository` and `image.tag`.
///
/// DevStream documents the tag as `initalTag` (sic); that spelling and `initialTag` are taken
/// for `tag` (serde aliases, named in the schema's `x-aliases` for dtm's key matching).
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("x-aliases" = {"initialTag": "tag", "initalTag": "tag"}))]
pub struct ImageRepo {
    /// The registry (default Docker Hub), e.g. `ghcr.io`.
    #[serde(default)]
    pub url: Option<String>,
    /// The registry user or organisation.
    #[serde(default)]
    pub user: Option<String>,
    /// The image tag (DevStream: `initalTag`, also `initialTag`).
    #[serde(default, alias = "initialTag", alias = "initalTag")]
    pub tag: Option<String>,
}

/// Options of an `argocdapp` tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Options {
    /// The Application object.
    pub app: App,
    /// Where Argo CD deploys the application.
    #[serde(default)]
    pub destination: Destination,
    /// The git repository Argo CD syncs from.
    pub source: Source,
    /// The container image the chart deploys.
    #[serde(default)]
    pub image_repo: ImageRepo,
    /// The Argo CD project.
    #[serde(default = "default_project")]
    pub project: String,
    /// Let Argo CD sync by itself, prune and self-heal (DevStream's setting).
    #[serde(default = "defaults::yes")]
    pub auto_sync: bool,
    /// Put Argo CD's resources finalizer on the Application, so that deleting it deletes what
    /// Argo CD deployed.
    #[serde(default = "defaults::yes")]
    pub cascade: bool,
    /// After apply, wait until Argo CD reports the application Synced and Healthy.
    #[serde(default)]
    pub wait_for_healthy: bool,
    /// How long to wait for health after apply, and for removal after delete.
    #[serde(default = "defaults::wait_timeout")]
    pub wait_timeout: String,
    /// The server-side apply field manager dtm applies as.
    #[serde(default = "defaults::field_manager")]
    pub field_manager: String,
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
    fn settings(&self, owner: &str, wait: bool) -> Result<Settings, PluginError> {
        Ok(Settings {
            field_manager: self.field_manager.clone(),
            force: true,
            wait,
            wait_timeout: parse_duration(&self.wait_timeout, "waitTimeout")?,
            owner: owner.to_owned(),
        })
    }

    fn repo_secret_name(&self) -> String {
        format!("repo-{}", self.app.name)
    }

    /// The Application, and the repository Secret when there is a token.
    fn objects(&self) -> Result<Vec<Object>, PluginError> {
        let mut helm = serde_json::Map::new();
        if let Some(file) = self.source.valuefile.as_ref().filter(|f| !f.is_empty()) {
            helm.insert("valueFiles".into(), json!([file]));
        }
        let image = &self.image_repo;
        let mut parameters = Vec::new();
        if let Some(user) = image.user.as_ref().filter(|u| !u.is_empty()) {
            let repository = match image.url.as_ref().filter(|u| !u.is_empty()) {
                Some(url) => format!("{}/{user}/{}", url.trim_end_matches('/'), self.app.name),
                None => format!("{user}/{}", self.app.name),
            };
            parameters.push(json!({"name": "image.repository", "value": repository}));
        }
        if let Some(tag) = image.tag.as_ref().filter(|t| !t.is_empty()) {
            parameters.push(json!({"name": "image.tag", "value": tag}));
        }
        if !parameters.is_empty() {
            helm.insert("parameters".into(), Value::Array(parameters));
        }
        let mut source = json!({
            "repoURL": self.source.repo_url,
            "path": self.source.path,
            "targetRevision": self.source.repo_branch.as_deref().filter(|b| !b.is_empty()).unwrap_or("HEAD"),
        });
        if !helm.is_empty() {
            source["helm"] = Value::Object(helm);
        }
        let mut metadata = json!({"name": self.app.name, "namespace": self.app.namespace});
        if self.cascade {
            metadata["finalizers"] = json!([CASCADE_FINALIZER]);
        }
        let mut spec = json!({
            "project": self.project,
            "source": source,
            "destination": {"server": self.destination.server, "namespace": self.destination.namespace},
        });
        if self.auto_sync {
            spec["syncPolicy"] = json!({
                "automated": {"prune": true, "selfHeal": true},
                "syncOptions": ["CreateNamespace=true"],
            });
        }
        let application = json!({
            "apiVersion": APPLICATION_API,
            "kind": "Application",
            "metadata": metadata,
            "spec": spec,
        });
        let mut objects = vec![Object::from_value(application, "app")?];
        if let Some(token) = self.source.token.as_ref().filter(|t| !t.is_empty()) {
            let encode = |s: &str| {
                serde_json::to_value(k8s_openapi::ByteString(s.as_bytes().to_vec()))
                    .unwrap_or(Value::Null)
            };
            let secret = json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": self.repo_secret_name(),
                    "namespace": self.app.namespace,
                    "labels": {"argocd.argoproj.io/secret-type": "repository"},
                },
                "type": "Opaque",
                "data": {
                    "type": encode("git"),
                    "url": encode(&self.source.repo_url),
                    "username": encode("dtm"),
                    "password": encode(token),
                },
            });
            objects.insert(0, Object::from_value(secret, "source.token")?);
        }
        Ok(objects)
    }

    fn connect(&self, req: &Req<Options>) -> Result<Arc<Cluster>, PluginError> {
        Cluster::shared(
            &Connection {
                kubeconfig: self.kubeconfig.clone(),
                context: self.context.clone(),
                in_cluster: self.in_cluster,
            },
            &req.workdir,
        )
    }
}

/// Argo CD's verdict on an Application: Synced and Healthy is ready.
fn application_ready(obj: &Value) -> Readiness {
    if obj.get("kind").and_then(Value::as_str) != Some("Application") {
        return readiness(obj);
    }
    let health = obj.pointer("/status/health/status").and_then(Value::as_str);
    let sync = obj.pointer("/status/sync/status").and_then(Value::as_str);
    match (health, sync) {
        (None, None) => Readiness::Waiting(
            "Argo CD has not reported on the application yet (is Argo CD running and watching \
             this namespace?)"
                .into(),
        ),
        (Some("Healthy"), Some("Synced")) => Readiness::Ready,
        (health, sync) => Readiness::Waiting(format!(
            "health {}, sync {}",
            health.unwrap_or("unknown"),
            sync.unwrap_or("unknown")
        )),
    }
}

fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn outputs(done: Done, options: &Options) -> Done {
    done.output("name", options.app.name.as_str())
        .output("namespace", options.app.namespace.as_str())
        .output("repoURL", options.source.repo_url.as_str())
}

fn finished(step: Step, options: &Options) -> Step {
    match step {
        Step::Done(done) => outputs(done, options).into(),
        pending => pending,
    }
}

/// The `argocdapp` plugin.
#[derive(Debug, Default)]
pub struct ArgoCdApp;

impl ArgoCdApp {
    fn converge(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        let o = &req.options;
        let settings = o.settings(&req.instance, o.wait_for_healthy)?;
        let cluster = o.connect(req)?;
        if let Some(data) = &req.pending
            && let Some(step) = manage::resume(ctx, &cluster, data, &settings, application_ready)?
        {
            return Ok(finished(step, o));
        }
        let kind = cluster.kind(APPLICATION_API, "Application")?;
        if kind.is_none() {
            return Err(PluginError::not_found(format!(
                "the cluster at {} has no Argo CD: the kind Application ({APPLICATION_API}) is \
                 not served; install Argo CD (or at least its Application \
                 CustomResourceDefinition) first",
                cluster.url()
            )));
        }
        let applied = manage::apply_all(
            ctx,
            &cluster,
            o.objects()?,
            &o.app.namespace,
            &settings,
            &req.status,
        )?;
        let deadline = Deadline::after(settings.wait_timeout);
        let step = manage::wait_ready(
            ctx,
            &cluster,
            applied,
            deadline,
            &settings,
            application_ready,
        )?;
        Ok(finished(step, o))
    }
}

impl Plugin for ArgoCdApp {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "argocdapp",
            env!("CARGO_PKG_VERSION"),
            "An Argo CD Application that deploys a Helm chart from a git repository",
        )
        .output("name", "the Application's name")
        .output("namespace", "the Application's namespace")
        .output("repoURL", "the repository Argo CD syncs from")
    }

    fn validate(&self, _ctx: &Ctx<'_>, o: &Options) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, path: &str, message: &str| {
            if !ok {
                problems.push(Problem {
                    path: path.into(),
                    message: message.into(),
                });
            }
        };
        let name_rule = "must be a Kubernetes name: lower-case letters, digits, `-` and `.`";
        check(is_dns_subdomain(&o.app.name), "/app/name", name_rule);
        check(
            is_dns_subdomain(&o.app.namespace),
            "/app/namespace",
            name_rule,
        );
        check(
            !o.source.path.is_empty(),
            "/source/path",
            "must not be empty",
        );
        check(
            !o.source.repo_url.is_empty(),
            "/source/repoURL",
            "must not be empty",
        );
        check(!o.project.is_empty(), "/project", "must not be empty");
        check(
            !o.field_manager.trim().is_empty(),
            "/fieldManager",
            "must not be empty",
        );
        if let Err(e) = parse_duration(&o.wait_timeout, "waitTimeout") {
            check(false, "/waitTimeout", &e.message);
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
        let o = &req.options;
        let settings = o.settings(&req.instance, o.wait_for_healthy)?;
        let cluster = o.connect(req)?;
        let live = manage::read_all(
            &cluster,
            o.objects()?,
            &o.app.namespace,
            &settings,
            &req.status,
        )?;
        Ok(live.map(|status| outputs(Done::new(status), o)))
    }

    fn update(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        self.converge(ctx, req)
    }

    fn delete(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        let o = &req.options;
        let settings = o.settings(&req.instance, true)?;
        let cluster = o.connect(req)?;
        if let Some(data) = &req.pending
            && let Some(step) = manage::resume(ctx, &cluster, data, &settings, application_ready)?
        {
            return Ok(step);
        }
        if cluster.kind(APPLICATION_API, "Application")?.is_none() && req.status.is_null() {
            return Ok(Step::done(Value::Null));
        }
        manage::delete_all(
            ctx,
            &cluster,
            o.objects()?,
            &o.app.namespace,
            &settings,
            &req.status,
        )
    }
}

dtm_plugin_sdk::export_plugin!(ArgoCdApp, ArgoCdApp);

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn options(extra: Value) -> Options {
        let mut base = json!({
            "app": {"name": "myapp"},
            "source": {"path": "helm/myapp", "repoURL": "https://example.com/team/myapp", "valuefile": "values.yaml"},
        });
        if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
            b.extend(e);
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn devstream_defaults_make_an_application() {
        let objects = options(json!({"imageRepo": {"user": "team", "tag": "1.0"}}))
            .objects()
            .unwrap();
        assert_eq!(objects.len(), 1);
        let app = &objects[0].body;
        assert_eq!(objects[0].key.to_string(), "Application argocd/myapp");
        assert_eq!(app["metadata"]["finalizers"], json!([CASCADE_FINALIZER]));
        assert_eq!(
            app["spec"]["destination"]["server"],
            "https://kubernetes.default.svc"
        );
        assert_eq!(app["spec"]["source"]["targetRevision"], "HEAD");
        assert_eq!(
            app["spec"]["source"]["helm"]["valueFiles"],
            json!(["values.yaml"])
        );
        assert_eq!(
            app["spec"]["source"]["helm"]["parameters"],
            json!([{"name": "image.repository", "value": "team/myapp"}, {"name": "image.tag", "value": "1.0"}])
        );
        assert_eq!(app["spec"]["syncPolicy"]["automated"]["selfHeal"], true);
    }

    #[test]
    fn devstream_spells_the_tag_inital_tag() {
        for key in ["initalTag", "initialTag", "tag"] {
            let o = options(json!({"imageRepo": {"user": "team", key: "2.0"}}));
            assert_eq!(o.image_repo.tag.as_deref(), Some("2.0"), "{key}");
        }
        // The schema names the other spellings, so that dtm brings them to `tag` before it
        // checks the options (`additionalProperties: false` would refuse them otherwise).
        let schema = dtm_plugin_sdk::manifest::<ArgoCdApp>().options_schema;
        assert_eq!(
            schema["$defs"]["ImageRepo"]["x-aliases"],
            json!({"initialTag": "tag", "initalTag": "tag"})
        );
    }

    #[test]
    fn a_token_becomes_a_repository_secret() {
        let mut o = options(json!({"cascade": false}));
        o.source.token = Some("s3cret".into());
        let objects = o.objects().unwrap();
        assert_eq!(objects[0].key.to_string(), "Secret argocd/repo-myapp");
        assert_eq!(objects[0].body["data"]["password"], "czNjcmV0");
        assert!(objects[1].body["metadata"].get("finalizers").is_none());
    }

    #[test]
    fn dtm_options_shape_the_application() {
        let objects = options(json!({
            "autoSync": false,
            "project": "team",
            "imageRepo": {"url": "ghcr.io/", "user": "org"},
            "source": {"path": "deploy", "repoURL": "https://example.com/r", "repoBranch": "v2"},
        }))
        .objects()
        .unwrap();
        let spec = &objects[0].body["spec"];
        assert!(spec.get("syncPolicy").is_none());
        assert_eq!(spec["project"], "team");
        assert_eq!(spec["source"]["targetRevision"], "v2");
        // No values file: only the image parameter under `helm`.
        assert_eq!(
            spec["source"]["helm"],
            json!({"parameters": [{"name": "image.repository", "value": "ghcr.io/org/myapp"}]})
        );
    }

    #[test]
    fn health_decides_readiness() {
        let app = |h: &str, s: &str| json!({"kind": "Application", "status": {"health": {"status": h}, "sync": {"status": s}}});
        assert_eq!(
            application_ready(&app("Healthy", "Synced")),
            Readiness::Ready
        );
        assert!(matches!(
            application_ready(&app("Progressing", "Synced")),
            Readiness::Waiting(_)
        ));
        assert!(matches!(
            application_ready(&json!({"kind": "Application"})),
            Readiness::Waiting(m) if m.contains("Argo CD")
        ));
    }
}
