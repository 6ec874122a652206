//! What the remote backends (S3, Kubernetes) share: the runtime that drives their async clients
//! behind the blocking [`crate::Backend`] trait, the lock record with its renewal time, the thread
//! that renews a held lock, and option parsing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{BackendError, LockInfo};

/// A single-threaded tokio runtime owned by one backend value. Every call of the blocking trait
/// runs `block_on` on it; the lock renewal thread does too (tokio lets several threads block on
/// one current-thread runtime: one drives I/O while the others wait for their futures).
pub(crate) fn runtime(backend: &str) -> Result<tokio::runtime::Runtime, BackendError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BackendError::Config {
            backend: backend.to_owned(),
            message: format!("cannot start the I/O runtime: {e}"),
        })
}

/// A lock as stored by the remote backends: the holder's [`LockInfo`] plus when the holder last
/// renewed it and how long a renewal stays valid. A lock not renewed for `duration_seconds` is
/// reported as stale (never taken over automatically).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LockRecord {
    #[serde(flatten)]
    pub info: LockInfo,
    /// RFC 3339 UTC time of the last renewal, by the holder's clock.
    pub renewed: String,
    /// How long after `renewed` the lock counts as abandoned.
    pub duration_seconds: u64,
}

impl LockRecord {
    pub(crate) fn new(info: &LockInfo, duration: Duration) -> LockRecord {
        LockRecord {
            info: info.clone(),
            renewed: now_rfc3339(),
            duration_seconds: duration.as_secs().max(1),
        }
    }

    /// `Some(reason)` if the holder has not renewed the lock within its duration.
    pub(crate) fn stale_reason(&self) -> Option<String> {
        let renewed = humantime::parse_rfc3339_weak(&self.renewed).ok()?;
        let age = SystemTime::now().duration_since(renewed).ok()?;
        (age > Duration::from_secs(self.duration_seconds)).then(|| {
            format!(
                "its holder last renewed it at {} ({} s ago; a running dtm renews it every {} s), \
                 so that run has most likely ended without releasing it",
                self.renewed,
                age.as_secs(),
                renew_interval(Duration::from_secs(self.duration_seconds)).as_secs()
            )
        })
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Only strings and integers: serialisation cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// How often a holder renews a lock of `duration`: three renewals fit in one duration, so a
/// holder must miss two in a row before anyone sees its lock as stale.
pub(crate) fn renew_interval(duration: Duration) -> Duration {
    (duration / 3).max(Duration::from_millis(300))
}

pub(crate) use crate::local::unknown_holder;

/// What a renewal reports.
pub(crate) enum Renewal {
    /// Renewed (or a transient failure: try again next time).
    Continue,
    /// The lock is no longer ours (released by `dtm state unlock`, taken by someone else).
    Lost,
}

/// A thread renewing a held lock until stopped. Dropping it stops the thread and waits for it.
#[derive(Debug)]
pub(crate) struct Renewer {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Renewer {
    pub(crate) fn start(
        interval: Duration,
        mut renew: impl FnMut() -> Renewal + Send + 'static,
    ) -> Renewer {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = thread::Builder::new()
            .name("dtm-lock-renewal".to_owned())
            .spawn(move || {
                loop {
                    match stopped.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => {}
                        // Stop asked, or the backend is gone.
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                    if let Renewal::Lost = renew() {
                        return;
                    }
                }
            })
            .ok();
        Renewer {
            stop: Some(stop),
            handle,
        }
    }
}

impl Drop for Renewer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(handle) = self.handle.take() {
            // A renewal in flight finishes first (bounded by the client's timeouts).
            let _ = handle.join();
        }
    }
}

/// An error and its sources, joined with `: ` (the clients keep the useful part in the sources),
/// skipping a source whose text is already included.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Now as RFC 3339 UTC with milliseconds.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// A value that differs between any two calls in this process, and very likely between
/// processes: for probe keys and write markers.
pub(crate) fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{:x}-{:x}-{:x}",
        nanos,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reads typed options from a backend's `state.options`, reporting unknown keys with the list of
/// known ones.
pub(crate) struct Options<'a> {
    backend: &'static str,
    map: &'a Map<String, Value>,
}

impl<'a> Options<'a> {
    pub(crate) fn new(
        backend: &'static str,
        map: &'a Map<String, Value>,
        known: &[&str],
    ) -> Result<Options<'a>, BackendError> {
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                let hint = known
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(key))
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                return Err(BackendError::Config {
                    backend: backend.to_owned(),
                    message: format!(
                        "unknown option `{key}`{hint}; known options: {}",
                        known
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        Ok(Options { backend, map })
    }

    pub(crate) fn error(&self, message: String) -> BackendError {
        BackendError::Config {
            backend: self.backend.to_owned(),
            message,
        }
    }

    /// A string option; absent, `null` and empty mean `None`.
    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, BackendError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.error(format!(
                "option `{key}` must be a string, found {}",
                json_type(other)
            ))),
        }
    }

    pub(crate) fn required(&self, key: &str, what: &str) -> Result<String, BackendError> {
        self.string(key)?
            .ok_or_else(|| self.error(format!("option `{key}` is required: {what}")))
    }

    /// A boolean option (`true`/`false`, also as the strings DevStream configs sometimes hold).
    pub(crate) fn bool(&self, key: &str) -> Result<bool, BackendError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "true" => Ok(true),
            Some(Value::String(s)) if s == "false" => Ok(false),
            Some(other) => Err(self.error(format!(
                "option `{key}` must be true or false, found {}",
                json_type(other)
            ))),
        }
    }

    /// A whole number of seconds within `range`.
    pub(crate) fn seconds(
        &self,
        key: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, BackendError> {
        let value = match self.map.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::Number(n)) => n.as_u64().unwrap_or(u64::MAX),
            Some(Value::String(s)) => s.parse::<u64>().unwrap_or(u64::MAX),
            Some(other) => {
                return Err(self.error(format!(
                    "option `{key}` must be a number of seconds, found {}",
                    json_type(other)
                )));
            }
        };
        if !range.contains(&value) {
            return Err(self.error(format!(
                "option `{key}` must be a whole number of seconds from {} to {}",
                range.start(),
                range.end()
            )));
        }
        Ok(Duration::from_secs(value))
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}
