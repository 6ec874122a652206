//! A blocking client for one cluster: connection, discovery, apply, get, delete.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use dtm_plugin_sdk::prelude::*;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};
use serde_json::Value;

use crate::objects::{Object, ObjectKey};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the cluster is: the options both Kubernetes plugins take.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Connection {
    /// A kubeconfig file; relative paths are resolved against the config file's directory.
    pub kubeconfig: Option<String>,
    /// A context of the kubeconfig instead of its current one.
    pub context: Option<String>,
    /// Use the pod's service account, ignoring any kubeconfig.
    pub in_cluster: bool,
}

/// A kind the cluster serves: its REST resource and whether its objects live in a namespace.
#[derive(Debug, Clone)]
pub struct Kind {
    /// Group, version, kind and plural, as discovered.
    pub resource: ApiResource,
    /// Whether objects of this kind belong to a namespace.
    pub namespaced: bool,
}

/// A connected cluster. Requests block the calling thread.
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    url: String,
    default_namespace: String,
    kinds: Mutex<HashMap<(String, String), Kind>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The message of an error and of its sources, joined with `: `.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The clients made so far in this process, by connection and config directory.
type Shared = Mutex<HashMap<(Connection, PathBuf), Arc<Cluster>>>;

impl Cluster {
    /// The client for `conn`, made on first use and then shared by every call of this process
    /// (the host runs calls on several threads): one kubeconfig read, TLS session and discovery
    /// cache per cluster instead of one per call. A failed connection is not remembered.
    pub fn shared(conn: &Connection, workdir: &Path) -> Result<Arc<Cluster>, PluginError> {
        static CLUSTERS: OnceLock<Shared> = OnceLock::new();
        let clusters = CLUSTERS.get_or_init(Shared::default);
        let key = (conn.clone(), workdir.to_path_buf());
        let mut map = clusters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = map.get(&key) {
            return Ok(found.clone());
        }
        let made = Arc::new(Cluster::connect(conn, workdir)?);
        map.insert(key, made.clone());
        Ok(made)
    }

    /// Reads the kubeconfig (or the in-cluster service account) and builds a client. No request
    /// is sent yet.
    pub fn connect(conn: &Connection, workdir: &Path) -> Result<Cluster, PluginError> {
        // One worker drives the connections; callers on any thread block on their requests.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dtm-kube-io")
            .enable_all()
            .build()
            .map_err(|e| PluginError::internal(format!("cannot start the I/O runtime: {e}")))?;
        let options = KubeConfigOptions {
            context: conn.context.clone(),
            ..KubeConfigOptions::default()
        };
        let path = conn.kubeconfig.as_ref().map(|p| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { workdir.join(p) }
        });
        let mut config = runtime.block_on(async {
            if conn.in_cluster {
                return kube::Config::incluster().map_err(|e| {
                    PluginError::invalid_options(format!(
                        "inCluster: true, but this is not a pod with a service account: {}",
                        chain(&e)
                    ))
                });
            }
            match (&path, &conn.context) {
                (Some(path), _) => {
                    let file = Kubeconfig::read_from(path).map_err(|e| {
                        PluginError::invalid_options(format!(
                            "cannot read kubeconfig {}: {}",
                            path.display(),
                            chain(&e)
                        ))
                    })?;
                    kube::Config::from_custom_kubeconfig(file, &options)
                        .await
                        .map_err(|e| {
                            PluginError::invalid_options(format!(
                                "kubeconfig {}: {}",
                                path.display(),
                                chain(&e)
                            ))
                        })
                }
                (None, Some(_)) => kube::Config::from_kubeconfig(&options).await.map_err(|e| {
                    PluginError::invalid_options(format!("kubeconfig: {}", chain(&e)))
                }),
                (None, None) => kube::Config::infer().await.map_err(|e| {
                    PluginError::invalid_options(format!(
                        "no Kubernetes configuration found: {}; set the `kubeconfig` option or \
                         KUBECONFIG, or run dtm in a pod with a service account",
                        chain(&e)
                    ))
                }),
            }
        })?;
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(REQUEST_TIMEOUT);
        config.write_timeout = Some(REQUEST_TIMEOUT);
        let url = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned();
        let default_namespace = config.default_namespace.clone();
        // The client spawns its request buffer on the runtime it is created in.
        let client = runtime
            .block_on(async { kube::Client::try_from(config) })
            .map_err(|e| {
                PluginError::internal(format!(
                    "cannot create a Kubernetes client for {url}: {}",
                    chain(&e)
                ))
            })?;
        Ok(Cluster {
            runtime,
            client,
            url,
            default_namespace,
            kinds: Mutex::new(HashMap::new()),
        })
    }

    /// The API server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The namespace of the kubeconfig context (`default` when it names none).
    pub fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// Turns a client error into a plugin error that says what was being done and where.
    pub fn error(&self, err: kube::Error, what: &str) -> PluginError {
        match err {
            kube::Error::Api(status) => {
                let message = format!(
                    "{what}: the API server {} answered {} {}: {}",
                    self.url, status.code, status.reason, status.message
                );
                // Kubernetes before 1.22 answers 500 when server-side apply cannot merge a
                // manifest (typically a list item without its key field, e.g. a port's
                // `protocol`): the manifest is at fault, and retrying will not help.
                if status
                    .message
                    .contains("failed to create typed patch object")
                {
                    return PluginError::invalid_options(format!(
                        "{message} (this Kubernetes version needs that field spelled out in \
                         the manifest)"
                    ));
                }
                match status.code {
                    401 | 403 => PluginError::permission_denied(format!(
                        "{message} (check the kubeconfig's credentials and their RBAC rights)"
                    )),
                    404 => PluginError::not_found(message),
                    409 => PluginError::conflict(message),
                    400 | 422 => PluginError::invalid_options(message),
                    429 | 500..=599 => PluginError::unavailable(message).mark_retryable(),
                    _ => PluginError::internal(message),
                }
            }
            kube::Error::Auth(e) => PluginError::permission_denied(format!(
                "{what}: cannot authenticate to {}: {}",
                self.url,
                chain(&e)
            )),
            other => PluginError::unavailable(format!(
                "{what}: cannot reach the Kubernetes API server at {}: {}",
                self.url,
                chain(&other)
            ))
            .mark_retryable(),
        }
    }

    fn block<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, PluginError> {
        self.runtime.block_on(fut).map_err(|e| self.error(e, what))
    }

    /// The kind `kind` of `api_version`, or `None` when the cluster does not serve it (yet: a
    /// custom resource definition may be on its way). Found kinds are remembered.
    pub fn kind(&self, api_version: &str, kind: &str) -> Result<Option<Kind>, PluginError> {
        let cache_key = (api_version.to_owned(), kind.to_owned());
        if let Some(found) = self.lock_kinds().get(&cache_key) {
            return Ok(Some(found.clone()));
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found = self
            .runtime
            .block_on(kube::discovery::pinned_kind(&self.client, &gvk));
        match found {
            Ok((resource, caps)) => {
                let found = Kind {
                    resource,
                    namespaced: caps.scope == Scope::Namespaced,
                };
                self.lock_kinds().insert(cache_key, found.clone());
                Ok(Some(found))
            }
            Err(kube::Error::Discovery(_)) => Ok(None),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(e) => Err(self.error(e, &format!("looking up the kind {kind} ({api_version})"))),
        }
    }

    fn lock_kinds(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Kind>> {
        self.kinds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Like [`Cluster::kind`], but a kind the cluster does not serve is an error naming it.
    pub fn require_kind(&self, key: &ObjectKey) -> Result<Kind, PluginError> {
        self.kind(&key.api_version, &key.kind)?
            .ok_or_else(|| self.not_served(key))
    }

    /// The error for a kind the cluster does not serve.
    pub fn not_served(&self, key: &ObjectKey) -> PluginError {
        PluginError::not_found(format!(
            "{key}: the cluster at {} does not serve the kind {} ({}); install its \
             CustomResourceDefinition first, or check `apiVersion` and `kind`",
            self.url, key.kind, key.api_version
        ))
    }

    fn api(&self, kind: &Kind, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace.filter(|_| kind.namespaced) {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &kind.resource),
            None => Api::all_with(self.client.clone(), &kind.resource),
        }
    }

    /// Server-side applies `object` as `manager` and returns the object as the server stored it.
    /// With `force`, fields another manager owns are taken over instead of failing.
    pub fn apply(
        &self,
        kind: &Kind,
        object: &Object,
        manager: &str,
        force: bool,
    ) -> Result<Value, PluginError> {
        let mut params = PatchParams::apply(manager);
        if force {
            params = params.force();
        }
        let api = self.api(kind, object.key.namespace.as_deref());
        let what = format!("applying {}", object.key);
        let applied = self
            .block(
                &what,
                api.patch(&object.key.name, &params, &Patch::Apply(&object.body)),
            )
            .map_err(|mut e| {
                if e.kind == ErrorKind::Conflict && !force {
                    e.message.push_str(
                        "; another field manager owns these fields: set `forceConflicts: true` \
                         to take them over",
                    );
                }
                e
            })?;
        serde_json::to_value(applied)
            .map_err(|e| PluginError::internal(format!("{what}: cannot encode the answer: {e}")))
    }

    /// The live object, or `None` when it does not exist.
    pub fn get(&self, kind: &Kind, key: &ObjectKey) -> Result<Option<Value>, PluginError> {
        let api = self.api(kind, key.namespace.as_deref());
        // A bare 404 (not a NotFound status) means the kind is no longer served: its definition
        // was deleted, and its objects with it.
        let found = match self.runtime.block_on(api.get_opt(&key.name)) {
            Ok(found) => found,
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(e) => return Err(self.error(e, &format!("reading {key}"))),
        };
        found
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| PluginError::internal(format!("reading {key}: cannot encode: {e}")))
    }

    /// Asks for the object's deletion (dependents are removed in the background). An object
    /// already gone is not an error.
    pub fn delete(&self, kind: &Kind, key: &ObjectKey) -> Result<(), PluginError> {
        let api = self.api(kind, key.namespace.as_deref());
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match self.runtime.block_on(api.delete(&key.name, &params)) {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(self.error(e, &format!("deleting {key}"))),
        }
    }

    /// Merge-patches the object (for fields server-side apply does not own, e.g. finalizers
    /// set by someone else). An object already gone is not an error.
    pub fn merge_patch(
        &self,
        kind: &Kind,
        key: &ObjectKey,
        patch: &Value,
    ) -> Result<(), PluginError> {
        let api = self.api(kind, key.namespace.as_deref());
        match self.runtime.block_on(api.patch(
            &key.name,
            &PatchParams::default(),
            &Patch::Merge(patch),
        )) {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(self.error(e, &format!("patching {key}"))),
        }
    }
}
