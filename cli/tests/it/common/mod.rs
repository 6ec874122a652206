//! Shared helpers: a temp directory with a config, and the real `dtm` binary pointed at it.
//! Plugins are the real libraries cargo built next to the binary (`cargo build --workspace`).
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "helpers shared by test binaries that each use some of them; tests fail loudly"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "tests find their servers through the environment the test runner sets"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub(crate) struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub(crate) fn new() -> Self {
        let s = Sandbox {
            dir: tempfile::tempdir().unwrap(),
        };
        assert!(
            plugin_lib("file").exists(),
            "plugin libraries are missing next to the dtm binary: run `cargo build --workspace` first"
        );
        s
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub(crate) fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// `dtm ARGS` with the sandbox as working directory and an isolated dtm home.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dtm"));
        c.args(args)
            .current_dir(self.dir.path())
            .env("DTM_HOME", self.dir.path().join(".dtm-home"))
            .env("NO_COLOR", "1")
            .env_remove("DTM_PLUGIN_DIR")
            .env_remove("DTM_CONFIG")
            // Help is wrapped to `COLUMNS` when set: the snapshots take clap's default width.
            .env_remove("COLUMNS")
            .stdin(std::process::Stdio::null());
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        Run(self.cmd(args).output().unwrap())
    }

    pub(crate) fn state(&self) -> serde_json::Value {
        serde_json::from_str(&self.read("devstream.state")).unwrap()
    }
}

/// What a user reads from one run (exit code, stdout, stderr) with what changes from run to run
/// filtered out, as uv's `uv_snapshot!` does: this sandbox's path, durations, timestamps and
/// ids. Compare it with [`dtm_snapshot!`].
pub(crate) fn user_text(sandbox: &Sandbox, run: &Run) -> String {
    let text = format!(
        "exit code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
        run.code(),
        run.stdout(),
        run.stderr()
    );
    let mut text = text;
    let dir = sandbox.dir.path();
    for path in [dir.canonicalize().ok(), Some(dir.to_path_buf())]
        .into_iter()
        .flatten()
    {
        text = text.replace(&path.display().to_string(), "[TEMP]");
    }
    text
}

/// Filters for the parts of [`user_text`] that differ between runs: durations (`0.1s`, `12ms`),
/// RFC 3339 timestamps, lock and lineage ids (hex), process ids.
pub(crate) const SNAPSHOT_FILTERS: &[(&str, &str)] = &[
    (
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
        "[TIMESTAMP]",
    ),
    (r"\b\d+(\.\d+)?(ms|s)\b", "[TIME]"),
    (r"\b[0-9a-f]{16,}\b", "[ID]"),
    (r"pid \d+", "pid [PID]"),
];

/// Snapshots what `dtm ARGS` prints in `sandbox` (see [`user_text`]), after checking the exit
/// code: `dtm_snapshot!(sandbox, ["plan"], 0)`.
macro_rules! dtm_snapshot {
    ($sandbox:expr, $args:expr, $code:expr) => {{
        let run = $sandbox.run(&$args).expect($code);
        let text = $crate::common::user_text(&$sandbox, &run);
        insta::with_settings!({
            filters => $crate::common::SNAPSHOT_FILTERS.iter().copied(),
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!(text);
        });
        run
    }};
}
pub(crate) use dtm_snapshot;

pub(crate) struct Run(pub Output);

impl Run {
    pub(crate) fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    pub(crate) fn all(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        )
    }
    #[track_caller]
    pub(crate) fn expect(self, code: i32) -> Self {
        assert_eq!(self.code(), code, "unexpected exit code\n{}", self.all());
        self
    }
}

/// Directory of the dtm binary, where cargo put the plugin libraries.
pub(crate) fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_dtm"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub(crate) fn plugin_lib(name: &str) -> PathBuf {
    target_dir().join(format!("libdtm_plugin_{}.so", name.replace('-', "_")))
}

/// Spawns `dtm ARGS` in the sandbox and returns it once a line of its stdout contains `marker`,
/// with a receiver for the rest of its stdout.
pub(crate) fn spawn_until(
    s: &Sandbox,
    args: &[&str],
    marker: &str,
) -> (Child, mpsc::Receiver<String>) {
    let mut child = s
        .cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let hit = line.contains(marker);
                seen.push(line);
                if hit {
                    return (child, rx);
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("never saw {marker:?}; output so far:\n{}", seen.join("\n"))
            }
        }
    }
}

/// The value of a test-server variable set by scripts/test-servers.sh; `None` (test skipped)
/// only when it is unset and DTM_TEST_SKIP_SERVERS=1, a panic saying what to run otherwise.
pub(crate) fn server_var(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var("DTM_TEST_SKIP_SERVERS").as_deref() == Ok("1") => {
            eprintln!("skipped: {name} is not set and DTM_TEST_SKIP_SERVERS=1");
            None
        }
        _ => panic!(
            "{name} is not set: start the test servers with `scripts/test-servers.sh start && \
             eval \"$(scripts/test-servers.sh env)\"` (or run scripts/test.sh), or set \
             DTM_TEST_SKIP_SERVERS=1 to skip the tests that need them"
        ),
    }
}

/// A name no other test run uses: `PREFIX-<nanos>`.
pub(crate) fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{:x}-{:x}",
        nanos % 0xffff_ffff,
        std::process::id()
    )
}
