//! `dtm state list | show | pull | push | rm | mv | unlock | migrate | import-devstream`.
//!
//! Every command that changes the state takes the state lock first (waiting up to
//! `--lock-timeout`), re-reads the state under it, writes with the backend's compare-and-swap and
//! releases the lock, also when it fails.

mod devstream;

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use dtm_backends::Backend;
use dtm_engine::plan::display_value;
use dtm_engine::state::State;
use dtm_engine::store::StateStore;
use dtm_engine::workspace::open_backend;
use serde_json::{Value, json};

use super::{Held, with_state_lock};
use crate::args::{ConfigArgs, Output, StateCommand};
use crate::exit::Exit;
use crate::render;
use crate::settings::{Environment, StateSettings};

/// Runs one `dtm state` subcommand.
/// Runs one `dtm state` subcommand. Each resolves its [`StateSettings`] where it first needs
/// them, after checking its own arguments.
pub(super) fn run(command: StateCommand, env: &Environment) -> Result<Exit> {
    let settings = |config: &ConfigArgs| StateSettings::resolve(config, env);
    match command {
        StateCommand::List { config } => list(&settings(&config)?),
        StateCommand::Show { config, id } => show(&settings(&config)?, &id),
        StateCommand::Pull { config } => pull(&settings(&config)?),
        StateCommand::Push {
            config,
            state_file,
            force,
        } => push(|| settings(&config), &state_file, force),
        StateCommand::Rm { config, ids } => rm(&settings(&config)?, &ids),
        StateCommand::Mv { config, old, new } => mv(|| settings(&config), &old, &new),
        StateCommand::Unlock { config, lock_id } => unlock(&settings(&config)?, &lock_id),
        StateCommand::Migrate { config, to, force } => {
            let target = ConfigArgs {
                file: to.clone(),
                ..config.clone()
            };
            let target = StateSettings::resolve(&target, env)
                .with_context(|| format!("cannot load the target config {}", to.display()))?;
            migrate(&settings(&config)?, &target, &to, force)
        }
        StateCommand::ImportDevstream {
            config,
            state_file,
            force,
        } => import_devstream(|| settings(&config), &state_file, force),
    }
}

fn open(settings: &StateSettings) -> Result<StateStore> {
    Ok(StateStore::open(open_backend(&settings.config)?)?)
}

/// Runs `change` under the state lock, on the state as re-read under it; releases the lock
/// whatever happens.
fn with_lock<T>(
    store: &mut StateStore,
    settings: &StateSettings,
    operation: &str,
    change: impl FnOnce(&mut StateStore) -> Result<T>,
) -> Result<T> {
    let held = Held {
        operation,
        finished: format!("`dtm {operation}` finished"),
        lock: "its state lock".into(),
    };
    with_state_lock(store, held, &settings.lock, |store| {
        store.reload()?;
        change(store)
    })
}

/// Prints `json` with `-o json`, else `text`.
fn report(settings: &StateSettings, text: &str, json: Value) -> Result<()> {
    match settings.output {
        Output::Json => render::json_out(&json)?,
        Output::Text => writeln!(std::io::stdout(), "{text}")?,
    }
    Ok(())
}

pub(super) fn list(settings: &StateSettings) -> Result<Exit> {
    let store = open(settings)?;
    let lock = store.backend().lock_info()?;
    match settings.output {
        Output::Json => {
            let tools: Vec<_> = store
                .state
                .resources
                .iter()
                .map(|(k, r)| json!({"id": k, "plugin": r.plugin, "plugin_version": r.plugin_version, "lifecycle": r.lifecycle, "updated": r.updated}))
                .collect();
            render::json_out(&json!({
                "location": store.location(), "exists": store.exists, "serial": store.state.serial,
                "lineage": store.state.lineage, "lock": lock, "tools": tools,
            }))?;
        }
        Output::Text => {
            let mut out = std::io::stdout().lock();
            if !store.exists {
                writeln!(out, "No state at {} yet.", store.location())?;
            }
            for (k, r) in &store.state.resources {
                let lc = serde_json::to_value(r.lifecycle)?;
                writeln!(
                    out,
                    "{k:<40} {:<10} {}",
                    lc.as_str().unwrap_or(""),
                    r.updated
                )?;
            }
            if let Some(l) = lock {
                writeln!(out, "\nlocked by {l}")?;
            }
        }
    }
    Ok(Exit::Ok)
}

pub(super) fn show(settings: &StateSettings, id: &str) -> Result<Exit> {
    let store = open(settings)?;
    let Some(r) = store.state.resources.get(id) else {
        bail!(
            "`{id}` is not recorded in state {}; `dtm state list` shows what is",
            store.location()
        );
    };
    let mut v = serde_json::to_value(r)?;
    v["options"] = display_value(&r.options);
    render::json_out(&v)?;
    Ok(Exit::Ok)
}

/// Prints the state document as dtm reads it (with any journal of an interrupted run applied).
pub(super) fn pull(settings: &StateSettings) -> Result<Exit> {
    let store = open(settings)?;
    if !store.exists {
        bail!("there is no state at {} yet", store.location());
    }
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &store.state)?;
    writeln!(out)?;
    Ok(Exit::Ok)
}

pub(super) fn push(
    settings: impl FnOnce() -> Result<StateSettings>,
    file: &Path,
    force: bool,
) -> Result<Exit> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut pushed = State::from_bytes(&bytes, &file.display().to_string())?;
    // The backend itself rather than a state store: with --force, push must also replace a
    // stored document that cannot be read (that is what it is for after a bad edit).
    let settings = settings()?;
    let mut backend = open_backend(&settings.config)?;
    let location = backend.location();
    let held = Held {
        operation: "state push",
        finished: "the state was pushed".into(),
        lock: "its lock".into(),
    };
    let serial = with_state_lock(&mut backend, held, &settings.lock, |backend| {
        let stored = backend.read()?;
        let mut bytes = bytes;
        if let Some(snapshot) = &stored {
            match State::from_bytes(&snapshot.bytes, &location) {
                Ok(current) => {
                    check_push(&current, &pushed, &location, file, force)?;
                    if pushed.serial <= current.serial {
                        // Serials only ever grow, so every reader can tell newer from older.
                        pushed.serial = current.serial + 1;
                        bytes = pushed.to_bytes();
                    }
                }
                Err(_) if force => {}
                Err(error) => {
                    return Err(anyhow::Error::from(error)
                        .context("use --force to replace what is stored with the file"));
                }
            }
        }
        backend.write(&bytes, stored.as_ref().map(|s| &s.version))?;
        Ok(pushed.serial)
    })?;
    report(
        &settings,
        &format!(
            "Pushed {} to {location} (serial {serial}, {} tools).",
            file.display(),
            pushed.resources.len()
        ),
        json!({"location": location, "file": file, "serial": serial, "tools": pushed.resources.len()}),
    )?;
    Ok(Exit::Ok)
}

/// Refuses to replace `current` with `pushed` when that would lose changes, unless `force`.
fn check_push(
    current: &State,
    pushed: &State,
    location: &str,
    file: &Path,
    force: bool,
) -> Result<()> {
    if force {
        return Ok(());
    }
    if current.lineage != pushed.lineage {
        bail!(
            "{location} holds state lineage {}, but {} is lineage {}: they are different states. \
             Nothing was written; use --force to replace it anyway",
            current.lineage,
            file.display(),
            pushed.lineage
        );
    }
    if pushed.serial < current.serial {
        bail!(
            "{location} is at serial {}, newer than {} (serial {}); pushing it would undo later \
             changes. Nothing was written; use --force to replace it anyway",
            current.serial,
            file.display(),
            pushed.serial
        );
    }
    if pushed.serial == current.serial && pushed.resources != current.resources {
        bail!(
            "{location} and {} are both at serial {} but differ; increase `serial` in the file if \
             it is the newer one. Nothing was written; use --force to replace it anyway",
            file.display(),
            current.serial
        );
    }
    Ok(())
}

pub(super) fn rm(settings: &StateSettings, ids: &[String]) -> Result<Exit> {
    let mut store = open(settings)?;
    let location = store.location();
    let dependents = with_lock(&mut store, settings, "state rm", |store| {
        let missing: Vec<&String> = ids
            .iter()
            .filter(|id| !store.state.resources.contains_key(*id))
            .collect();
        if !missing.is_empty() {
            bail!(
                "not recorded in state {location}: {}; `dtm state list` shows what is. Nothing \
                 was removed",
                missing
                    .iter()
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for id in ids {
            store.state.resources.remove(id);
        }
        let dependents: Vec<String> = store
            .state
            .resources
            .iter()
            .filter(|(_, r)| r.depends_on.iter().any(|d| ids.contains(d)))
            .map(|(k, _)| k.clone())
            .collect();
        store.save()?;
        Ok(dependents)
    })?;
    let mut text = format!(
        "Removed {} from state {location}; the tools themselves were not touched.",
        ids.join(", ")
    );
    if !dependents.is_empty() {
        text.push_str(&format!(
            "\nStill recorded as depending on them: {}",
            dependents.join(", ")
        ));
    }
    report(
        settings,
        &text,
        json!({"location": location, "removed": ids, "dependents": dependents}),
    )?;
    Ok(Exit::Ok)
}

pub(super) fn mv(
    settings: impl FnOnce() -> Result<StateSettings>,
    old: &str,
    new: &str,
) -> Result<Exit> {
    let (Some((old_plugin, _)), Some((new_plugin, new_instance))) =
        (old.split_once('.'), new.split_once('.'))
    else {
        bail!("tool ids are `name.instanceID`, e.g. `file.readme`; got `{old}` and `{new}`");
    };
    if old_plugin != new_plugin {
        bail!(
            "`{old}` is a `{old_plugin}` tool; it can only be renamed to `{old_plugin}.INSTANCE`, \
             not `{new}` (a tool cannot change its plugin)"
        );
    }
    if new_instance.is_empty() {
        bail!("`{new}` has an empty instance id");
    }
    let settings = settings()?;
    let mut store = open(&settings)?;
    let location = store.location();
    let updated = with_lock(&mut store, &settings, "state mv", |store| {
        if store.state.resources.contains_key(new) {
            bail!("`{new}` is already recorded in state {location}; nothing was changed");
        }
        let Some(mut resource) = store.state.resources.remove(old) else {
            bail!("`{old}` is not recorded in state {location}; `dtm state list` shows what is");
        };
        resource.instance_id = new_instance.to_owned();
        store.state.resources.insert(new.to_owned(), resource);
        let mut updated = Vec::new();
        for (key, resource) in &mut store.state.resources {
            for dependency in &mut resource.depends_on {
                if dependency == old {
                    *dependency = new.to_owned();
                    updated.push(key.clone());
                }
            }
        }
        store.save()?;
        Ok(updated)
    })?;
    report(
        &settings,
        &format!("Moved {old} to {new} in state {location}."),
        json!({"location": location, "from": old, "to": new, "dependents_updated": updated}),
    )?;
    Ok(Exit::Ok)
}

pub(super) fn unlock(settings: &StateSettings, lock_id: &str) -> Result<Exit> {
    let backend = open_backend(&settings.config)?;
    backend.unlock(lock_id)?;
    report(
        settings,
        &format!("Released lock {lock_id} on {}.", backend.location()),
        json!({"location": backend.location(), "released": lock_id}),
    )?;
    Ok(Exit::Ok)
}

/// Copies this config's state to the backend of the config `to`, under both locks, and reads it
/// back to check.
pub(super) fn migrate(
    settings: &StateSettings,
    target_settings: &StateSettings,
    to: &Path,
    force: bool,
) -> Result<Exit> {
    let mut target = open_backend(&target_settings.config)?;
    let mut store = open(settings)?;
    let source_location = store.location();
    let target_location = target.location();
    if source_location == target_location {
        bail!(
            "{} and this config use the same state ({source_location}); nothing to migrate",
            to.display()
        );
    }
    let (serial, tools, size) = with_lock(&mut store, settings, "state migrate", |store| {
        if !store.exists {
            bail!("there is no state at {source_location} to migrate");
        }
        let held = Held {
            operation: "state migrate",
            finished: "the state was copied".into(),
            lock: format!("the lock on {target_location}"),
        };
        with_state_lock(&mut target, held, &settings.lock, |target| {
            copy_to(store, target.as_ref(), force)
        })
    })?;
    report(
        settings,
        &format!(
            "Copied the state (serial {serial}, {tools} tools, {size} bytes) from {source_location} \
             to {target_location} and read it back. The old state was left in place; point your \
             config at the new backend and remove the old state when you are sure."
        ),
        json!({"from": source_location, "to": target_location, "serial": serial, "tools": tools, "bytes": size, "verified": true}),
    )?;
    Ok(Exit::Ok)
}

/// Writes the store's state to `target` (whose lock is held) and checks it reads back the same.
fn copy_to(store: &StateStore, target: &dyn Backend, force: bool) -> Result<(u64, usize, usize)> {
    let location = target.location();
    let existing = target.read()?;
    if let Some(snapshot) = &existing {
        match State::from_bytes(&snapshot.bytes, &location) {
            Ok(state) if state.resources.is_empty() || force => {}
            Ok(state) => bail!(
                "{location} already holds a state with {} tools; nothing was written. Use --force \
                 to replace it",
                state.resources.len()
            ),
            Err(_) if force => {}
            Err(error) => {
                return Err(anyhow::Error::from(error)
                    .context("the target already holds something; use --force to replace it"));
            }
        }
    }
    let bytes = store.state.to_bytes();
    let version = target.write(&bytes, existing.as_ref().map(|s| &s.version))?;
    match target.read()? {
        Some(back) if back.bytes == bytes && back.version == version => {}
        Some(_) => bail!(
            "the state written to {location} read back differently; check that nothing else \
             writes there, then run the migration again"
        ),
        None => bail!("the state written to {location} could not be read back"),
    }
    Ok((store.state.serial, store.state.resources.len(), bytes.len()))
}

pub(super) fn import_devstream(
    settings: impl FnOnce() -> Result<StateSettings>,
    file: &Path,
    force: bool,
) -> Result<Exit> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let now = dtm_engine::state::now_rfc3339();
    let imported = devstream::convert(&text, &file.display().to_string(), &now)?;
    let settings = settings()?;
    let mut store = open(&settings)?;
    let location = store.location();
    let ids: Vec<String> = imported.keys().cloned().collect();
    with_lock(&mut store, &settings, "state import-devstream", |store| {
        if !store.state.resources.is_empty() && !force {
            bail!(
                "state {location} already records {} tools; nothing was imported. Use --force to \
                 import anyway (imported tools replace recorded ones with the same id, others are \
                 kept)",
                store.state.resources.len()
            );
        }
        store.state.resources.extend(imported);
        store.save()?;
        Ok(())
    })?;
    report(
        &settings,
        &format!(
            "Imported {} tools from {} into state {location}: {}.\nTheir options are recorded as \
             DevStream kept them; the next `dtm apply` records them anew (with secrets redacted). \
             Run `dtm plan` to compare them with your config.",
            ids.len(),
            file.display(),
            ids.join(", ")
        ),
        json!({"location": location, "file": file, "imported": ids}),
    )?;
    Ok(Exit::Ok)
}
