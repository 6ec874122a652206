//! The dtm plugin ABI, version 1.
//!
//! A plugin is a dynamic library exporting four C functions (see [`symbols`]); everything else
//! crosses the boundary as UTF-8 JSON bytes whose shapes are the types in this crate. The
//! normative specification is `docs/plugin-abi.md`; this crate is its Rust rendering and does no
//! I/O. Both the host (in `dtm-engine`) and the SDK (`dtm-plugin-sdk`) depend on it, so the two
//! sides cannot drift apart.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::ffi::c_void;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Major version of the ABI. A host refuses a plugin whose major differs.
pub const ABI_MAJOR: u16 = 1;
/// Minor version of the ABI. Minors only add optional fields; a host accepts any minor.
pub const ABI_MINOR: u16 = 0;

/// The packed ABI version a plugin returns from `dtm_plugin_abi_version`: `major << 16 | minor`.
pub const fn pack_abi_version(major: u16, minor: u16) -> u32 {
    ((major as u32) << 16) | minor as u32
}

/// Splits a packed ABI version into `(major, minor)`.
pub const fn unpack_abi_version(v: u32) -> (u16, u16) {
    ((v >> 16) as u16, (v & 0xffff) as u16)
}

/// This crate's packed ABI version.
pub const ABI_VERSION: u32 = pack_abi_version(ABI_MAJOR, ABI_MINOR);

/// Names of the exported symbols (NUL-terminated, ready for `dlsym`).
pub mod symbols {
    /// `uint32_t dtm_plugin_abi_version(void)`: packed ABI version; touched before anything else.
    pub const ABI_VERSION: &[u8] = b"dtm_plugin_abi_version\0";
    /// `int32_t dtm_plugin_manifest(DtmBuffer *out)`: writes the manifest JSON.
    pub const MANIFEST: &[u8] = b"dtm_plugin_manifest\0";
    /// `int32_t dtm_plugin_call(const DtmHost *host, const uint8_t *req, size_t len, DtmBuffer *out)`.
    pub const CALL: &[u8] = b"dtm_plugin_call\0";
    /// `void dtm_plugin_free(uint8_t *ptr, size_t len, size_t cap)`: frees a buffer the plugin returned.
    pub const FREE: &[u8] = b"dtm_plugin_free\0";
}

/// Status codes returned by `dtm_plugin_manifest` and `dtm_plugin_call`.
pub mod status {
    /// `out` holds a JSON document (a manifest or a [`crate::Response`]).
    pub const OK: i32 = 0;
    /// The plugin could not produce JSON; `out` holds a UTF-8 message (possibly empty).
    pub const FAILED: i32 = 1;
}

/// Log levels passed to the host's `log` callback.
pub mod log_level {
    /// Detailed diagnostics.
    pub const DEBUG: u32 = 0;
    /// Normal progress information.
    pub const INFO: u32 = 1;
    /// Something the user should look at.
    pub const WARN: u32 = 2;
    /// An error the plugin will also report in its response.
    pub const ERROR: u32 = 3;
}

/// A byte buffer allocated by the plugin and handed to the host.
///
/// The host must give it back, unchanged, to `dtm_plugin_free`; `cap` is the plugin's own
/// bookkeeping (a Rust plugin stores its `Vec` capacity there).
#[repr(C)]
#[derive(Debug)]
pub struct DtmBuffer {
    /// Start of the bytes; may be null when `len` is 0.
    pub ptr: *mut u8,
    /// Number of valid bytes.
    pub len: usize,
    /// Allocation size, meaningful only to the plugin.
    pub cap: usize,
}

impl DtmBuffer {
    /// An empty buffer, the value the host initialises `out` with.
    pub const fn empty() -> Self {
        Self {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }
}

/// `void log(void *ctx, uint32_t level, const uint8_t *msg, size_t len)`
pub type LogFn = unsafe extern "C" fn(ctx: *mut c_void, level: u32, msg: *const u8, len: usize);
/// `void progress(void *ctx, int32_t percent, const uint8_t *msg, size_t len)`; percent -1 = unknown.
pub type ProgressFn =
    unsafe extern "C" fn(ctx: *mut c_void, percent: i32, msg: *const u8, len: usize);
/// `int32_t cancelled(void *ctx)`: non-zero once the host wants the call to stop early.
pub type CancelledFn = unsafe extern "C" fn(ctx: *mut c_void) -> i32;

/// Callbacks the host passes to every `dtm_plugin_call`.
///
/// Valid only for the duration of that call; the callbacks are thread-safe, so a plugin may call
/// them from threads it spawned, as long as it does so before `dtm_plugin_call` returns.
#[repr(C)]
#[derive(Debug)]
pub struct DtmHost {
    /// Packed ABI version the host speaks.
    pub abi_version: u32,
    /// Opaque host context; pass it back as the first argument of each callback.
    pub ctx: *mut c_void,
    /// Emit a log line.
    pub log: LogFn,
    /// Report progress of the current step.
    pub progress: ProgressFn,
    /// Ask whether the host wants the call to stop.
    pub cancelled: CancelledFn,
}

/// The operation a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Check options without side effects.
    Validate,
    /// Create the resource.
    Create,
    /// Report the live status of the resource, or that it is absent.
    Read,
    /// Bring an existing resource in line with the options.
    Update,
    /// Remove the resource.
    Delete,
}

impl Operation {
    /// The lower-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Validate => "validate",
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON document the host sends to `dtm_plugin_call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Packed ABI version of the host.
    pub abi_version: u32,
    /// What to do.
    pub operation: Operation,
    /// `name.instanceID` of the tool instance.
    pub instance: String,
    /// The tool's options, variables and output references already resolved.
    pub options: Value,
    /// Resource status recorded after the last successful step (null if none).
    #[serde(default)]
    pub status: Value,
    /// Outputs recorded after the last successful step (empty if none).
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
    /// Progress data from a previous `pending` answer for this same operation; null on the first call.
    #[serde(default)]
    pub pending: Value,
    /// Directory of the config file, for options holding relative paths.
    #[serde(default)]
    pub workdir: String,
}

/// The JSON document a plugin returns from `dtm_plugin_call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum Response {
    /// The step is complete. For `read`: the resource exists. For `validate`: options are valid.
    /// For `delete`: status and outputs are ignored.
    Done {
        /// The resource's status: what `read` compares to detect drift.
        #[serde(default)]
        status: Value,
        /// Values other tools may reference as `${{ name.instance.outputs.KEY }}`.
        #[serde(default)]
        outputs: BTreeMap<String, Value>,
    },
    /// Only for `read`: the resource does not exist.
    Absent,
    /// Only for `create`, `update`, `delete`: not finished yet; call again with `pending`.
    Pending {
        /// Opaque data passed back verbatim in the next request's `pending` field. The host saves
        /// it in state, so a later run can resume the step.
        pending: Value,
        /// Suggested wait before the next call, in milliseconds.
        #[serde(default)]
        delay_ms: u64,
        /// What is being waited for, shown to the user.
        #[serde(default)]
        message: String,
    },
    /// Only for `validate`: the options are not acceptable.
    Invalid {
        /// One entry per problem.
        problems: Vec<Problem>,
    },
    /// The step failed.
    Error {
        /// What went wrong.
        error: PluginError,
    },
}

/// One problem found by `validate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// JSON pointer into the options (`""` for the whole object), e.g. `/destinationRepo/name`.
    pub path: String,
    /// What is wrong and what is expected.
    pub message: String,
}

/// A typed error returned by a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginError {
    /// Category of the failure.
    pub kind: ErrorKind,
    /// Human-readable explanation, naming the thing that failed.
    pub message: String,
    /// Whether the same call may succeed if repeated later.
    #[serde(default)]
    pub retryable: bool,
}

/// Categories of plugin errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Options are wrong in a way `validate` could not see.
    InvalidOptions,
    /// Something the step needs does not exist.
    NotFound,
    /// The resource exists in a state the plugin will not overwrite.
    Conflict,
    /// Credentials are missing or insufficient.
    PermissionDenied,
    /// A service the plugin talks to is unreachable or failing.
    Unavailable,
    /// The plugin gave up waiting for something.
    Timeout,
    /// The host asked the plugin to stop.
    Cancelled,
    /// The operation is not supported by this plugin.
    Unsupported,
    /// The plugin panicked; the SDK caught it.
    Panic,
    /// Anything else.
    Internal,
}

impl ErrorKind {
    /// The snake_case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidOptions => "invalid_options",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Panic => "panic",
            ErrorKind::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON document returned by `dtm_plugin_manifest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Plugin name as used in configs (`tools[].name`): lower-case DNS-1123 label.
    pub name: String,
    /// Plugin version, semver.
    pub version: String,
    /// Packed ABI version; must equal what `dtm_plugin_abi_version` returned.
    pub abi_version: u32,
    /// A one-line description, shown by `dtm list plugins`.
    pub description: String,
    /// JSON Schema (draft 2020-12) of the tool's `options`.
    pub options_schema: Value,
    /// Outputs the plugin produces.
    #[serde(default)]
    pub outputs: Vec<OutputSpec>,
}

/// One output a plugin declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Key under `outputs`.
    pub name: String,
    /// What the value is.
    pub description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_version_packs_and_unpacks() {
        assert_eq!(unpack_abi_version(pack_abi_version(1, 7)), (1, 7));
        assert_eq!(ABI_VERSION, 0x0001_0000);
    }

    #[test]
    fn response_rejects_unknown_result() {
        let err = serde_json::from_str::<Response>(r#"{"result":"maybe"}"#).unwrap_err();
        assert!(err.to_string().contains("maybe"), "{err}");
    }
}
