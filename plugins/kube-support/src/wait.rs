//! Deadlines that survive a restart of dtm: pending steps carry them as Unix milliseconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dtm_plugin_sdk::prelude::*;

/// A point in wall-clock time, stored in pending data as Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(pub u64);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Deadline {
    /// `after` from now.
    pub fn after(after: Duration) -> Deadline {
        Deadline(now_ms().saturating_add(u64::try_from(after.as_millis()).unwrap_or(u64::MAX)))
    }

    /// Whether the deadline has passed.
    pub fn passed(self) -> bool {
        now_ms() >= self.0
    }

    /// Time left (zero once passed).
    pub fn left(self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(now_ms()))
    }
}

/// Parses `90s`, `5m`, `1h30m` (humantime syntax); `option` names the option in errors.
pub fn parse_duration(text: &str, option: &str) -> Result<Duration, PluginError> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        PluginError::invalid_options(format!(
            "`{option}`: `{text}` is not a duration ({e}); write e.g. `90s`, `5m` or `1h`"
        ))
    })
}
