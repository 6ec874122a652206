//! What users see while plugins are resolved and downloaded: a progress bar per file on a
//! terminal, plain lines on stderr otherwise (CI logs). Always on stderr, so `-o json` output on
//! stdout stays one document.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dtm_engine::registry::{Event, EventSink};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

enum Mode {
    Bars {
        multi: MultiProgress,
        bars: Mutex<HashMap<String, ProgressBar>>,
    },
    Lines,
}

struct Downloads {
    mode: Mode,
}

/// The event sink for registry work.
pub(crate) fn sink() -> EventSink {
    let mode = if std::io::stderr().is_terminal() {
        Mode::Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::default(),
        }
    } else {
        Mode::Lines
    };
    let d = Arc::new(Downloads { mode });
    Arc::new(move |e| d.on(e))
}

impl Downloads {
    fn line(&self, text: String) {
        match &self.mode {
            Mode::Bars { multi, .. } => {
                let _ = multi.println(text);
            }
            Mode::Lines => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }

    fn on(&self, event: Event) {
        match event {
            Event::Info(text) => self.line(text),
            Event::Warning(text) => self.line(format!("warning: {text}")),
            Event::Retry {
                url,
                attempt,
                wait,
                reason,
            } => self.line(format!(
                "retrying {url} in {} (attempt {attempt}: {reason})",
                fmt_duration(wait)
            )),
            Event::DownloadStart { id, url } => match &self.mode {
                Mode::Bars { multi, bars } => {
                    let pb = multi.add(ProgressBar::new(0));
                    pb.set_style(
                        ProgressStyle::with_template(
                            "{prefix:.bold} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    pb.set_prefix(id.clone());
                    if let Ok(mut b) = bars.lock() {
                        b.insert(id, pb);
                    }
                }
                Mode::Lines => self.line(format!("downloading {id} from {url}")),
            },
            Event::DownloadProgress { id, done, total } => {
                if let Mode::Bars { bars, .. } = &self.mode
                    && let Ok(b) = bars.lock()
                    && let Some(pb) = b.get(&id)
                {
                    if let Some(t) = total {
                        pb.set_length(t);
                    }
                    pb.set_position(done);
                }
            }
            Event::DownloadEnd {
                id,
                bytes,
                elapsed,
                ok,
            } => {
                if let Mode::Bars { bars, .. } = &self.mode
                    && let Ok(mut b) = bars.lock()
                    && let Some(pb) = b.remove(&id)
                {
                    pb.finish_and_clear();
                }
                if ok {
                    self.line(format!(
                        "downloaded {id} ({} in {})",
                        fmt_bytes(bytes),
                        fmt_duration(elapsed)
                    ));
                }
            }
        }
    }
}

fn fmt_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20))
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}
