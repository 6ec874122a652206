//! The C boundary: every line of unsafe code in the SDK is here. [`crate::export_plugin!`]
//! generates the four exported functions of ABI v1 as thin wrappers over these.
//!
//! Not a public API: use the macro.
#![deny(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block
)]

use std::mem::ManuallyDrop;

use dtm_plugin_protocol::{ABI_VERSION, DtmBuffer, DtmHost, status};

use crate::Plugin;
use crate::ctx::{Ctx, HostCallbacks, Level};
use crate::dispatch;

/// Body of `dtm_plugin_abi_version`.
pub fn abi_version() -> u32 {
    ABI_VERSION
}

/// Body of `dtm_plugin_manifest`.
///
/// # Safety
///
/// `out` is null or valid for writing one [`DtmBuffer`] (ABI v1: the host's own variable).
pub unsafe fn manifest<P: Plugin>(out: *mut DtmBuffer) -> i32 {
    let (code, bytes) = match dispatch::manifest_json::<P>() {
        Ok(json) => (status::OK, json),
        Err(message) => (status::FAILED, message.into_bytes()),
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { answer(out, code, bytes) }
}

/// Body of `dtm_plugin_call`. `get_plugin` builds or fetches the plugin value; a panic in it is
/// caught like any other.
///
/// # Safety
///
/// As ABI v1 requires of the host: `host` is null or points to a [`DtmHost`] whose callbacks are
/// callable from any thread until this function returns; `request` is null with `len` 0, or
/// valid for reading `len` bytes until this function returns; `out` is null or valid for writing
/// one [`DtmBuffer`].
pub unsafe fn call<'p, P: Plugin>(
    get_plugin: impl FnOnce() -> &'p P,
    host: *const DtmHost,
    request: *const u8,
    len: usize,
    out: *mut DtmBuffer,
) -> i32 {
    let request: &[u8] = if request.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: non-null, and valid for `len` bytes during the call by this function's contract.
        unsafe { std::slice::from_raw_parts(request, len) }
    };
    // SAFETY: by this function's contract `host` is null or valid until we return, and the
    // reference does not outlive this function.
    let host = unsafe { host.as_ref() }.map(FfiHost);
    let ctx = match &host {
        Some(host) => Ctx::new(host),
        None => Ctx::detached(),
    };
    let guarded = dispatch::guarded(|| {
        let response = dispatch::handle(get_plugin, &ctx, request);
        serde_json::to_vec(&response).map_err(|e| format!("serializing the response: {e}"))
    });
    let (code, bytes) = match guarded {
        Ok(Ok(json)) => (status::OK, json),
        Ok(Err(message)) | Err(message) => (status::FAILED, message.into_bytes()),
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { answer(out, code, bytes) }
}

/// Body of `dtm_plugin_free`.
///
/// # Safety
///
/// `ptr`, `len`, `cap` are a [`DtmBuffer`] that [`manifest`] or [`call`] of this same library
/// returned, given back unchanged and only once (or `ptr` is null).
pub unsafe fn free(ptr: *mut u8, len: usize, cap: usize) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: by this function's contract these are the parts of a `Vec<u8>` that `answer`
    // leaked, allocated by this library's allocator, and not freed before.
    let bytes = unsafe { Vec::from_raw_parts(ptr, len, cap) };
    // Freeing cannot panic with the system allocator, but a panic must never cross the boundary.
    let _ = dispatch::guarded(move || drop(bytes));
}

/// Hands `bytes` to the host through `out` and returns `code`; the host gives the buffer back to
/// [`free`]. With a null `out` the bytes are dropped and the call fails.
///
/// # Safety
///
/// `out` is null or valid for writing one [`DtmBuffer`].
unsafe fn answer(out: *mut DtmBuffer, code: i32, bytes: Vec<u8>) -> i32 {
    if out.is_null() {
        return status::FAILED;
    }
    let mut bytes = ManuallyDrop::new(bytes);
    let buffer = DtmBuffer {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
    };
    // SAFETY: `out` is non-null and valid for writes by this function's contract; `write` does
    // not drop the previous value, which is plain data the host owns.
    unsafe { out.write(buffer) };
    code
}

/// The host's callbacks, valid for one call.
struct FfiHost<'a>(&'a DtmHost);

// SAFETY: ABI v1 requires the host's callbacks (and the `ctx` they receive) to be thread-safe
// for the duration of the call, and `FfiHost` never outlives the call (it borrows from it).
unsafe impl Sync for FfiHost<'_> {}

impl HostCallbacks for FfiHost<'_> {
    fn log(&self, level: Level, message: &str) {
        // SAFETY: the host's callback is valid during the call (see `call`); the message pointer
        // and length describe a live `str`, which the host only reads during the callback.
        unsafe { (self.0.log)(self.0.ctx, level.to_abi(), message.as_ptr(), message.len()) }
    }

    fn progress(&self, percent: Option<u8>, message: &str) {
        let percent = percent.map_or(-1, i32::from);
        // SAFETY: as in `log`.
        unsafe { (self.0.progress)(self.0.ctx, percent, message.as_ptr(), message.len()) }
    }

    fn cancelled(&self) -> bool {
        // SAFETY: the host's callback is valid during the call (see `call`).
        unsafe { (self.0.cancelled)(self.0.ctx) != 0 }
    }
}
