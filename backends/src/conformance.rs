//! Scenarios every [`Backend`] must pass, written once and run by the tests of each backend (and
//! of anything that wraps one). Enabled by the `conformance` feature.
//!
//! A scenario takes an [`Open`] function that returns a new backend value for one and the same
//! storage location each time it is called (two values stand for two dtm processes), and that
//! location must start empty: give each scenario its own. Scenarios panic with a message saying
//! what went wrong, like any test.

use std::collections::HashSet;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Backend, BackendError, LockInfo, TakenOver, Version};

/// Returns a new backend value for the scenario's storage location.
pub type Open<'a> = &'a (dyn Fn() -> Box<dyn Backend> + Sync);

/// Lock info with recognisable values, and `id` as its lock id.
pub fn sample_lock(id: &str) -> LockInfo {
    LockInfo {
        id: id.to_owned(),
        who: "alice".to_owned(),
        host: "build-01".to_owned(),
        pid: 4242,
        operation: "apply".to_owned(),
        created: "2026-01-02T03:04:05Z".to_owned(),
        version: "0.1.0".to_owned(),
    }
}

/// Unwraps `result`, panicking with the error's message (not its `Debug` dump) and what was being
/// done.
#[track_caller]
pub fn ok<T>(result: Result<T, BackendError>, doing: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{doing}: unexpected error: {error}"),
    }
}

/// Reading a location nothing was written to gives `None`; so does asking for its lock.
pub fn read_of_nothing_is_none(open: Open<'_>) {
    let backend = open();
    assert!(
        ok(backend.read(), "reading empty state").is_none(),
        "a fresh location must read as None"
    );
    assert!(
        ok(backend.lock_info(), "asking for the lock").is_none(),
        "a fresh location has no lock"
    );
}

/// Every write is read back byte for byte, by the writer and by another backend value, and every
/// write gives a new version, the one a read then returns.
pub fn read_your_writes(open: Open<'_>) {
    let writer = open();
    let reader = open();
    let mut expected: Option<Version> = None;
    let mut seen = HashSet::new();
    for round in 0..5u8 {
        let bytes = format!("{{\"serial\": {round}}}\n").into_bytes();
        let version = ok(
            writer.write(&bytes, expected.as_ref()),
            &format!("write {round}"),
        );
        assert!(
            seen.insert(version.clone()),
            "write {round} returned version {version}, which an earlier write returned too"
        );
        for (who, backend) in [("writer", &writer), ("another backend value", &reader)] {
            let snapshot = ok(backend.read(), &format!("read after write {round}"))
                .unwrap_or_else(|| panic!("{who} read None after write {round}"));
            assert_eq!(
                snapshot.bytes, bytes,
                "{who} read other bytes after write {round}"
            );
            assert_eq!(
                snapshot.version, version,
                "{who} read another version than write {round} returned"
            );
        }
        expected = Some(version);
    }
}

/// Two writers read the same version; the first write wins, the second is refused with
/// `Conflict` and changes nothing.
pub fn compare_and_swap_conflict(open: Open<'_>) {
    let first = open();
    let second = open();
    let base = ok(first.write(b"base", None), "writing the base version");
    let seen_by_first = ok(first.read(), "first reader").map(|s| s.version);
    let seen_by_second = ok(second.read(), "second reader").map(|s| s.version);
    assert_eq!(seen_by_first.as_ref(), Some(&base));
    assert_eq!(seen_by_second.as_ref(), Some(&base));

    let winner = ok(first.write(b"first", Some(&base)), "first writer");
    match second.write(b"second", Some(&base)) {
        Err(BackendError::Conflict {
            expected, found, ..
        }) => {
            assert_eq!(
                expected,
                base.to_string(),
                "Conflict names the expected version"
            );
            assert_eq!(
                found,
                winner.to_string(),
                "Conflict names the version found"
            );
        }
        other => panic!("second writer: expected Conflict, got {}", describe(&other)),
    }
    let stored = ok(first.read(), "reading after the conflict").map(|s| (s.bytes, s.version));
    assert_eq!(
        stored,
        Some((b"first".to_vec(), winner)),
        "the refused write must leave the first writer's document"
    );
}

/// A write that expects nothing stored is refused once something is.
pub fn write_expecting_nothing_conflicts(open: Open<'_>) {
    let backend = open();
    let version = ok(backend.write(b"one", None), "first write");
    match open().write(b"two", None) {
        Err(BackendError::Conflict {
            expected, found, ..
        }) => {
            assert_eq!(expected, "none");
            assert_eq!(found, version.to_string());
        }
        other => panic!("expected Conflict, got {}", describe(&other)),
    }
    let stored = ok(backend.read(), "reading").map(|s| s.bytes);
    assert_eq!(stored.as_deref(), Some(&b"one"[..]));
}

/// `writers` backend values, each in its own thread, read the same version and write at the same
/// moment: exactly one write succeeds, every other one gets `Conflict`, and the stored document
/// is the winner's.
pub fn concurrent_writers_one_wins(open: Open<'_>, writers: usize) {
    let base = ok(open().write(b"base", None), "writing the base version");
    let start = Barrier::new(writers);
    let results: Vec<(Vec<u8>, Result<Version, BackendError>)> = thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|n| {
                let (start, base) = (&start, &base);
                s.spawn(move || {
                    let backend = open();
                    let bytes = format!("writer {n}").into_bytes();
                    start.wait();
                    let result = backend.write(&bytes, Some(base));
                    (bytes, result)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let mut winners = Vec::new();
    for (bytes, result) in results {
        match result {
            Ok(version) => winners.push((bytes, version)),
            Err(BackendError::Conflict { .. }) => {}
            Err(other) => panic!("expected success or Conflict, got {other}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of {writers} writers of the same version must succeed"
    );
    let stored = ok(open().read(), "reading after the race").map(|s| (s.bytes, s.version));
    assert_eq!(
        stored.as_ref(),
        winners.first(),
        "the winner's document is stored"
    );
}

/// A second lock, by another backend value or by the holder itself, fails with `Locked` naming the
/// first holder; `lock_info` reports it to anyone.
pub fn lock_contention(open: Open<'_>) {
    let holder = open();
    let other = open();
    let info = sample_lock("lock-1");
    ok(holder.lock(&info), "taking the lock");
    for (who, backend) in [("another backend value", &other), ("the holder", &holder)] {
        match backend.lock(&sample_lock("lock-2")) {
            Err(BackendError::Locked {
                holder: reported, ..
            }) => assert_eq!(*reported, info, "{who}: Locked must name the holder"),
            other => panic!("{who}: expected Locked, got {}", describe(&other)),
        }
    }
    assert_eq!(ok(other.lock_info(), "lock_info").as_ref(), Some(&info));
    ok(holder.unlock("lock-1"), "unlocking");
}

/// `contenders` backend values try to take the lock at the same moment, each from its own thread:
/// exactly one gets it, every other one gets `Locked` naming the winner.
pub fn lock_race(open: Open<'_>, contenders: usize) {
    let start = Barrier::new(contenders);
    let done = Barrier::new(contenders);
    // Each contender's lock id, what `lock` returned, and the backend value.
    type Attempt = (
        String,
        Result<Option<TakenOver>, BackendError>,
        Box<dyn Backend>,
    );
    let results: Vec<Attempt> = thread::scope(|s| {
        let handles: Vec<_> = (0..contenders)
            .map(|n| {
                let (start, done) = (&start, &done);
                s.spawn(move || {
                    let backend = open();
                    let id = format!("racer-{n}");
                    start.wait();
                    let result = backend.lock(&sample_lock(&id));
                    // Keep every backend value alive until all have tried: a winner that went
                    // away early could let a second one win.
                    done.wait();
                    (id, result, backend)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let winners: Vec<&String> = results
        .iter()
        .filter(|(_, r, _)| r.is_ok())
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one of {contenders} must win, won: {winners:?}"
    );
    let winner = winners[0];
    for (id, result, _) in &results {
        match result {
            Ok(None) => {}
            Ok(Some(taken)) => panic!("{id}: took over a lock in a race from nothing: {taken}"),
            Err(BackendError::Locked { holder, .. }) => {
                assert_eq!(&holder.id, winner, "{id} was told of another holder")
            }
            Err(other) => panic!("{id}: expected Locked, got {other}"),
        }
    }
    let (_, _, backend) = &results[0];
    ok(backend.unlock(winner), "unlocking after the race");
}

/// `unlock` with a wrong id is refused and keeps the lock; with the right id it releases it, from
/// any backend value, and the lock can be taken again. Unlocking when there is no lock is refused.
pub fn unlock_checks_id(open: Open<'_>) {
    let holder = open();
    let other = open();
    match other.unlock("nobody") {
        Err(BackendError::LockMismatch { given, current, .. }) => {
            assert_eq!(given, "nobody");
            assert_eq!(current, "no lock");
        }
        other => panic!(
            "unlock without a lock: expected LockMismatch, got {}",
            describe(&other)
        ),
    }
    let info = sample_lock("lock-a");
    ok(holder.lock(&info), "taking the lock");
    match other.unlock("lock-b") {
        Err(BackendError::LockMismatch { given, current, .. }) => {
            assert_eq!(given, "lock-b");
            assert!(
                current.contains("lock-a"),
                "LockMismatch must describe the current lock, got {current:?}"
            );
        }
        other => panic!("wrong id: expected LockMismatch, got {}", describe(&other)),
    }
    assert_eq!(ok(other.lock_info(), "lock_info").as_ref(), Some(&info));

    ok(other.unlock("lock-a"), "unlocking with the right id");
    assert!(ok(other.lock_info(), "lock_info after unlock").is_none());
    ok(other.lock(&sample_lock("lock-c")), "locking after unlock");
    ok(other.unlock("lock-c"), "unlocking again");
    // The first holder's lock was released by someone else: taking it anew works.
    ok(
        holder.lock(&sample_lock("lock-d")),
        "first holder locking again",
    );
    ok(holder.unlock("lock-d"), "first holder unlocking");
}

/// A document of `size` bytes (not all alike) round-trips exactly.
pub fn large_document(open: Open<'_>, size: usize) {
    let backend = open();
    let bytes: Vec<u8> = (0..size)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let version = ok(backend.write(&bytes, None), "writing a large document");
    let snapshot =
        ok(open().read(), "reading a large document").unwrap_or_else(|| panic!("read None"));
    assert_eq!(snapshot.version, version);
    assert!(
        snapshot.bytes == bytes,
        "a {size}-byte document came back different ({} bytes)",
        snapshot.bytes.len()
    );
}

/// A lock taken by another process (a child the test started), for the cross-process scenarios.
pub trait LockHolder {
    /// Lets the process end normally; it releases its lock on the way out.
    fn finish(self: Box<Self>);
    /// Kills the process (SIGKILL), so it cannot release or renew its lock.
    fn kill(self: Box<Self>);
}

/// Starts another process that takes the lock of the scenario's location with the given info and
/// holds it until told to finish or killed.
pub type SpawnHolder<'a> = &'a (dyn Fn(&LockInfo) -> Box<dyn LockHolder> + Sync);

/// Another process holds the lock: this one gets `Locked` naming it; once it ends normally, the
/// lock is free.
pub fn lock_contention_between_processes(open: Open<'_>, spawn: SpawnHolder<'_>) {
    let info = sample_lock("other-process");
    let holder = spawn(&info);
    let backend = open();
    match backend.lock(&sample_lock("this-process")) {
        Err(BackendError::Locked { holder: found, .. }) => {
            assert_eq!(
                found.id, info.id,
                "Locked must name the other process's lock"
            );
            assert_eq!(
                (
                    found.who.as_str(),
                    found.host.as_str(),
                    found.operation.as_str()
                ),
                ("alice", "build-01", "apply")
            );
        }
        other => panic!(
            "expected Locked by the other process, got {}",
            describe(&other)
        ),
    }
    holder.finish();
    assert!(
        ok(
            backend.lock_info(),
            "lock_info after the other process ended"
        )
        .is_none(),
        "a process that ends normally releases its lock"
    );
    ok(
        backend.lock(&sample_lock("this-process")),
        "locking after the other process ended",
    );
    ok(backend.unlock("this-process"), "unlocking");
}

/// A process holding the lock (recorded as on another host) is killed: its lock is reported as
/// `StaleLock` naming it (within `stale_after` plus a margin), is not broken automatically, and
/// `unlock` with its id (and only its id) releases it.
pub fn stale_lock_reported_then_unlocked(
    open: Open<'_>,
    spawn: SpawnHolder<'_>,
    stale_after: Duration,
) {
    let info = sample_lock("dead-holder");
    spawn(&info).kill();
    let backend = open();
    let mine = sample_lock("survivor");
    let deadline = Instant::now() + stale_after + Duration::from_secs(30);
    let reason = loop {
        match backend.lock(&mine) {
            Err(BackendError::StaleLock { holder, reason, .. }) => {
                assert_eq!(holder.id, info.id, "StaleLock must name the dead holder");
                assert_eq!(
                    (
                        holder.who.as_str(),
                        holder.host.as_str(),
                        holder.operation.as_str()
                    ),
                    ("alice", "build-01", "apply")
                );
                break reason;
            }
            Err(BackendError::Locked { holder, .. }) if Instant::now() < deadline => {
                assert_eq!(holder.id, info.id, "Locked must name the dead holder");
                thread::sleep(Duration::from_millis(250));
            }
            other => panic!(
                "expected the killed holder's lock to be reported stale, got {}",
                describe(&other)
            ),
        }
    };
    assert!(!reason.is_empty(), "StaleLock says why");
    match backend.lock(&mine) {
        Err(BackendError::StaleLock { .. }) => {}
        other => panic!(
            "a stale lock must not be broken automatically, got {}",
            describe(&other)
        ),
    }
    assert_eq!(
        ok(backend.lock_info(), "lock_info of a stale lock").map(|i| i.id),
        Some(info.id.clone())
    );
    match backend.unlock("wrong-id") {
        Err(BackendError::LockMismatch { current, .. }) => assert!(
            current.contains(&info.id),
            "LockMismatch describes the stale lock: {current}"
        ),
        other => panic!("wrong id: expected LockMismatch, got {}", describe(&other)),
    }
    ok(backend.unlock(&info.id), "releasing the stale lock");
    ok(backend.lock(&mine), "locking after the release");
    assert_eq!(
        ok(backend.lock_info(), "lock_info").map(|i| i.id),
        Some(mine.id.clone())
    );
    ok(backend.unlock(&mine.id), "unlocking");
}

/// Reading, writing and locking a backend that cannot be reached fail with an error (not a panic,
/// not a hang, not `Conflict` or `Locked`) whose message contains `expected` (the location, the
/// endpoint...). Asking for the lock or unlocking either fails the same way or finds no lock.
pub fn unreachable_is_a_clear_error(open: Open<'_>, expected: &str) {
    let backend = open();
    if let Ok(Some(info)) = backend.lock_info() {
        panic!("lock_info: an unreachable backend reported a lock: {info}");
    }
    match backend.unlock("x") {
        Ok(()) => panic!("unlock: succeeded against an unreachable backend"),
        Err(BackendError::LockMismatch { current, .. }) => assert_eq!(current, "no lock"),
        Err(_) => {}
    }
    let results = [
        ("read", backend.read().map(|_| ())),
        ("write", backend.write(b"state", None).map(|_| ())),
        ("lock", backend.lock(&sample_lock("x")).map(|_| ())),
    ];
    for (what, result) in results {
        match result {
            Err(
                error @ (BackendError::Conflict { .. }
                | BackendError::Locked { .. }
                | BackendError::StaleLock { .. }
                | BackendError::LockMismatch { .. }),
            ) => panic!("{what}: an unreachable backend must not report {error}"),
            Err(error) => {
                let message = error.to_string();
                assert!(
                    message.contains(expected),
                    "{what}: the error should name {expected:?}: {message}"
                );
            }
            Ok(()) => panic!("{what}: succeeded against an unreachable backend"),
        }
    }
}

/// A short description of an unexpected result, for panic messages.
pub fn describe<T: std::fmt::Debug>(result: &Result<T, BackendError>) -> String {
    match result {
        Ok(value) => format!("Ok({value:?})"),
        Err(error) => format!("error: {error}"),
    }
}
