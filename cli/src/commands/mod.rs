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
use dtm_backends::Backend;
use dtm_engine::registry::LockMode;
use dtm_engine::store::{StateStore, lock_waiting};
use dtm_engine::workspace::{EngineError, lock_info};

use crate::args::{Cli, Command, ListCommand, ShowCommand};
use crate::exit::Exit;
use crate::settings::{
    ConfigSettings, Environment, LockSettings, PluginSettings, WorkspaceSettings,
};

/// Resolves the parsed command's settings and runs it; returns how it ended.
pub(crate) fn dispatch(cli: Cli, env: &Environment) -> Result<Exit> {
    let workspace = |args, mode| WorkspaceSettings::resolve(args, mode, false, env);
    let exit = match cli.command {
        Command::Init {
            config,
            upgrade,
            insecure_http,
        } => {
            let mode = if upgrade {
                LockMode::Upgrade
            } else {
                LockMode::Init
            };
            init::run(WorkspaceSettings::resolve(
                &config,
                mode,
                insecure_http,
                env,
            )?)?
        }
        Command::Plugin { command } => plugin::run(command, &PluginSettings::resolve(env))?,
        Command::Plan {
            config,
            detailed_exitcode,
        } => plan::run(workspace(&config, LockMode::Auto)?, detailed_exitcode)?,
        Command::Apply { config, confirm } => apply::run(
            workspace(&config, LockMode::Auto)?,
            confirm.yes,
            apply::Kind::Apply,
        )?,
        Command::Delete { config, confirm } => apply::run(
            workspace(&config, LockMode::Auto)?,
            confirm.yes,
            apply::Kind::Delete,
        )?,
        Command::Destroy { config, confirm } => apply::run(
            workspace(&config, LockMode::Auto)?,
            confirm.yes,
            apply::Kind::Destroy,
        )?,
        // Frozen: plugins must be exactly the locked builds; verify never resolves or writes
        // the lock.
        Command::Verify { config } => verify::run(workspace(&config, LockMode::Frozen)?)?,
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
            Some(name) => show::plugin(
                &config,
                &registry,
                &name,
                version.as_ref(),
                schema,
                &PluginSettings::resolve(env),
            )?,
            None => show::config(workspace(&config, LockMode::Frozen)?)?,
        },
        Command::Show {
            what: ShowCommand::Status { config, id },
        } => show::status(workspace(&config, LockMode::Auto)?, id.as_deref())?,
        Command::List {
            what:
                ListCommand::Plugins {
                    plugin_dir,
                    registry,
                    output,
                },
        } => list::plugins(
            plugin_dir.as_ref(),
            &registry,
            output,
            &PluginSettings::resolve(env),
        )?,
        Command::Graph { config } => graph::run(ConfigSettings::resolve(&config, env)?)?,
        Command::State { command } => state::run(command, env)?,
        Command::Version { output } => version::run(output)?,
        Command::Completion { shell } => completion::run(shell)?,
    };
    Ok(exit)
}

/// Says on stderr that the lock of a run that is gone was taken over, and what to do.
pub(crate) fn warn_taken_over(location: &str, taken: Option<dtm_backends::TakenOver>) {
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

/// Opens the state of a resolved workspace and loads every plugin the config or the state
/// needs.
pub(crate) fn open(mut settings: WorkspaceSettings) -> Result<(WorkspaceSettings, StateStore)> {
    let store = settings.workspace.open_state()?;
    let extra: Vec<String> = store
        .state
        .resources
        .values()
        .map(|r| r.plugin.clone())
        .collect();
    let loaded = settings.workspace.load_plugins(extra);
    crate::render::warnings_text(&settings.workspace.warnings)?;
    loaded.map_err(|e| plugin_error(e, "cannot load plugins"))?;
    Ok((settings, store))
}

/// Something whose state lock can be taken: a state store, or a bare backend.
pub(crate) trait Lockable {
    /// The backend holding the lock.
    fn lock_backend(&self) -> &dyn Backend;
}

impl Lockable for StateStore {
    fn lock_backend(&self) -> &dyn Backend {
        self.backend()
    }
}

impl Lockable for Box<dyn Backend> {
    fn lock_backend(&self) -> &dyn Backend {
        self.as_ref()
    }
}

/// What a command holding a state lock says if it cannot release it.
#[derive(Debug)]
pub(crate) struct Held<'a> {
    /// Recorded in the lock (`apply`, `state rm`).
    pub operation: &'a str,
    /// What finished (`the apply finished`, `the state was pushed`).
    pub finished: String,
    /// Which lock (`its state lock`, `the lock on s3://...`).
    pub lock: String,
}

/// Takes `target`'s state lock (waiting as `settings` says), runs `run` and releases the lock
/// whatever happened. A lock that cannot be released after `run` succeeded is an error that
/// says how to release it by hand.
pub(crate) fn with_state_lock<S: Lockable + ?Sized, T>(
    target: &mut S,
    held: Held<'_>,
    settings: &LockSettings,
    run: impl FnOnce(&mut S) -> Result<T>,
) -> Result<T> {
    let info = lock_info(held.operation, &settings.user);
    let taken = lock_waiting(target.lock_backend(), &info, settings.wait)?;
    warn_taken_over(&target.lock_backend().location(), taken);
    let result = run(target);
    let unlocked = target.lock_backend().unlock(&info.id);
    let value = result?;
    unlocked.with_context(|| {
        format!(
            "{}, but {} could not be released; release it with `dtm state unlock {}`",
            held.finished, held.lock, info.id
        )
    })?;
    Ok(value)
}

/// An error from loading plugins, headed `what` unless it is about the config (options, unknown
/// plugins), which speaks for itself.
pub(crate) fn plugin_error(e: EngineError, what: &'static str) -> anyhow::Error {
    match e {
        EngineError::Config(e) => e.into(),
        e => anyhow::Error::new(e).context(what),
    }
}
