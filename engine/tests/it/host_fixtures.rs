//! The host's bad days: each fixture plugin's failure is caught, typed and named, and the host
//! carries on. The fixtures are real libraries built by `cargo build --workspace`.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dtm_engine::plugin::{
    CallContext, HostError, PluginEvent, PluginHost, library_file_name, request,
};
use dtm_plugin_protocol::{ErrorKind, Operation, Response};
use serde_json::{Value, json};

fn lib(name: &str) -> PathBuf {
    // target/<profile>/deps/host_fixtures-xxxx → target/<profile>/
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let p = dir.join(library_file_name(name));
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` first",
        p.display()
    );
    p
}

fn req(op: Operation, options: Value) -> dtm_plugin_protocol::Request {
    request(
        op,
        "fixture.test",
        options,
        Value::Null,
        Default::default(),
        Value::Null,
        &std::env::temp_dir(),
    )
}

#[test]
fn wrong_abi_is_refused_naming_both_versions() {
    let err = PluginHost::default()
        .load(&lib("fixture-wrong-abi"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            HostError::AbiMismatch {
                plugin_major: 2,
                host_major: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("ABI 2.0") && msg.contains("ABI 1.0"), "{msg}");
    assert!(msg.contains("libdtm_plugin_fixture_wrong_abi"), "{msg}");
}

#[test]
fn panics_become_typed_errors_and_the_plugin_stays_usable() {
    let p = PluginHost::default().load(&lib("fixture-panic")).unwrap();
    for op in [Operation::Create, Operation::Read] {
        let err = p
            .run(&req(op, json!({})), &CallContext::default())
            .unwrap_err();
        match &err {
            HostError::Plugin {
                error, operation, ..
            } => {
                assert_eq!(error.kind, ErrorKind::Panic);
                assert_eq!(*operation, op);
                assert!(error.message.contains("panicked"), "{}", error.message);
            }
            other => panic!("expected a plugin panic error, got {other:?}"),
        }
        assert!(err.to_string().contains("fixture.test"), "{err}");
    }
    // Still alive after two panics.
    let again = p.run(&req(Operation::Create, json!({})), &CallContext::default());
    assert!(matches!(again, Err(HostError::Plugin { .. })));
}

#[test]
fn malformed_and_oversized_responses_are_named() {
    let p = PluginHost::default().load(&lib("fixture-garbage")).unwrap();
    let ctx = CallContext::default();
    let err = p.run(&req(Operation::Create, json!({})), &ctx).unwrap_err();
    assert!(matches!(err, HostError::Malformed { .. }), "{err:?}");
    assert!(
        err.to_string().contains("fixture-garbage") && err.to_string().contains("malformed"),
        "{err}"
    );

    let err = p.run(&req(Operation::Update, json!({})), &ctx).unwrap_err();
    match &err {
        HostError::TooLarge { size, limit, .. } => {
            assert_eq!(*size, 64 * 1024 * 1024);
            assert_eq!(*limit, dtm_engine::plugin::DEFAULT_MAX_RESPONSE_BYTES);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    for (mode, want) in [
        ("not_utf8", "malformed"),
        ("wrong_shape", "maybe"),
        ("failed", "without an answer"),
        ("bad_status", "without an answer"),
    ] {
        let err = p
            .run(&req(Operation::Create, json!({"mode": mode})), &ctx)
            .unwrap_err();
        assert!(err.to_string().contains(want), "{mode}: {err}");
    }
    // A good response still works afterwards.
    assert!(matches!(
        p.run(&req(Operation::Read, json!({"mode": "ok"})), &ctx),
        Ok(Response::Done { .. })
    ));
}

#[test]
fn a_call_that_never_returns_times_out() {
    let p = PluginHost::default().load(&lib("fixture-slow")).unwrap();
    let options = json!({"sleep_ms": 3_600_000, "ignore_cancel": true});
    let err = p
        .run(
            &req(Operation::Create, options),
            &CallContext::with_timeout(Duration::from_millis(300)),
        )
        .unwrap_err();
    assert!(matches!(err, HostError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("did not finish `create`"), "{err}");
}

#[test]
fn cancellation_reaches_a_cooperative_plugin() {
    let p = PluginHost::default().load(&lib("fixture-slow")).unwrap();
    let ctx = CallContext::with_timeout(Duration::from_secs(3600));
    let cancel = ctx.cancel.clone();
    let h = std::thread::spawn(move || {
        p.run(
            &req(Operation::Create, json!({"sleep_ms": 3_600_000})),
            &ctx,
        )
    });
    std::thread::sleep(Duration::from_millis(200));
    cancel.store(true, Ordering::SeqCst);
    let err = h.join().unwrap().unwrap_err();
    match err {
        HostError::Plugin { error, .. } => assert_eq!(error.kind, ErrorKind::Cancelled),
        other => panic!("expected a cancelled error, got {other:?}"),
    }
}

#[test]
fn pending_steps_are_polled_and_reported() {
    let p = PluginHost::default().load(&lib("fixture-noop")).unwrap();
    let pendings = Arc::new(AtomicUsize::new(0));
    let seen = pendings.clone();
    let ctx = CallContext {
        events: Arc::new(move |e| {
            if let PluginEvent::Pending { data, .. } = e {
                assert!(data.get("step").is_some(), "{data}");
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }),
        ..CallContext::default()
    };
    let r = p
        .run(
            &req(Operation::Create, json!({"value": 7, "pending_steps": 3})),
            &ctx,
        )
        .unwrap();
    assert_eq!(pendings.load(Ordering::SeqCst), 3);
    match r {
        Response::Done { outputs, .. } => assert_eq!(outputs["value"], json!(7)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_library_is_loaded_once() {
    let a = PluginHost::default().load(&lib("fixture-noop")).unwrap();
    let b = PluginHost::default().load(&lib("fixture-noop")).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(a.manifest().name, "fixture-noop");
}

#[test]
fn not_a_plugin_and_missing_plugins_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join(library_file_name("fake"));
    std::fs::write(&fake, b"not an ELF file").unwrap();
    let err = PluginHost::default().load(&fake).unwrap_err();
    assert!(matches!(err, HostError::Open { .. }), "{err:?}");
    let err = PluginHost::default()
        .load_named("absent", &[dir.path().to_path_buf()])
        .unwrap_err();
    assert!(
        err.to_string().contains("plugin `absent` not found"),
        "{err}"
    );
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
}

#[test]
fn unresolved_symbols_fail_at_load_not_mid_run() {
    let err = PluginHost::default()
        .load(&lib("fixture-unresolved"))
        .unwrap_err();
    assert!(matches!(err, HostError::Open { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("dtm_fixture_symbol_that_does_not_exist"),
        "{err}"
    );
}
