//! Readiness waits as the plugin protocol's pending steps: poll for a few seconds in the call,
//! then answer `pending` with data that carries the deadline and the status to record, so a
//! wait survives an interrupted dtm and resumes where it was.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

/// How long one call polls before it hands back a pending step.
const IN_CALL_POLL: Duration = Duration::from_secs(3);
const POLL_EVERY: Duration = Duration::from_millis(500);
/// The delay a pending step asks for.
const PENDING_DELAY: Duration = Duration::from_secs(2);
/// The `phase` of the pending data of a readiness wait.
const PHASE: &str = "ready";

/// One look at what is waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Look {
    /// Nothing left to wait for.
    Ready,
    /// Not yet; the text says what is missing.
    Waiting(String),
    /// Will not become ready without a change; the text says why.
    Failed(String),
}

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

/// Parses `90s`, `10m`, `1h30m`; `option` names the option in errors.
pub fn parse_duration(text: &str, option: &str) -> Result<Duration, PluginError> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        PluginError::invalid_options(format!(
            "`{option}`: `{text}` is not a duration ({e}); write e.g. `90s`, `10m` or `1h`"
        ))
    })
}

/// A readiness wait: what it is about, its limit and the status to record once done.
#[derive(Debug, Clone)]
pub struct Wait {
    /// Wait at all (`wait: false` records the status right away).
    pub enabled: bool,
    /// The `waitTimeout` option, for messages.
    pub timeout: Duration,
    /// When to give up.
    pub deadline: Deadline,
    /// What is waited for, for messages (`the GitLab container gitlab`).
    pub what: String,
    /// What to do when it takes too long, for messages (`see docker logs gitlab`).
    pub hint: String,
}

impl Wait {
    /// A fresh wait, or the one `pending` data carries (its deadline); `None` for pending data
    /// that is not a readiness wait's.
    pub fn resume(mut self, pending: Option<&Value>) -> Option<(Wait, Option<Value>)> {
        let Some(data) = pending else {
            return Some((self, None));
        };
        if data.get("phase").and_then(Value::as_str) != Some(PHASE) {
            return None;
        }
        self.deadline = Deadline(data.get("deadline").and_then(Value::as_u64).unwrap_or(0));
        Some((self, data.get("status").cloned()))
    }

    /// Polls `look` until it says ready (done, recording `status`), failed (an error), or the
    /// call has polled long enough (a pending step carrying the deadline and `status`).
    pub fn poll(
        &self,
        ctx: &Ctx<'_>,
        status: Value,
        mut look: impl FnMut() -> Result<Look, PluginError>,
    ) -> Result<Step, PluginError> {
        if !self.enabled {
            return Ok(Step::done(status));
        }
        let started = Instant::now();
        let mut shown = String::new();
        loop {
            let message = match look()? {
                Look::Ready => return Ok(Step::done(status)),
                Look::Failed(why) => {
                    return Err(PluginError::conflict(format!(
                        "{} will not become ready: {why}",
                        self.what
                    )));
                }
                Look::Waiting(message) => message,
            };
            if self.deadline.passed() {
                return Err(PluginError::timeout(format!(
                    "timed out after `waitTimeout` ({}s) waiting for {}: {message}; it was \
                     started: {}, raise `waitTimeout`, or set `wait: false`",
                    self.timeout.as_secs(),
                    self.what,
                    self.hint
                )));
            }
            if message != shown {
                ctx.progress(None, &message);
                shown.clone_from(&message);
            }
            if ctx.is_cancelled() || started.elapsed() >= IN_CALL_POLL {
                return Ok(Pending::new(json!({
                    "phase": PHASE,
                    "deadline": self.deadline.0,
                    "status": status,
                }))
                .after(PENDING_DELAY.min(self.deadline.left()))
                .message(message)
                .into());
            }
            std::thread::sleep(POLL_EVERY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dtm_plugin_sdk::testing::TestHost;

    fn wait(enabled: bool, timeout: Duration) -> Wait {
        Wait {
            enabled,
            timeout,
            deadline: Deadline::after(timeout),
            what: "the thing".into(),
            hint: "look at it".into(),
        }
    }

    #[test]
    fn a_waiting_look_becomes_a_pending_step_that_resumes_with_its_deadline() {
        let host = TestHost::new();
        let ctx = Ctx::new(&host);
        let w = wait(true, Duration::from_secs(60));
        let step = w
            .poll(&ctx, json!({"a": 1}), || {
                Ok(Look::Waiting("not yet".into()))
            })
            .unwrap();
        let Step::Pending(p) = step else {
            panic!("{step:?}")
        };
        let (resumed, status) = wait(true, Duration::from_secs(1))
            .resume(Some(&p.data))
            .unwrap();
        assert_eq!(resumed.deadline, w.deadline);
        assert_eq!(status, Some(json!({"a": 1})));
        assert!(
            wait(true, w.timeout)
                .resume(Some(&json!({"phase": "gone"})))
                .is_none()
        );
    }

    #[test]
    fn ready_failed_timeout_and_no_wait() {
        let host = TestHost::new();
        let ctx = Ctx::new(&host);
        let w = wait(true, Duration::from_secs(60));
        assert!(matches!(
            w.poll(&ctx, json!(1), || Ok(Look::Ready)),
            Ok(Step::Done(_))
        ));
        let e = w
            .poll(&ctx, json!(1), || Ok(Look::Failed("exited".into())))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Conflict);
        let e = wait(true, Duration::ZERO)
            .poll(&ctx, json!(1), || Ok(Look::Waiting("slow".into())))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout);
        assert!(e.message.contains("slow"), "{}", e.message);
        let off = wait(false, Duration::ZERO);
        assert!(matches!(
            off.poll(&ctx, json!(1), || Ok(Look::Failed("x".into()))),
            Ok(Step::Done(_))
        ));
    }
}
