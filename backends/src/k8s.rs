//! The Kubernetes backend: the state document lives in a ConfigMap (default `state` in namespace
//! `devstream`, DevStream's names), the lock is a `coordination.k8s.io/v1` Lease beside it.
//!
//! - **ConfigMap `C`**: the document under the key `state`: in `data` when it is UTF-8 text
//!   (readable with `kubectl get configmap -o yaml`), in `binaryData` otherwise, and gzip-compressed
//!   under `binaryData` key `state.gz` when larger than [`COMPRESS_ABOVE`]. A ConfigMap holds at
//!   most 1 MiB of values; a larger document is refused before anything is sent, never truncated.
//!   The [`Version`] is the ConfigMap's `resourceVersion`, and a write is a compare-and-swap: an
//!   update carrying the resourceVersion the writer read (the API server answers `409 Conflict`
//!   if it moved), or a create (`409 AlreadyExists` if someone created it first).
//! - **Lease `C-lock`**: `holderIdentity` is the lock id, the annotation `dtm/lock-info` holds the
//!   [`LockInfo`] as JSON. The holder renews it (`renewTime`) every third of
//!   `leaseDurationSeconds`; a Lease not renewed for its duration is reported as stale, never
//!   taken over. Taking the lock creates the Lease, so of many concurrent lockers exactly one
//!   wins. `dtm state unlock ID` deletes it, with a resourceVersion precondition.
//!
//! The namespace is created when a first write or lock finds it missing. The client is
//! configured from `kubeconfig` (or `KUBECONFIG`, `~/.kube/config`) with an optional `context`,
//! or from the pod's service account when dtm runs inside a cluster.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Map, Value};

use crate::remote::{self, Options, Renewal, Renewer};
use crate::{Backend, BackendError, LockInfo, Snapshot, TakenOver, Version};

/// The namespace used when the config names none (DevStream's default).
pub const DEFAULT_NAMESPACE: &str = "devstream";
/// The ConfigMap used when the config names none (DevStream's default).
pub const DEFAULT_CONFIGMAP: &str = "state";
/// How long a Lease stays valid without renewal unless `lockDurationSeconds` says otherwise.
pub const DEFAULT_LOCK_DURATION: Duration = Duration::from_secs(60);
/// Documents larger than this are stored gzip-compressed.
pub const COMPRESS_ABOVE: usize = 256 * 1024;
/// The most value bytes a ConfigMap may hold (`data` plus `binaryData`), enforced by the API
/// server.
pub const CONFIGMAP_LIMIT: usize = 1024 * 1024;

/// The annotation of the Lease holding the holder's [`LockInfo`].
pub const LOCK_INFO_ANNOTATION: &str = "dtm/lock-info";
/// An annotation of the ConfigMap that changes with every write, so that every write gets a new
/// resourceVersion (the API server keeps it for an update that changes nothing) and a retried
/// write can recognise its own earlier success.
const WRITE_ID_ANNOTATION: &str = "dtm/write-id";
const STATE_KEY: &str = "state";
const GZIP_KEY: &str = "state.gz";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts per request on connection errors, 5xx and 429.
const MAX_ATTEMPTS: u32 = 3;

const OPTIONS: &[&str] = &[
    "namespace",
    "configmap",
    "kubeconfig",
    "context",
    "lockDurationSeconds",
];

/// State in a Kubernetes ConfigMap. See the module documentation.
pub struct KubeBackend {
    inner: Arc<Inner>,
    held: Mutex<Option<Held>>,
}

struct Inner {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    cluster: String,
    namespace: String,
    configmap: String,
    lease: String,
    lock_duration: Duration,
}

struct Held {
    info: LockInfo,
    _renewer: Renewer,
}

/// How an API call failed, as far as the backend cares.
enum Failure {
    NotFound,
    /// 409: AlreadyExists on create, Conflict on a stale resourceVersion.
    Conflict,
    Other(BackendError),
}

impl KubeBackend {
    /// A backend from the config's `state.options`; a relative `kubeconfig` is resolved against
    /// `config_dir`. Reads the kubeconfig but sends no request yet.
    pub fn from_options(
        options: &Map<String, Value>,
        config_dir: &Path,
    ) -> Result<KubeBackend, BackendError> {
        let opts = Options::new("k8s", options, OPTIONS)?;
        let namespace = opts
            .string("namespace")?
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        let configmap = opts
            .string("configmap")?
            .unwrap_or_else(|| DEFAULT_CONFIGMAP.to_owned());
        for (key, value) in [("namespace", &namespace), ("configmap", &configmap)] {
            if !is_dns_subdomain(value) {
                return Err(opts.error(format!(
                    "option `{key}` must be a Kubernetes name (lower-case letters, digits, `-` \
                     and `.`, at most 253 characters), found `{value}`"
                )));
            }
        }
        let kubeconfig = opts.string("kubeconfig")?.map(|p| {
            let path = Path::new(&p);
            if path.is_absolute() {
                path.to_path_buf()
            } else {
                config_dir.join(path)
            }
        });
        let context = opts.string("context")?;
        let lock_duration = opts.seconds(
            "lockDurationSeconds",
            DEFAULT_LOCK_DURATION.as_secs(),
            2..=86_400,
        )?;

        let runtime = remote::runtime("k8s")?;
        let config_error = |message: String| BackendError::Config {
            backend: "k8s".to_owned(),
            message,
        };
        let kube_options = KubeConfigOptions {
            context: context.clone(),
            ..KubeConfigOptions::default()
        };
        let mut config = runtime.block_on(async {
            match (&kubeconfig, &context) {
                (Some(path), _) => {
                    let file = Kubeconfig::read_from(path).map_err(|e| {
                        config_error(format!(
                            "cannot read kubeconfig {}: {}",
                            path.display(),
                            remote::chain(&e)
                        ))
                    })?;
                    kube::Config::from_custom_kubeconfig(file, &kube_options)
                        .await
                        .map_err(|e| {
                            config_error(format!(
                                "kubeconfig {}: {}",
                                path.display(),
                                remote::chain(&e)
                            ))
                        })
                }
                (None, Some(_)) => kube::Config::from_kubeconfig(&kube_options)
                    .await
                    .map_err(|e| config_error(format!("kubeconfig: {}", remote::chain(&e)))),
                (None, None) => kube::Config::infer().await.map_err(|e| {
                    config_error(format!(
                        "no Kubernetes configuration found: {}; set the `kubeconfig` option or \
                         KUBECONFIG, or run dtm in a pod with a service account",
                        remote::chain(&e)
                    ))
                }),
            }
        })?;
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(READ_TIMEOUT);
        config.write_timeout = Some(READ_TIMEOUT);
        let cluster = config.cluster_url.to_string();
        // The client spawns its request buffer on the runtime it is created in.
        let client = runtime
            .block_on(async { kube::Client::try_from(config) })
            .map_err(|e| {
                config_error(format!("cannot create the client: {}", remote::chain(&e)))
            })?;
        Ok(KubeBackend {
            inner: Arc::new(Inner {
                runtime,
                client,
                cluster: cluster.trim_end_matches('/').to_owned(),
                lease: format!("{configmap}-lock"),
                namespace,
                configmap,
                lock_duration,
            }),
            held: Mutex::new(None),
        })
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The ConfigMap's name.
    pub fn configmap(&self) -> &str {
        &self.inner.configmap
    }

    /// The Lease's name.
    pub fn lease(&self) -> &str {
        &self.inner.lease
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn location(&self) -> String {
        format!(
            "ConfigMap {}/{} at {}",
            self.namespace, self.configmap, self.cluster
        )
    }

    fn configmaps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn remote_error(&self, message: String, retryable: bool) -> BackendError {
        BackendError::Remote {
            location: self.location(),
            message,
            retryable,
        }
    }

    fn classify(&self, error: kube::Error, what: &str) -> Failure {
        match &error {
            kube::Error::Api(status) if status.code == 404 => Failure::NotFound,
            kube::Error::Api(status) if status.code == 409 => Failure::Conflict,
            kube::Error::Api(status) => {
                let hint = match status.code {
                    401 => "; the credentials in the kubeconfig were not accepted",
                    403 => {
                        "; the account needs get/create/update on configmaps and get/create/\
                         update/delete on leases (coordination.k8s.io) in this namespace, and \
                         create on namespaces if the namespace does not exist yet (see the Role in \
                         docs/backends.md)"
                    }
                    _ => "",
                };
                Failure::Other(self.remote_error(
                    format!(
                        "{what}: the API server answered {} {}: {}{hint}",
                        status.code, status.reason, status.message
                    ),
                    status.code >= 500 || status.code == 429,
                ))
            }
            _ => Failure::Other(self.remote_error(
                format!(
                    "{what}: cannot reach the API server {} (tried {MAX_ATTEMPTS} times): {}",
                    self.cluster,
                    remote::chain(&error)
                ),
                true,
            )),
        }
    }

    fn other(&self, failure: Failure, what: &str) -> BackendError {
        match failure {
            Failure::Other(error) => error,
            Failure::NotFound => self.remote_error(format!("{what}: not found (404)"), false),
            Failure::Conflict => self.remote_error(format!("{what}: conflict (409)"), false),
        }
    }

    /// Runs one API call, retrying connection errors, 5xx and 429 with backoff.
    fn call<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, kube::Error>>,
    {
        self.runtime.block_on(async {
            let mut pause = Duration::from_millis(250);
            let mut attempt = 1;
            loop {
                match call().await {
                    Ok(value) => return Ok(value),
                    Err(error) => match self.classify(error, what) {
                        Failure::Other(BackendError::Remote {
                            retryable: true, ..
                        }) if attempt < MAX_ATTEMPTS => {
                            tokio::time::sleep(pause).await;
                            pause *= 2;
                            attempt += 1;
                        }
                        failure => return Err(failure),
                    },
                }
            }
        })
    }

    fn get_configmap(&self) -> Result<Option<ConfigMap>, BackendError> {
        let what = format!("reading {}", self.location());
        let api = self.configmaps();
        self.call(&what, || api.get_opt(&self.configmap))
            .map_err(|f| self.other(f, &what))
    }

    fn get_lease(&self) -> Result<Option<Lease>, BackendError> {
        let what = format!("reading Lease {}/{}", self.namespace, self.lease);
        let api = self.leases();
        self.call(&what, || api.get_opt(&self.lease))
            .map_err(|f| self.other(f, &what))
    }

    /// Creates the namespace (someone creating it meanwhile is fine).
    fn create_namespace(&self) -> Result<(), BackendError> {
        let what = format!("creating namespace {}", self.namespace);
        let pp = PostParams::default();
        let api: Api<Namespace> = Api::all(self.client.clone());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        match self.call(&what, || api.create(&pp, &namespace)) {
            Ok(_) | Err(Failure::Conflict) => Ok(()),
            Err(failure) => Err(self.other(failure, &what)),
        }
    }

    /// Decodes a ConfigMap's document.
    fn decode(&self, configmap: &ConfigMap) -> Result<Vec<u8>, BackendError> {
        let corrupt = |message: String| BackendError::Corrupt {
            location: self.location(),
            message,
        };
        if let Some(ByteString(compressed)) =
            configmap.binary_data.as_ref().and_then(|b| b.get(GZIP_KEY))
        {
            let mut bytes = Vec::new();
            GzDecoder::new(compressed.as_slice())
                .read_to_end(&mut bytes)
                .map_err(|e| corrupt(format!("binaryData `{GZIP_KEY}` is not valid gzip: {e}")))?;
            return Ok(bytes);
        }
        if let Some(ByteString(bytes)) = configmap
            .binary_data
            .as_ref()
            .and_then(|b| b.get(STATE_KEY))
        {
            return Ok(bytes.clone());
        }
        if let Some(text) = configmap.data.as_ref().and_then(|d| d.get(STATE_KEY)) {
            return Ok(text.clone().into_bytes());
        }
        Err(corrupt(format!(
            "it has no `{STATE_KEY}` key in data or binaryData (nor `{GZIP_KEY}` in binaryData); \
             it was not written by dtm"
        )))
    }

    /// The ConfigMap holding `bytes`, or [`BackendError::TooLarge`].
    fn encode(&self, bytes: &[u8], write_id: &str) -> Result<ConfigMap, BackendError> {
        let mut data = None;
        let mut binary = None;
        if bytes.len() > COMPRESS_ABOVE {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
            let compressed = encoder
                .write_all(bytes)
                .and_then(|()| encoder.finish())
                .map_err(|e| self.remote_error(format!("compressing the state: {e}"), false))?;
            if compressed.len() > CONFIGMAP_LIMIT {
                return Err(BackendError::TooLarge {
                    location: self.location(),
                    message: format!(
                        "the state is {} bytes ({} bytes compressed), more than the {} bytes a \
                         ConfigMap can hold; remove tools you no longer manage from the state \
                         (`dtm state rm`), or move the state to a backend without this limit \
                         (`dtm state migrate --to` a config using the s3 or local backend); \
                         nothing was written",
                        bytes.len(),
                        compressed.len(),
                        CONFIGMAP_LIMIT
                    ),
                });
            }
            binary = Some(BTreeMap::from([(
                GZIP_KEY.to_owned(),
                ByteString(compressed),
            )]));
        } else {
            match std::str::from_utf8(bytes) {
                Ok(text) => data = Some(BTreeMap::from([(STATE_KEY.to_owned(), text.to_owned())])),
                Err(_) => {
                    binary = Some(BTreeMap::from([(
                        STATE_KEY.to_owned(),
                        ByteString(bytes.to_vec()),
                    )]))
                }
            }
        }
        Ok(ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.configmap.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_owned(),
                    "dtm".to_owned(),
                )])),
                annotations: Some(BTreeMap::from([(
                    WRITE_ID_ANNOTATION.to_owned(),
                    write_id.to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            data,
            binary_data: binary,
            ..ConfigMap::default()
        })
    }

    /// The lock a Lease records: `None` if it is released (no holder).
    fn lease_holder(&self, lease: &Lease) -> Option<LockInfo> {
        let holder = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .filter(|h| !h.is_empty())?;
        let annotated = lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(LOCK_INFO_ANNOTATION))
            .and_then(|json| serde_json::from_str::<LockInfo>(json).ok())
            .filter(|info| info.id == holder);
        Some(annotated.unwrap_or_else(|| {
            let mut info = remote::unknown_holder(&format!(
                "Lease {}/{} has no dtm lock info",
                self.namespace, self.lease
            ));
            info.id = holder;
            info
        }))
    }

    /// The error for a Lease someone holds: stale if not renewed within its duration.
    fn held_error(&self, lease: &Lease, holder: LockInfo) -> BackendError {
        let spec = lease.spec.as_ref();
        let renewed = spec
            .and_then(|s| s.renew_time.as_ref().or(s.acquire_time.as_ref()))
            .map(|t| t.0);
        let duration = spec
            .and_then(|s| s.lease_duration_seconds)
            .map_or(DEFAULT_LOCK_DURATION.as_secs(), |d| {
                u64::try_from(d).unwrap_or(0)
            });
        let stale = match renewed {
            None => {
                Some("the Lease records no renewal time, so nothing is keeping it alive".to_owned())
            }
            Some(renewed) => {
                let age = Timestamp::now().duration_since(renewed).as_secs();
                (age > i64::try_from(duration).unwrap_or(i64::MAX)).then(|| {
                    format!(
                        "its holder last renewed it at {renewed} ({age} s ago; a running dtm \
                         renews it every {} s), so that run has most likely ended without \
                         releasing it",
                        remote::renew_interval(Duration::from_secs(duration)).as_secs()
                    )
                })
            }
        };
        match stale {
            Some(reason) => BackendError::StaleLock {
                location: self.location(),
                holder: Box::new(holder),
                reason,
            },
            None => BackendError::Locked {
                location: self.location(),
                holder: Box::new(holder),
            },
        }
    }

    fn new_lease(&self, info: &LockInfo, resource_version: Option<String>) -> Lease {
        let now = MicroTime(Timestamp::now());
        Lease {
            metadata: ObjectMeta {
                name: Some(self.lease.clone()),
                namespace: Some(self.namespace.clone()),
                resource_version,
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_owned(),
                    "dtm".to_owned(),
                )])),
                annotations: Some(BTreeMap::from([(
                    LOCK_INFO_ANNOTATION.to_owned(),
                    serde_json::to_string(info).unwrap_or_default(),
                )])),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(info.id.clone()),
                lease_duration_seconds: Some(
                    i32::try_from(self.lock_duration.as_secs()).unwrap_or(i32::MAX),
                ),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                ..LeaseSpec::default()
            }),
        }
    }

    /// Renews our Lease if it is still ours.
    fn renew(&self, id: &str) -> Renewal {
        let Ok(current) = self.get_lease() else {
            return Renewal::Continue;
        };
        let Some(mut lease) = current else {
            return Renewal::Lost;
        };
        if self
            .lease_holder(&lease)
            .is_none_or(|holder| holder.id != id)
        {
            return Renewal::Lost;
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.renew_time = Some(MicroTime(Timestamp::now()));
        }
        let pp = PostParams::default();
        let api = self.leases();
        match self.call("renewing the lock", || {
            api.replace(&self.lease, &pp, &lease)
        }) {
            Ok(_) | Err(Failure::Conflict) | Err(Failure::Other(_)) => Renewal::Continue,
            Err(Failure::NotFound) => Renewal::Lost,
        }
    }

    /// Deletes the Lease if `id` holds it. Returns the holder found otherwise.
    fn delete_lease(&self, id: &str) -> Result<Result<(), Option<LockInfo>>, BackendError> {
        let what = format!("releasing Lease {}/{}", self.namespace, self.lease);
        for _ in 0..3 {
            let Some(lease) = self.get_lease()? else {
                return Ok(Err(None));
            };
            let holder = self.lease_holder(&lease);
            if holder.as_ref().is_none_or(|h| h.id != id) {
                return Ok(Err(holder));
            }
            let params = DeleteParams::default().preconditions(Preconditions {
                resource_version: lease.metadata.resource_version.clone(),
                uid: None,
            });
            let api = self.leases();
            match self.call(&what, || api.delete(&self.lease, &params)) {
                Ok(_) | Err(Failure::NotFound) => return Ok(Ok(())),
                // Renewed meanwhile: read it again.
                Err(Failure::Conflict) => continue,
                Err(failure) => return Err(self.other(failure, &what)),
            }
        }
        Err(self.remote_error(format!("{what}: the Lease kept changing; try again"), true))
    }
}

impl fmt::Debug for KubeBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeBackend")
            .field("cluster", &self.inner.cluster)
            .field("namespace", &self.inner.namespace)
            .field("configmap", &self.inner.configmap)
            .finish_non_exhaustive()
    }
}

impl Backend for KubeBackend {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn read(&self) -> Result<Option<Snapshot>, BackendError> {
        let inner = &self.inner;
        let Some(configmap) = inner.get_configmap()? else {
            return Ok(None);
        };
        let version = configmap.metadata.resource_version.clone().ok_or_else(|| {
            inner.remote_error("the ConfigMap has no resourceVersion".into(), false)
        })?;
        Ok(Some(Snapshot {
            bytes: inner.decode(&configmap)?,
            version: Version(version),
        }))
    }

    fn write(&self, bytes: &[u8], expected: Option<&Version>) -> Result<Version, BackendError> {
        let inner = &self.inner;
        let write_id = remote::nonce();
        let mut configmap = inner.encode(bytes, &write_id)?;
        let what = format!("writing {}", inner.location());
        let pp = PostParams::default();
        let api = inner.configmaps();
        let result = match expected {
            None => {
                let mut result = inner.call(&what, || api.create(&pp, &configmap));
                if let Err(Failure::NotFound) = result {
                    inner.create_namespace()?;
                    result = inner.call(&what, || api.create(&pp, &configmap));
                }
                result
            }
            Some(version) => {
                configmap.metadata.resource_version = Some(version.0.clone());
                inner.call(&what, || api.replace(&inner.configmap, &pp, &configmap))
            }
        };
        match result {
            Ok(written) => written
                .metadata
                .resource_version
                .map(Version)
                .ok_or_else(|| {
                    inner.remote_error(format!("{what}: no resourceVersion in the answer"), false)
                }),
            Err(Failure::Conflict | Failure::NotFound) => {
                let current = inner.get_configmap()?;
                let found_id = current
                    .as_ref()
                    .and_then(|c| c.metadata.annotations.as_ref())
                    .and_then(|a| a.get(WRITE_ID_ANNOTATION));
                let found = current
                    .as_ref()
                    .and_then(|c| c.metadata.resource_version.clone());
                // A retried request whose first attempt had succeeded finds its own write.
                if found_id == Some(&write_id)
                    && let Some(found) = found.clone()
                {
                    return Ok(Version(found));
                }
                Err(BackendError::Conflict {
                    location: inner.location(),
                    expected: expected.map_or_else(|| "none".to_owned(), Version::to_string),
                    found: found.unwrap_or_else(|| "none".to_owned()),
                })
            }
            Err(failure) => Err(inner.other(failure, &what)),
        }
    }

    fn lock(&self, info: &LockInfo) -> Result<Option<TakenOver>, BackendError> {
        let inner = &self.inner;
        let mut held = self.held();
        let what = format!(
            "taking the lock (Lease {}/{})",
            inner.namespace, inner.lease
        );
        let pp = PostParams::default();
        let api = inner.leases();
        for _ in 0..3 {
            let current = inner.get_lease()?;
            let holder = current.as_ref().and_then(|l| inner.lease_holder(l));
            if let Some(own) = held.as_ref() {
                if holder.as_ref().is_some_and(|h| h.id == own.info.id) {
                    return Err(BackendError::Locked {
                        location: inner.location(),
                        holder: Box::new(own.info.clone()),
                    });
                }
                // Someone released our lock (`dtm state unlock`): we no longer hold it.
                *held = None;
            }
            let result = match (&current, holder) {
                (Some(lease), Some(holder)) => return Err(inner.held_error(lease, holder)),
                (None, _) => {
                    let lease = inner.new_lease(info, None);
                    let mut result = inner.call(&what, || api.create(&pp, &lease));
                    if let Err(Failure::NotFound) = result {
                        inner.create_namespace()?;
                        result = inner.call(&what, || api.create(&pp, &lease));
                    }
                    result
                }
                // A released Lease (no holder): take it over if nobody else does first.
                (Some(lease), None) => {
                    let lease = inner.new_lease(info, lease.metadata.resource_version.clone());
                    inner.call(&what, || api.replace(&inner.lease, &pp, &lease))
                }
            };
            match result {
                Ok(_) => {}
                // Someone else was faster: report them (next round).
                Err(Failure::Conflict | Failure::NotFound) => {
                    if let Some(lease) = inner.get_lease()?
                        && let Some(holder) = inner.lease_holder(&lease)
                    {
                        // A retried create whose first attempt had succeeded is ours.
                        if holder.id != info.id {
                            return Err(inner.held_error(&lease, holder));
                        }
                    } else {
                        continue;
                    }
                }
                Err(failure) => return Err(inner.other(failure, &what)),
            }
            let renewing = Arc::clone(&self.inner);
            let id = info.id.clone();
            let renewer = Renewer::start(remote::renew_interval(inner.lock_duration), move || {
                renewing.renew(&id)
            });
            *held = Some(Held {
                info: info.clone(),
                _renewer: renewer,
            });
            return Ok(None);
        }
        Err(inner.remote_error(format!("{what}: the Lease kept changing; try again"), true))
    }

    fn unlock(&self, id: &str) -> Result<(), BackendError> {
        let inner = &self.inner;
        let mut held = self.held();
        if held.as_ref().is_some_and(|own| own.info.id == id) {
            // Stop renewing before the Lease goes.
            *held = None;
        }
        match inner.delete_lease(id)? {
            Ok(()) => Ok(()),
            Err(current) => {
                if held
                    .as_ref()
                    .is_some_and(|own| current.as_ref().is_none_or(|c| c.id != own.info.id))
                {
                    // Someone released our lock: ours is gone.
                    *held = None;
                }
                Err(BackendError::LockMismatch {
                    location: inner.location(),
                    given: id.to_owned(),
                    current: current.map_or_else(|| "no lock".to_owned(), |c| c.to_string()),
                })
            }
        }
    }

    fn lock_info(&self) -> Result<Option<LockInfo>, BackendError> {
        let inner = &self.inner;
        Ok(inner
            .get_lease()?
            .and_then(|lease| inner.lease_holder(&lease)))
    }
}

impl Drop for KubeBackend {
    /// Releases the lock if this value holds it. If the process is killed, the Lease stays, and
    /// once it is no longer renewed the next run reports it as stale.
    fn drop(&mut self) {
        let held = self
            .held
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(held) = held {
            let id = held.info.id.clone();
            drop(held);
            // Nowhere to report an error from drop; a lock left behind reads as stale.
            let _ = self.inner.delete_lease(&id);
        }
    }
}

/// Whether `name` is a valid Kubernetes object name (RFC 1123 subdomain).
fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}
