//! `dtm completion SHELL`.

use anyhow::Result;
use clap::CommandFactory;

use crate::args::Cli;
use crate::exit::Exit;

pub(super) fn run(shell: clap_complete::Shell) -> Result<Exit> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "dtm", &mut std::io::stdout());
    Ok(Exit::Ok)
}
