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
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Changes => 2,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit {}", self.code())
    }
}

/// Prints an error for a user and says how the run ended. A broken pipe on stdout is not an
/// error.
pub(crate) fn report(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return Exit::Ok;
        }
    }
    let style = console::Style::new().red().bold().for_stderr();
    let _ = writeln!(
        std::io::stderr(),
        "{} {}",
        style.apply_to("error:"),
        chain(err)
    );
    Exit::Failed
}

/// The error and its causes, outermost first, each cause on its own line. No message repeats
/// its source's text, so every line says something new.
fn chain(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        text.push_str(&format!("\n  caused by: {cause}"));
    }
    text
}
