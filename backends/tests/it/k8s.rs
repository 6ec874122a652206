//! The Kubernetes backend against a real API server (the kube-apiserver started by
//! scripts/test-servers.sh, or any cluster: DTM_TEST_KUBECONFIG names its kubeconfig): the
//! conformance scenarios, then what only a ConfigMap and a Lease show.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use common::{options, server_var, unique};
use dtm_backends::conformance::{self, describe, ok, sample_lock};
use dtm_backends::k8s::{self as k8s_backend, KubeBackend};
use dtm_backends::{Backend, BackendError};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{Map, Value, json};

fn kubeconfig() -> Option<String> {
    server_var(
        "DTM_TEST_KUBECONFIG",
        "a Kubernetes API server reachable with that kubeconfig",
    )
}

/// One namespace per test process, created by the backend itself on first use.
fn namespace() -> &'static str {
    static NAMESPACE: OnceLock<String> = OnceLock::new();
    NAMESPACE.get_or_init(|| unique("dtm-test"))
}

fn fresh(kubeconfig: &str, name: &str) -> Map<String, Value> {
    options(json!({
        "kubeconfig": kubeconfig,
        "namespace": namespace(),
        "configmap": unique(&name.replace('_', "-")),
    }))
}

fn open_with(options: &Map<String, Value>) -> Box<dyn Backend> {
    match KubeBackend::from_options(options, Path::new(".")) {
        Ok(backend) => Box::new(backend),
        Err(error) => panic!("opening the Kubernetes backend: {error}"),
    }
}

fn opener(options: Map<String, Value>) -> impl Fn() -> Box<dyn Backend> + Sync {
    move || open_with(&options)
}

/// Runs `f` with a client of the test cluster, for what the backend does not do.
fn with_client<T>(kubeconfig: &str, f: impl AsyncFnOnce(kube::Client) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let file = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
            .await
            .unwrap();
        f(kube::Client::try_from(config).unwrap()).await
    })
}

/// A fresh ConfigMap for one test; the stale-lock child holds a lease of 2 s.
fn conformance_setup(name: &str) -> Option<common::Fixture> {
    let kubeconfig = kubeconfig()?;
    let options = fresh(&kubeconfig, name);
    let mut stale_holder_options = options.clone();
    stale_holder_options.insert("lockDurationSeconds".into(), json!(2));
    Some(common::Fixture {
        options,
        stale_holder_options,
        stale_after: Duration::from_secs(2),
        _keep: None,
    })
}

// Random bytes do not compress: the large document is close to the ConfigMap limit, stored as
// it is.
common::conformance_suite!(
    conformance_setup,
    open_with,
    "k8s::lock_holder_child",
    900 * 1024
);

#[test]
#[ignore = "helper run as a child process by the cross-process lock tests"]
fn lock_holder_child() {
    common::run_holder_child(open_with);
}

#[test]
fn conformance_unreachable_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: nowhere\n  cluster:\n    server: \
         https://127.0.0.1:9\ncontexts:\n- name: nowhere\n  context: {cluster: nowhere, user: \
         nobody}\nusers:\n- name: nobody\n  user: {token: abc}\ncurrent-context: nowhere\n",
    )
    .unwrap();
    let options = options(json!({"kubeconfig": path, "namespace": "ns", "configmap": "cm"}));
    conformance::unreachable_is_a_clear_error(
        &opener(options),
        "cannot reach the API server https://127.0.0.1:9",
    );
}

// --- what only a ConfigMap and a Lease show ------------------------------------------------------

#[test]
fn the_namespace_is_created_when_missing() {
    let Some(kubeconfig) = kubeconfig() else {
        return;
    };
    let mut options = fresh(&kubeconfig, "ns");
    let namespace = unique("dtm-new-ns");
    options.insert("namespace".into(), json!(namespace));
    let backend = open_with(&options);
    assert!(ok(backend.read(), "reading in a missing namespace").is_none());
    ok(backend.write(b"{}", None), "writing creates the namespace");
    ok(
        open_with(&options).lock(&sample_lock("in-new-ns")),
        "locking",
    );
}

#[test]
fn text_state_is_readable_in_data_and_large_state_is_compressed() {
    let Some(kubeconfig) = kubeconfig() else {
        return;
    };
    let options = fresh(&kubeconfig, "layout");
    let backend = KubeBackend::from_options(&options, Path::new(".")).unwrap();
    let name = backend.configmap().to_owned();
    let get = |name: String| {
        with_client(&kubeconfig, async move |client| {
            Api::<ConfigMap>::namespaced(client, namespace())
                .get(&name)
                .await
                .unwrap()
        })
    };

    let small = br#"{"format_version":1,"resources":{}}"#;
    let version = ok(backend.write(small, None), "writing a small state");
    let stored = get(name.clone());
    assert_eq!(
        stored
            .data
            .as_ref()
            .and_then(|d| d.get("state"))
            .map(String::as_str),
        Some(std::str::from_utf8(small).unwrap())
    );

    // 5 MiB of JSON-like text: five times the ConfigMap limit, but it compresses well.
    let large: Vec<u8> = (0..5 * 1024 * 1024 / 64)
        .flat_map(|i| {
            format!("{{\"tool\": \"file.instance{i:08}\", \"ok\": true}},      \n").into_bytes()
        })
        .collect();
    let version = ok(
        backend.write(&large, Some(&version)),
        "writing a large state",
    );
    let stored = get(name);
    let compressed = stored
        .binary_data
        .as_ref()
        .and_then(|b| b.get("state.gz"))
        .map(|b| b.0.len())
        .unwrap_or_else(|| {
            panic!(
                "no state.gz in {:?}",
                stored
                    .binary_data
                    .map(|b| b.into_keys().collect::<Vec<_>>())
            )
        });
    assert!(compressed < k8s_backend::CONFIGMAP_LIMIT, "{compressed}");
    let read = ok(backend.read(), "reading the large state").unwrap();
    assert_eq!(read.version, version);
    assert!(read.bytes == large, "the large state came back different");
}

#[test]
fn state_over_the_configmap_limit_is_refused_untouched() {
    let Some(kubeconfig) = kubeconfig() else {
        return;
    };
    let options = fresh(&kubeconfig, "too-large");
    let backend = open_with(&options);
    let version = ok(
        backend.write(b"{\"serial\": 1}", None),
        "writing a small state",
    );
    // Pseudo-random bytes (xorshift) do not compress.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..2 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    match backend.write(&noise, Some(&version)) {
        Err(error @ BackendError::TooLarge { .. }) => {
            let message = error.to_string();
            for part in [
                "2097152 bytes",
                "1048576",
                "dtm state migrate",
                "nothing was written",
            ] {
                assert!(message.contains(part), "{message:?} lacks {part:?}");
            }
        }
        other => panic!("expected TooLarge, got {}", describe(&other)),
    }
    let stored = ok(backend.read(), "reading").unwrap();
    assert_eq!(stored.bytes, b"{\"serial\": 1}");
    assert_eq!(stored.version, version);
}

#[test]
fn undecodable_configmap_is_reported_and_left_alone() {
    let Some(kubeconfig) = kubeconfig() else {
        return;
    };
    let options = fresh(&kubeconfig, "corrupt");
    let backend = KubeBackend::from_options(&options, Path::new(".")).unwrap();
    ok(backend.write(b"{}", None), "creating the namespace");
    let name = unique("corrupt-cm");
    let mut options = options.clone();
    options.insert("configmap".into(), json!(name));
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..ObjectMeta::default()
        },
        binary_data: Some(BTreeMap::from([(
            "state.gz".to_owned(),
            ByteString(b"not gzip at all".to_vec()),
        )])),
        ..ConfigMap::default()
    };
    with_client(&kubeconfig, async move |client| {
        Api::<ConfigMap>::namespaced(client, namespace())
            .create(&PostParams::default(), &cm)
            .await
            .unwrap()
    });
    match open_with(&options).read() {
        Err(error @ BackendError::Corrupt { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("not valid gzip") && message.contains(&name),
                "{message}"
            );
        }
        other => panic!("expected Corrupt, got {}", describe(&other)),
    }
}

#[test]
fn a_live_holder_renews_its_lease_and_is_never_reported_stale() {
    let Some(kubeconfig) = kubeconfig() else {
        return;
    };
    let mut options = fresh(&kubeconfig, "renew");
    options.insert("lockDurationSeconds".into(), json!(3));
    let holder = open_with(&options);
    ok(holder.lock(&sample_lock("alive")), "locking");
    std::thread::sleep(Duration::from_secs(8));
    match open_with(&options).lock(&sample_lock("other")) {
        Err(BackendError::Locked { holder: info, .. }) => assert_eq!(info.id, "alive"),
        other => panic!("expected Locked (renewed), got {}", describe(&other)),
    }
    ok(holder.unlock("alive"), "unlocking");
}

#[test]
fn a_dropped_holder_releases_its_lease() {
    let Some(kubeconfig) = kubeconfig() else {
        return;
    };
    let options = fresh(&kubeconfig, "drop");
    let holder = open_with(&options);
    ok(holder.lock(&sample_lock("dropped")), "locking");
    drop(holder);
    assert!(ok(open_with(&options).lock_info(), "lock_info").is_none());
}

#[test]
fn forbidden_is_a_clear_error() {
    let Some(kubeconfig) = kubeconfig() else {
        return;
    };
    let mut options = fresh(&kubeconfig, "forbidden");
    // The test cluster's `limited` context has no RBAC grants at all.
    options.insert("context".into(), json!("limited"));
    let backend = match KubeBackend::from_options(&options, Path::new(".")) {
        Ok(backend) => backend,
        Err(error) => {
            eprintln!("skipped: this cluster's kubeconfig has no `limited` context ({error})");
            return;
        }
    };
    match backend.read() {
        Err(error @ BackendError::Remote { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("403") && message.contains("docs/backends.md"),
                "{message}"
            );
        }
        other => panic!("expected a Remote error, got {}", describe(&other)),
    }
}

#[test]
fn options_are_checked() {
    let cases = [
        (
            json!({"namespace": "Not_Valid"}),
            "option `namespace` must be a Kubernetes name",
        ),
        (
            json!({"configmap": "-x"}),
            "option `configmap` must be a Kubernetes name",
        ),
        (json!({"configMap": "x"}), "did you mean `configmap`?"),
        (
            json!({"kubeconfig": "/nonexistent/kubeconfig"}),
            "cannot read kubeconfig /nonexistent/kubeconfig",
        ),
        (json!({"lockDurationSeconds": "soon"}), "from 2 to 86400"),
    ];
    for (given, expected) in cases {
        match KubeBackend::from_options(&options(given.clone()), Path::new(".")) {
            Err(error @ BackendError::Config { .. }) => {
                let message = error.to_string();
                assert!(message.contains(expected), "{given}: {message}");
                assert!(message.starts_with("state backend `k8s`"), "{message}");
            }
            Err(other) => panic!("{given}: expected a Config error, got {other}"),
            Ok(backend) => panic!("{given}: expected a Config error, got {backend:?}"),
        }
    }
}
