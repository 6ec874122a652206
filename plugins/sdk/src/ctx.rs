//! The per-call context: logging, progress and cancellation through the host's callbacks.

use dtm_plugin_protocol::log_level;

/// Severity of a log line sent to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Detailed diagnostics, shown only when the user asks for them.
    Debug,
    /// Normal progress information.
    Info,
    /// Something the user should look at.
    Warn,
    /// An error the plugin will also report in its response.
    Error,
}

impl Level {
    /// The ABI's numeric level (see `dtm_plugin_protocol::log_level`).
    pub fn to_abi(self) -> u32 {
        match self {
            Level::Debug => log_level::DEBUG,
            Level::Info => log_level::INFO,
            Level::Warn => log_level::WARN,
            Level::Error => log_level::ERROR,
        }
    }

    /// The level for an ABI number; unknown numbers are treated as [`Level::Info`].
    pub fn from_abi(level: u32) -> Self {
        match level {
            log_level::DEBUG => Level::Debug,
            log_level::WARN => Level::Warn,
            log_level::ERROR => Level::Error,
            _ => Level::Info,
        }
    }
}

/// What a [`Ctx`] talks to: the host's callbacks in a loaded plugin, or a stand-in in tests
/// (see [`crate::testing::TestHost`]).
///
/// Implementations must be thread-safe: a plugin may use its `Ctx` from threads it spawns, as
/// long as they finish before the call returns.
pub trait HostCallbacks: Sync {
    /// Emit one log line.
    fn log(&self, level: Level, message: &str);
    /// Report progress of the current step; `None` means "unknown percentage".
    fn progress(&self, percent: Option<u8>, message: &str);
    /// Whether the host wants the call to stop early.
    fn cancelled(&self) -> bool;
}

/// Callbacks that go nowhere: logs are dropped and the call is never cancelled.
#[derive(Debug, Clone, Copy, Default)]
pub struct Detached;

impl HostCallbacks for Detached {
    fn log(&self, _level: Level, _message: &str) {}
    fn progress(&self, _percent: Option<u8>, _message: &str) {}
    fn cancelled(&self) -> bool {
        false
    }
}

/// The context of one call into the plugin, handed to every [`crate::Plugin`] method.
///
/// It is only valid during that call. It is `Sync`, so scoped threads may share it.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    host: &'a dyn HostCallbacks,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").finish_non_exhaustive()
    }
}

impl<'a> Ctx<'a> {
    /// A context backed by `host`.
    pub fn new(host: &'a dyn HostCallbacks) -> Self {
        Self { host }
    }

    /// A context whose logs go nowhere and that is never cancelled.
    pub fn detached() -> Ctx<'static> {
        Ctx { host: &Detached }
    }

    /// Emits a log line at `level`.
    pub fn log(&self, level: Level, message: impl AsRef<str>) {
        self.host.log(level, message.as_ref());
    }

    /// Emits a debug line.
    pub fn debug(&self, message: impl AsRef<str>) {
        self.log(Level::Debug, message);
    }

    /// Emits an info line.
    pub fn info(&self, message: impl AsRef<str>) {
        self.log(Level::Info, message);
    }

    /// Emits a warning.
    pub fn warn(&self, message: impl AsRef<str>) {
        self.log(Level::Warn, message);
    }

    /// Emits an error line (the error itself still goes in the response).
    pub fn error(&self, message: impl AsRef<str>) {
        self.log(Level::Error, message);
    }

    /// Reports progress of the current step. `percent` is clamped to 100; `None` means unknown.
    pub fn progress(&self, percent: Option<u8>, message: impl AsRef<str>) {
        self.host
            .progress(percent.map(|p| p.min(100)), message.as_ref());
    }

    /// Whether the host wants this call to stop early. Long waits should poll this and return
    /// a `cancelled` error (or a `pending` answer) when it turns true.
    pub fn is_cancelled(&self) -> bool {
        self.host.cancelled()
    }
}
