//! Write a dtm plugin in safe Rust.
//!
//! A dtm plugin is a `cdylib` that speaks the plugin ABI v1 (`docs/plugin-abi.md`): four C
//! functions, JSON across the boundary. With this SDK you implement [`Plugin`] for a type, with
//! your options as a `serde` + `schemars` struct, and [`export_plugin!`] generates the C
//! functions. The SDK deserializes options (naming the offending path on error), publishes their
//! JSON Schema in the manifest, maps each request to a trait method, catches panics and manages
//! the buffers handed to the host. All unsafe code lives in the SDK; see "Unsafe code" below.
//!
//! # Example
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "dtm-plugin-greeting"   # the host looks for libdtm_plugin_greeting.so
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib", "rlib"]   # rlib only so that unit tests can link the crate
//!
//! [dependencies]
//! dtm-plugin-sdk = "0.1"
//! serde = { version = "1", features = ["derive"] }
//! serde_json = "1"
//! schemars = "1"
//! ```
//!
//! `src/lib.rs`:
//!
//! ```
//! #![forbid(unsafe_code)]
//! use dtm_plugin_sdk::prelude::*;
//! use serde_json::json;
//!
//! /// Options of a `greeting` tool.
//! #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! pub struct Options {
//!     /// Who to greet.
//!     pub name: String,
//!     /// Shout?
//!     #[serde(default)]
//!     pub loud: bool,
//! }
//!
//! /// A plugin whose "resource" is a greeting: a minimal, side-effect free example.
//! pub struct Greeting;
//!
//! fn greet(options: &Options) -> String {
//!     let text = format!("hello, {}", options.name);
//!     if options.loud { text.to_uppercase() } else { text }
//! }
//!
//! impl Plugin for Greeting {
//!     type Options = Options;
//!
//!     fn info() -> PluginInfo {
//!         PluginInfo::new("greeting", env!("CARGO_PKG_VERSION"), "Says hello")
//!             .output("text", "the greeting")
//!     }
//!
//!     fn validate(&self, _ctx: &Ctx, options: &Options) -> Result<(), Vec<Problem>> {
//!         if options.name.trim().is_empty() {
//!             return Err(vec![Problem { path: "/name".into(), message: "must not be empty".into() }]);
//!         }
//!         Ok(())
//!     }
//!
//!     fn create(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
//!         ctx.info(format!("greeting {}", req.options.name));
//!         let text = greet(&req.options);
//!         Ok(Done::new(json!({ "text": text })).output("text", text).into())
//!     }
//!
//!     fn read(&self, _ctx: &Ctx, req: &Req<Options>) -> Result<Option<Done>, PluginError> {
//!         // A real plugin asks the world; here the recorded status is the truth.
//!         Ok((!req.status.is_null()).then(|| Done::new(req.status.clone())))
//!     }
//!
//!     fn update(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
//!         self.create(ctx, req)
//!     }
//!
//!     fn delete(&self, _ctx: &Ctx, _req: &Req<Options>) -> Result<Step, PluginError> {
//!         Ok(Done::default().into())
//!     }
//! }
//!
//! dtm_plugin_sdk::export_plugin!(Greeting, Greeting);
//!
//! // Unit tests can skip the C boundary:
//! use dtm_plugin_sdk::testing::{TestHost, call, request};
//! let host = TestHost::new();
//! let req = request(Operation::Create, "greeting.default", json!({ "name": "dtm" }));
//! let response = call(&Greeting, &host, &req);
//! assert_eq!(
//!     response,
//!     Response::Done { status: json!({ "text": "hello, dtm" }), outputs: [("text".to_string(), json!("hello, dtm"))].into() }
//! );
//! ```
//!
//! Build with `cargo build --release` and point dtm at the directory holding the library
//! (`dtm apply --plugin-dir target/release -f dtm.yaml`); see `docs/plugin-authoring.md`.
//!
//! # What the SDK does for you
//!
//! - **Options**: null options read as `{}`. A deserialization error becomes, for `validate`, an
//!   `invalid` answer whose problem carries a JSON pointer (`/repo/name`) and, for the other
//!   operations, an `invalid_options` error naming the same path. Before `create` and `update`,
//!   [`Plugin::validate`] runs again, so those methods only see options that passed it.
//! - **Manifest**: name, version and outputs from [`Plugin::info`]; `options_schema` is generated
//!   from `Plugin::Options` with schemars (JSON Schema draft 2020-12); doc comments on fields
//!   become descriptions, `#[schemars(example = ...)]` becomes `examples` (what
//!   `dtm show config -p NAME` shows), and [`Plugin::options_example`], if any, the root's
//!   `examples`.
//! - **Panics** in any method (or in the constructor given to [`export_plugin!`]) become an error
//!   of kind `panic` carrying the message and location; they never unwind into the host, and the
//!   default "thread panicked" line is not printed for them.
//! - **Pending**: answer [`Step::Pending`] from a long create/update/delete; the host calls again
//!   (after the delay) with the same options and the data in [`Req::pending`], possibly from a
//!   later run of dtm.
//!
//! # Unsafe code
//!
//! All of the SDK's unsafe code is in one module (`ffi`, hidden from the docs), which the
//! macro's expansion calls. The expansion itself holds `#[unsafe(no_mangle)]` functions and
//! `unsafe` blocks, but rustc does not report `unsafe_code` for code expanded from another
//! crate's macro, so a plugin crate can (and should) keep `#![forbid(unsafe_code)]`. The macro
//! deliberately carries no `#[allow(unsafe_code)]`: under `forbid`, such an `allow` is a hard
//! error (E0453).
#![deny(missing_docs)]

mod ctx;
mod dispatch;
mod error;
mod step;
pub mod testing;

#[doc(hidden)]
#[allow(
    unsafe_code,
    reason = "the C boundary of ABI v1; every unsafe block has a SAFETY note"
)]
pub mod ffi;

pub use ctx::{Ctx, Detached, HostCallbacks, Level};
pub use dispatch::{dispatch, handle, manifest, parse_options};
pub use dtm_plugin_protocol as protocol;
pub use dtm_plugin_protocol::{ErrorKind, Operation, OutputSpec, PluginError, Problem, Response};
pub use error::ErrorExt;
pub use step::{Done, Pending, Req, Step};

/// Everything a plugin usually needs: `use dtm_plugin_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Ctx, Done, ErrorExt, ErrorKind, Operation, Pending, Plugin, PluginError, PluginInfo,
        Problem, Req, Response, Step,
    };
}

/// Name, version, description and outputs of a plugin: the manifest minus the options schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The name configs use (`tools[].name`): a lower-case DNS-1123 label. The library file is
    /// `libdtm_plugin_<name>.so` (with `-` as `_`), i.e. the crate is `dtm-plugin-<name>`.
    pub name: String,
    /// The plugin's semver version; use `env!("CARGO_PKG_VERSION")`.
    pub version: String,
    /// One line describing what the plugin manages.
    pub description: String,
    /// The outputs the plugin produces.
    pub outputs: Vec<OutputSpec>,
}

impl PluginInfo {
    /// Info with no outputs.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            outputs: Vec::new(),
        }
    }

    /// Declares one output.
    pub fn output(mut self, name: impl Into<String>, description: impl Into<String>) -> Self {
        self.outputs.push(OutputSpec {
            name: name.into(),
            description: description.into(),
        });
        self
    }
}

/// A dtm plugin: one kind of resource, managed through create, read, update and delete.
///
/// The host may call one plugin value concurrently from several threads, for different tool
/// instances; hence `Send + Sync`. Keep per-instance state in the resource itself, or in the
/// status the host records, not in the plugin value.
pub trait Plugin: Send + Sync + 'static {
    /// The tool's `options`, deserialized with serde; its JSON Schema goes in the manifest.
    type Options: serde::de::DeserializeOwned + schemars::JsonSchema;

    /// Name, version, description and outputs.
    fn info() -> PluginInfo;

    /// A sample `options` value for `dtm show config -p NAME`, published as the options
    /// schema's `examples`. Where it is given, it alone decides which keys the sample shows
    /// uncommented (those it names; the rest are shown commented out), so it must be valid
    /// options. Most plugins do not need it: `#[schemars(example = ...)]` on a field makes that
    /// field's sample value, and shows it uncommented. It is for when one options type serves
    /// several plugins that want different samples. The default is `None`.
    fn options_example() -> Option<serde_json::Value> {
        None
    }

    /// Checks options beyond what their type enforces, without side effects. Each problem's
    /// `path` is a JSON pointer into the options (`""` for the whole). An empty `Err` counts as
    /// valid. The default accepts everything that deserializes.
    fn validate(&self, ctx: &Ctx<'_>, options: &Self::Options) -> Result<(), Vec<Problem>> {
        let _ = (ctx, options);
        Ok(())
    }

    /// Checks a whole request's options, for plugins whose rules depend on more than the
    /// options: the instance (`name.instanceID`) or the config's directory. Called for
    /// `validate` and before `create` and `update`, like [`Plugin::validate`]; the default
    /// calls [`Plugin::validate`]. Must not have side effects either: `dtm plan` calls it.
    fn validate_request(
        &self,
        ctx: &Ctx<'_>,
        req: &Req<Self::Options>,
    ) -> Result<(), Vec<Problem>> {
        self.validate(ctx, &req.options)
    }

    /// Creates the resource. Should succeed if the resource already exists as described.
    fn create(&self, ctx: &Ctx<'_>, req: &Req<Self::Options>) -> Result<Step, PluginError>;

    /// Reports the live status of the resource, or `None` if it does not exist. The engine
    /// compares this status with the recorded one to detect drift, so report what `create` and
    /// `update` record, and nothing that changes by itself (timestamps).
    fn read(&self, ctx: &Ctx<'_>, req: &Req<Self::Options>) -> Result<Option<Done>, PluginError>;

    /// Brings the existing resource in line with the options.
    fn update(&self, ctx: &Ctx<'_>, req: &Req<Self::Options>) -> Result<Step, PluginError>;

    /// Removes the resource. Must succeed when the resource is already gone.
    fn delete(&self, ctx: &Ctx<'_>, req: &Req<Self::Options>) -> Result<Step, PluginError>;
}

/// Exports a [`Plugin`] from a `cdylib`: generates the four C functions of ABI v1
/// (`dtm_plugin_abi_version`, `dtm_plugin_manifest`, `dtm_plugin_call`, `dtm_plugin_free`).
///
/// The first argument is the plugin type, the second an expression building the plugin value;
/// it is evaluated once, on the first call (a panic in it is reported like any other). Use the
/// macro once per crate, at the crate root or in any module.
///
/// ```ignore
/// dtm_plugin_sdk::export_plugin!(FilePlugin, FilePlugin::default());
/// ```
///
/// The expansion contains `#[unsafe(no_mangle)]` functions and `unsafe` calls into the SDK.
/// Lints are not reported for code expanded from another crate's macro, so the plugin crate can
/// keep `#![forbid(unsafe_code)]`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty, $constructor:expr $(,)?) => {
        const _: () = {
            static PLUGIN: ::std::sync::OnceLock<$plugin> = ::std::sync::OnceLock::new();

            fn plugin() -> &'static $plugin {
                PLUGIN.get_or_init(|| $constructor)
            }

            /// The packed plugin ABI version (ABI v1).
            #[unsafe(no_mangle)]
            pub extern "C" fn dtm_plugin_abi_version() -> u32 {
                $crate::ffi::abi_version()
            }

            /// Writes the manifest JSON to `out` (ABI v1).
            ///
            /// # Safety
            ///
            /// See `docs/plugin-abi.md`.
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn dtm_plugin_manifest(
                out: *mut $crate::protocol::DtmBuffer,
            ) -> i32 {
                // SAFETY: the host upholds ABI v1, which is `ffi::manifest`'s contract.
                unsafe { $crate::ffi::manifest::<$plugin>(out) }
            }

            /// Answers one JSON request (ABI v1).
            ///
            /// # Safety
            ///
            /// See `docs/plugin-abi.md`.
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn dtm_plugin_call(
                host: *const $crate::protocol::DtmHost,
                request: *const u8,
                len: usize,
                out: *mut $crate::protocol::DtmBuffer,
            ) -> i32 {
                // SAFETY: the host upholds ABI v1, which is `ffi::call`'s contract.
                unsafe { $crate::ffi::call::<$plugin>(plugin, host, request, len, out) }
            }

            /// Frees a buffer returned by the functions above (ABI v1).
            ///
            /// # Safety
            ///
            /// See `docs/plugin-abi.md`.
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn dtm_plugin_free(ptr: *mut u8, len: usize, cap: usize) {
                // SAFETY: the host upholds ABI v1, which is `ffi::free`'s contract.
                unsafe { $crate::ffi::free(ptr, len, cap) }
            }
        };
    };
}

#[cfg(test)]
mod tests;
