//! The `dtm` binary: parse arguments, run, map the outcome to an exit code.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    dtm_cli::run(std::env::args_os())
}
