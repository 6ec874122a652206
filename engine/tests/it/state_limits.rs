//! State documents and journals at and past their limits: as deep as a plugin can make them, they
//! read back; deeper or larger, they are refused with a named error, before they are read whole
//! and without deep recursion.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};

use dtm_backends::local::LocalBackend;
use dtm_backends::{Backend, BackendError, MAX_DOCUMENT_BYTES};
use dtm_engine::state::{Lifecycle, Resource, State, StateError};
use dtm_engine::store::{StateStore, StoreError};
use serde_json::{Value, json};

/// Stack for the reads below: far less than a main thread's 8 MiB.
const SMALL_STACK: usize = 512 * 1024;

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .unwrap()
        .join()
        .expect("overflowed a small stack or panicked")
}

fn resource(status: Value) -> Resource {
    Resource {
        plugin: "file".into(),
        instance_id: "a".into(),
        plugin_version: "0.1.0".into(),
        depends_on: vec![],
        options: json!({}),
        status,
        outputs: Default::default(),
        lifecycle: Lifecycle::Completed,
        pending: None,
        last_error: None,
        created: "2026-01-01T00:00:00Z".into(),
        updated: "2026-01-01T00:00:00Z".into(),
        history: vec![],
    }
}

/// `levels` lists inside each other around `1`, as JSON text (no recursion to build or drop).
fn nested_text(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

fn open(path: &Path) -> Result<StateStore, StoreError> {
    StateStore::open(Box::new(LocalBackend::new(path.to_path_buf())))
}

fn state_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devstream.state");
    (dir, path)
}

#[test]
fn a_status_as_deep_as_a_plugin_can_send_reads_back() {
    // A plugin's response is parsed with serde_json's limit of 128 levels; state puts the status
    // four levels further down, past what serde_json reads by default.
    let (_dir, path) = state_path();
    let status: Value = serde_json::from_str(&nested_text(127)).unwrap();
    let mut store = open(&path).unwrap();
    store
        .state
        .resources
        .insert("file.a".into(), resource(status.clone()));
    store.save().unwrap();
    let read = on_small_stack(move || open(&path).map(|s| s.state.resources["file.a"].clone()));
    assert_eq!(read.unwrap().status, status);
}

#[test]
fn a_document_nested_past_the_limit_is_refused_without_recursion() {
    let text = format!(
        r#"{{"format_version":2,"lineage":"x","serial":1,"dtm_version":"0","secret_key":"00","resources":{{"file.a":{{"status":{}}}}}}}"#,
        nested_text(100_000)
    );
    let error = on_small_stack(move || State::from_bytes(text.as_bytes(), "here").unwrap_err());
    assert!(matches!(error, StateError::Corrupt { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("state here is corrupt")
            && message.contains("nests more than 256 levels deep (the limit)")
            && message.contains("left untouched"),
        "{message}"
    );
    // At the limit it parses (and is then checked as a state like any other).
    let at_limit = nested_text(256);
    let message =
        on_small_stack(move || State::from_bytes(at_limit.as_bytes(), "here").unwrap_err())
            .to_string();
    assert!(message.contains("not a JSON object"), "{message}");
}

#[test]
fn a_state_file_larger_than_the_limit_is_refused_before_it_is_read() {
    let (_dir, path) = state_path();
    let file = std::fs::File::create(&path).unwrap();
    // Sparse: takes no disk space, and reading it whole would take 64 MiB of memory.
    file.set_len(MAX_DOCUMENT_BYTES as u64 + 1).unwrap();
    let error = open(&path).unwrap_err().to_string();
    assert!(
        error.contains("the state file is 67108865 bytes, more than the 64 MiB a state may take")
            && error.contains("it was left untouched")
            && error.contains("dtm state rm"),
        "{error}"
    );
    // Whatever the backend, the engine refuses such bytes too.
    let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
    let error = State::from_bytes(&big, "there").unwrap_err();
    assert!(matches!(error, StateError::TooLarge { size, .. } if size == big.len()));
}

#[test]
fn a_state_larger_than_the_limit_is_not_written() {
    let (_dir, path) = state_path();
    let mut store = open(&path).unwrap();
    store.save().unwrap();
    let before = std::fs::read(&path).unwrap();
    store.state.resources.insert(
        "file.a".into(),
        resource(Value::String("x".repeat(MAX_DOCUMENT_BYTES))),
    );
    let error = store.save().unwrap_err();
    assert!(
        matches!(&error, StoreError::Backend(BackendError::TooLarge { .. })),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("more than the 64 MiB a state may take (the limit); nothing was written"),
        "{message}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing was written");
}

#[test]
fn a_journal_larger_than_the_limit_is_refused_before_it_is_read() {
    let (_dir, path) = state_path();
    open(&path).unwrap().save().unwrap();
    let backend = LocalBackend::new(path.clone());
    let journal = std::fs::File::create(backend.journal_path()).unwrap();
    journal.set_len(MAX_DOCUMENT_BYTES as u64 + 1).unwrap();
    let error = open(&path).unwrap_err().to_string();
    assert!(
        error.contains("its journal is 67108865 bytes, more than the 64 MiB"),
        "{error}"
    );
}

#[test]
fn a_journal_record_nested_past_the_limit_is_refused() {
    let (_dir, path) = state_path();
    let mut store = open(&path).unwrap();
    store.save().unwrap();
    let backend = LocalBackend::new(path.clone());
    let version = backend.read().unwrap().unwrap().version;
    let record = format!(r#"{{"serial":2,"put":{{"x":{}}}}}"#, nested_text(1000));
    backend.append_journal(&version, record.as_bytes()).unwrap();
    let error = on_small_stack(move || open(&path).map(|_| ()).unwrap_err().to_string());
    assert!(
        error.contains("(journal) is corrupt: a record nests more than 256 levels deep"),
        "{error}"
    );
}
