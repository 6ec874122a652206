//! Progress while plugins run: a spinner line per running tool on a terminal, plain lines
//! otherwise (CI logs).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dtm_engine::executor::{ExecEvent, ExecSink};
use dtm_engine::plan::Action;
use dtm_engine::plugin::PluginEvent;
use dtm_plugin_protocol::log_level;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

fn verb(a: Action) -> &'static str {
    match a {
        Action::Create => "creating",
        Action::Update => "updating",
        Action::Delete => "deleting",
        Action::NoOp => "checking",
    }
}

fn past(a: Action) -> &'static str {
    match a {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Delete => "deleted",
        Action::NoOp => "unchanged",
    }
}

enum Mode {
    Bars {
        multi: MultiProgress,
        bars: Mutex<HashMap<String, ProgressBar>>,
    },
    Lines {
        to_stderr: bool,
    },
}

/// Renders execution events.
pub(crate) struct Progress {
    mode: Mode,
}

impl Progress {
    /// Bars when stdout is a terminal and `json` is false; lines otherwise (on stderr for JSON).
    pub(crate) fn new(json: bool) -> Arc<Self> {
        let mode = if !json && std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
            Mode::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::default(),
            }
        } else {
            Mode::Lines { to_stderr: json }
        };
        Arc::new(Self { mode })
    }

    /// The sink to hand to the executor.
    pub(crate) fn sink(self: &Arc<Self>) -> ExecSink {
        let me = self.clone();
        Arc::new(move |e| me.on(e))
    }

    fn line(&self, text: String) {
        match &self.mode {
            Mode::Bars { multi, .. } => {
                let _ = multi.println(text);
            }
            Mode::Lines { to_stderr: true } => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
            Mode::Lines { to_stderr: false } => {
                let _ = writeln!(std::io::stdout(), "{text}");
            }
        }
    }

    fn on(&self, event: ExecEvent) {
        match event {
            ExecEvent::Started { key, action } => match &self.mode {
                Mode::Bars { multi, bars } => {
                    let pb = multi.add(ProgressBar::new_spinner());
                    pb.set_style(
                        ProgressStyle::with_template(
                            "{spinner:.cyan} {prefix:.bold} {msg} {elapsed:.dim}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    pb.set_prefix(key.clone());
                    pb.set_message(format!("{}…", verb(action)));
                    pb.enable_steady_tick(Duration::from_millis(120));
                    if let Ok(mut b) = bars.lock() {
                        b.insert(key, pb);
                    }
                }
                Mode::Lines { .. } => self.line(format!("{key}: {}…", verb(action))),
            },
            ExecEvent::Plugin { key, event } => match event {
                PluginEvent::Log { level, message } if level >= log_level::INFO => {
                    self.line(format!("  {key}: {message}"));
                }
                PluginEvent::Log { .. } => {}
                PluginEvent::Progress { message, .. } | PluginEvent::Pending { message, .. }
                    if matches!(self.mode, Mode::Bars { .. }) =>
                {
                    if let Mode::Bars { bars, .. } = &self.mode
                        && let Ok(b) = bars.lock()
                        && let Some(pb) = b.get(&key)
                    {
                        pb.set_message(message);
                    }
                }
                PluginEvent::Progress { percent, message } => {
                    let p = percent.map(|p| format!(" ({p}%)")).unwrap_or_default();
                    self.line(format!("  {key}: {message}{p}"));
                }
                PluginEvent::Pending { message, .. } => {
                    self.line(format!("  {key}: waiting: {message}"));
                }
            },
            ExecEvent::Done {
                key,
                action,
                elapsed,
            } => {
                self.finish(&key);
                self.line(format!(
                    "{key}: {} ({})",
                    past(action),
                    fmt_elapsed(elapsed)
                ));
            }
            ExecEvent::Failed { key, action, error } => {
                self.finish(&key);
                self.line(format!("{key}: {} failed: {error}", action));
            }
            ExecEvent::Paused {
                key,
                action,
                message,
            } => {
                self.finish(&key);
                self.line(format!("{key}: {} paused: {message}", action));
            }
            ExecEvent::Warning { key, message } => self.line(format!("{key}: warning: {message}")),
            ExecEvent::Skipped { key, reason } => self.line(format!("{key}: skipped: {reason}")),
        }
    }

    fn finish(&self, key: &str) {
        if let Mode::Bars { bars, .. } = &self.mode
            && let Ok(mut b) = bars.lock()
            && let Some(pb) = b.remove(key)
        {
            pb.finish_and_clear();
        }
    }
}

fn fmt_elapsed(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}
