//! Manifests: parsing, identity, apply order, and the fingerprint used to detect drift.

use std::collections::BTreeSet;
use std::fmt;

use dtm_plugin_sdk::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What names an object in a cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// `v1`, `apps/v1`, ...
    pub api_version: String,
    /// `Deployment`, ...
    pub kind: String,
    /// `None` for cluster-scoped objects (and before the namespace is settled).
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl fmt::Display for ObjectKey {
    /// `Deployment web/api`, `Namespace web`: the form status keys and messages use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

impl ObjectKey {
    /// Parses the [`Display`](fmt::Display) form back, with the API version kept beside it.
    pub fn parse(text: &str, api_version: &str) -> Option<ObjectKey> {
        let (kind, rest) = text.split_once(' ')?;
        let (namespace, name) = match rest.split_once('/') {
            Some((ns, name)) => (Some(ns.to_owned()), name),
            None => (None, rest),
        };
        if kind.is_empty() || name.is_empty() || api_version.is_empty() {
            return None;
        }
        Some(ObjectKey {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace,
            name: name.to_owned(),
        })
    }
}

/// One object to apply: its identity and the body sent to the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Identity.
    pub key: ObjectKey,
    /// The manifest, with the namespace filled in where it was settled.
    pub body: Value,
}

impl Object {
    /// An object from one manifest document; `source` says where it came from, for errors.
    pub fn from_value(body: Value, source: &str) -> Result<Object, PluginError> {
        let bad = |what: &str| PluginError::invalid_options(format!("{source}: {what}"));
        let Value::Object(map) = &body else {
            return Err(bad(
                "a manifest must be a mapping with apiVersion, kind and metadata",
            ));
        };
        let text = |key: &str| {
            map.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let api_version = text("apiVersion").ok_or_else(|| bad("`apiVersion` is missing"))?;
        let kind = text("kind").ok_or_else(|| bad("`kind` is missing"))?;
        let meta = map.get("metadata").and_then(Value::as_object);
        let name = meta
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                bad(&format!(
                    "{kind} has no `metadata.name` (generateName is not supported: dtm must \
                     know the name to find the object again)"
                ))
            })?;
        let namespace = meta
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        Ok(Object {
            key: ObjectKey {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                namespace,
                name: name.to_owned(),
            },
            body,
        })
    }

    /// Settles the namespace once the kind's scope is known: namespaced objects without one get
    /// `default_ns`, cluster-scoped objects lose any they carry.
    pub fn settle_namespace(&mut self, namespaced: bool, default_ns: &str) {
        let meta = self
            .body
            .as_object_mut()
            .and_then(|m| m.get_mut("metadata"))
            .and_then(Value::as_object_mut);
        if namespaced {
            let ns = self
                .key
                .namespace
                .get_or_insert_with(|| default_ns.to_owned())
                .clone();
            if let Some(meta) = meta {
                meta.insert("namespace".into(), Value::String(ns));
            }
        } else {
            self.key.namespace = None;
            if let Some(meta) = meta {
                meta.remove("namespace");
            }
        }
    }
}

/// The documents of a YAML text (`---`-separated); empty documents are skipped and `kind: List`
/// documents are flattened into their items.
pub fn parse_yaml(text: &str, source: &str) -> Result<Vec<Value>, PluginError> {
    let mut docs = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| {
            PluginError::invalid_options(format!(
                "{source}: document {} is not valid YAML: {e}",
                i + 1
            ))
        })?;
        flatten_into(value, &mut docs);
    }
    Ok(docs)
}

/// Adds `value` to `out`, unless it is null, and the items of a `kind: List` in its place.
pub fn flatten_into(value: Value, out: &mut Vec<Value>) {
    match value {
        Value::Null => {}
        Value::Object(mut map)
            if map.get("kind").and_then(Value::as_str) == Some("List")
                && map.get("items").is_some_and(Value::is_array) =>
        {
            if let Some(Value::Array(items)) = map.remove("items") {
                for item in items {
                    flatten_into(item, out);
                }
            }
        }
        other => out.push(other),
    }
}

/// Rejects two documents that name the same object.
pub fn check_unique(objects: &[Object]) -> Result<(), PluginError> {
    let mut seen = BTreeSet::new();
    for o in objects {
        let id = (
            &o.key.kind,
            &o.key.namespace,
            &o.key.name,
            group(&o.key.api_version),
        );
        if !seen.insert(id) {
            return Err(PluginError::invalid_options(format!(
                "{} appears twice in the manifests",
                o.key
            )));
        }
    }
    Ok(())
}

fn group(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

/// Where a kind goes in the apply order (lower first); deletes run in the reverse order.
/// Namespaces and definitions come first, then what workloads use, then workloads, then
/// everything else (custom resources last, once their definitions exist).
pub fn apply_rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        "PriorityClass" | "StorageClass" | "ResourceQuota" | "LimitRange" => 2,
        "ServiceAccount" => 3,
        "ClusterRole" | "Role" => 4,
        "ClusterRoleBinding" | "RoleBinding" => 5,
        "Secret" | "ConfigMap" => 6,
        "PersistentVolume" | "PersistentVolumeClaim" => 7,
        "Service" => 8,
        "DaemonSet"
        | "Pod"
        | "ReplicaSet"
        | "ReplicationController"
        | "Deployment"
        | "StatefulSet"
        | "Job"
        | "CronJob" => 9,
        "Ingress" | "HorizontalPodAutoscaler" | "PodDisruptionBudget" | "NetworkPolicy" => 10,
        "APIService" | "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => 11,
        _ => 12,
    }
}

/// Sorts objects into apply order, keeping the manifest order within a rank.
pub fn sort_for_apply(objects: &mut [Object]) {
    objects.sort_by_key(|o| apply_rank(&o.key.kind));
}

/// The part of `live` that `desired` describes: the same keys, recursively. Lists of mappings
/// that all carry a `name` are matched by name (so a sidecar someone else adds is not ours);
/// other lists are taken whole when their lengths differ and element by element otherwise.
pub fn project(live: &Value, desired: &Value) -> Value {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => {
            let mut out = Map::new();
            for (k, dv) in d {
                if let Some(lv) = l.get(k) {
                    out.insert(k.clone(), project(lv, dv));
                }
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(d)) => {
            let named = |items: &[Value]| {
                items
                    .iter()
                    .all(|i| i.get("name").and_then(Value::as_str).is_some())
            };
            if !d.is_empty() && named(d) && named(l) {
                let out = d
                    .iter()
                    .filter_map(|di| {
                        let name = di.get("name");
                        l.iter()
                            .find(|li| li.get("name") == name)
                            .map(|li| project(li, di))
                    })
                    .collect();
                Value::Array(out)
            } else if l.len() == d.len() {
                Value::Array(l.iter().zip(d).map(|(li, di)| project(li, di)).collect())
            } else {
                live.clone()
            }
        }
        _ => live.clone(),
    }
}

/// `sha256:HEX` of the canonical JSON of `value`: keys sorted at every level, whatever order
/// the maps hold them in (serde_json keeps insertion order when any crate in the build enables
/// its `preserve_order` feature), so the same object always gives the same digest.
pub fn digest(value: &Value) -> String {
    let mut hasher = Sha256::new();
    write_canonical(value, &mut hasher);
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

fn write_canonical(value: &Value, out: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.update(b"{");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.update(b",");
                }
                out.update(Value::String(k.clone()).to_string().as_bytes());
                out.update(b":");
                if let Some(v) = map.get(k) {
                    write_canonical(v, out);
                }
            }
            out.update(b"}");
        }
        Value::Array(items) => {
            out.update(b"[");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.update(b",");
                }
                write_canonical(v, out);
            }
            out.update(b"]");
        }
        scalar => out.update(scalar.to_string().as_bytes()),
    }
}

/// The drift fingerprint of a live object against the manifest that was applied: the digest of
/// the fields the manifest sets, as the server holds them now.
pub fn fingerprint(live: &Value, desired: &Value) -> String {
    digest(&project(live, desired))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_round_trip() {
        for text in ["Deployment web/api", "Namespace web"] {
            let key = ObjectKey::parse(text, "v1").unwrap();
            assert_eq!(key.to_string(), text);
        }
        assert_eq!(ObjectKey::parse("Deployment", "v1"), None);
    }

    #[test]
    fn documents_lists_and_empty_documents() {
        let docs = parse_yaml(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\nkind: List\napiVersion: v1\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n",
            "inline",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["kind"], "Secret");
        let err = parse_yaml("a: [\n", "x.yaml").unwrap_err();
        assert!(
            err.message.starts_with("x.yaml: document 1"),
            "{}",
            err.message
        );
    }

    #[test]
    fn objects_need_identity() {
        let err = Object::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap"}), "m[0]")
            .unwrap_err();
        assert!(err.message.contains("metadata.name"), "{}", err.message);
        let err = Object::from_value(json!({"kind": "ConfigMap"}), "m[0]").unwrap_err();
        assert!(err.message.contains("apiVersion"), "{}", err.message);
        let a = Object::from_value(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
            "m",
        )
        .unwrap();
        assert!(check_unique(&[a.clone(), a]).is_err());
    }

    #[test]
    fn namespace_is_settled_by_scope() {
        let mut o = Object::from_value(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
            "m",
        )
        .unwrap();
        o.settle_namespace(true, "team");
        assert_eq!(o.key.to_string(), "ConfigMap team/a");
        assert_eq!(o.body["metadata"]["namespace"], "team");
        let mut n = Object::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "namespace": "x"}}),
            "m",
        )
        .unwrap();
        n.settle_namespace(false, "team");
        assert_eq!(n.key.to_string(), "Namespace a");
        assert!(n.body["metadata"].get("namespace").is_none());
    }

    #[test]
    fn projection_keeps_only_what_the_manifest_sets() {
        let desired = json!({
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 0, "template": {"spec": {"containers": [{"name": "app", "image": "nginx"}]}}}
        });
        let live = json!({
            "metadata": {"name": "web", "labels": {"app": "web", "extra": "x"}, "uid": "1", "managedFields": []},
            "spec": {"replicas": 0, "strategy": {}, "template": {"spec": {"containers": [
                {"name": "sidecar", "image": "envoy"},
                {"name": "app", "image": "nginx", "imagePullPolicy": "Always"}
            ]}}},
            "status": {"observedGeneration": 1}
        });
        assert_eq!(project(&live, &desired), desired);
        assert_eq!(fingerprint(&live, &desired), digest(&desired));
        let mut edited = live.clone();
        edited["spec"]["template"]["spec"]["containers"][1]["image"] = json!("httpd");
        assert_ne!(fingerprint(&edited, &desired), digest(&desired));
        let mut removed = live;
        removed["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("app");
        assert_ne!(fingerprint(&removed, &desired), digest(&desired));
    }

    #[test]
    fn digests_do_not_depend_on_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, {"q": 2, "p": 1}], "x": "s"}}"#)
                .unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a": {"x": "s", "y": [1, {"p": 1, "q": 2}]}, "b": 1}"#)
                .unwrap();
        assert_eq!(digest(&a), digest(&b));
        // The same bytes as compact JSON with sorted keys: digests recorded before stay valid.
        let sorted = r#"{"a":{"x":"s","y":[1,{"p":1,"q":2}]},"b":1}"#;
        assert_eq!(
            digest(&a),
            format!("sha256:{}", hex::encode(Sha256::digest(sorted)))
        );
        assert_ne!(digest(&a), digest(&json!({"b": 2, "a": {}})));
    }

    #[test]
    fn apply_order_puts_definitions_first() {
        let mut objects: Vec<Object> = [
            "Widget",
            "Deployment",
            "Namespace",
            "CustomResourceDefinition",
        ]
        .iter()
        .map(|k| {
            Object::from_value(
                json!({"apiVersion": "v1", "kind": k, "metadata": {"name": "x"}}),
                "m",
            )
            .unwrap()
        })
        .collect();
        sort_for_apply(&mut objects);
        let kinds: Vec<&str> = objects.iter().map(|o| o.key.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "CustomResourceDefinition",
                "Deployment",
                "Widget"
            ]
        );
    }
}
