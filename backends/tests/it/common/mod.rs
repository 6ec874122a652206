//! Shared by the remote backends' tests: finding the test servers, and a child process that holds
//! a lock (two processes contending, a holder that is killed).
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "helpers shared by test binaries that each use some of them; tests fail loudly"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "tests find their servers through the environment the test runner sets"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dtm_backends::conformance::{LockHolder, ok};
use dtm_backends::{Backend, LockInfo};
use serde_json::{Map, Value};

/// The value of a test server variable. Without it the test fails, saying how to start the
/// servers, unless DTM_TEST_SKIP_SERVERS=1 (then `None`: the caller returns early).
pub(crate) fn server_var(name: &str, what: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var("DTM_TEST_SKIP_SERVERS").as_deref() == Ok("1") => {
            eprintln!("skipped: {name} is not set and DTM_TEST_SKIP_SERVERS=1");
            None
        }
        _ => panic!(
            "{name} is not set: this test needs {what}. Start the test servers with \
             `scripts/test-servers.sh start && eval \"$(scripts/test-servers.sh env)\"` (or run \
             scripts/test.sh, which does it), or set DTM_TEST_SKIP_SERVERS=1 to skip the tests \
             that need them"
        ),
    }
}

/// A name unique to this test process and call: lower-case letters, digits and `-`.
pub(crate) fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{:x}-{:x}-{}",
        nanos % 0xffff_ffff,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) fn options(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not a map: {other}"),
    }
}

const OPTIONS_VAR: &str = "DTM_TEST_HOLDER_OPTIONS";
const INFO_VAR: &str = "DTM_TEST_HOLDER_INFO";
const READY: &str = "dtm-test: lock taken";

/// The body of each test binary's `lock_holder_child` helper test: opens the backend from the
/// options in the environment, takes the lock, says so and holds it until stdin is closed.
pub(crate) fn run_holder_child(open: impl Fn(&Map<String, Value>) -> Box<dyn Backend>) {
    let (Ok(options_json), Ok(info_json)) = (std::env::var(OPTIONS_VAR), std::env::var(INFO_VAR))
    else {
        eprintln!("{OPTIONS_VAR} is not set; this helper only runs as a child process");
        return;
    };
    let options: Map<String, Value> = serde_json::from_str(&options_json).unwrap();
    let info: LockInfo = serde_json::from_str(&info_json).unwrap();
    let backend = open(&options);
    ok(backend.lock(&info), "child taking the lock");
    println!("\n{READY}");
    std::io::stdout().flush().unwrap();
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

/// A child process (this test binary running one module's `lock_holder_child`) holding a lock.
pub(crate) struct Holder {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Holder {
    /// Runs `child_test` (`s3::lock_holder_child`), which opens its backend with `options`.
    pub(crate) fn spawn(child_test: &str, options: &Map<String, Value>, info: &LockInfo) -> Holder {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args([
                child_test,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(OPTIONS_VAR, serde_json::to_string(options).unwrap())
            .env(INFO_VAR, serde_json::to_string(info).unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut holder = Holder {
            child,
            stdout: BufReader::new(stdout),
        };
        let mut line = String::new();
        loop {
            line.clear();
            if holder.stdout.read_line(&mut line).unwrap() == 0 {
                let output = holder.wait_for_exit();
                panic!("the child did not take the lock: {output}");
            }
            if line.trim_end() == READY {
                return holder;
            }
        }
    }

    fn wait_for_exit(&mut self) -> String {
        drop(self.child.stdin.take());
        let mut output = String::new();
        let _ = self.stdout.read_to_string(&mut output);
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut output);
        }
        let status = self.child.wait().unwrap();
        format!("{status}: {output}")
    }
}

impl LockHolder for Holder {
    fn finish(mut self: Box<Self>) {
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

    fn kill(mut self: Box<Self>) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where one conformance test runs: the backend's options, the options of a lock-holding child
/// for the stale-lock scenario, and how soon that backend reports a lock stale.
pub(crate) struct Fixture {
    /// Options of the backend under test.
    pub(crate) options: Map<String, Value>,
    /// Options of the child holding a lock that goes stale (a short lease where there is one).
    pub(crate) stale_holder_options: Map<String, Value>,
    /// How long until a dead holder's lock is reported stale.
    pub(crate) stale_after: Duration,
    /// Whatever must outlive the test (a temporary directory).
    pub(crate) _keep: Option<tempfile::TempDir>,
}

/// The scenarios of `dtm_backends::conformance` as tests of the module that invokes it, one list
/// for every backend: `conformance_suite!(setup, open, "s3::lock_holder_child", large_document)`.
/// `setup(name)` gives the test's [`Fixture`], or None to skip (its server is not configured);
/// `open(options)` opens the backend; the child test holds locks for the cross-process scenarios.
macro_rules! conformance_suite {
    ($setup:path, $open:path, $child:expr, $large:expr) => {
        fn conformance_run(
            name: &str,
            scenario: impl FnOnce(
                dtm_backends::conformance::Open<'_>,
                &$crate::common::Fixture,
            ),
        ) {
            let Some(fixture) = $setup(name) else { return };
            let options = fixture.options.clone();
            let open = move || $open(&options);
            scenario(&open, &fixture);
        }

        #[test]
        fn conformance_read_of_nothing_is_none() {
            conformance_run("conformance_read_of_nothing_is_none", |open, _| {
                dtm_backends::conformance::read_of_nothing_is_none(open)
            });
        }

        #[test]
        fn conformance_read_your_writes() {
            conformance_run("conformance_read_your_writes", |open, _| {
                dtm_backends::conformance::read_your_writes(open)
            });
        }

        #[test]
        fn conformance_compare_and_swap_conflict() {
            conformance_run("conformance_compare_and_swap_conflict", |open, _| {
                dtm_backends::conformance::compare_and_swap_conflict(open)
            });
        }

        #[test]
        fn conformance_write_expecting_nothing_conflicts() {
            conformance_run("conformance_write_expecting_nothing_conflicts", |open, _| {
                dtm_backends::conformance::write_expecting_nothing_conflicts(open)
            });
        }

        #[test]
        fn conformance_concurrent_writers_one_wins() {
            conformance_run("conformance_concurrent_writers_one_wins", |open, _| {
                dtm_backends::conformance::concurrent_writers_one_wins(open, 16)
            });
        }

        #[test]
        fn conformance_lock_contention() {
            conformance_run("conformance_lock_contention", |open, _| {
                dtm_backends::conformance::lock_contention(open)
            });
        }

        #[test]
        fn conformance_lock_race_16() {
            conformance_run("conformance_lock_race_16", |open, _| {
                dtm_backends::conformance::lock_race(open, 16)
            });
        }

        #[test]
        fn conformance_unlock_checks_id() {
            conformance_run("conformance_unlock_checks_id", |open, _| {
                dtm_backends::conformance::unlock_checks_id(open)
            });
        }

        #[test]
        fn conformance_large_document() {
            conformance_run("conformance_large_document", |open, _| {
                dtm_backends::conformance::large_document(open, $large)
            });
        }

        #[test]
        fn conformance_lock_contention_between_processes() {
            conformance_run("processes", |open, fixture| {
                let spawn = |info: &dtm_backends::LockInfo| -> Box<dyn dtm_backends::conformance::LockHolder> {
                    Box::new($crate::common::Holder::spawn($child, &fixture.options, info))
                };
                dtm_backends::conformance::lock_contention_between_processes(open, &spawn);
            });
        }

        #[test]
        fn conformance_stale_lock_reported_then_unlocked() {
            conformance_run("stale", |open, fixture| {
                let spawn = |info: &dtm_backends::LockInfo| -> Box<dyn dtm_backends::conformance::LockHolder> {
                    Box::new($crate::common::Holder::spawn(
                        $child,
                        &fixture.stale_holder_options,
                        info,
                    ))
                };
                dtm_backends::conformance::stale_lock_reported_then_unlocked(
                    open,
                    &spawn,
                    fixture.stale_after,
                );
            });
        }
    };
}
pub(crate) use conformance_suite;
