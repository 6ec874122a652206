#![allow(clippy::unwrap_used, reason = "tests unwrap what cannot fail")]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::prelude::*;
use crate::testing::{TestHost, call, request};
use crate::{Level, manifest};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "`nested` is only deserialized, to test error paths"
)]
struct Options {
    /// The name.
    name: String,
    #[serde(default)]
    nested: Nested,
    #[serde(default)]
    steps: u32,
    #[serde(default)]
    panic_in: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "only deserialized, to test error paths")]
struct Nested {
    #[serde(default)]
    ports: Vec<u16>,
}

struct Echo;

impl Plugin for Echo {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new("echo", "1.2.3", "test plugin").output("name", "the name")
    }

    fn options_example() -> Option<Value> {
        Some(json!({ "name": "dtm" }))
    }

    fn validate(&self, _ctx: &Ctx, options: &Options) -> Result<(), Vec<Problem>> {
        if options.name == "bad" {
            return Err(vec![Problem {
                path: "/name".into(),
                message: "must not be bad".into(),
            }]);
        }
        Ok(())
    }

    fn create(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        if req.options.panic_in.as_deref() == Some("create") {
            panic!("boom in create for {}", req.instance);
        }
        ctx.info("creating");
        ctx.progress(Some(150), "half");
        let step = req
            .pending
            .as_ref()
            .and_then(|p| p["step"].as_u64())
            .unwrap_or(0);
        if step < u64::from(req.options.steps) {
            return Ok(Pending::new(json!({ "step": step + 1 }))
                .after(Duration::from_millis(1500))
                .message("waiting")
                .into());
        }
        Ok(Done::new(json!({ "name": req.options.name }))
            .output("name", req.options.name.clone())
            .into())
    }

    fn read(&self, _ctx: &Ctx, req: &Req<Options>) -> Result<Option<Done>, PluginError> {
        if req.status.is_null() {
            return Ok(None);
        }
        Ok(Some(Done::new(req.status.clone())))
    }

    fn update(&self, _ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        Err(PluginError::conflict(format!("cannot update {}", req.instance)).mark_retryable())
    }

    fn delete(&self, ctx: &Ctx, _req: &Req<Options>) -> Result<Step, PluginError> {
        if ctx.is_cancelled() {
            return Err(PluginError::cancelled("stopped"));
        }
        Ok(Done::default().into())
    }
}

fn run(op: Operation, options: Value) -> Response {
    call(&Echo, &TestHost::new(), &request(op, "echo.a", options))
}

fn error_of(response: Response) -> PluginError {
    match response {
        Response::Error { error } => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn create_returns_done_with_status_and_outputs() {
    let host = TestHost::new();
    let resp = call(
        &Echo,
        &host,
        &request(Operation::Create, "echo.a", json!({"name": "x"})),
    );
    let outputs: BTreeMap<String, Value> = [("name".to_string(), json!("x"))].into();
    assert_eq!(
        resp,
        Response::Done {
            status: json!({"name": "x"}),
            outputs
        }
    );
    assert_eq!(host.logs(), vec![(Level::Info, "creating".to_string())]);
    assert_eq!(
        host.progress_reports(),
        vec![(Some(100), "half".to_string())]
    );
}

#[test]
fn pending_round_trips_through_the_request() {
    let mut req = request(
        Operation::Create,
        "echo.a",
        json!({"name": "x", "steps": 2}),
    );
    let first = call(&Echo, &TestHost::new(), &req);
    assert_eq!(
        first,
        Response::Pending {
            pending: json!({"step": 1}),
            delay_ms: 1500,
            message: "waiting".into()
        }
    );
    req.pending = json!({"step": 2});
    assert!(matches!(
        call(&Echo, &TestHost::new(), &req),
        Response::Done { .. }
    ));
}

#[test]
fn read_maps_none_to_absent_and_some_to_done() {
    assert_eq!(run(Operation::Read, json!({"name": "x"})), Response::Absent);
    let mut req = request(Operation::Read, "echo.a", json!({"name": "x"}));
    req.status = json!({"name": "x"});
    assert_eq!(
        call(&Echo, &TestHost::new(), &req),
        Response::Done {
            status: json!({"name": "x"}),
            outputs: BTreeMap::new()
        }
    );
}

#[test]
fn validate_ok_is_done_and_problems_are_invalid() {
    assert!(matches!(
        run(Operation::Validate, json!({"name": "ok"})),
        Response::Done { .. }
    ));
    assert_eq!(
        run(Operation::Validate, json!({"name": "bad"})),
        Response::Invalid {
            problems: vec![Problem {
                path: "/name".into(),
                message: "must not be bad".into()
            }]
        }
    );
}

#[test]
fn bad_options_in_validate_name_the_json_pointer() {
    let resp = run(
        Operation::Validate,
        json!({"name": "x", "nested": {"ports": [80, "http"]}}),
    );
    let Response::Invalid { problems } = resp else {
        panic!("expected invalid, got {resp:?}")
    };
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "/nested/ports/1");
    assert!(
        problems[0].message.contains("invalid type"),
        "{}",
        problems[0].message
    );
}

#[test]
fn missing_and_unknown_fields_are_problems() {
    let Response::Invalid { problems } = run(Operation::Validate, json!({})) else {
        panic!()
    };
    assert_eq!(problems[0].path, "");
    assert!(
        problems[0].message.contains("missing field `name`"),
        "{:?}",
        problems
    );

    let Response::Invalid { problems } = run(Operation::Validate, json!({"name": "x", "nmae": 1}))
    else {
        panic!()
    };
    assert!(
        problems[0].message.contains("unknown field `nmae`"),
        "{:?}",
        problems
    );
}

#[test]
fn null_options_read_as_an_empty_object() {
    let Response::Invalid { problems } = run(Operation::Validate, Value::Null) else {
        panic!()
    };
    assert!(
        problems[0].message.contains("missing field `name`"),
        "{:?}",
        problems
    );
}

#[test]
fn bad_options_in_other_operations_are_invalid_options_errors() {
    let err = error_of(run(Operation::Create, json!({"name": 3})));
    assert_eq!(err.kind, ErrorKind::InvalidOptions);
    assert!(err.message.contains("/name"), "{}", err.message);
}

#[test]
fn create_runs_validate_first() {
    let err = error_of(run(Operation::Create, json!({"name": "bad"})));
    assert_eq!(err.kind, ErrorKind::InvalidOptions);
    assert_eq!(err.message, "options at /name: must not be bad");
}

#[test]
fn plugin_errors_pass_through() {
    let err = error_of(run(Operation::Update, json!({"name": "x"})));
    assert_eq!(
        err,
        PluginError {
            kind: ErrorKind::Conflict,
            message: "cannot update echo.a".into(),
            retryable: true
        }
    );
}

#[test]
fn panics_become_panic_errors_with_message_and_location() {
    let err = error_of(run(
        Operation::Create,
        json!({"name": "x", "panic_in": "create"}),
    ));
    assert_eq!(err.kind, ErrorKind::Panic);
    assert!(
        err.message.contains("boom in create for echo.a"),
        "{}",
        err.message
    );
    assert!(err.message.contains("tests.rs"), "{}", err.message);
    assert!(!err.retryable);
}

#[test]
fn a_panicking_constructor_is_reported() {
    let host = TestHost::new();
    let bytes =
        serde_json::to_vec(&request(Operation::Read, "echo.a", json!({"name": "x"}))).unwrap();
    let resp = crate::handle::<Echo>(|| panic!("cannot build"), &crate::Ctx::new(&host), &bytes);
    let err = error_of(resp);
    assert_eq!(err.kind, ErrorKind::Panic);
    assert!(err.message.contains("cannot build"), "{}", err.message);
}

#[test]
fn cancellation_is_visible_to_the_plugin() {
    let host = TestHost::new();
    host.cancel();
    let err = error_of(call(
        &Echo,
        &host,
        &request(Operation::Delete, "echo.a", json!({"name": "x"})),
    ));
    assert_eq!(err.kind, ErrorKind::Cancelled);
}

#[test]
fn malformed_requests_and_other_abi_majors_are_errors() {
    let host = TestHost::new();
    let ctx = crate::Ctx::new(&host);
    let err = error_of(crate::handle(|| &Echo, &ctx, b"{not json"));
    assert_eq!(err.kind, ErrorKind::Internal);
    assert!(err.message.contains("malformed request"), "{}", err.message);

    let mut req = request(Operation::Read, "echo.a", json!({"name": "x"}));
    req.abi_version = dtm_plugin_protocol::pack_abi_version(2, 0);
    let err = error_of(call(&Echo, &host, &req));
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert!(
        err.message.contains("2.0") && err.message.contains("1.0"),
        "{}",
        err.message
    );
}

#[test]
fn manifest_carries_info_and_a_2020_12_schema() {
    let m = manifest::<Echo>();
    assert_eq!(m.name, "echo");
    assert_eq!(m.version, "1.2.3");
    assert_eq!(m.abi_version, dtm_plugin_protocol::ABI_VERSION);
    assert_eq!(m.outputs[0].name, "name");
    assert_eq!(
        m.options_schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(
        m.options_schema["properties"]["name"]["description"],
        "The name."
    );
    assert_eq!(m.options_schema["required"], json!(["name"]));
    assert_eq!(m.options_schema["additionalProperties"], json!(false));
    assert_eq!(m.options_schema["examples"], json!([{ "name": "dtm" }]));
}

#[test]
fn ffi_round_trip_allocates_and_frees_through_the_sdk() {
    use dtm_plugin_protocol::{DtmBuffer, status};
    let mut out = DtmBuffer::empty();
    let bytes =
        serde_json::to_vec(&request(Operation::Create, "echo.a", json!({"name": "x"}))).unwrap();
    // The test plays the host: null callbacks table (logs dropped), request valid during the call.
    #[allow(unsafe_code, reason = "plays the host's side of the C boundary")]
    // SAFETY: `bytes` and `out` are live locals; the buffer goes back to `free` exactly once.
    let (code, json) = unsafe {
        let code = crate::ffi::call(
            || &Echo,
            std::ptr::null(),
            bytes.as_ptr(),
            bytes.len(),
            &mut out,
        );
        let json: Value =
            serde_json::from_slice(std::slice::from_raw_parts(out.ptr, out.len)).unwrap();
        crate::ffi::free(out.ptr, out.len, out.cap);
        (code, json)
    };
    assert_eq!(code, status::OK);
    assert_eq!(json["result"], "done");
    assert_eq!(json["outputs"]["name"], "x");
}
