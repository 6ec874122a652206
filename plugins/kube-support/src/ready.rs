//! When is an applied object ready? The rules `kubectl rollout status` and kstatus use, for the
//! built-in kinds that have a notion of readiness, plus the `Ready` condition for the rest.

use serde_json::Value;

/// The readiness of one live object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Ready (or a kind without a notion of readiness).
    Ready,
    /// Not ready yet; the text says what is missing.
    Waiting(String),
    /// Will not become ready without a change; the text says why.
    Failed(String),
}

fn int(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

fn text<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str)
}

/// The condition `kind` of `status.conditions`: (status, reason, message).
fn condition<'a>(obj: &'a Value, kind: &str) -> Option<(&'a str, &'a str, &'a str)> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        .map(|c| {
            let f = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
            (f("status"), f("reason"), f("message"))
        })
}

/// Whether the controller has seen the current spec; workloads without an observed generation
/// have not been looked at yet.
fn observed(obj: &Value, required: bool) -> Option<Readiness> {
    let generation = int(obj, "/metadata/generation").unwrap_or(0);
    match int(obj, "/status/observedGeneration") {
        Some(seen) if seen >= generation => None,
        Some(seen) => Some(Readiness::Waiting(format!(
            "the controller has seen generation {seen} of {generation}"
        ))),
        None if required => Some(Readiness::Waiting(
            "the controller has not reported a status yet".into(),
        )),
        None => None,
    }
}

fn replicas(obj: &Value) -> i64 {
    int(obj, "/spec/replicas").unwrap_or(1)
}

/// The readiness of `obj` (a live object as JSON).
pub fn readiness(obj: &Value) -> Readiness {
    let kind = text(obj, "/kind").unwrap_or("");
    match kind {
        "Deployment" => deployment(obj),
        "StatefulSet" => stateful_set(obj),
        "DaemonSet" => daemon_set(obj),
        "ReplicaSet" | "ReplicationController" => {
            if let Some(r) = observed(obj, true) {
                return r;
            }
            let want = replicas(obj);
            let ready = int(obj, "/status/readyReplicas").unwrap_or(0);
            if ready >= want {
                Readiness::Ready
            } else {
                Readiness::Waiting(format!("{ready} of {want} replicas ready"))
            }
        }
        "Pod" => pod(obj),
        "Job" => job(obj),
        "PersistentVolumeClaim" => match text(obj, "/status/phase") {
            Some("Bound") => Readiness::Ready,
            Some("Lost") => Readiness::Failed("the claim lost its volume".into()),
            phase => Readiness::Waiting(format!("phase {}, not Bound", phase.unwrap_or("unknown"))),
        },
        "Service" => {
            if text(obj, "/spec/type") == Some("LoadBalancer")
                && obj
                    .pointer("/status/loadBalancer/ingress")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
            {
                Readiness::Waiting("no load balancer address yet".into())
            } else {
                Readiness::Ready
            }
        }
        "Namespace" => match text(obj, "/status/phase") {
            Some("Terminating") => Readiness::Waiting("the namespace is being deleted".into()),
            _ => Readiness::Ready,
        },
        "CustomResourceDefinition" => match condition(obj, "Established") {
            Some(("True", _, _)) => Readiness::Ready,
            _ => match condition(obj, "NamesAccepted") {
                Some(("False", reason, message)) => {
                    Readiness::Failed(format!("names not accepted: {reason}: {message}"))
                }
                _ => Readiness::Waiting("not established yet".into()),
            },
        },
        "APIService" => match condition(obj, "Available") {
            Some(("True", _, _)) => Readiness::Ready,
            Some((_, reason, message)) => {
                Readiness::Waiting(format!("not available: {reason} {message}").trim().into())
            }
            None => Readiness::Waiting("not available yet".into()),
        },
        _ => generic(obj),
    }
}

fn deployment(obj: &Value) -> Readiness {
    if let Some(r) = observed(obj, true) {
        return r;
    }
    if let Some(("False", "ProgressDeadlineExceeded", message)) = condition(obj, "Progressing") {
        return Readiness::Failed(format!("rollout stalled: {message}"));
    }
    let want = replicas(obj);
    let updated = int(obj, "/status/updatedReplicas").unwrap_or(0);
    let total = int(obj, "/status/replicas").unwrap_or(0);
    let available = int(obj, "/status/availableReplicas").unwrap_or(0);
    if updated < want {
        Readiness::Waiting(format!("{updated} of {want} replicas updated"))
    } else if total > updated {
        Readiness::Waiting(format!("{} old replicas still running", total - updated))
    } else if available < want {
        Readiness::Waiting(format!("{available} of {want} replicas available"))
    } else {
        Readiness::Ready
    }
}

fn stateful_set(obj: &Value) -> Readiness {
    if let Some(r) = observed(obj, true) {
        return r;
    }
    let want = replicas(obj);
    let ready = int(obj, "/status/readyReplicas").unwrap_or(0);
    if ready < want {
        return Readiness::Waiting(format!("{ready} of {want} replicas ready"));
    }
    match (
        text(obj, "/status/currentRevision"),
        text(obj, "/status/updateRevision"),
    ) {
        (Some(current), Some(update)) if current != update && want > 0 => {
            Readiness::Waiting(format!("rolling out revision {update}"))
        }
        _ => Readiness::Ready,
    }
}

fn daemon_set(obj: &Value) -> Readiness {
    if let Some(r) = observed(obj, true) {
        return r;
    }
    let want = int(obj, "/status/desiredNumberScheduled").unwrap_or(0);
    let updated = int(obj, "/status/updatedNumberScheduled").unwrap_or(0);
    let ready = int(obj, "/status/numberReady").unwrap_or(0);
    if updated < want {
        Readiness::Waiting(format!("{updated} of {want} nodes updated"))
    } else if ready < want {
        Readiness::Waiting(format!("{ready} of {want} nodes ready"))
    } else {
        Readiness::Ready
    }
}

fn pod(obj: &Value) -> Readiness {
    match text(obj, "/status/phase") {
        Some("Succeeded") => return Readiness::Ready,
        Some("Failed") => {
            return Readiness::Failed(format!(
                "the pod failed: {}",
                text(obj, "/status/message").unwrap_or("no message")
            ));
        }
        _ => {}
    }
    match condition(obj, "Ready") {
        Some(("True", _, _)) => Readiness::Ready,
        _ => match condition(obj, "PodScheduled") {
            Some(("True", _, _)) => Readiness::Waiting("containers not ready".into()),
            Some((_, reason, message)) => {
                Readiness::Waiting(format!("not scheduled: {reason} {message}").trim().into())
            }
            None => Readiness::Waiting("not scheduled yet (is there a node to run it?)".into()),
        },
    }
}

fn job(obj: &Value) -> Readiness {
    if let Some(("True", _, _)) = condition(obj, "Complete") {
        return Readiness::Ready;
    }
    if let Some(("True", reason, message)) = condition(obj, "Failed") {
        return Readiness::Failed(format!("the job failed: {reason}: {message}"));
    }
    let done = int(obj, "/status/succeeded").unwrap_or(0);
    let want = int(obj, "/spec/completions").unwrap_or(1);
    Readiness::Waiting(format!("{done} of {want} completions"))
}

/// Any other kind: a `Ready` condition decides when there is one, else existing is enough.
fn generic(obj: &Value) -> Readiness {
    if let Some(r) = observed(obj, false) {
        return r;
    }
    match condition(obj, "Ready") {
        Some(("True", _, _)) | None => Readiness::Ready,
        Some((_, reason, message)) => {
            Readiness::Waiting(format!("not Ready: {reason} {message}").trim().into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployments() {
        let unseen =
            json!({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 0}});
        assert!(matches!(readiness(&unseen), Readiness::Waiting(_)));
        let zero = json!({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 0},
            "status": {"observedGeneration": 1}});
        assert_eq!(readiness(&zero), Readiness::Ready);
        let one = json!({"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1}});
        assert_eq!(
            readiness(&one),
            Readiness::Waiting("0 of 1 replicas available".into())
        );
        let stalled = json!({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {},
            "status": {"observedGeneration": 1, "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "too slow"}]}});
        assert!(matches!(readiness(&stalled), Readiness::Failed(m) if m.contains("too slow")));
    }

    #[test]
    fn pods_jobs_and_definitions() {
        let pending = json!({"kind": "Pod", "status": {"phase": "Pending"}});
        assert!(matches!(readiness(&pending), Readiness::Waiting(m) if m.contains("node")));
        let done = json!({"kind": "Pod", "status": {"phase": "Succeeded"}});
        assert_eq!(readiness(&done), Readiness::Ready);
        let failed = json!({"kind": "Job", "status": {"conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "x"}]}});
        assert!(matches!(readiness(&failed), Readiness::Failed(_)));
        let crd = json!({"kind": "CustomResourceDefinition", "status": {"conditions": [
            {"type": "Established", "status": "True"}]}});
        assert_eq!(readiness(&crd), Readiness::Ready);
        let cm = json!({"kind": "ConfigMap", "data": {}});
        assert_eq!(readiness(&cm), Readiness::Ready);
        let custom = json!({"kind": "Widget", "status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "Building", "message": ""}]}});
        assert_eq!(
            readiness(&custom),
            Readiness::Waiting("not Ready: Building".into())
        );
    }
}
