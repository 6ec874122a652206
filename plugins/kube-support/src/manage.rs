//! The life cycle of a set of applied objects, shared by the Kubernetes plugins: apply (with
//! definitions first and pruning of objects no longer wanted), wait for readiness with pending
//! steps, read for drift, delete and wait until gone.
//!
//! The status a plugin records is `{"objects": {"Kind ns/name": {"apiVersion", "digest"}}}`,
//! where the digest is [`fingerprint`](crate::objects::fingerprint) of the object as applied.
//! `read` reports the same shape for the live objects, so a hand edit of an applied field, or a
//! deleted object, shows as drift on exactly that object.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dtm_plugin_sdk::prelude::*;
use serde_json::{Map, Value, json};

use crate::cluster::{Cluster, Kind};
use crate::objects::{Object, ObjectKey, apply_rank, fingerprint, sort_for_apply};
use crate::ready::Readiness;
use crate::wait::Deadline;

/// How objects are applied and waited for.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server-side apply field manager.
    pub field_manager: String,
    /// Take over fields other managers own.
    pub force: bool,
    /// Wait for readiness after apply, and for removal after delete.
    pub wait: bool,
    /// How long to wait.
    pub wait_timeout: Duration,
    /// The tool instance (`name.instanceID`), written on every applied object as the
    /// [`OWNER_ANNOTATION`] so that dtm never deletes an object it did not apply.
    pub owner: String,
}

/// The annotation naming the tool instance that applied an object.
pub const OWNER_ANNOTATION: &str = "dtm/instance";

/// Whether `live` carries `owner` in its [`OWNER_ANNOTATION`].
pub fn owned_by(live: &Value, owner: &str) -> bool {
    live.pointer("/metadata/annotations")
        .and_then(|a| a.get(OWNER_ANNOTATION))
        .and_then(Value::as_str)
        == Some(owner)
}

fn mark_owner(object: &mut Object, owner: &str) {
    if let Some(meta) = object
        .body
        .as_object_mut()
        .and_then(|m| m.get_mut("metadata"))
        .and_then(Value::as_object_mut)
    {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(a) = annotations {
            a.insert(OWNER_ANNOTATION.into(), Value::String(owner.to_owned()));
        }
    }
}

/// Decides readiness of a live object; [`crate::ready::readiness`] unless a plugin knows better.
pub type ReadyFn = fn(&Value) -> Readiness;

/// How long one call keeps polling before it hands back a pending step.
const IN_CALL_POLL: Duration = Duration::from_secs(3);
const POLL_EVERY: Duration = Duration::from_millis(250);
/// The delay a pending step asks for.
const PENDING_DELAY: Duration = Duration::from_secs(2);
/// How long to wait for a definition applied in the same step to be served.
const DEFINITION_WAIT: Duration = Duration::from_secs(60);

/// One recorded object: identity and fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Identity.
    pub key: ObjectKey,
    /// Fingerprint when applied (or when read).
    pub digest: String,
}

/// The objects of a recorded status; an unknown shape reads as no objects.
pub fn recorded(status: &Value) -> Vec<Recorded> {
    let Some(map) = status.get("objects").and_then(Value::as_object) else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(text, v)| {
            let api_version = v.get("apiVersion").and_then(Value::as_str)?;
            Some(Recorded {
                key: ObjectKey::parse(text, api_version)?,
                digest: v
                    .get("digest")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            })
        })
        .collect()
}

/// The status recording `objects`.
pub fn status_of(objects: &[Recorded]) -> Value {
    let map: Map<String, Value> = objects
        .iter()
        .map(|r| {
            (
                r.key.to_string(),
                json!({"apiVersion": r.key.api_version, "digest": r.digest}),
            )
        })
        .collect();
    json!({ "objects": map })
}

/// Whether a CustomResourceDefinition among `objects` defines `key`'s kind.
fn defined_by_set(objects: &[Object], key: &ObjectKey) -> bool {
    let (group, version) = key
        .api_version
        .split_once('/')
        .unwrap_or(("", key.api_version.as_str()));
    objects.iter().any(|o| {
        o.key.kind == "CustomResourceDefinition"
            && o.body.pointer("/spec/group").and_then(Value::as_str) == Some(group)
            && o.body.pointer("/spec/names/kind").and_then(Value::as_str) == Some(&key.kind)
            && o.body
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .is_some_and(|vs| {
                    vs.iter()
                        .any(|v| v.get("name").and_then(Value::as_str) == Some(version))
                })
    })
}

/// Resolves the kinds of `objects` and settles their namespaces. Kinds the cluster does not
/// serve are an error unless `allow_pending` and a definition in the set provides them; those
/// are returned as `None`.
pub fn resolve(
    cluster: &Cluster,
    objects: &mut [Object],
    default_ns: &str,
    allow_pending: bool,
) -> Result<Vec<Option<Kind>>, PluginError> {
    let definitions: Vec<Object> = objects
        .iter()
        .filter(|o| o.key.kind == "CustomResourceDefinition")
        .cloned()
        .collect();
    let mut kinds = Vec::with_capacity(objects.len());
    for o in objects.iter_mut() {
        match cluster.kind(&o.key.api_version, &o.key.kind)? {
            Some(kind) => {
                o.settle_namespace(kind.namespaced, default_ns);
                kinds.push(Some(kind));
            }
            None if allow_pending && defined_by_set(&definitions, &o.key) => kinds.push(None),
            None => return Err(cluster.not_served(&o.key)),
        }
    }
    Ok(kinds)
}

/// Waits (polling, at most [`DEFINITION_WAIT`]) until the cluster serves `key`'s kind.
fn await_kind(ctx: &Ctx<'_>, cluster: &Cluster, key: &ObjectKey) -> Result<Kind, PluginError> {
    let started = Instant::now();
    loop {
        if let Some(kind) = cluster.kind(&key.api_version, &key.kind)? {
            return Ok(kind);
        }
        if ctx.is_cancelled() {
            return Err(PluginError::cancelled(format!(
                "stopped waiting for the kind of {key} to be served"
            )));
        }
        if started.elapsed() >= DEFINITION_WAIT {
            return Err(PluginError::timeout(format!(
                "the CustomResourceDefinition for {} ({}) was applied, but the cluster still \
                 does not serve the kind after {}s",
                key.kind,
                key.api_version,
                DEFINITION_WAIT.as_secs()
            )));
        }
        ctx.progress(
            None,
            format!("waiting for the kind {} to be served", key.kind),
        );
        std::thread::sleep(POLL_EVERY);
    }
}

/// Applies `objects` (already parsed; namespaces are settled here), in apply order, then
/// deletes what `previous` recorded that is no longer wanted. Returns what to record.
pub fn apply_all(
    ctx: &Ctx<'_>,
    cluster: &Cluster,
    mut objects: Vec<Object>,
    default_ns: &str,
    settings: &Settings,
    previous: &Value,
) -> Result<Vec<Recorded>, PluginError> {
    sort_for_apply(&mut objects);
    let kinds = resolve(cluster, &mut objects, default_ns, true)?;
    let total = objects.len();
    let mut applied = Vec::with_capacity(total);
    for (i, (mut object, kind)) in objects.into_iter().zip(kinds).enumerate() {
        if ctx.is_cancelled() {
            return Err(PluginError::cancelled(format!(
                "stopped after applying {i} of {total} objects; apply again to finish"
            )));
        }
        let kind = match kind {
            Some(kind) => kind,
            None => {
                let kind = await_kind(ctx, cluster, &object.key)?;
                object.settle_namespace(kind.namespaced, default_ns);
                kind
            }
        };
        mark_owner(&mut object, &settings.owner);
        let percent = u8::try_from(i * 100 / total.max(1)).unwrap_or(100);
        ctx.progress(Some(percent), format!("applying {}", object.key));
        let live = cluster.apply(&kind, &object, &settings.field_manager, settings.force)?;
        ctx.debug(format!("applied {}", object.key));
        applied.push(Recorded {
            digest: fingerprint(&live, &object.body),
            key: object.key,
        });
    }
    let mut gone: Vec<Recorded> = recorded(previous)
        .into_iter()
        .filter(|r| !applied.iter().any(|a| a.key == r.key))
        .collect();
    gone.sort_by_key(|r| std::cmp::Reverse(apply_rank(&r.key.kind)));
    for r in gone {
        if let Some(kind) = cluster.kind(&r.key.api_version, &r.key.kind)? {
            ctx.info(format!("deleting {}: no longer in the manifests", r.key));
            cluster.delete(&kind, &r.key)?;
        }
    }
    Ok(applied)
}

/// What is not ready among `objects`, as `(key, reason, failed)`.
fn unready(
    cluster: &Cluster,
    objects: &[Recorded],
    ready: ReadyFn,
) -> Result<Vec<(ObjectKey, String, bool)>, PluginError> {
    let mut out = Vec::new();
    for r in objects {
        let kind = cluster.require_kind(&r.key)?;
        match cluster.get(&kind, &r.key)? {
            None => out.push((r.key.clone(), "it no longer exists".into(), true)),
            Some(live) => match ready(&live) {
                Readiness::Ready => {}
                Readiness::Waiting(why) => out.push((r.key.clone(), why, false)),
                Readiness::Failed(why) => out.push((r.key.clone(), why, true)),
            },
        }
    }
    Ok(out)
}

fn describe(list: &[(ObjectKey, String, bool)]) -> String {
    list.iter()
        .map(|(k, why, _)| format!("{k}: {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Waits for `objects` to be ready: polls for a few seconds, then answers a pending step that
/// carries the deadline and the status to record. Done answers carry the status.
pub fn wait_ready(
    ctx: &Ctx<'_>,
    cluster: &Cluster,
    objects: Vec<Recorded>,
    deadline: Deadline,
    settings: &Settings,
    ready: ReadyFn,
) -> Result<Step, PluginError> {
    let status = status_of(&objects);
    let timed_out = |message: &str| {
        format!(
            "timed out after `waitTimeout` ({}s) with {message}; the objects are applied: \
             raise `waitTimeout`, fix what keeps them from becoming ready, or set \
             `wait: false`",
            settings.wait_timeout.as_secs()
        )
    };
    let look = || {
        let waiting = unready(cluster, &objects, ready)?;
        if waiting.is_empty() {
            return Ok(Look::Done);
        }
        if let Some((key, why, _)) = waiting.iter().find(|w| w.2) {
            return Err(PluginError::conflict(format!(
                "{key} will not become ready: {why}"
            )));
        }
        let done = objects.len() - waiting.len();
        Ok(Look::Waiting {
            message: format!(
                "{done} of {} objects ready; waiting for {}",
                objects.len(),
                describe(&waiting)
            ),
            percent: Some(u8::try_from(done * 100 / objects.len().max(1)).unwrap_or(100)),
        })
    };
    let wait = Wait {
        phase: "ready",
        objects: &objects,
        deadline,
        settings,
    };
    poll(ctx, &wait, status, timed_out, look)
}

/// One look at what a wait is waiting for.
enum Look {
    /// Nothing left to wait for.
    Done,
    /// Still waiting; the message says for what.
    Waiting {
        message: String,
        percent: Option<u8>,
    },
}

/// What a wait is about: its pending phase, the objects it records, its deadline.
struct Wait<'a> {
    phase: &'static str,
    objects: &'a [Recorded],
    deadline: Deadline,
    settings: &'a Settings,
}

/// The polling both waits share: look every [`POLL_EVERY`] for [`IN_CALL_POLL`], showing
/// progress when it changes, then hand back a pending step carrying the deadline and the
/// objects; past the deadline, a timeout error made by `timed_out` from the last message.
fn poll(
    ctx: &Ctx<'_>,
    wait: &Wait<'_>,
    done: Value,
    timed_out: impl Fn(&str) -> String,
    mut look: impl FnMut() -> Result<Look, PluginError>,
) -> Result<Step, PluginError> {
    if !wait.settings.wait {
        return Ok(Step::done(done));
    }
    let started = Instant::now();
    let mut shown = String::new();
    loop {
        let (message, percent) = match look()? {
            Look::Done => return Ok(Step::done(done)),
            Look::Waiting { message, percent } => (message, percent),
        };
        if wait.deadline.passed() {
            return Err(PluginError::timeout(timed_out(&message)));
        }
        if message != shown {
            ctx.progress(percent, &message);
            shown.clone_from(&message);
        }
        if ctx.is_cancelled() || started.elapsed() >= IN_CALL_POLL {
            return Ok(Pending::new(json!({
                "phase": wait.phase,
                "deadline": wait.deadline.0,
                "status": status_of(wait.objects),
            }))
            .after(PENDING_DELAY.min(wait.deadline.left()))
            .message(message)
            .into());
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// Continues a pending step of [`wait_ready`] or [`delete_all`] from its data, or returns
/// `None` when `data` is not one of theirs.
pub fn resume(
    ctx: &Ctx<'_>,
    cluster: &Cluster,
    data: &Value,
    settings: &Settings,
    ready: ReadyFn,
) -> Result<Option<Step>, PluginError> {
    let deadline = Deadline(data.get("deadline").and_then(Value::as_u64).unwrap_or(0));
    let status = data.get("status").cloned().unwrap_or(Value::Null);
    match data.get("phase").and_then(Value::as_str) {
        Some("ready") => {
            wait_ready(ctx, cluster, recorded(&status), deadline, settings, ready).map(Some)
        }
        Some("gone") => wait_gone(ctx, cluster, recorded(&status), deadline, settings).map(Some),
        _ => Ok(None),
    }
}

/// The live fingerprints of the recorded objects (or, with nothing recorded, of the desired
/// ones), against the desired manifests. `None` when none of them exists.
pub fn read_all(
    cluster: &Cluster,
    mut desired: Vec<Object>,
    default_ns: &str,
    settings: &Settings,
    previous: &Value,
) -> Result<Option<Value>, PluginError> {
    // Kinds that are no longer served (a deleted definition) mean their objects are gone.
    let mut settled: BTreeMap<ObjectKey, Object> = BTreeMap::new();
    for o in desired.iter_mut() {
        mark_owner(o, &settings.owner);
        if let Some(kind) = cluster.kind(&o.key.api_version, &o.key.kind)? {
            o.settle_namespace(kind.namespaced, default_ns);
            settled.insert(o.key.clone(), o.clone());
        }
    }
    let mut keys: Vec<ObjectKey> = recorded(previous).into_iter().map(|r| r.key).collect();
    if keys.is_empty() {
        keys = settled.keys().cloned().collect();
    }
    let mut live_objects = Vec::new();
    for key in keys {
        let Some(kind) = cluster.kind(&key.api_version, &key.kind)? else {
            continue;
        };
        let Some(live) = cluster.get(&kind, &key)? else {
            continue;
        };
        let digest = match settled.get(&key) {
            Some(o) => fingerprint(&live, &o.body),
            None => "present, no longer in the manifests".to_owned(),
        };
        live_objects.push(Recorded { key, digest });
    }
    if live_objects.is_empty() {
        return Ok(None);
    }
    Ok(Some(status_of(&live_objects)))
}

/// Deletes the recorded objects and those of `desired` that carry `settings.owner`'s annotation
/// (a failed first apply records nothing), in reverse apply order, then waits until they are
/// gone like [`wait_ready`] waits for readiness.
pub fn delete_all(
    ctx: &Ctx<'_>,
    cluster: &Cluster,
    desired: Vec<Object>,
    default_ns: &str,
    settings: &Settings,
    previous: &Value,
) -> Result<Step, PluginError> {
    let mut targets: Vec<ObjectKey> = recorded(previous).into_iter().map(|r| r.key).collect();
    for mut o in desired {
        if targets.contains(&o.key) {
            continue;
        }
        let Some(kind) = cluster.kind(&o.key.api_version, &o.key.kind)? else {
            continue;
        };
        o.settle_namespace(kind.namespaced, default_ns);
        if targets.contains(&o.key) {
            continue;
        }
        match cluster.get(&kind, &o.key)? {
            Some(live) if owned_by(&live, &settings.owner) => targets.push(o.key),
            Some(_) => ctx.warn(format!(
                "not deleting {}: it exists, but {} did not apply it (no `{OWNER_ANNOTATION}: {}` \
                 annotation)",
                o.key, settings.owner, settings.owner
            )),
            None => {}
        }
    }
    targets.sort_by_key(|k| std::cmp::Reverse(apply_rank(&k.kind)));
    let mut asked = Vec::new();
    for key in targets {
        let Some(kind) = cluster.kind(&key.api_version, &key.kind)? else {
            continue;
        };
        ctx.progress(None, format!("deleting {key}"));
        cluster.delete(&kind, &key)?;
        asked.push(Recorded {
            key,
            digest: String::new(),
        });
    }
    wait_gone(
        ctx,
        cluster,
        asked,
        Deadline::after(settings.wait_timeout),
        settings,
    )
}

/// Waits until `objects` are gone, like [`wait_ready`] waits for readiness: polls for a few
/// seconds, then answers a pending step that [`resume`] continues. Finalizers holding an object
/// are named in the progress and in the timeout error.
pub fn wait_gone(
    ctx: &Ctx<'_>,
    cluster: &Cluster,
    objects: Vec<Recorded>,
    deadline: Deadline,
    settings: &Settings,
) -> Result<Step, PluginError> {
    let timed_out = |message: &str| {
        format!(
            "timed out after `waitTimeout` ({}s) {message}; deletion was requested and \
             goes on in the cluster: delete again later, or remove what blocks it",
            settings.wait_timeout.as_secs()
        )
    };
    let look = || {
        let mut left = Vec::new();
        for r in &objects {
            let Some(kind) = cluster.kind(&r.key.api_version, &r.key.kind)? else {
                continue;
            };
            if let Some(live) = cluster.get(&kind, &r.key)? {
                let finalizers = live
                    .pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .map(|f| {
                        f.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                left.push(if finalizers.is_empty() {
                    r.key.to_string()
                } else {
                    format!("{} (finalizers: {finalizers})", r.key)
                });
            }
        }
        if left.is_empty() {
            return Ok(Look::Done);
        }
        Ok(Look::Waiting {
            message: format!("waiting for {} to go: {}", left.len(), left.join("; ")),
            percent: None,
        })
    };
    let wait = Wait {
        phase: "gone",
        objects: &objects,
        deadline,
        settings,
    };
    poll(ctx, &wait, Value::Null, timed_out, look)
}
