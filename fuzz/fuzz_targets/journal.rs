//! Any bytes as the local backend's journal on top of a valid state document: opening the state
//! replays what it can or fails with a named error, and never panics; a state that opened is
//! saved (folding the journal in) and reopens as the same state.
#![no_main]

use std::sync::OnceLock;

use dtm_backends::Backend;
use dtm_backends::local::LocalBackend;
use dtm_engine::store::StateStore;
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    // In memory where there is a tmpfs: every iteration writes and flushes files.
    DIR.get_or_init(|| {
        tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .expect("a temporary directory")
    })
}

/// A state document with one resource, as dtm writes it.
const DOCUMENT: &str = r#"{"format_version":2,"lineage":"0123456789abcdef0123456789abcdef","serial":3,"dtm_version":"0.1.0","secret_key":"00","resources":{"file.a":{"plugin":"file","instance_id":"a","plugin_version":"0.1.0","depends_on":[],"options":{"path":"a.txt"},"status":{"size":1},"outputs":{"path":"/a.txt"},"lifecycle":"completed","pending":null,"last_error":null,"created":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:00Z","history":[]}}}"#;

fuzz_target!(|data: &[u8]| {
    let path = dir().path().join("devstream.state");
    let backend = LocalBackend::new(path.clone());
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(backend.journal_path());
    let version = backend
        .write(DOCUMENT.as_bytes(), None)
        .expect("writing the document");
    let mut journal = format!("{{\"dtm_journal\":1,\"base\":\"{version}\"}}\n").into_bytes();
    journal.extend_from_slice(data);
    std::fs::write(backend.journal_path(), journal).expect("writing the journal");

    let mut store = match StateStore::open(Box::new(backend)) {
        Ok(store) => store,
        Err(e) => return drop(e.to_string()),
    };
    let replayed = store.state.to_bytes();
    if let Err(e) = store.save() {
        panic!("saving a state that was read: {e}");
    }
    let reopened = StateStore::open(Box::new(LocalBackend::new(path))).expect("reopening");
    let mut expected = dtm_engine::state::State::from_bytes(&replayed, "x").expect("replayed");
    expected.serial += 1;
    expected.dtm_version = reopened.state.dtm_version.clone();
    expected.format_version = reopened.state.format_version;
    assert_eq!(
        reopened.state.to_bytes(),
        expected.to_bytes(),
        "the state changed when saved"
    );
});
