//! Exit codes, in one place.

use std::fmt;
use std::io::Write;

/// A non-error outcome that still needs a specific exit code (drift, interruption).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything succeeded and nothing is pending.
    Ok,
    /// Changes are pending (verify, plan --detailed-exitcode).
    Changes,
    /// Some step failed; details were already printed.
    Failed,
    /// Interrupted by the user.
    Interrupted,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Changes => 2,
            Exit::Interrupted => 130,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit {}", self.code())
    }
}

/// Prints an error for a user and returns the exit code. A broken pipe on stdout is not an error.
pub fn report(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return 0;
        }
    }
    let style = console::Style::new().red().bold().for_stderr();
    let mut text = format!("{}", err);
    // anyhow's context chain: outermost first, each cause on its own line.
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(&format!("\n  caused by: {c}"));
        }
    }
    let _ = writeln!(std::io::stderr(), "{} {text}", style.apply_to("error:"));
    1
}
