//! `dtm apply`, `dtm delete`, `dtm destroy`: plan, confirm, execute under the state lock.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use dtm_engine::executor::{ExecInput, ExecOptions, execute};
use dtm_engine::plan::Mode;
use dtm_engine::workspace::lock_info;
use serde_json::json;

use crate::args::{ConfigArgs, Output};
use crate::exit::Exit;
use crate::progress::Progress;
use crate::render;

/// Which command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Apply,
    Delete,
    Destroy,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Apply => "apply",
            Kind::Delete => "delete",
            Kind::Destroy => "destroy",
        }
    }
    fn mode(self) -> Mode {
        match self {
            Kind::Apply => Mode::Apply,
            Kind::Delete => Mode::DeleteConfigured,
            Kind::Destroy => Mode::Destroy,
        }
    }
    fn title(self) -> &'static str {
        match self {
            Kind::Apply => "Apply",
            Kind::Delete => "Delete",
            Kind::Destroy => "Destroy",
        }
    }
}

/// Ctrl-C flags, shared with the signal handler (installed once per process).
struct Interrupt {
    cancel: Arc<AtomicBool>,
    abandon: Arc<AtomicBool>,
}

fn install_interrupt() -> Result<Interrupt> {
    let cancel = Arc::new(AtomicBool::new(false));
    let abandon = Arc::new(AtomicBool::new(false));
    let presses = AtomicUsize::new(0);
    let (c, a) = (cancel.clone(), abandon.clone());
    ctrlc::set_handler(move || {
        let n = presses.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            c.store(true, Ordering::SeqCst);
            let _ = writeln!(
                std::io::stderr(),
                "\ninterrupted: no new steps will start; waiting for running ones to finish, then saving state (press Ctrl-C again to abandon them)"
            );
        } else {
            a.store(true, Ordering::SeqCst);
            let _ = writeln!(std::io::stderr(), "\ninterrupted again: abandoning running steps (they will be marked failed)");
        }
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(Interrupt { cancel, abandon })
}

/// Asks for "yes" on the terminal; gives up if interrupted.
fn confirm(kind: Kind, cancel: &AtomicBool) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to {} without confirmation: stdin is not a terminal. Re-run with -y (--yes) to approve the plan above",
            kind.name()
        );
    }
    let mut err = std::io::stderr();
    write!(
        err,
        "\nDo you want to {} these changes? Only 'yes' will be accepted: ",
        kind.name()
    )?;
    err.flush()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let r = std::io::stdin().lock().read_line(&mut line).map(|_| line);
        let _ = tx.send(r);
    });
    loop {
        if cancel.load(Ordering::SeqCst) {
            return Ok(false);
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => return Ok(line?.trim() == "yes"),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(false),
        }
    }
}

pub fn run(args: &ConfigArgs, yes: bool, kind: Kind) -> Result<Exit> {
    let (resolved, mut store) = super::open(args)?;
    let ws = &resolved.workspace;
    let json = resolved.output == Output::Json;
    let interrupt = install_interrupt()?;

    let info = lock_info(kind.name(), &crate::settings::user_name());
    super::warn_taken_over(
        &store.location(),
        store.lock(&info, ws.settings.lock_timeout)?,
    );
    let result = locked(&resolved, &mut store, yes, kind, json, &interrupt);
    let unlocked = store.backend().unlock(&info.id);
    let exit = result?;
    unlocked.with_context(|| format!("the {} finished, but its state lock could not be released; release it with `dtm state unlock {}`", kind.name(), info.id))?;
    Ok(exit)
}

fn locked(
    resolved: &crate::settings::Resolved,
    store: &mut dtm_engine::store::StateStore,
    yes: bool,
    kind: Kind,
    json: bool,
    interrupt: &Interrupt,
) -> Result<Exit> {
    let ws = &resolved.workspace;
    // Someone may have written between our first read and the lock.
    store.reload()?;
    let plan = ws.plan(&store.state, kind.mode())?;
    if !json {
        render::plan_text(&mut std::io::stdout().lock(), &plan)?;
    }
    if interrupt.cancel.load(Ordering::SeqCst) {
        return Ok(Exit::Interrupted);
    }
    if !plan.has_changes() {
        record_secret_sources(kind, &ws.config, store)?;
        store.compact().context("cannot save state")?;
        if json {
            render::json_out(&json!({ "plan": render::plan_json(&plan), "outcome": null }))?;
        }
        return Ok(Exit::Ok);
    }
    if !yes && !confirm(kind, &interrupt.cancel)? {
        if interrupt.cancel.load(Ordering::SeqCst) {
            return Ok(Exit::Interrupted);
        }
        eprintln!("{} cancelled: nothing was changed.", kind.title());
        return Ok(Exit::Failed);
    }
    let progress = Progress::new(json);
    let opts = ExecOptions {
        parallelism: ws.settings.parallelism,
        interrupt: interrupt.cancel.clone(),
        abandon: interrupt.abandon.clone(),
        default_timeout: ws.settings.default_timeout,
        workdir: ws.config.dir.clone(),
        events: progress.sink(),
    };
    record_secret_sources(kind, &ws.config, store)?;
    let input = ExecInput {
        config: &ws.config,
        plugins: &ws.plugins,
        env: &ws.settings.env,
    };
    let outcome = execute(&plan, &input, store, &opts);
    if json {
        render::json_out(&json!({ "plan": render::plan_json(&plan), "outcome": outcome }))?;
    } else {
        render::outcome_text(&mut std::io::stdout().lock(), &outcome, kind.title())?;
    }
    Ok(if outcome.interrupted {
        Exit::Interrupted
    } else if outcome.success() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}

/// `apply` records where the secrets of unchanged tools come from when state lacks it (a state
/// written before dtm recorded it, a renamed variable), so that each tool can still be deleted
/// with its secrets once it is removed from the config. No plugin is called.
fn record_secret_sources(
    kind: Kind,
    config: &dtm_engine::config::Config,
    store: &mut dtm_engine::store::StateStore,
) -> Result<()> {
    if kind != Kind::Apply {
        return Ok(());
    }
    let keys = dtm_engine::executor::record_secret_sources(config, &mut store.state);
    if !keys.is_empty() {
        store.save_changes(&keys).context("cannot save state")?;
    }
    Ok(())
}
