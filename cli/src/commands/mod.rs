//! One module per command; `dispatch` routes to them.

mod apply;
mod completion;
mod graph;
mod init;
mod list;
mod plan;
mod plugin;
mod show;
mod state;
mod verify;
mod version;

use anyhow::{Context, Result};
use dtm_engine::registry::LockMode;
use dtm_engine::store::StateStore;

use crate::args::{Cli, Command, ConfigArgs, ListCommand, ShowCommand};
use crate::settings::{self, Resolved};

/// Runs the parsed command; returns the exit code.
pub fn dispatch(cli: Cli) -> Result<i32> {
    let exit = match cli.command {
        Command::Init {
            config,
            upgrade,
            insecure_http,
        } => init::run(&config, upgrade, insecure_http)?,
        Command::Plugin { command } => plugin::run(command)?,
        Command::Plan {
            config,
            detailed_exitcode,
        } => plan::run(&config, detailed_exitcode)?,
        Command::Apply { config, confirm } => apply::run(&config, confirm.yes, apply::Kind::Apply)?,
        Command::Delete { config, confirm } => {
            apply::run(&config, confirm.yes, apply::Kind::Delete)?
        }
        Command::Destroy { config, confirm } => {
            apply::run(&config, confirm.yes, apply::Kind::Destroy)?
        }
        Command::Verify { config } => verify::run(&config)?,
        Command::Show {
            what:
                ShowCommand::Config {
                    config,
                    plugin,
                    schema,
                    version,
                    registry,
                },
        } => match plugin {
            Some(name) => show::plugin(&config, &registry, &name, version.as_ref(), schema)?,
            None => show::config(&config)?,
        },
        Command::Show {
            what: ShowCommand::Status { config, id },
        } => show::status(&config, id.as_deref())?,
        Command::List {
            what:
                ListCommand::Plugins {
                    plugin_dir,
                    registry,
                    output,
                },
        } => list::plugins(plugin_dir.as_ref(), &registry, output)?,
        Command::Graph { config } => graph::run(&config)?,
        Command::State { command } => state::run(command)?,
        Command::Version { output } => version::run(output)?,
        Command::Completion { shell } => completion::run(shell)?,
    };
    Ok(exit.code())
}

/// Loads config, state and every plugin either of them needs.
pub fn open(args: &ConfigArgs) -> Result<(Resolved, StateStore)> {
    open_with(args, LockMode::Auto)
}

/// Says on stderr that the lock of a run that is gone was taken over, and what to do.
pub fn warn_taken_over(location: &str, taken: Option<dtm_backends::TakenOver>) {
    if let Some(taken) = taken {
        use std::io::Write;
        // Nothing to do if stderr is gone.
        let _ = writeln!(
            std::io::stderr(),
            "warning: state {location}: {taken}. If that run stopped halfway, its completed \
             changes were saved: the plan shows what is left"
        );
    }
}

/// Like [`open`], with the lock file treated as `mode` says.
pub fn open_with(args: &ConfigArgs, mode: LockMode) -> Result<(Resolved, StateStore)> {
    let mut resolved = settings::resolve_with(args, mode)?;
    let store = resolved.workspace.open_state()?;
    let extra: Vec<String> = store
        .state
        .resources
        .values()
        .map(|r| r.plugin.clone())
        .collect();
    resolved
        .workspace
        .load_plugins(extra)
        .context("cannot load plugins")?;
    Ok((resolved, store))
}
