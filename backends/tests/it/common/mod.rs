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
