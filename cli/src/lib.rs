//! The dtm command-line interface. `main.rs` calls [`run`]; everything else lives in modules:
//! `args` (clap definitions), `settings` (one validated settings struct from flags, environment
//! and config), `commands` (one module per command), `render` and `progress` (what users read).
#![forbid(unsafe_code)]

mod args;
mod commands;
mod downloads;
mod exit;
mod progress;
mod render;
mod settings;

use std::ffi::OsString;

use clap::Parser;

pub use exit::Exit;

/// Runs dtm with the given arguments; returns the process exit code.
pub fn run(argv: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match args::Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}
