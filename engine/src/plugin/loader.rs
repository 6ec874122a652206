//! The only unsafe code on the host side: opening a plugin library and calling its C functions.
//!
//! Everything above this module sees safe functions that take and return bytes. Libraries are
//! opened with immediate binding (a missing symbol fails here, not mid-run), the ABI version symbol
//! is checked before any other symbol is looked up, and a library is never closed: its code may
//! still be running on an abandoned thread, and Rust plugins register thread-local destructors
//! that must outlive the process' use of them.
#![allow(
    unsafe_code,
    reason = "the host side of the C boundary of ABI v1; every unsafe block has a SAFETY note"
)]
#![deny(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block
)]

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use dtm_plugin_protocol::{CancelledFn, DtmBuffer, DtmHost, LogFn, ProgressFn, status, symbols};

/// What the host's C callbacks forward to; implemented by the safe side for each call.
pub(crate) trait CallbackShim: Sync {
    /// A log line from the plugin.
    fn log(&self, level: u32, message: String);
    /// A progress report; `percent` is -1 when unknown.
    fn progress(&self, percent: i32, message: String);
    /// Whether the plugin should stop early.
    fn cancelled(&self) -> bool;
}

/// `uint32_t dtm_plugin_abi_version(void)`
type AbiVersionFn = unsafe extern "C" fn() -> u32;
/// `int32_t dtm_plugin_manifest(DtmBuffer *out)`
type ManifestFn = unsafe extern "C" fn(out: *mut DtmBuffer) -> i32;
/// `int32_t dtm_plugin_call(const DtmHost *, const uint8_t *, size_t, DtmBuffer *)`
type CallFn = unsafe extern "C" fn(
    host: *const DtmHost,
    req: *const u8,
    len: usize,
    out: *mut DtmBuffer,
) -> i32;
/// `void dtm_plugin_free(uint8_t *, size_t, size_t)`
type FreeFn = unsafe extern "C" fn(ptr: *mut u8, len: usize, cap: usize);

/// Why a library could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// `dlopen` failed (file missing, not a library, unresolved symbols).
    Open(String),
    /// A required symbol is not exported.
    MissingSymbol(&'static str),
    /// The plugin speaks another ABI major; carries its packed version.
    Abi(u32),
}

/// What a call returned: the status code and the bytes, or a size over the limit.
#[derive(Debug)]
pub(crate) enum RawReply {
    /// The buffer's bytes (copied out; the plugin's buffer is already freed).
    Bytes(i32, Vec<u8>),
    /// The buffer was larger than allowed; it was freed without copying.
    TooLarge(usize),
}

/// Function pointers of an opened plugin. The library behind them is never unloaded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawPlugin {
    manifest: ManifestFn,
    call: CallFn,
    free: FreeFn,
}

/// Opens `path`, checks the ABI version with `accept`, and resolves the remaining symbols.
pub(crate) fn open(path: &Path, accept: impl Fn(u32) -> bool) -> Result<RawPlugin, OpenError> {
    // SAFETY: loading a library runs its initialisers; dtm only loads libraries the user named
    // (a plugin directory) or that the registry client verified, which is the trust boundary the
    // design accepts. RTLD_NOW makes unresolved symbols fail here rather than at call time.
    let lib = unsafe { open_library(path) }.map_err(|e| OpenError::Open(e.to_string()))?;
    // Never dlclose: see the module docs.
    let lib: &'static Library = Box::leak(Box::new(lib));

    // SAFETY: the symbol's type is fixed by ABI v1 (`uint32_t (void)`); this is the one symbol
    // every ABI version must keep with this signature.
    let version: AbiVersionFn = unsafe { symbol(lib, symbols::ABI_VERSION) }
        .ok_or(OpenError::MissingSymbol("dtm_plugin_abi_version"))?;
    // SAFETY: takes no arguments and, per the ABI, only returns a constant.
    let v = unsafe { version() };
    if !accept(v) {
        return Err(OpenError::Abi(v));
    }
    // SAFETY: the version check above established that the library speaks ABI v1, whose
    // signature for this symbol is `ManifestFn`.
    let manifest = unsafe { symbol::<ManifestFn>(lib, symbols::MANIFEST) }
        .ok_or(OpenError::MissingSymbol("dtm_plugin_manifest"))?;
    // SAFETY: as for `manifest`: ABI v1's signature for this symbol is `CallFn`.
    let call = unsafe { symbol::<CallFn>(lib, symbols::CALL) }
        .ok_or(OpenError::MissingSymbol("dtm_plugin_call"))?;
    // SAFETY: as for `manifest`: ABI v1's signature for this symbol is `FreeFn`.
    let free = unsafe { symbol::<FreeFn>(lib, symbols::FREE) }
        .ok_or(OpenError::MissingSymbol("dtm_plugin_free"))?;
    Ok(RawPlugin {
        manifest,
        call,
        free,
    })
}

#[cfg(unix)]
type Library = libloading::os::unix::Library;
#[cfg(not(unix))]
type Library = libloading::Library;

#[cfg(unix)]
unsafe fn open_library(path: &Path) -> Result<Library, libloading::Error> {
    use libloading::os::unix::{RTLD_LOCAL, RTLD_NOW};
    // SAFETY: forwarded from the caller.
    unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
}

#[cfg(not(unix))]
unsafe fn open_library(path: &Path) -> Result<Library, libloading::Error> {
    // SAFETY: forwarded from the caller. Windows resolves imports at load time.
    unsafe { Library::new(path) }
}

/// Looks up a function symbol and copies the pointer out.
///
/// # Safety
/// `T` must be the function pointer type the library exports under `name`.
unsafe fn symbol<T: Copy>(lib: &'static Library, name: &[u8]) -> Option<T> {
    // SAFETY: forwarded from the caller; the library is leaked, so the pointer stays valid.
    unsafe { lib.get::<T>(name) }.ok().map(|s| *s)
}

impl RawPlugin {
    /// Calls `dtm_plugin_manifest`.
    pub(crate) fn manifest(&self, max: usize) -> RawReply {
        let mut out = DtmBuffer::empty();
        // SAFETY: `out` is a valid, writable DtmBuffer for the duration of the call, as ABI v1
        // requires; the plugin fills it with a buffer it allocated.
        let code = unsafe { (self.manifest)(&mut out) };
        self.take(code, out, max)
    }

    /// Calls `dtm_plugin_call` with `request`; `shim` provides the callbacks.
    pub(crate) fn call(&self, shim: &dyn CallbackShim, request: &[u8], max: usize) -> RawReply {
        // The callbacks receive a pointer to this fat reference; it lives on this stack frame,
        // which outlives the call.
        let shim_ref: &dyn CallbackShim = shim;
        let ctx = &shim_ref as *const &dyn CallbackShim as *mut c_void;
        let host = DtmHost {
            abi_version: dtm_plugin_protocol::ABI_VERSION,
            ctx,
            log: host_log as LogFn,
            progress: host_progress as ProgressFn,
            cancelled: host_cancelled as CancelledFn,
        };
        let mut out = DtmBuffer::empty();
        // SAFETY: `host`, `request` and `out` are valid for the whole call; ABI v1 says the plugin
        // may only read the request and the host struct and may only use the callbacks until it
        // returns, which is when this frame (owning `shim_ref`) is still alive.
        let code = unsafe { (self.call)(&host, request.as_ptr(), request.len(), &mut out) };
        self.take(code, out, max)
    }

    /// Copies a returned buffer and gives it back to the plugin's allocator.
    fn take(&self, code: i32, out: DtmBuffer, max: usize) -> RawReply {
        if out.ptr.is_null() {
            return RawReply::Bytes(code, Vec::new());
        }
        let reply = if out.len > max {
            RawReply::TooLarge(out.len)
        } else {
            // SAFETY: the plugin promised `ptr` points to `len` initialised bytes it allocated,
            // untouched until we hand it back to `free` below.
            let bytes = unsafe { std::slice::from_raw_parts(out.ptr, out.len) }.to_vec();
            RawReply::Bytes(code, bytes)
        };
        // SAFETY: the buffer came from this plugin and is returned exactly once, unchanged.
        unsafe { (self.free)(out.ptr, out.len, out.cap) };
        reply
    }
}

/// Recovers the shim from a callback's context pointer.
///
/// # Safety
/// `ctx` must be the pointer `RawPlugin::call` put into `DtmHost::ctx`, during that call.
unsafe fn shim<'a>(ctx: *mut c_void) -> &'a dyn CallbackShim {
    // SAFETY: forwarded from the caller: ctx points at a live `&dyn CallbackShim`.
    unsafe { *(ctx as *const &dyn CallbackShim) }
}

/// Turns a (pointer, length) pair from the plugin into text, lossily.
///
/// # Safety
/// `msg` must point to `len` readable bytes, or be null.
unsafe fn text(msg: *const u8, len: usize) -> String {
    if msg.is_null() || len == 0 {
        return String::new();
    }
    // SAFETY: forwarded from the caller.
    String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(msg, len) }).into_owned()
}

unsafe extern "C" fn host_log(ctx: *mut c_void, level: u32, msg: *const u8, len: usize) {
    // A panic must not unwind into the plugin's frames; a lost log line is the lesser harm.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the plugin calls back with the ctx we gave it, during the call (ABI v1 "host
        // callbacks").
        let shim = unsafe { shim(ctx) };
        // SAFETY: the plugin passes a valid message buffer of `len` bytes (ABI v1 "host
        // callbacks").
        let msg = unsafe { text(msg, len) };
        shim.log(level, msg);
    }));
}

unsafe extern "C" fn host_progress(ctx: *mut c_void, percent: i32, msg: *const u8, len: usize) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the ctx we gave the plugin, as in `host_log`.
        let shim = unsafe { shim(ctx) };
        // SAFETY: a valid message buffer, as in `host_log`.
        let msg = unsafe { text(msg, len) };
        shim.progress(percent, msg);
    }));
}

unsafe extern "C" fn host_cancelled(ctx: *mut c_void) -> i32 {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `host_log`.
        i32::from(unsafe { shim(ctx) }.cancelled())
    }))
    .unwrap_or(1)
}

/// `status::OK`, re-exported for the safe side.
pub(crate) const OK: i32 = status::OK;
