//! The S3 backend against a real S3-compatible server (moto, started by scripts/test-servers.sh,
//! found through DTM_TEST_S3_ENDPOINT): the conformance scenarios, then what only S3 shows.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use common::{options, server_var, unique};
use dtm_backends::conformance::{self, describe, ok, sample_lock};
use dtm_backends::s3::S3Backend;
use dtm_backends::{Backend, BackendError};
use serde_json::{Map, Value, json};

fn endpoint() -> Option<String> {
    server_var(
        "DTM_TEST_S3_ENDPOINT",
        "an S3-compatible server (moto) at that URL",
    )
}

/// A client of the test server for what the backend does not do (creating the bucket, writing
/// foreign objects).
struct Admin {
    runtime: tokio::runtime::Runtime,
    client: Client,
    bucket: String,
}

fn admin(endpoint: &str) -> &'static Admin {
    static ADMIN: OnceLock<Admin> = OnceLock::new();
    ADMIN.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("dtm-test", "dtm-test", None, None, "test"))
            .force_path_style(true)
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(Provider::Rustls(CryptoMode::Ring))
                    .build_https(),
            )
            .build();
        let client = Client::from_conf(config);
        let bucket = unique("dtm-test");
        runtime
            .block_on(client.create_bucket().bucket(&bucket).send())
            .unwrap_or_else(|e| panic!("creating bucket {bucket}: {e:?}"));
        Admin {
            runtime,
            client,
            bucket,
        }
    })
}

/// Options for a fresh state key in the test bucket.
fn fresh(endpoint: &str, name: &str) -> Map<String, Value> {
    let admin = admin(endpoint);
    options(json!({
        "bucket": admin.bucket,
        "key": format!("{}/devstream.state", unique(name)),
        "endpoint": endpoint,
        "forcePathStyle": true,
        "region": "us-east-1",
    }))
}

fn open_with(options: &Map<String, Value>) -> Box<dyn Backend> {
    match S3Backend::from_options(options, Path::new(".")) {
        Ok(backend) => Box::new(backend),
        Err(error) => panic!("opening the S3 backend: {error}"),
    }
}

fn opener(options: Map<String, Value>) -> impl Fn() -> Box<dyn Backend> + Sync {
    move || open_with(&options)
}

/// A fresh object key for one test; the stale-lock child holds a lease of 2 s.
fn conformance_setup(name: &str) -> Option<common::Fixture> {
    let endpoint = endpoint()?;
    let options = fresh(&endpoint, name);
    let mut stale_holder_options = options.clone();
    stale_holder_options.insert("lockDurationSeconds".into(), json!(2));
    Some(common::Fixture {
        options,
        stale_holder_options,
        stale_after: Duration::from_secs(2),
        _keep: None,
    })
}

common::conformance_suite!(
    conformance_setup,
    open_with,
    "s3::lock_holder_child",
    5 * 1024 * 1024
);

#[test]
#[ignore = "helper run as a child process by the cross-process lock tests"]
fn lock_holder_child() {
    common::run_holder_child(open_with);
}

#[test]
fn conformance_unreachable_is_a_clear_error() {
    // Credentials come first in the SDK's request path; the test servers' script exports them.
    if common::server_var(
        "AWS_ACCESS_KEY_ID",
        "the test credentials the S3 test server uses",
    )
    .is_none()
    {
        return;
    }
    // A port nothing listens on: connections are refused at once.
    let options = options(json!({
        "bucket": "b",
        "key": "k",
        "endpoint": "http://127.0.0.1:9",
        "forcePathStyle": true,
        "region": "us-east-1",
    }));
    conformance::unreachable_is_a_clear_error(&opener(options), "cannot reach http://127.0.0.1:9");
}

// --- what only S3 shows --------------------------------------------------------------------------

#[test]
fn lock_object_sits_next_to_the_state_and_holds_the_holder() {
    let Some(endpoint) = endpoint() else { return };
    let options = fresh(&endpoint, "lock-object");
    let backend = S3Backend::from_options(&options, Path::new(".")).unwrap();
    ok(backend.lock(&sample_lock("visible")), "locking");
    let admin = admin(&endpoint);
    let object = admin
        .runtime
        .block_on(
            admin
                .client
                .get_object()
                .bucket(&admin.bucket)
                .key(backend.lock_key())
                .send(),
        )
        .unwrap();
    let body = admin.runtime.block_on(object.body.collect()).unwrap();
    let record: Value = serde_json::from_slice(&body.into_bytes()).unwrap();
    assert_eq!(record["id"], "visible");
    assert_eq!(record["who"], "alice");
    assert!(record["renewed"].is_string() && record["durationSeconds"].is_u64());
    assert_eq!(backend.lock_key(), format!("{}.lock", backend.key()));
    ok(backend.unlock("visible"), "unlocking");
}

#[test]
fn a_dropped_holder_releases_its_lock() {
    let Some(endpoint) = endpoint() else { return };
    let options = fresh(&endpoint, "drop");
    let holder = open_with(&options);
    ok(holder.lock(&sample_lock("dropped")), "locking");
    drop(holder);
    assert!(ok(open_with(&options).lock_info(), "lock_info").is_none());
}

#[test]
fn a_live_holder_renews_its_lock_and_is_never_reported_stale() {
    let Some(endpoint) = endpoint() else { return };
    let mut options = fresh(&endpoint, "renew");
    options.insert("lockDurationSeconds".into(), json!(3));
    let holder = open_with(&options);
    ok(holder.lock(&sample_lock("alive")), "locking");
    // Three lock durations: without renewal the lock would read as stale.
    std::thread::sleep(Duration::from_secs(8));
    match open_with(&options).lock(&sample_lock("other")) {
        Err(BackendError::Locked { holder: info, .. }) => assert_eq!(info.id, "alive"),
        other => panic!("expected Locked (renewed), got {}", describe(&other)),
    }
    ok(holder.unlock("alive"), "unlocking");
}

#[test]
fn a_foreign_lock_object_is_reported_and_can_be_released() {
    let Some(endpoint) = endpoint() else { return };
    let options = fresh(&endpoint, "foreign-lock");
    let backend = S3Backend::from_options(&options, Path::new(".")).unwrap();
    let admin = admin(&endpoint);
    admin
        .runtime
        .block_on(
            admin
                .client
                .put_object()
                .bucket(&admin.bucket)
                .key(backend.lock_key())
                .body(ByteStream::from_static(b"not json"))
                .send(),
        )
        .unwrap();
    match backend.lock(&sample_lock("mine")) {
        Err(BackendError::StaleLock { holder, .. }) => {
            assert_eq!(holder.id, "unknown");
            assert!(holder.operation.contains("not a dtm lock"), "{holder}");
        }
        other => panic!("expected StaleLock, got {}", describe(&other)),
    }
    ok(backend.unlock("unknown"), "releasing the foreign lock");
    ok(backend.lock(&sample_lock("mine")), "locking after release");
    ok(backend.unlock("mine"), "unlocking");
}

#[test]
fn a_missing_bucket_is_a_clear_error() {
    let Some(endpoint) = endpoint() else { return };
    let mut options = fresh(&endpoint, "no-bucket");
    options.insert("bucket".into(), json!(unique("missing")));
    let backend = open_with(&options);
    match backend.write(b"state", None) {
        Err(error @ BackendError::Remote { .. }) => {
            let message = error.to_string();
            assert!(message.contains("does not exist"), "{message}");
        }
        other => panic!("expected a Remote error, got {}", describe(&other)),
    }
}

#[test]
fn server_side_encryption_is_requested_on_every_write() {
    let Some(endpoint) = endpoint() else { return };
    let mut options = fresh(&endpoint, "sse");
    options.insert("sse".into(), json!("AES256"));
    let backend = S3Backend::from_options(&options, Path::new(".")).unwrap();
    ok(backend.write(b"secret state", None), "writing");
    let admin = admin(&endpoint);
    let head = admin
        .runtime
        .block_on(
            admin
                .client
                .head_object()
                .bucket(&admin.bucket)
                .key(backend.key())
                .send(),
        )
        .unwrap();
    assert_eq!(
        head.server_side_encryption().map(|s| s.as_str()),
        Some("AES256")
    );
}

#[test]
fn options_are_checked() {
    let cases = [
        (json!({"key": "k"}), "option `bucket` is required"),
        (json!({"bucket": "b"}), "option `key` is required"),
        (
            json!({"bucket": "b", "key": "k", "Bucket": "x"}),
            "did you mean `bucket`?",
        ),
        (
            json!({"bucket": "b", "key": "k", "sse": "rot13"}),
            "option `sse` must be",
        ),
        (
            json!({"bucket": "b", "key": "k", "endpoint": "localhost:9000"}),
            "must be a URL",
        ),
        (
            json!({"bucket": "b", "key": "k", "forcePathStyle": "yes"}),
            "must be true or false",
        ),
        (
            json!({"bucket": "b", "key": "k", "lockDurationSeconds": 0}),
            "from 2 to 86400",
        ),
    ];
    for (given, expected) in cases {
        match S3Backend::from_options(&options(given.clone()), Path::new(".")) {
            Err(error @ BackendError::Config { .. }) => {
                let message = error.to_string();
                assert!(message.contains(expected), "{given}: {message}");
                assert!(message.starts_with("state backend `s3`"), "{message}");
            }
            Err(other) => panic!("{given}: expected a Config error, got {other}"),
            Ok(backend) => panic!("{given}: expected a Config error, got {backend:?}"),
        }
    }
}
