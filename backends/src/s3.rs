//! The S3 backend: the state document is one object in a bucket of AWS S3 or of any
//! S3-compatible store (custom `endpoint`, `forcePathStyle`).
//!
//! Objects, for the state key `K`:
//!
//! - `K`: the state document. A write is a compare-and-swap: `If-Match: <ETag read>` replaces
//!   exactly the version the writer read, `If-None-Match: *` creates it only if it does not exist.
//!   The store refuses a stale write with `412 Precondition Failed`, which is
//!   [`BackendError::Conflict`].
//! - `K.lock`: exists while a run holds the lock. Created with `If-None-Match: *`, so of many
//!   concurrent lockers exactly one wins; holds the [`LockInfo`] and the time of its last renewal
//!   as JSON. The holder rewrites it (with `If-Match`) every third of `lockDurationSeconds`; a
//!   lock whose holder stopped renewing is reported as stale, never taken over.
//! - `K.probe-*`: short-lived objects of the one-time check below.
//!
//! Many S3-compatible stores accept the conditional headers and ignore them, which would make
//! both the lock and the compare-and-swap silently useless. So before its first change in a
//! process, the backend checks the store once: a conditional create of a probe object must be
//! refused the second time, and `If-Match` with a wrong ETag must be refused. It also learns
//! which form of ETag the store accepts in `If-Match` (Ceph's radosgw wants it without the
//! quotes that AWS returns). A store that fails the check is refused unless the config says
//! `allowUnsafeNoLocking: true`.
//!
//! The trait is blocking: each backend value owns a current-thread tokio runtime and blocks on
//! it; the lock renewal thread shares it.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use serde_json::{Map, Value};

use crate::remote::{self, LockRecord, Options, Renewal, Renewer};
use crate::{Backend, BackendError, LockInfo, Snapshot, TakenOver, Version};

/// How long a lock stays valid without renewal unless `lockDurationSeconds` says otherwise.
pub const DEFAULT_LOCK_DURATION: Duration = Duration::from_secs(60);

/// How long to wait for a TCP (and TLS) connection: an unreachable endpoint fails fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt of one request may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts per request, retried with exponential backoff on network errors, 5xx and throttling.
const MAX_ATTEMPTS: u32 = 4;

const OPTIONS: &[&str] = &[
    "bucket",
    "key",
    "region",
    "endpoint",
    "forcePathStyle",
    "profile",
    "sse",
    "kmsKeyId",
    "allowUnsafeNoLocking",
    "lockDurationSeconds",
];

/// State in an S3 object. See the module documentation for the objects it keeps and why.
pub struct S3Backend {
    inner: Arc<Inner>,
    held: Mutex<Option<Held>>,
}

struct Inner {
    runtime: tokio::runtime::Runtime,
    client: Client,
    bucket: String,
    key: String,
    lock_key: String,
    endpoint: Option<String>,
    sse: Option<ServerSideEncryption>,
    kms_key_id: Option<String>,
    allow_unsafe: bool,
    lock_duration: Duration,
}

/// The lock this backend value holds: the ETag of the lock object as last written (the renewal
/// thread updates it) and the renewal thread itself.
struct Held {
    info: LockInfo,
    _renewer: Renewer,
}

/// What the one-time check found out about a store.
#[derive(Debug, Clone)]
struct Probe {
    /// Conditional writes are honoured.
    safe: bool,
    /// What is wrong, when not.
    problem: String,
    /// `If-Match` needs the ETag in quotes.
    quoted: bool,
}

/// Results of the check, per endpoint and bucket, for the whole process.
fn probes() -> &'static Mutex<HashMap<String, Probe>> {
    static PROBES: OnceLock<Mutex<HashMap<String, Probe>>> = OnceLock::new();
    PROBES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// How a request failed, as far as the backend cares.
enum Failure {
    /// 404: the object (or bucket) does not exist.
    NotFound,
    /// 412 (or AWS's 409 ConditionalRequestConflict): a condition did not hold.
    Precondition,
    /// Anything else, described for a person.
    Other(BackendError),
}

impl S3Backend {
    /// A backend from the config's `state.options`. Builds the client (reading the AWS
    /// credential chain and profile files) but sends no request yet.
    pub fn from_options(
        options: &Map<String, Value>,
        _config_dir: &Path,
    ) -> Result<S3Backend, BackendError> {
        let opts = Options::new("s3", options, OPTIONS)?;
        let bucket = opts.required("bucket", "the bucket holding the state")?;
        let key = opts.required(
            "key",
            "the object key of the state, e.g. `devstream/prod.state`",
        )?;
        let region = opts.string("region")?;
        let endpoint = opts.string("endpoint")?;
        let force_path_style = opts.bool("forcePathStyle")?;
        let profile = opts.string("profile")?;
        let kms_key_id = opts.string("kmsKeyId")?;
        let sse = match opts.string("sse")?.as_deref() {
            None if kms_key_id.is_some() => Some(ServerSideEncryption::AwsKms),
            None => None,
            Some("AES256") => Some(ServerSideEncryption::Aes256),
            Some("aws:kms") => Some(ServerSideEncryption::AwsKms),
            Some("aws:kms:dsse") => Some(ServerSideEncryption::AwsKmsDsse),
            Some(other) => {
                return Err(opts.error(format!(
                    "option `sse` must be `AES256`, `aws:kms` or `aws:kms:dsse`, found `{other}`"
                )));
            }
        };
        if kms_key_id.is_some() && sse == Some(ServerSideEncryption::Aes256) {
            return Err(opts.error(
                "option `kmsKeyId` needs `sse: aws:kms` (or no `sse`), not `AES256`".to_owned(),
            ));
        }
        let allow_unsafe = opts.bool("allowUnsafeNoLocking")?;
        let lock_duration = opts.seconds(
            "lockDurationSeconds",
            DEFAULT_LOCK_DURATION.as_secs(),
            2..=86_400,
        )?;
        if let Some(endpoint) = &endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(opts.error(format!(
                "option `endpoint` must be a URL starting with http:// or https://, found `{endpoint}`"
            )));
        }

        let runtime = remote::runtime("s3")?;
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            )
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(5)),
            );
        if let Some(profile) = &profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &region {
            loader = loader.region(Region::new(region.clone()));
        }
        let sdk_config = runtime.block_on(loader.load());
        let mut config = aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(force_path_style)
            // Checksums only where S3 requires them: many S3-compatible stores reject the newer
            // checksum headers, and the compare-and-swap does not need them.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if sdk_config.region().is_none() {
            // Requests must be signed for some region; S3-compatible stores mostly ignore it.
            config = config.region(Region::new("us-east-1"));
        }
        if let Some(endpoint) = &endpoint {
            config = config.endpoint_url(endpoint);
        }
        let client = Client::from_conf(config.build());
        Ok(S3Backend {
            inner: Arc::new(Inner {
                runtime,
                client,
                lock_key: format!("{key}.lock"),
                bucket,
                key,
                endpoint,
                sse,
                kms_key_id,
                allow_unsafe,
                lock_duration,
            }),
            held: Mutex::new(None),
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.inner.bucket
    }

    /// The key of the state object.
    pub fn key(&self) -> &str {
        &self.inner.key
    }

    /// The key of the lock object.
    pub fn lock_key(&self) -> &str {
        &self.inner.lock_key
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn location(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("s3://{}/{} at {endpoint}", self.bucket, self.key),
            None => format!("s3://{}/{}", self.bucket, self.key),
        }
    }

    /// Describes a failed request. `what` says what was being done.
    fn classify<E>(
        &self,
        error: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
        what: &str,
    ) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = error.raw_response().map(|r| r.status().as_u16());
        let code = error.code().map(str::to_owned);
        if code.as_deref() == Some("NoSuchBucket") {
            return Failure::Other(BackendError::Remote {
                location: self.location(),
                message: format!(
                    "{what}: bucket `{}` does not exist; create it first (dtm does not create \
                     buckets)",
                    self.bucket
                ),
                retryable: false,
            });
        }
        match (status, code.as_deref()) {
            (Some(404), _) | (_, Some("NoSuchKey")) => return Failure::NotFound,
            (Some(412), _) | (_, Some("PreconditionFailed")) => return Failure::Precondition,
            (Some(409), Some("ConditionalRequestConflict")) => return Failure::Precondition,
            _ => {}
        }
        let retryable = matches!(
            error,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
        ) || status.is_some_and(|s| s >= 500 || s == 429);
        let detail = remote::chain(&error);
        let credentials = status.is_none() && detail.contains("credentials");
        let message = match (&error, status) {
            _ if credentials => format!(
                "{what}: no usable AWS credentials ({detail}); dtm uses the standard AWS \
                 credential chain: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE \
                 or the `profile` option"
            ),
            (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_), _) => {
                let target = self.endpoint.as_deref().unwrap_or("the S3 endpoint");
                format!(
                    "{what}: cannot reach {target} (tried {MAX_ATTEMPTS} times): {detail}; check \
                     the `endpoint` and `region` options and your network"
                )
            }
            (_, Some(403)) => format!(
                "{what}: access denied ({detail}); the credentials need s3:GetObject, \
                 s3:PutObject and s3:DeleteObject on the state, lock and probe keys (see the \
                 IAM policy in docs/backends.md)"
            ),
            (_, Some(status)) => format!("{what}: the store answered {status}: {detail}"),
            _ => format!("{what}: {detail}"),
        };
        Failure::Other(BackendError::Remote {
            location: self.location(),
            message,
            retryable,
        })
    }

    fn remote_error(&self, message: String) -> BackendError {
        BackendError::Remote {
            location: self.location(),
            message,
            retryable: false,
        }
    }

    fn other(&self, failure: Failure, what: &str) -> BackendError {
        match failure {
            Failure::Other(error) => error,
            Failure::NotFound => self.remote_error(format!("{what}: not found (404)")),
            Failure::Precondition => {
                self.remote_error(format!("{what}: refused, precondition failed (412)"))
            }
        }
    }

    /// GET an object: its bytes and unquoted ETag, `None` if it does not exist.
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, BackendError> {
        let what = format!("reading s3://{}/{key}", self.bucket);
        self.runtime.block_on(async {
            let output = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(output) => output,
                Err(error) => {
                    return match self.classify(error, &what) {
                        Failure::NotFound => Ok(None),
                        other => Err(self.other(other, &what)),
                    };
                }
            };
            let etag = output
                .e_tag()
                .map(unquote)
                .ok_or_else(|| self.remote_error(format!("{what}: the store sent no ETag")))?;
            let bytes = output
                .body
                .collect()
                .await
                .map_err(|e| BackendError::Remote {
                    location: self.location(),
                    message: format!("{what}: the download broke off: {e}"),
                    retryable: true,
                })?;
            Ok(Some((bytes.to_vec(), etag)))
        })
    }

    /// PUT an object with an optional condition; returns the new unquoted ETag.
    fn put(&self, key: &str, bytes: &[u8], condition: Condition<'_>) -> Result<String, Failure> {
        let what = format!("writing s3://{}/{key}", self.bucket);
        self.runtime.block_on(async {
            let mut request = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type("application/octet-stream")
                .body(ByteStream::from(bytes.to_vec()));
            if let Some(sse) = &self.sse {
                request = request.server_side_encryption(sse.clone());
            }
            if let Some(kms) = &self.kms_key_id {
                request = request.ssekms_key_id(kms);
            }
            request = match condition {
                Condition::Absent => request.if_none_match("*"),
                Condition::Matches(etag) => request.if_match(etag),
            };
            match request.send().await {
                Ok(output) => match output.e_tag() {
                    Some(etag) => Ok(unquote(etag)),
                    None => Err(Failure::Other(
                        self.remote_error(format!("{what}: the store sent no ETag")),
                    )),
                },
                Err(error) => Err(self.classify(error, &what)),
            }
        })
    }

    fn delete(&self, key: &str) -> Result<(), BackendError> {
        let what = format!("deleting s3://{}/{key}", self.bucket);
        self.runtime.block_on(async {
            match self
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(error) => match self.classify(error, &what) {
                    Failure::NotFound => Ok(()),
                    other => Err(self.other(other, &what)),
                },
            }
        })
    }

    /// Checks once per process and store that conditional writes are honoured (see the module
    /// documentation). Returns whether `If-Match` needs quotes.
    fn check_store(&self) -> Result<bool, BackendError> {
        let store = format!(
            "{}|{}",
            self.endpoint.as_deref().unwrap_or("aws"),
            self.bucket
        );
        let mut probes = probes().lock().unwrap_or_else(PoisonError::into_inner);
        let probe = match probes.get(&store) {
            Some(probe) => probe.clone(),
            None => {
                let probe = self.probe()?;
                probes.insert(store, probe.clone());
                probe
            }
        };
        drop(probes);
        if !probe.safe && !self.allow_unsafe {
            return Err(self.remote_error(format!(
                "this store does not honour conditional writes ({}), so dtm can neither lock \
                 the state nor detect concurrent writes. Use a store that does (AWS S3, MinIO, \
                 recent Ceph), or, if you are sure only one dtm runs against this state at a \
                 time, set `allowUnsafeNoLocking: true` in the backend options",
                probe.problem
            )));
        }
        Ok(probe.quoted)
    }

    fn probe(&self) -> Result<Probe, BackendError> {
        let key = format!("{}.probe-{}", self.key, remote::nonce());
        let what = "checking that the store honours conditional writes";
        let unsafe_probe = |problem: &str| Probe {
            safe: false,
            problem: problem.to_owned(),
            quoted: false,
        };
        let first = self
            .put(&key, b"probe 1", Condition::Absent)
            .map_err(|f| self.other(f, what));
        let first = match first {
            Ok(etag) => etag,
            Err(error) => {
                let _ = self.delete(&key);
                return Err(error);
            }
        };
        let result = (|| {
            match self.put(&key, b"probe 2", Condition::Absent) {
                Err(Failure::Precondition) => {}
                Ok(_) => {
                    return Ok(unsafe_probe(
                        "a second create with `If-None-Match: *` overwrote the object",
                    ));
                }
                Err(other) => return Err(self.other(other, what)),
            }
            match self.put(&key, b"probe 3", Condition::Matches("0123456789abcdef")) {
                Err(Failure::Precondition) => {}
                Ok(_) => {
                    return Ok(unsafe_probe(
                        "a write with `If-Match` and a wrong ETag replaced the object",
                    ));
                }
                Err(other) => return Err(self.other(other, what)),
            }
            match self.put(&key, b"probe 4", Condition::Matches(&first)) {
                Ok(_) => {
                    return Ok(Probe {
                        safe: true,
                        problem: String::new(),
                        quoted: false,
                    });
                }
                Err(Failure::Precondition) => {}
                Err(other) => return Err(self.other(other, what)),
            }
            match self.put(
                &key,
                b"probe 5",
                Condition::Matches(&format!("\"{first}\"")),
            ) {
                Ok(_) => Ok(Probe {
                    safe: true,
                    problem: String::new(),
                    quoted: true,
                }),
                Err(Failure::Precondition) => Ok(unsafe_probe(
                    "a write with `If-Match` and the object's current ETag was refused",
                )),
                Err(other) => Err(self.other(other, what)),
            }
        })();
        // Best effort: a leftover probe object is harmless.
        let _ = self.delete(&key);
        result
    }

    fn etag_for_request(&self, etag: &str, quoted: bool) -> String {
        if quoted {
            format!("\"{etag}\"")
        } else {
            etag.to_owned()
        }
    }

    /// Reads the lock: `None` if there is none, its record and ETag otherwise (a placeholder
    /// record for an object that is not a dtm lock).
    fn read_lock(&self) -> Result<Option<(LockRecord, String)>, BackendError> {
        let Some((bytes, etag)) = self.get(&self.lock_key)? else {
            return Ok(None);
        };
        let record = match serde_json::from_slice::<LockRecord>(&bytes) {
            Ok(record) => record,
            Err(e) => LockRecord {
                info: remote::unknown_holder(&format!(
                    "lock object s3://{}/{} is not a dtm lock: {e}",
                    self.bucket, self.lock_key
                )),
                renewed: "1970-01-01T00:00:00Z".to_owned(),
                duration_seconds: 1,
            },
        };
        Ok(Some((record, etag)))
    }

    /// The error for a lock someone holds.
    fn held_error(&self, record: LockRecord) -> BackendError {
        match record.stale_reason() {
            Some(reason) => BackendError::StaleLock {
                location: self.location(),
                holder: Box::new(record.info),
                reason,
            },
            None => BackendError::Locked {
                location: self.location(),
                holder: Box::new(record.info),
            },
        }
    }

    /// Rewrites the lock object with a new renewal time, if it is still `etag` (ours).
    fn renew(&self, info: &LockInfo, etag: &mut String, quoted: bool) -> Renewal {
        let record = LockRecord::new(info, self.lock_duration);
        let condition = self.etag_for_request(etag, quoted);
        match self.put(
            &self.lock_key,
            &record.to_json(),
            Condition::Matches(&condition),
        ) {
            Ok(new) => {
                *etag = new;
                Renewal::Continue
            }
            Err(Failure::Precondition | Failure::NotFound) => Renewal::Lost,
            Err(Failure::Other(_)) => Renewal::Continue,
        }
    }

    /// Deletes the lock object if it records `id`.
    fn release(&self, id: &str) -> Result<(), BackendError> {
        match self.read_lock()? {
            Some((record, _)) if record.info.id == id => self.delete(&self.lock_key),
            _ => Ok(()),
        }
    }
}

/// The condition of a PUT.
enum Condition<'a> {
    /// `If-None-Match: *`.
    Absent,
    /// `If-Match: <etag>`, in the form the store accepts.
    Matches(&'a str),
}

impl fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Backend")
            .field("bucket", &self.inner.bucket)
            .field("key", &self.inner.key)
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Held").field("info", &self.info).finish()
    }
}

impl Backend for S3Backend {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn read(&self) -> Result<Option<Snapshot>, BackendError> {
        Ok(self
            .inner
            .get(&self.inner.key)?
            .map(|(bytes, etag)| Snapshot {
                bytes,
                version: Version(etag),
            }))
    }

    fn write(&self, bytes: &[u8], expected: Option<&Version>) -> Result<Version, BackendError> {
        let inner = &self.inner;
        let quoted = inner.check_store()?;
        let expected_text = || expected.map_or_else(|| "none".to_owned(), Version::to_string);
        if inner.allow_unsafe {
            // The store may ignore the conditions below: catch at least a conflict that is not
            // a race.
            let found = inner.get(&inner.key)?.map(|(_, etag)| etag);
            if found.as_deref() != expected.map(|v| v.0.as_str()) {
                return Err(BackendError::Conflict {
                    location: inner.location(),
                    expected: expected_text(),
                    found: found.unwrap_or_else(|| "none".to_owned()),
                });
            }
        }
        let condition = expected.map(|v| inner.etag_for_request(&v.0, quoted));
        let result = inner.put(
            &inner.key,
            bytes,
            match &condition {
                None => Condition::Absent,
                Some(etag) => Condition::Matches(etag),
            },
        );
        match result {
            Ok(etag) => Ok(Version(etag)),
            Err(Failure::Precondition | Failure::NotFound) => {
                let found = inner.get(&inner.key)?;
                // A retried request whose first attempt had succeeded finds its own bytes.
                if let Some((stored, etag)) = &found
                    && stored == bytes
                    && Some(etag.as_str()) != expected.map(|v| v.0.as_str())
                {
                    return Ok(Version(etag.clone()));
                }
                Err(BackendError::Conflict {
                    location: inner.location(),
                    expected: expected_text(),
                    found: found.map_or_else(|| "none".to_owned(), |(_, etag)| etag),
                })
            }
            Err(Failure::Other(error)) => Err(error),
        }
    }

    fn lock(&self, info: &LockInfo) -> Result<Option<TakenOver>, BackendError> {
        let inner = &self.inner;
        let quoted = inner.check_store()?;
        let mut held = self.held();
        if let Some(own) = held.as_ref() {
            match inner.read_lock()? {
                Some((record, _)) if record.info.id == own.info.id => {
                    return Err(BackendError::Locked {
                        location: inner.location(),
                        holder: Box::new(own.info.clone()),
                    });
                }
                // Someone released our lock (`dtm state unlock`): we no longer hold it.
                _ => *held = None,
            }
        }
        let record = LockRecord::new(info, inner.lock_duration);
        let bytes = record.to_json();
        // A lock released between our create and our read of it: try again, a few times.
        for _ in 0..3 {
            if inner.allow_unsafe
                && let Some((existing, _)) = inner.read_lock()?
            {
                return Err(inner.held_error(existing));
            }
            let etag = match inner.put(&inner.lock_key, &bytes, Condition::Absent) {
                Ok(etag) => etag,
                Err(Failure::Precondition) => match inner.read_lock()? {
                    // A retried create whose first attempt had succeeded.
                    Some((existing, etag)) if existing.info.id == info.id => etag,
                    Some((existing, _)) => return Err(inner.held_error(existing)),
                    None => continue,
                },
                Err(other) => return Err(inner.other(other, "taking the lock")),
            };
            let renewing = Arc::clone(&self.inner);
            let renewed_info = info.clone();
            let mut etag = etag;
            let renewer = Renewer::start(remote::renew_interval(inner.lock_duration), move || {
                renewing.renew(&renewed_info, &mut etag, quoted)
            });
            *held = Some(Held {
                info: info.clone(),
                _renewer: renewer,
            });
            return Ok(None);
        }
        Err(inner.remote_error(
            "taking the lock: the lock object kept appearing and vanishing; try again".to_owned(),
        ))
    }

    fn unlock(&self, id: &str) -> Result<(), BackendError> {
        let inner = &self.inner;
        inner.check_store()?;
        let mut held = self.held();
        let Some((record, _)) = inner.read_lock()? else {
            *held = None;
            return Err(BackendError::LockMismatch {
                location: inner.location(),
                given: id.to_owned(),
                current: "no lock".to_owned(),
            });
        };
        if held
            .as_ref()
            .is_some_and(|own| own.info.id != record.info.id)
        {
            // Someone released our lock and another run took it: ours is gone.
            *held = None;
        }
        if record.info.id != id {
            return Err(BackendError::LockMismatch {
                location: inner.location(),
                given: id.to_owned(),
                current: record.info.to_string(),
            });
        }
        // Stops our renewal thread (if the lock is ours) before the object goes.
        *held = None;
        inner.delete(&inner.lock_key)
    }

    fn lock_info(&self) -> Result<Option<LockInfo>, BackendError> {
        Ok(self.inner.read_lock()?.map(|(record, _)| record.info))
    }
}

impl Drop for S3Backend {
    /// Releases the lock if this value holds it, so a run that returns early or unwinds from a
    /// panic does not leave a lock behind. If the process is killed, the lock object stays, and
    /// once its holder has stopped renewing it the next run reports it as stale.
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
            let _ = self.inner.release(&id);
        }
    }
}

fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}
