//! The local file backend: the conformance scenarios, then what only files and processes show.

use crate::common;

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime};

use dtm_backends::conformance::{self, describe, ok, sample_lock};
use dtm_backends::local::{DEFAULT_STATE_FILE, LocalBackend, UNKNOWN_LOCK_ID};
use dtm_backends::{Backend, BackendError, LockInfo};
use serde_json::{Map, Value, json};
use tempfile::TempDir;

fn temp_dir() -> TempDir {
    tempfile::tempdir().expect("creating a temporary directory")
}

/// A state path whose directory does not exist yet: every scenario also checks it is created.
fn state_path(dir: &TempDir) -> PathBuf {
    dir.path().join("state").join("devstream.state")
}

fn opener(path: PathBuf) -> impl Fn() -> Box<dyn Backend> + Sync {
    move || Box::new(LocalBackend::new(path.clone()))
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .expect("listing the state directory")
        .map(|entry| {
            entry
                .expect("reading a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

// --- the scenarios shared by every backend -------------------------------------------------------

/// A fresh temporary directory for one test; a dead holder's lock is stale at once (its OS
/// file lock went with its process).
fn conformance_setup(_name: &str) -> Option<common::Fixture> {
    let dir = temp_dir();
    let options = common::options(json!({"stateFile": state_path(&dir)}));
    Some(common::Fixture {
        stale_holder_options: options.clone(),
        options,
        stale_after: Duration::ZERO,
        _keep: Some(dir),
    })
}

fn open_with(options: &Map<String, Value>) -> Box<dyn Backend> {
    Box::new(LocalBackend::from_options(options, Path::new("/")).expect("options"))
}

common::conformance_suite!(
    conformance_setup,
    open_with,
    "local::lock_holder_child",
    20 * 1024 * 1024
);

// --- writes --------------------------------------------------------------------------------------

#[test]
fn every_write_gets_a_new_version_even_with_identical_bytes() {
    // Same size every time, many writes per clock tick, inodes freed and reused by the file system.
    let dir = temp_dir();
    let backend = LocalBackend::new(state_path(&dir));
    let mut versions = HashSet::new();
    let mut expected = None;
    for n in 0..200 {
        let version = ok(backend.write(b"same", expected.as_ref()), "writing");
        assert!(
            versions.insert(version.clone()),
            "write {n} repeated version {version}"
        );
        let read = ok(backend.read(), "reading").map(|s| s.version);
        assert_eq!(read.as_ref(), Some(&version));
        expected = Some(version);
    }
}

#[test]
fn a_write_is_dated_after_the_version_it_replaces() {
    // What keeps versions unique when a file system hands out a freed inode number again and the
    // clock has not moved (or is behind the file's date): each new file is dated strictly later.
    let dir = temp_dir();
    let backend = LocalBackend::new(state_path(&dir));
    let mtime = |path: &Path| {
        fs::metadata(path)
            .and_then(|m| m.modified())
            .expect("reading the modification time")
    };
    ok(backend.write(b"one", None), "first write");
    let future = SystemTime::now() + Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(backend.path())
        .and_then(|f| f.set_modified(future))
        .expect("dating the state file an hour ahead");
    let version = ok(backend.read(), "reading").map(|s| s.version);
    ok(backend.write(b"two", version.as_ref()), "second write");
    assert!(
        mtime(backend.path()) > future,
        "the new state file must be dated after the one it replaced"
    );
}

#[test]
fn write_expecting_a_vanished_file_conflicts_and_writes_nothing() {
    let dir = temp_dir();
    let path = state_path(&dir);
    let backend = LocalBackend::new(path.clone());
    let version = ok(backend.write(b"one", None), "writing");
    fs::remove_file(&path).expect("removing the state file");
    match backend.write(b"two", Some(&version)) {
        Err(BackendError::Conflict {
            expected, found, ..
        }) => {
            assert_eq!(expected, version.to_string());
            assert_eq!(found, "none");
        }
        other => panic!("expected Conflict, got {}", describe(&other)),
    }
    assert!(!path.exists(), "a refused write must not create the file");
}

#[test]
fn backup_holds_the_previous_version() {
    let dir = temp_dir();
    let backend = LocalBackend::new(state_path(&dir));
    let backup = backend.backup_path();
    assert_eq!(
        backup,
        dir.path().join("state").join("devstream.state.backup")
    );

    let v1 = ok(backend.write(b"version 1", None), "write 1");
    assert!(
        !backup.exists(),
        "no backup before there is a previous version"
    );
    let v2 = ok(backend.write(b"version 2", Some(&v1)), "write 2");
    assert_eq!(fs::read(&backup).expect("reading backup"), b"version 1");
    ok(backend.write(b"version 3", Some(&v2)), "write 3");
    assert_eq!(fs::read(&backup).expect("reading backup"), b"version 2");
    assert_eq!(
        fs::read(backend.path()).expect("reading state"),
        b"version 3"
    );
}

#[test]
fn leftovers_of_a_crashed_writer_do_not_stop_the_next_write() {
    let dir = temp_dir();
    let backend = LocalBackend::new(state_path(&dir));
    let v1 = ok(backend.write(b"one", None), "first write");
    let state_dir = dir.path().join("state");
    for leftover in ["devstream.state.tmp", "devstream.state.backup.tmp"] {
        fs::write(state_dir.join(leftover), b"half a docu").expect("writing a leftover");
    }
    ok(backend.write(b"two", Some(&v1)), "writing over leftovers");
    assert_eq!(fs::read(backend.path()).expect("reading state"), b"two");
    assert_eq!(
        fs::read(backend.backup_path()).expect("reading backup"),
        b"one"
    );
    let names = file_names(&state_dir);
    let expected: BTreeSet<String> = [
        "devstream.state",
        "devstream.state.backup",
        "devstream.state.wlock",
    ]
    .map(String::from)
    .into();
    assert_eq!(names, expected, "no staging file may stay behind");
}

#[cfg(unix)]
#[test]
fn state_backup_and_lock_files_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let dir = temp_dir();
    let backend = LocalBackend::new(state_path(&dir));
    let mode = |path: &Path| {
        fs::metadata(path)
            .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };

    // A state file left by another tool, readable by everyone.
    fs::create_dir_all(dir.path().join("state")).expect("creating the state directory");
    fs::write(backend.path(), b"from devstream").expect("writing the old state");
    fs::set_permissions(backend.path(), fs::Permissions::from_mode(0o644))
        .expect("chmod the old state");
    let version = ok(backend.read(), "reading").map(|s| s.version);
    ok(backend.write(b"from dtm", version.as_ref()), "writing");
    ok(backend.lock(&sample_lock("mode")), "locking");

    let state_dir = dir.path().join("state");
    for name in [
        "devstream.state",
        "devstream.state.backup",
        "devstream.state.lock",
        "devstream.state.wlock",
    ] {
        assert_eq!(mode(&state_dir.join(name)), 0o600, "mode of {name}");
    }
    assert_eq!(
        fs::read(backend.backup_path()).expect("reading backup"),
        b"from devstream"
    );
}

// --- locks ---------------------------------------------------------------------------------------

#[test]
fn lock_file_holds_the_lock_info_as_json() {
    let dir = temp_dir();
    let backend = LocalBackend::new(state_path(&dir));
    let info = sample_lock("json");
    ok(backend.lock(&info), "locking");
    let text = fs::read_to_string(backend.lock_path()).expect("reading the lock file");
    let parsed: LockInfo = serde_json::from_str(&text).expect("parsing the lock file");
    assert_eq!(parsed, info);
}

#[test]
fn dropping_the_holder_releases_the_lock() {
    let dir = temp_dir();
    let path = state_path(&dir);
    let holder = LocalBackend::new(path.clone());
    let observer = LocalBackend::new(path.clone());
    ok(holder.lock(&sample_lock("held")), "locking");
    drop(observer);
    assert!(
        ok(LocalBackend::new(path.clone()).lock_info(), "lock_info").is_some(),
        "dropping a value that does not hold the lock must leave it"
    );
    drop(holder);
    assert!(ok(LocalBackend::new(path.clone()).lock_info(), "lock_info").is_none());
    assert!(!LocalBackend::new(path.clone()).lock_path().exists());
    ok(
        LocalBackend::new(path).lock(&sample_lock("next")),
        "locking again",
    );
}

#[test]
fn dropping_a_holder_whose_lock_was_taken_over_leaves_the_new_lock() {
    let dir = temp_dir();
    let path = state_path(&dir);
    let first = LocalBackend::new(path.clone());
    let second = LocalBackend::new(path.clone());
    ok(first.lock(&sample_lock("first")), "first lock");
    ok(second.unlock("first"), "forced unlock");
    ok(second.lock(&sample_lock("second")), "second lock");
    drop(first);
    let info = ok(second.lock_info(), "lock_info").map(|i| i.id);
    assert_eq!(info.as_deref(), Some("second"));
}

#[test]
fn unreadable_lock_file_is_reported_and_can_be_released() {
    let dir = temp_dir();
    let backend = LocalBackend::new(state_path(&dir));
    fs::create_dir_all(dir.path().join("state")).expect("creating the state directory");
    fs::write(backend.lock_path(), b"{ not json").expect("writing a broken lock file");

    // Nobody holds its OS lock: whoever wrote it is gone.
    match backend.lock(&sample_lock("mine")) {
        Err(BackendError::StaleLock { holder, .. }) => {
            assert_eq!(holder.id, UNKNOWN_LOCK_ID);
            assert!(
                holder.operation.contains("not a dtm lock"),
                "placeholder says why: {holder}"
            );
        }
        other => panic!("expected StaleLock, got {}", describe(&other)),
    }
    let info = ok(backend.lock_info(), "lock_info").map(|i| i.id);
    assert_eq!(info.as_deref(), Some(UNKNOWN_LOCK_ID));
    ok(backend.unlock(UNKNOWN_LOCK_ID), "releasing the broken lock");
    ok(backend.lock(&sample_lock("mine")), "locking after release");
}

#[test]
fn locked_error_tells_who_and_how_to_recover() {
    let dir = temp_dir();
    let path = state_path(&dir);
    let holder = LocalBackend::new(path.clone());
    ok(holder.lock(&sample_lock("msg-1")), "locking");
    let error = match LocalBackend::new(path.clone()).lock(&sample_lock("msg-2")) {
        Err(error) => error.to_string(),
        Ok(_) => panic!("second lock succeeded"),
    };
    for part in [
        "alice@build-01",
        "pid 4242",
        "`dtm apply`",
        "dtm state unlock msg-1",
        &path.display().to_string(),
    ] {
        assert!(error.contains(part), "{error:?} lacks {part:?}");
    }
}

#[test]
fn conformance_unreachable_is_a_clear_error() {
    let dir = temp_dir();
    let not_a_dir = dir.path().join("config.yaml");
    fs::write(&not_a_dir, b"tools: []").expect("writing a file");
    let path = not_a_dir.join("devstream.state");
    conformance::unreachable_is_a_clear_error(
        &opener(path.clone()),
        &not_a_dir.display().to_string(),
    );
}

// --- locks between processes ---------------------------------------------------------------------

const CHILD_STATE_VAR: &str = "DTM_TEST_LOCK_HOLDER_STATE";
/// Set: the child records this host as its own (as a real dtm does), not `build-01`.
const CHILD_THIS_HOST_VAR: &str = "DTM_TEST_LOCK_HOLDER_THIS_HOST";
const CHILD_READY: &str = "dtm-test: lock taken";

/// Run by the tests below as a child process: takes the lock on the state file named by
/// `DTM_TEST_LOCK_HOLDER_STATE`, says so on stdout, and holds it until stdin is closed.
#[test]
#[ignore = "helper run as a child process by the cross-process lock tests"]
#[allow(
    clippy::disallowed_methods,
    reason = "the parent test names the state file through the environment"
)]
fn lock_holder_child() {
    if std::env::var_os(CHILD_STATE_VAR).is_none() {
        // Started by the shared conformance scenarios (common::Holder).
        common::run_holder_child(|options| {
            Box::new(LocalBackend::from_options(options, Path::new("/")).expect("options"))
        });
        return;
    }
    let Some(path) = std::env::var_os(CHILD_STATE_VAR) else {
        eprintln!("{CHILD_STATE_VAR} is not set; this helper only runs as a child process");
        return;
    };
    let backend = LocalBackend::new(PathBuf::from(path));
    let mut info = sample_lock("child-lock");
    info.pid = std::process::id();
    if std::env::var_os(CHILD_THIS_HOST_VAR).is_some() {
        info.host = dtm_backends::host_name();
    }
    ok(backend.lock(&info), "child taking the lock");
    // On its own line: the test harness has printed `test lock_holder_child ... ` without one.
    println!("\n{CHILD_READY}");
    std::io::stdout().flush().expect("flushing stdout");
    // Hold the lock until the parent closes stdin, or give up after a while so that a parent that
    // failed to see the line above cannot leave two processes waiting on each other for ever.
    let (closed, wait) = mpsc::channel();
    thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut rest);
        let _ = closed.send(());
    });
    if wait.recv_timeout(Duration::from_secs(120)).is_err() {
        panic!("the parent test did not close stdin within 120 s");
    }
    // Returning drops the backend, which releases the lock.
}

/// A child process holding the lock on `path`. Dropping it kills the child, so a failing test
/// leaves no process behind.
struct Holder {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Holder {
    /// A child that records the host `build-01`, which is not this one.
    fn spawn(path: &Path) -> Holder {
        Holder::spawn_as(path, false)
    }

    /// A child that records this host, as a real dtm does.
    fn spawn_here(path: &Path) -> Holder {
        Holder::spawn_as(path, true)
    }

    fn spawn_as(path: &Path, this_host: bool) -> Holder {
        let exe = std::env::current_exe().expect("locating the test binary");
        let mut command = Command::new(exe);
        if this_host {
            command.env(CHILD_THIS_HOST_VAR, "1");
        }
        let mut child = command
            .args([
                "local::lock_holder_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_STATE_VAR, path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the lock holder child");
        let stdout = child.stdout.take().expect("child stdout is piped");
        let mut holder = Holder {
            child,
            stdout: BufReader::new(stdout),
        };
        let mut line = String::new();
        loop {
            line.clear();
            let read = holder
                .stdout
                .read_line(&mut line)
                .expect("reading child stdout");
            if read == 0 {
                let output = holder.wait_for_exit();
                panic!("the child did not take the lock: {output}");
            }
            if line.trim_end() == CHILD_READY {
                return holder;
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes the child's stdin, waits for it to exit and returns its status and output.
    fn wait_for_exit(&mut self) -> String {
        drop(self.child.stdin.take());
        let mut output = String::new();
        let _ = self.stdout.read_to_string(&mut output);
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut output);
        }
        let status = self.child.wait().expect("waiting for the child");
        format!("{status}: {output}")
    }

    /// Lets the child finish normally (it releases the lock) and checks it succeeded.
    fn finish(mut self) {
        let output = self.wait_for_exit();
        assert!(
            self.child
                .try_wait()
                .ok()
                .flatten()
                .is_some_and(|s| s.success()),
            "the child failed ({output})"
        );
    }

    /// Kills the child with SIGKILL, so it cannot clean up, and returns its pid.
    fn kill(mut self) -> u32 {
        self.child.kill().expect("killing the child");
        self.child.wait().expect("waiting for the killed child");
        self.pid()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        // Both are no-ops once the child was waited for.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn lock_contention_between_processes() {
    let dir = temp_dir();
    let path = state_path(&dir);
    let holder = Holder::spawn(&path);
    let child_pid = holder.pid();

    let backend = LocalBackend::new(path.clone());
    match backend.lock(&sample_lock("parent")) {
        Err(BackendError::Locked { holder: info, .. }) => {
            assert_eq!(info.id, "child-lock");
            assert_eq!(info.pid, child_pid);
            assert_eq!(
                (
                    info.who.as_str(),
                    info.host.as_str(),
                    info.operation.as_str()
                ),
                ("alice", "build-01", "apply")
            );
        }
        other => panic!("expected Locked by the child, got {}", describe(&other)),
    }

    // The child ends normally: dropping its backend releases the lock.
    holder.finish();
    assert!(ok(backend.lock_info(), "lock_info").is_none());
    ok(
        backend.lock(&sample_lock("parent")),
        "locking after the child ended",
    );
}

#[test]
fn lock_of_a_killed_process_is_reported_stale_until_unlocked() {
    let dir = temp_dir();
    let path = state_path(&dir);
    let child_pid = Holder::spawn(&path).kill();

    let backend = LocalBackend::new(path.clone());
    let error = match backend.lock(&sample_lock("parent")) {
        Err(BackendError::StaleLock {
            holder,
            location,
            reason,
        }) => {
            assert_eq!(holder.id, "child-lock");
            assert_eq!(holder.pid, child_pid);
            assert_eq!(holder.operation, "apply");
            assert_eq!(location, backend.location());
            BackendError::StaleLock {
                holder,
                location,
                reason,
            }
            .to_string()
        }
        other => panic!("expected StaleLock, got {}", describe(&other)),
    };
    assert!(
        error.contains("no longer running") && error.contains("dtm state unlock child-lock"),
        "{error}"
    );
    // A stale lock is not broken automatically.
    assert!(matches!(
        backend.lock(&sample_lock("parent")),
        Err(BackendError::StaleLock { .. })
    ));

    match backend.unlock("wrong-id") {
        Err(BackendError::LockMismatch { current, .. }) => {
            assert!(current.contains("child-lock"), "{current}")
        }
        other => panic!("expected LockMismatch, got {}", describe(&other)),
    }
    ok(backend.unlock("child-lock"), "releasing the stale lock");
    ok(
        backend.lock(&sample_lock("parent")),
        "locking after release",
    );
    let info = ok(backend.lock_info(), "lock_info").map(|i| i.id);
    assert_eq!(info.as_deref(), Some("parent"));
}

#[test]
fn the_lock_of_a_killed_process_on_this_host_is_taken_over() {
    let dir = temp_dir();
    let path = state_path(&dir);
    let child_pid = Holder::spawn_here(&path).kill();

    let backend = LocalBackend::new(path.clone());
    let taken = ok(
        backend.lock(&sample_lock("parent")),
        "locking over a dead holder",
    )
    .expect("the dead holder's lock is reported as taken over");
    assert_eq!(taken.holder.id, "child-lock");
    assert_eq!(taken.holder.pid, child_pid);
    assert!(
        taken
            .reason
            .contains(&format!("process {child_pid} on this host"))
            && taken.reason.contains("is gone"),
        "{}",
        taken.reason
    );
    let said = taken.to_string();
    assert!(
        said.contains("took over the lock left by alice@") && said.contains("lock id child-lock"),
        "{said}"
    );
    assert_eq!(
        ok(backend.lock_info(), "lock_info")
            .map(|i| i.id)
            .as_deref(),
        Some("parent")
    );
    // And it is a lock like any other: a second taker is refused while this one lives.
    match LocalBackend::new(path.clone()).lock(&sample_lock("third")) {
        Err(BackendError::Locked { holder, .. }) => assert_eq!(holder.id, "parent"),
        other => panic!(
            "expected Locked by the new holder, got {}",
            describe(&other)
        ),
    }
    ok(backend.unlock("parent"), "unlocking");
}

#[test]
fn a_live_holder_on_this_host_still_blocks() {
    let dir = temp_dir();
    let path = state_path(&dir);
    let holder = Holder::spawn_here(&path);
    match LocalBackend::new(path.clone()).lock(&sample_lock("parent")) {
        Err(BackendError::Locked { holder: info, .. }) => {
            assert_eq!(info.id, "child-lock");
            assert_eq!(info.host, dtm_backends::host_name());
        }
        other => panic!(
            "expected Locked by the live child, got {}",
            describe(&other)
        ),
    }
    holder.finish();
}

/// Writes a lock file by hand (no process holds its OS lock) for a holder on this host.
fn write_lock_here(backend: &LocalBackend, id: &str, pid: u32) {
    let mut info = sample_lock(id);
    info.host = dtm_backends::host_name();
    info.pid = pid;
    let dir = backend.lock_path().parent().map(Path::to_path_buf);
    fs::create_dir_all(dir.expect("a directory")).expect("creating the directory");
    let text = serde_json::to_string(&info).expect("encoding");
    fs::write(backend.lock_path(), text).expect("writing the lock file");
}

#[test]
fn a_released_lock_whose_pid_still_runs_is_not_taken_over() {
    let dir = temp_dir();
    let backend = LocalBackend::new(state_path(&dir));
    // Pid 1 always runs: the pid may have been reused, so nothing is proven.
    write_lock_here(&backend, "reused", 1);
    match backend.lock(&sample_lock("parent")) {
        Err(BackendError::StaleLock { holder, reason, .. }) => {
            assert_eq!(holder.id, "reused");
            assert!(reason.contains("(1) still runs on this host"), "{reason}");
        }
        other => panic!("expected StaleLock, got {}", describe(&other)),
    }
    ok(backend.unlock("reused"), "releasing by hand");
}

#[cfg(target_os = "linux")]
#[test]
fn a_holder_that_was_killed_but_not_yet_reaped_is_gone() {
    let dir = temp_dir();
    let backend = LocalBackend::new(state_path(&dir));
    // A child that ended and that nobody waited for yet: a zombie, whose pid still answers.
    let mut child = Command::new("true").spawn().expect("starting `true`");
    let pid = child.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    }) {
        assert!(std::time::Instant::now() < deadline, "`true` did not end");
        thread::sleep(Duration::from_millis(10));
    }
    write_lock_here(&backend, "zombie", pid);
    let taken = ok(backend.lock(&sample_lock("parent")), "locking").expect("taken over");
    assert_eq!(taken.holder.pid, pid);
    child.wait().expect("reaping");
    ok(backend.unlock("parent"), "unlocking");
}

#[test]
fn a_lock_recorded_with_this_process_id_is_from_an_earlier_process() {
    // In a container, a restarted dtm often gets the pid its killed predecessor had.
    let dir = temp_dir();
    let backend = LocalBackend::new(state_path(&dir));
    write_lock_here(&backend, "predecessor", std::process::id());
    let taken = ok(backend.lock(&sample_lock("parent")), "locking").expect("taken over");
    assert_eq!(taken.holder.id, "predecessor");
    ok(backend.unlock("parent"), "unlocking");
}

// --- paths that cannot work ----------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn unreadable_directory_gives_an_io_error_naming_the_path() {
    use std::os::unix::fs::PermissionsExt;

    let dir = temp_dir();
    let locked_dir = dir.path().join("private");
    fs::create_dir(&locked_dir).expect("creating the directory");
    let path = locked_dir.join("devstream.state");
    fs::write(&path, b"state").expect("writing state");
    fs::set_permissions(&locked_dir, fs::Permissions::from_mode(0o000)).expect("chmod 000");
    if fs::read_dir(&locked_dir).is_ok() {
        // Root (or a capability) bypasses file modes: there is nothing to test.
        fs::set_permissions(&locked_dir, fs::Permissions::from_mode(0o700)).expect("chmod back");
        eprintln!("skipped: file permissions are not enforced for this user");
        return;
    }
    let backend = LocalBackend::new(path.clone());
    let results = [
        ("read", backend.read().map(|_| ())),
        ("write", backend.write(b"new", None).map(|_| ())),
        ("lock", backend.lock(&sample_lock("x")).map(|_| ())),
    ];
    fs::set_permissions(&locked_dir, fs::Permissions::from_mode(0o700)).expect("chmod back");
    for (what, result) in results {
        match result {
            Err(error @ BackendError::Io { .. }) => {
                // What a user reads: the error and its source, as the reporter prints them.
                let source = std::error::Error::source(&error).map(ToString::to_string);
                let message = format!("{error}: {}", source.unwrap_or_default());
                assert!(
                    message.contains(&path.display().to_string())
                        && message.contains("ermission denied"),
                    "{what}: {message}"
                );
            }
            other => panic!("{what}: expected an Io error, got {}", describe(&other)),
        }
    }
}

#[test]
fn parent_that_is_a_file_gives_a_clear_io_error() {
    let dir = temp_dir();
    let not_a_dir = dir.path().join("config.yaml");
    fs::write(&not_a_dir, b"tools: []").expect("writing a file");
    let path = not_a_dir.join("devstream.state");
    let backend = LocalBackend::new(path.clone());

    match backend.read() {
        Err(error @ BackendError::Io { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains(&format!("reading {}", path.display())),
                "{message}"
            );
        }
        other => panic!("read: expected an Io error, got {}", describe(&other)),
    }
    let results = [
        ("write", backend.write(b"x", None).map(|_| ())),
        ("lock", backend.lock(&sample_lock("x")).map(|_| ())),
    ];
    for (what, result) in results {
        match result {
            Err(error @ BackendError::Io { .. }) => {
                let message = error.to_string();
                assert!(
                    message.contains(&format!(
                        "creating directory {} (it exists and is not a directory)",
                        not_a_dir.display()
                    )),
                    "{what}: {message}"
                );
            }
            other => panic!("{what}: expected an Io error, got {}", describe(&other)),
        }
    }
}

// --- options -------------------------------------------------------------------------------------

fn options(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not a map: {other}"),
    }
}

fn config_error(options: Map<String, Value>) -> String {
    match LocalBackend::from_options(&options, Path::new("/configs")) {
        Err(error @ BackendError::Config { .. }) => error.to_string(),
        Err(other) => panic!("expected a Config error, got {other}"),
        Ok(backend) => panic!("expected a Config error, got {}", backend.location()),
    }
}

#[test]
fn state_file_option_resolves_against_the_config_directory() {
    let config_dir = Path::new("/configs/team");
    let cases = [
        (json!({}), format!("/configs/team/{DEFAULT_STATE_FILE}")),
        (
            json!({"stateFile": null}),
            format!("/configs/team/{DEFAULT_STATE_FILE}"),
        ),
        (
            json!({"stateFile": ""}),
            format!("/configs/team/{DEFAULT_STATE_FILE}"),
        ),
        (
            json!({"stateFile": "prod.state"}),
            "/configs/team/prod.state".to_owned(),
        ),
        (
            json!({"stateFile": "../shared/x.state"}),
            "/configs/team/../shared/x.state".to_owned(),
        ),
        (
            json!({"stateFile": "/var/lib/dtm/state"}),
            "/var/lib/dtm/state".to_owned(),
        ),
    ];
    for (given, expected) in cases {
        let backend = match LocalBackend::from_options(&options(given.clone()), config_dir) {
            Ok(backend) => backend,
            Err(error) => panic!("{given}: {error}"),
        };
        assert_eq!(backend.path(), Path::new(&expected), "{given}");
        assert_eq!(backend.location(), format!("local file {expected}"));
    }
}

#[test]
fn unknown_or_mistyped_options_are_rejected() {
    let message = config_error(options(json!({"stateFile": "a", "bucket": "b"})));
    assert!(
        message.contains("unknown option `bucket`") && message.contains("`stateFile`"),
        "{message}"
    );
    assert!(message.starts_with("state backend `local`"), "{message}");

    let message = config_error(options(json!({"statefile": "a"})));
    assert!(message.contains("did you mean `stateFile`?"), "{message}");

    let message = config_error(options(json!({"stateFile": 3})));
    assert!(
        message.contains("`stateFile` must be a file path (a string), found a number"),
        "{message}"
    );
}
