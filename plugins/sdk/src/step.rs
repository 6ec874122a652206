//! What a plugin method receives ([`Req`]) and answers ([`Step`], [`Done`], [`Pending`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dtm_plugin_protocol::{Operation, Response};
use serde_json::Value;

/// A create, read, update or delete request with the options already deserialized.
#[derive(Debug, Clone)]
pub struct Req<O> {
    /// What is asked.
    pub operation: Operation,
    /// `name.instanceID` of the tool instance.
    pub instance: String,
    /// The tool's options, deserialized (variables and output references already resolved).
    pub options: O,
    /// Status recorded after the last successful step; `Value::Null` if there is none.
    pub status: Value,
    /// Outputs recorded after the last successful step.
    pub outputs: BTreeMap<String, Value>,
    /// Data from this plugin's previous [`Pending`] answer for the same operation; `None` on the
    /// first call. It may come from an earlier run of dtm, so it must be self-describing.
    pub pending: Option<Value>,
    /// Directory of the config file (empty if unknown), for options that hold relative paths.
    pub workdir: PathBuf,
}

impl<O> Req<O> {
    /// Resolves `path` against [`Req::workdir`] (absolute paths are returned unchanged).
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.workdir.join(path)
        }
    }
}

/// A finished step: the resource's status and its outputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Done {
    /// What `read` compares with the recorded status to detect drift.
    pub status: Value,
    /// Values other tools may reference as `${{ name.instanceID.outputs.KEY }}`.
    pub outputs: BTreeMap<String, Value>,
}

impl Done {
    /// A finished step with `status` and no outputs.
    pub fn new(status: Value) -> Self {
        Self {
            status,
            outputs: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) one output.
    pub fn output(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.outputs.insert(key.into(), value.into());
        self
    }
}

/// An unfinished step: the host calls the same operation again with `data` in [`Req::pending`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Opaque progress data, saved by the host in state and given back verbatim.
    pub data: Value,
    /// How long the host should wait before calling again.
    pub delay: Duration,
    /// What is being waited for, shown to the user.
    pub message: String,
}

impl Pending {
    /// A pending answer with `data`, no delay and no message.
    pub fn new(data: Value) -> Self {
        Self {
            data,
            delay: Duration::ZERO,
            message: String::new(),
        }
    }

    /// Sets the suggested delay before the next call.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets the message shown while waiting.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }
}

/// The answer of create, update and delete.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The step is complete (for delete, status and outputs are ignored).
    Done(Done),
    /// Not finished yet; call again later.
    Pending(Pending),
}

impl Step {
    /// A finished step with `status` and no outputs.
    pub fn done(status: Value) -> Self {
        Step::Done(Done::new(status))
    }

    /// The wire form of this answer.
    pub fn into_response(self) -> Response {
        match self {
            Step::Done(done) => done.into_response(),
            Step::Pending(p) => Response::Pending {
                pending: p.data,
                delay_ms: u64::try_from(p.delay.as_millis()).unwrap_or(u64::MAX),
                message: p.message,
            },
        }
    }
}

impl Done {
    /// The wire form of this answer.
    pub fn into_response(self) -> Response {
        Response::Done {
            status: self.status,
            outputs: self.outputs,
        }
    }
}

impl From<Done> for Step {
    fn from(done: Done) -> Self {
        Step::Done(done)
    }
}

impl From<Pending> for Step {
    fn from(pending: Pending) -> Self {
        Step::Pending(pending)
    }
}
