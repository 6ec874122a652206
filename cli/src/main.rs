//! The `dtm` binary: parse arguments, run, map the outcome to an exit code.
#![forbid(unsafe_code)]

fn main() {
    let code = dtm_cli::run(std::env::args_os());
    std::process::exit(code);
}
