//! Helpers for unit-testing a plugin without building and loading its library.
//!
//! [`call`] goes through the same JSON decoding, dispatch and panic catching as a real call from
//! the host; only the C boundary is skipped.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use dtm_plugin_protocol::{ABI_VERSION, Operation, Request, Response};
use serde_json::Value;

use crate::ctx::{Ctx, HostCallbacks, Level};
use crate::{Plugin, dispatch};

/// A stand-in host that records log lines and progress reports and can be cancelled.
#[derive(Debug, Default)]
pub struct TestHost {
    logs: Mutex<Vec<(Level, String)>>,
    progress: Mutex<Vec<(Option<u8>, String)>>,
    cancelled: AtomicBool,
}

impl TestHost {
    /// A host with nothing recorded, not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on, `Ctx::is_cancelled` answers true.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// The log lines recorded so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The progress reports recorded so far.
    pub fn progress_reports(&self) -> Vec<(Option<u8>, String)> {
        self.progress.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl HostCallbacks for TestHost {
    fn log(&self, level: Level, message: &str) {
        if let Ok(mut logs) = self.logs.lock() {
            logs.push((level, message.to_string()));
        }
    }

    fn progress(&self, percent: Option<u8>, message: &str) {
        if let Ok(mut progress) = self.progress.lock() {
            progress.push((percent, message.to_string()));
        }
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// A request for `operation` on `instance` with `options`, as a host would send it on the
/// first call (no recorded status, outputs or pending data; empty workdir).
pub fn request(operation: Operation, instance: &str, options: Value) -> Request {
    Request {
        abi_version: ABI_VERSION,
        operation,
        instance: instance.to_string(),
        options,
        status: Value::Null,
        outputs: Default::default(),
        pending: Value::Null,
        workdir: String::new(),
    }
}

/// Sends `request` to `plugin` as JSON bytes, exactly as `dtm_plugin_call` would, and returns
/// the response (a panic becomes an error of kind `panic`).
pub fn call<P: Plugin>(plugin: &P, host: &TestHost, request: &Request) -> Response {
    let bytes = match serde_json::to_vec(request) {
        Ok(b) => b,
        Err(e) => {
            return Response::Error {
                error: crate::error::ErrorExt::internal(format!("test request: {e}")),
            };
        }
    };
    dispatch::handle(|| plugin, &Ctx::new(host), &bytes)
}
