//! From request JSON to the [`Plugin`] methods and back, with panics caught. No unsafe code:
//! the C boundary is in `ffi`, which calls [`handle`] and [`manifest_json`].

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Once;

use dtm_plugin_protocol::{
    ABI_MAJOR, ABI_VERSION, ErrorKind, Manifest, Operation, PluginError, Problem, Request,
    Response, unpack_abi_version,
};
use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::error::ErrorExt;
use crate::{Ctx, Plugin, Req};

/// The manifest of plugin `P`: [`Plugin::info`] plus the JSON Schema (draft 2020-12) of
/// `P::Options`, with [`Plugin::options_example`] as the root's `examples`.
pub fn manifest<P: Plugin>() -> Manifest {
    let info = P::info();
    let mut schema = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<P::Options>();
    if let Some(example) = P::options_example() {
        schema.insert("examples".into(), Value::Array(vec![example]));
    }
    Manifest {
        name: info.name,
        version: info.version,
        abi_version: ABI_VERSION,
        description: info.description,
        options_schema: schema.to_value(),
        outputs: info.outputs,
    }
}

/// The manifest of `P` as JSON bytes, or a message if building it panicked.
pub(crate) fn manifest_json<P: Plugin>() -> Result<Vec<u8>, String> {
    let manifest = guarded(manifest::<P>).map_err(|msg| format!("building the manifest {msg}"))?;
    serde_json::to_vec(&manifest).map_err(|e| format!("serializing the manifest: {e}"))
}

/// Answers one request: parses `request` (JSON bytes), calls the matching [`Plugin`] method and
/// builds the response. Never panics: a panic in the plugin (or in `get_plugin`, which builds
/// the plugin value on first use) becomes an error of kind `panic`.
pub fn handle<'p, P: Plugin>(
    get_plugin: impl FnOnce() -> &'p P,
    ctx: &Ctx<'_>,
    request: &[u8],
) -> Response {
    let request: Request = match serde_json::from_slice(request) {
        Ok(r) => r,
        Err(e) => {
            return error(PluginError::internal(format!(
                "the host sent a malformed request (a dtm bug): {e}"
            )));
        }
    };
    let (major, minor) = unpack_abi_version(request.abi_version);
    if major != ABI_MAJOR {
        return error(PluginError::unsupported(format!(
            "the host speaks plugin ABI {major}.{minor}, this plugin speaks ABI {}.{}",
            ABI_MAJOR,
            dtm_plugin_protocol::ABI_MINOR
        )));
    }
    match guarded(|| dispatch(get_plugin(), ctx, request)) {
        Ok(response) => response,
        Err(msg) => error(PluginError::new(
            ErrorKind::Panic,
            format!("the plugin {msg}"),
        )),
    }
}

/// Calls the [`Plugin`] method for `request.operation`. Panics propagate; [`handle`] catches them.
pub fn dispatch<P: Plugin>(plugin: &P, ctx: &Ctx<'_>, request: Request) -> Response {
    let options = match parse_options::<P::Options>(&request.options) {
        Ok(o) => o,
        Err(problem) => {
            return if request.operation == Operation::Validate {
                Response::Invalid {
                    problems: vec![problem],
                }
            } else {
                error(PluginError::invalid_options(problem_text(&problem)))
            };
        }
    };
    let req = Req {
        operation: request.operation,
        instance: request.instance,
        options,
        status: request.status,
        outputs: request.outputs,
        pending: Some(request.pending).filter(|p| !p.is_null()),
        workdir: PathBuf::from(request.workdir),
    };
    let result = match req.operation {
        Operation::Validate => {
            return match plugin.validate_request(ctx, &req) {
                Err(problems) if !problems.is_empty() => Response::Invalid { problems },
                _ => Response::Done {
                    status: Value::Null,
                    outputs: Default::default(),
                },
            };
        }
        Operation::Create | Operation::Update => {
            if let Err(problems) = plugin.validate_request(ctx, &req)
                && !problems.is_empty()
            {
                let text: Vec<String> = problems.iter().map(problem_text).collect();
                return error(PluginError::invalid_options(text.join("; ")));
            }
            if req.operation == Operation::Create {
                plugin.create(ctx, &req).map(|s| s.into_response())
            } else {
                plugin.update(ctx, &req).map(|s| s.into_response())
            }
        }
        Operation::Read => plugin.read(ctx, &req).map(|done| match done {
            Some(done) => done.into_response(),
            None => Response::Absent,
        }),
        Operation::Delete => plugin.delete(ctx, &req).map(|s| s.into_response()),
    };
    result.unwrap_or_else(error)
}

/// Deserializes options, naming the offending path in the error. Null options (a tool without
/// an `options:` key) are read as an empty object.
pub fn parse_options<O: serde::de::DeserializeOwned>(options: &Value) -> Result<O, Problem> {
    let empty = Value::Object(Default::default());
    let value = if options.is_null() { &empty } else { options };
    serde_path_to_error::deserialize(value).map_err(|err| Problem {
        path: json_pointer(err.path()),
        message: err.inner().to_string(),
    })
}

fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        let token = match segment {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } => key.replace('~', "~0").replace('/', "~1"),
            Segment::Enum { variant } => variant.replace('~', "~0").replace('/', "~1"),
            Segment::Unknown => continue,
        };
        pointer.push('/');
        pointer.push_str(&token);
    }
    pointer
}

fn problem_text(problem: &Problem) -> String {
    if problem.path.is_empty() {
        format!("options: {}", problem.message)
    } else {
        format!("options at {}: {}", problem.path, problem.message)
    }
}

fn error(error: PluginError) -> Response {
    Response::Error { error }
}

thread_local! {
    /// Set while this thread runs a [`guarded`] closure: the panic hook stays quiet then.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    /// Where the last guarded panic on this thread happened.
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static QUIET_HOOK: Once = Once::new();

/// Installs (once) a panic hook that records where a guarded panic happened instead of printing
/// it: the message reaches the user in the `panic` error. Panics outside [`guarded`] (say, in a
/// thread the plugin spawned) go to the previous hook as usual. The hook belongs to the plugin's
/// own copy of the standard library, so the host's panic output is not affected.
fn install_quiet_hook() {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARDED.try_with(Cell::get).unwrap_or(false) {
                let location = info.location().map(|l| l.to_string());
                let _ = PANIC_LOCATION.try_with(|l| *l.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into `Err("panicked at FILE:LINE:COL: MESSAGE")`.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_hook();
    let was_guarded = GUARDED.with(|g| g.replace(true));
    // Unwind safety: after a panic, the closure's captures are only dropped, never observed.
    let result = panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = panic_message(payload.as_ref());
        // Dropping a payload may itself panic (a panicking Drop); keep that inside a guard too.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
        match PANIC_LOCATION.with(|l| l.borrow_mut().take()) {
            Some(location) => format!("panicked at {location}: {message}"),
            None => format!("panicked: {message}"),
        }
    });
    GUARDED.with(|g| g.set(was_guarded));
    result
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}
