//! State persistence through the journal: per-change appends, replay after a crash, compaction.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use dtm_backends::local::LocalBackend;
use dtm_engine::state::{Lifecycle, Resource};
use dtm_engine::store::StateStore;

fn resource(id: &str) -> Resource {
    Resource {
        plugin: "file".into(),
        instance_id: id.into(),
        plugin_version: "0.1.0".into(),
        depends_on: vec![],
        options: serde_json::json!({"id": id}),
        status: serde_json::json!({"ok": true}),
        outputs: Default::default(),
        lifecycle: Lifecycle::Completed,
        pending: None,
        last_error: None,
        created: "2026-01-01T00:00:00Z".into(),
        updated: "2026-01-01T00:00:00Z".into(),
        history: vec![],
    }
}

fn open(path: &std::path::Path) -> StateStore {
    StateStore::open(Box::new(LocalBackend::new(path.to_path_buf()))).unwrap()
}

#[test]
fn changes_survive_a_crash_before_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devstream.state");
    let mut store = open(&path);
    store.save().unwrap();
    let snapshot = std::fs::read(&path).unwrap();
    for i in 0..50 {
        let key = format!("file.r{i}");
        store
            .state
            .resources
            .insert(key.clone(), resource(&format!("r{i}")));
        store.save_changes([&key]).unwrap();
    }
    let gone = "file.r7".to_string();
    store.state.resources.remove(&gone);
    store.save_changes([&gone]).unwrap();
    let serial = store.state.serial;
    // "Crash": drop without compacting. The document itself was never rewritten.
    drop(store);
    assert_eq!(std::fs::read(&path).unwrap(), snapshot);

    let mut again = open(&path);
    assert_eq!(again.state.resources.len(), 49);
    assert!(!again.state.resources.contains_key("file.r7"));
    assert_eq!(again.state.serial, serial);

    again.compact().unwrap();
    assert!(!dir.path().join("devstream.state.journal").exists());
    let folded = open(&path);
    assert_eq!(folded.state.resources.len(), 49);
    assert_eq!(folded.state.serial, serial + 1);
}

#[test]
fn a_corrupt_journal_record_is_refused_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devstream.state");
    let mut store = open(&path);
    store.save().unwrap();
    let key = "file.a".to_string();
    store.state.resources.insert(key.clone(), resource("a"));
    store.save_changes([&key]).unwrap();
    drop(store);
    let journal = dir.path().join("devstream.state.journal");
    let text = std::fs::read_to_string(&journal).unwrap();
    let header = text.lines().next().unwrap();
    std::fs::write(
        &journal,
        format!("{header}\n{{\"serial\": \"not a number\"}}\n"),
    )
    .unwrap();
    let err = StateStore::open(Box::new(LocalBackend::new(path))).unwrap_err();
    assert!(err.to_string().contains("journal"), "{err}");
}

#[test]
fn a_format_1_document_is_read_and_written_back_in_the_current_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devstream.state");
    let mut old = serde_json::to_value(dtm_engine::state::State::new()).unwrap();
    old["format_version"] = 1.into();
    old["resources"]["file.a"] = serde_json::to_value(resource("a")).unwrap();
    old["resources"]["file.a"]["options"]["token"] = "(secret hmac-sha256:00ff)".into();
    std::fs::write(&path, old.to_string()).unwrap();

    let mut store = open(&path);
    assert_eq!(store.state.format_version, 1);
    // Reading writes nothing.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), old.to_string());
    // The first change rewrites the whole document (no journal on top of the old format).
    store.state.resources.insert("file.b".into(), resource("b"));
    store.save_changes(&["file.b".to_string()]).unwrap();
    assert!(!dir.path().join("devstream.state.journal").exists());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(written["format_version"], dtm_engine::state::FORMAT_VERSION);
    assert_eq!(
        written["resources"]["file.a"]["options"]["token"],
        "(secret hmac-sha256:00ff)"
    );
    assert_eq!(open(&path).state.resources.len(), 2);
}
