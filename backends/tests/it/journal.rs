//! The local backend's append-only journal.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use dtm_backends::local::LocalBackend;
use dtm_backends::{Backend, BackendError};

#[test]
fn appends_are_read_back_for_their_base_only() {
    let dir = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(dir.path().join("s.state"));
    let v1 = b.write(b"{}", None).unwrap();
    b.append_journal(&v1, b"one").unwrap();
    b.append_journal(&v1, b"two").unwrap();
    // A second instance (another process) sees them.
    let other = LocalBackend::new(dir.path().join("s.state"));
    assert_eq!(
        other.read_journal(&v1).unwrap(),
        vec![b"one".to_vec(), b"two".to_vec()]
    );

    // A full write folds the journal in: the old records no longer apply.
    let v2 = b.write(b"{\"folded\":true}", Some(&v1)).unwrap();
    assert!(b.read_journal(&v2).unwrap().is_empty());
    assert!(b.read_journal(&v1).unwrap().is_empty());
    assert!(!b.journal_path().exists());

    b.append_journal(&v2, b"three").unwrap();
    assert_eq!(other.read_journal(&v2).unwrap(), vec![b"three".to_vec()]);
}

#[test]
fn a_torn_last_record_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(dir.path().join("s.state"));
    let v = b.write(b"{}", None).unwrap();
    b.append_journal(&v, b"whole").unwrap();
    // A crash mid-append leaves a record without its newline.
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(b.journal_path())
        .unwrap();
    f.write_all(b"{\"half").unwrap();
    assert_eq!(b.read_journal(&v).unwrap(), vec![b"whole".to_vec()]);
}

#[test]
fn appending_on_a_stale_base_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(dir.path().join("s.state"));
    let v1 = b.write(b"{}", None).unwrap();
    let _v2 = LocalBackend::new(dir.path().join("s.state"))
        .write(b"{\"x\":1}", Some(&v1))
        .unwrap();
    let err = b.append_journal(&v1, b"late").unwrap_err();
    assert!(matches!(err, BackendError::Conflict { .. }), "{err:?}");
    assert!(b.append_journal(&v1, b"x\ny").is_err());
}

#[test]
fn a_journal_with_an_unknown_header_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(dir.path().join("s.state"));
    let v = b.write(b"{}", None).unwrap();
    std::fs::write(b.journal_path(), b"garbage header\nrecord\n").unwrap();
    assert!(b.read_journal(&v).unwrap().is_empty());
}
