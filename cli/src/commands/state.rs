//! `dtm state list | show | pull | push | rm | mv | unlock | migrate | import-devstream`.
//!
//! Every command that changes the state takes the state lock first (waiting up to
//! `--lock-timeout`), re-reads the state under it, writes with the backend's compare-and-swap and
//! releases the lock, also when it fails.

mod devstream;

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use dtm_backends::{Backend, LockInfo};
use dtm_engine::plan::display_value;
use dtm_engine::state::State;
use dtm_engine::store::StateStore;
use dtm_engine::workspace::{lock_info, open_backend};
use serde_json::{Value, json};

use crate::args::{ConfigArgs, Output, StateCommand};
use crate::exit::Exit;
use crate::render;
use crate::settings;

/// Runs one `dtm state` subcommand.
pub fn run(command: StateCommand) -> Result<Exit> {
    match command {
        StateCommand::List { config } => list(&config),
        StateCommand::Show { config, id } => show(&config, &id),
        StateCommand::Pull { config } => pull(&config),
        StateCommand::Push {
            config,
            state_file,
            force,
        } => push(&config, &state_file, force),
        StateCommand::Rm { config, ids } => rm(&config, &ids),
        StateCommand::Mv { config, old, new } => mv(&config, &old, &new),
        StateCommand::Unlock { config, lock_id } => unlock(&config, &lock_id),
        StateCommand::Migrate { config, to, force } => migrate(&config, &to, force),
        StateCommand::ImportDevstream {
            config,
            state_file,
            force,
        } => import_devstream(&config, &state_file, force),
    }
}

fn open(args: &ConfigArgs) -> Result<StateStore> {
    let cfg = settings::load_config(args)?;
    Ok(StateStore::open(open_backend(&cfg)?)?)
}

/// Runs `change` under the state lock, on the state as re-read under it; releases the lock
/// whatever happens.
fn with_lock<T>(
    store: &mut StateStore,
    args: &ConfigArgs,
    operation: &str,
    change: impl FnOnce(&mut StateStore) -> Result<T>,
) -> Result<T> {
    let info = lock_info(operation, &crate::settings::user_name());
    super::warn_taken_over(&store.location(), store.lock(&info, args.lock_timeout)?);
    let result = store
        .reload()
        .map_err(anyhow::Error::from)
        .and_then(|()| change(store));
    let unlocked = store.backend().unlock(&info.id);
    let value = result?;
    unlocked.with_context(|| {
        format!(
            "`dtm {operation}` finished, but its state lock could not be released; release it \
             with `dtm state unlock {}`",
            info.id
        )
    })?;
    Ok(value)
}

/// Prints `json` with `-o json`, else `text`.
fn report(args: &ConfigArgs, text: &str, json: Value) -> Result<()> {
    match args.output {
        Output::Json => render::json_out(&json)?,
        Output::Text => writeln!(std::io::stdout(), "{text}")?,
    }
    Ok(())
}

pub fn list(args: &ConfigArgs) -> Result<Exit> {
    let store = open(args)?;
    let lock = store.backend().lock_info()?;
    match args.output {
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

pub fn show(args: &ConfigArgs, id: &str) -> Result<Exit> {
    let store = open(args)?;
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
pub fn pull(args: &ConfigArgs) -> Result<Exit> {
    let store = open(args)?;
    if !store.exists {
        bail!("there is no state at {} yet", store.location());
    }
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &store.state)?;
    writeln!(out)?;
    Ok(Exit::Ok)
}

pub fn push(args: &ConfigArgs, file: &Path, force: bool) -> Result<Exit> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut pushed = State::from_bytes(&bytes, &file.display().to_string())?;
    // The backend itself rather than a state store: with --force, push must also replace a
    // stored document that cannot be read (that is what it is for after a bad edit).
    let cfg = settings::load_config(args)?;
    let backend = open_backend(&cfg)?;
    let location = backend.location();
    let info = lock_info("state push", &crate::settings::user_name());
    lock_waiting(backend.as_ref(), &info, args.lock_timeout)?;
    let result = (|| -> Result<u64> {
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
    })();
    let unlocked = backend.unlock(&info.id);
    let serial = result?;
    unlocked.with_context(|| {
        format!(
            "the state was pushed, but its lock could not be released; release it with `dtm \
             state unlock {}`",
            info.id
        )
    })?;
    report(
        args,
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

pub fn rm(args: &ConfigArgs, ids: &[String]) -> Result<Exit> {
    let mut store = open(args)?;
    let location = store.location();
    let dependents = with_lock(&mut store, args, "state rm", |store| {
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
        args,
        &text,
        json!({"location": location, "removed": ids, "dependents": dependents}),
    )?;
    Ok(Exit::Ok)
}

pub fn mv(args: &ConfigArgs, old: &str, new: &str) -> Result<Exit> {
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
    let mut store = open(args)?;
    let location = store.location();
    let updated = with_lock(&mut store, args, "state mv", |store| {
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
        args,
        &format!("Moved {old} to {new} in state {location}."),
        json!({"location": location, "from": old, "to": new, "dependents_updated": updated}),
    )?;
    Ok(Exit::Ok)
}

pub fn unlock(args: &ConfigArgs, lock_id: &str) -> Result<Exit> {
    let cfg = settings::load_config(args)?;
    let backend = open_backend(&cfg)?;
    backend.unlock(lock_id)?;
    report(
        args,
        &format!("Released lock {lock_id} on {}.", backend.location()),
        json!({"location": backend.location(), "released": lock_id}),
    )?;
    Ok(Exit::Ok)
}

/// Copies this config's state to the backend of the config `to`, under both locks, and reads it
/// back to check.
pub fn migrate(args: &ConfigArgs, to: &Path, force: bool) -> Result<Exit> {
    let target_args = ConfigArgs {
        file: to.to_path_buf(),
        ..args.clone()
    };
    let target_config = settings::load_config(&target_args)
        .with_context(|| format!("cannot load the target config {}", to.display()))?;
    let target = open_backend(&target_config)?;
    let mut store = open(args)?;
    let source_location = store.location();
    let target_location = target.location();
    if source_location == target_location {
        bail!(
            "{} and this config use the same state ({source_location}); nothing to migrate",
            to.display()
        );
    }
    let (serial, tools, size) = with_lock(&mut store, args, "state migrate", |store| {
        if !store.exists {
            bail!("there is no state at {source_location} to migrate");
        }
        let info = lock_info("state migrate", &crate::settings::user_name());
        lock_waiting(target.as_ref(), &info, args.lock_timeout)?;
        let copied = copy_to(store, target.as_ref(), force);
        let unlocked = target.unlock(&info.id);
        let copied = copied?;
        unlocked.with_context(|| {
            format!(
                "the state was copied, but the lock on {target_location} could not be released; \
                 release it with `dtm state unlock {}`",
                info.id
            )
        })?;
        Ok(copied)
    })?;
    report(
        args,
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

/// Takes `backend`'s lock, polling for up to `wait` while someone else holds it.
fn lock_waiting(
    backend: &dyn Backend,
    info: &LockInfo,
    wait: std::time::Duration,
) -> Result<(), dtm_backends::BackendError> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match backend.lock(info) {
            Err(dtm_backends::BackendError::Locked { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(error) => return Err(error),
            Ok(taken) => {
                super::warn_taken_over(&backend.location(), taken);
                return Ok(());
            }
        }
    }
}

pub fn import_devstream(args: &ConfigArgs, file: &Path, force: bool) -> Result<Exit> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let now = dtm_engine::state::now_rfc3339();
    let imported = devstream::convert(&text, &file.display().to_string(), &now)?;
    let mut store = open(args)?;
    let location = store.location();
    let ids: Vec<String> = imported.keys().cloned().collect();
    with_lock(&mut store, args, "state import-devstream", |store| {
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
        args,
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
