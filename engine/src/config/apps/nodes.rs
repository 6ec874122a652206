//! Editing option node trees while apps are expanded. Option keys match the way the plugins
//! will see them: the exact key first, else one that differs only in case (DevStream's option
//! decoder ignores case, and so does dtm, see `config::options`).

use super::super::template::{LATE_OPEN, SECRET_OPEN};
use super::super::yaml::{Kind, Node, Pos, Style};

pub(super) fn key_node(key: &str, pos: Pos) -> Node {
    Node::scalar(key, Style::Quoted, pos)
}

pub(super) fn str_node(value: &str, pos: Pos) -> Node {
    Node::scalar(value, Style::Quoted, pos)
}

pub(super) fn map_node(entries: Vec<(Node, Node)>, pos: Pos) -> Node {
    Node {
        kind: Kind::Map(entries),
        pos,
    }
}

/// Where option `key` is in `entries`: the exact key, else the first that differs only in case.
fn position(entries: &[(Node, Node)], key: &str) -> Option<usize> {
    entries
        .iter()
        .position(|(k, _)| k.as_scalar() == Some(key))
        .or_else(|| {
            entries
                .iter()
                .position(|(k, _)| k.as_scalar().is_some_and(|k| k.eq_ignore_ascii_case(key)))
        })
}

/// Sets `key` in a list of entries (variables: exact keys), replacing an existing value.
pub(super) fn set(entries: &mut Vec<(Node, Node)>, key: Node, value: Node) {
    let name = key.as_scalar().map(str::to_owned);
    match entries
        .iter_mut()
        .find(|(k, _)| name.is_some() && k.as_scalar() == name.as_deref())
    {
        Some(slot) => slot.1 = value,
        None => entries.push((key, value)),
    }
}

/// The value of option `key` in a mapping node.
pub(super) fn get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    let entries = node.as_map()?;
    position(entries, key).map(|i| &entries[i].1)
}

pub(super) fn get_mut<'n>(node: &'n mut Node, key: &str) -> Option<&'n mut Node> {
    match &mut node.kind {
        Kind::Map(entries) => position(entries, key).map(|i| &mut entries[i].1),
        _ => None,
    }
}

/// Takes option `key` out of a mapping node.
pub(super) fn remove(node: &mut Node, key: &str) -> Option<(Node, Node)> {
    match &mut node.kind {
        Kind::Map(entries) => position(entries, key).map(|i| entries.remove(i)),
        _ => None,
    }
}

/// Adds `key: value` to a mapping node unless the key is there (in any case).
pub(super) fn set_default(node: &mut Node, key: &str, value: Node) {
    let pos = node.pos;
    if let Kind::Map(entries) = &mut node.kind
        && position(entries, key).is_none()
    {
        entries.push((key_node(key, pos), value));
    }
}

/// Deep merge: mappings merge key by key, anything else in `over` replaces `base`.
pub(super) fn merge(base: Node, over: Node) -> Node {
    match (base.kind, over.kind) {
        (Kind::Map(mut entries), Kind::Map(over_entries)) => {
            for (k, v) in over_entries {
                let existing = entries
                    .iter()
                    .position(|(bk, _)| k.as_scalar().is_some() && bk.as_scalar() == k.as_scalar());
                match existing {
                    Some(i) => {
                        let (bk, bv) = entries.remove(i);
                        entries.insert(i, (bk, merge(bv, v)));
                    }
                    None => entries.push((k, v)),
                }
            }
            Node {
                kind: Kind::Map(entries),
                pos: base.pos,
            }
        }
        (_, kind) => Node {
            kind,
            pos: over.pos,
        },
    }
}

/// The text of a scalar that holds no secret or unbound expression.
pub(super) fn clear_text(node: &Node) -> Option<&str> {
    node.as_scalar()
        .filter(|s| !s.is_empty() && !s.contains(SECRET_OPEN) && !s.contains(LATE_OPEN))
}
