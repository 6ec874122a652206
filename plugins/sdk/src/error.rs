//! Constructors for [`PluginError`], the typed error a plugin returns.

use dtm_plugin_protocol::{ErrorKind, PluginError};

/// Shorthands for building a [`PluginError`]; in scope with `use dtm_plugin_sdk::prelude::*`.
///
/// ```
/// use dtm_plugin_sdk::prelude::*;
/// let e = PluginError::unavailable("api.example.com answered 503").mark_retryable();
/// assert_eq!(e.kind, ErrorKind::Unavailable);
/// assert!(e.retryable);
/// ```
pub trait ErrorExt: Sized {
    /// An error of `kind`, not retryable.
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self;
    /// Sets `retryable`: repeating the same call later may succeed.
    fn mark_retryable(self) -> Self;
    /// [`ErrorKind::InvalidOptions`]
    fn invalid_options(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidOptions, message)
    }
    /// [`ErrorKind::NotFound`]
    fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// [`ErrorKind::Conflict`]
    fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// [`ErrorKind::PermissionDenied`]
    fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PermissionDenied, message)
    }
    /// [`ErrorKind::Unavailable`]
    fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    /// [`ErrorKind::Timeout`]
    fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }
    /// [`ErrorKind::Cancelled`]
    fn cancelled(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Cancelled, message)
    }
    /// [`ErrorKind::Unsupported`]
    fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    /// [`ErrorKind::Internal`]
    fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// An error for a failed I/O operation: the kind follows the [`std::io::ErrorKind`]
    /// (not found, permission denied, timed out, else internal) and `what` says what was being
    /// done, e.g. `"writing /etc/motd"`.
    fn io(what: impl std::fmt::Display, err: &std::io::Error) -> Self {
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
            _ => ErrorKind::Internal,
        };
        Self::new(kind, format!("{what}: {err}"))
    }
}

impl ErrorExt for PluginError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            message: message.into(),
            retryable: false,
        }
    }

    fn mark_retryable(mut self) -> Self {
        self.retryable = true;
        self
    }
}
