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
use std::process::ExitCode;

use clap::Parser;

pub use exit::Exit;

/// Runs dtm with the given arguments; returns the process exit code.
pub fn run(argv: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match args::Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Failed.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    let env = settings::Environment::capture();
    if env.no_color() {
        console::set_colors_enabled(false);
    }
    match commands::dispatch(cli, &env) {
        Ok(exit) => exit.into(),
        Err(err) => exit::report(&err).into(),
    }
}
