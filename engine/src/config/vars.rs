//! Variables (`vars:`), environment lookups and secrets.
//!
//! Inside `vars:` and `pipelineTemplates:` an expression is not substituted in the text: it is
//! replaced by a "late" token and bound when its value is needed (a variable is resolved the
//! first time it is used; a pipeline template each time an app uses it, with that app's vars).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::SecretPart;
use super::load::Loader;
use super::suggest::hint;
use super::template::{ExprKind, LATE_CLOSE, LATE_OPEN, SECRET_CLOSE, SECRET_OPEN};
use super::yaml::{Kind, Node, Pos, Style, plain_value};

/// An expression bound late, with where it was written.
#[derive(Debug, Clone)]
pub(crate) struct LateExpr {
    pub kind: ExprKind,
    pub pos: Pos,
    /// The expression as written, for a substitution that failed.
    pub fallback: String,
}

/// One variable's definition and resolution state.
#[derive(Debug)]
pub(crate) struct VarDef {
    node: Option<Node>,
    pub key_pos: Pos,
    state: VarState,
}

#[derive(Debug)]
enum VarState {
    Pending,
    Resolving,
    Done(Value),
    Failed,
}

/// Secret values (from `[[ env "X" ]]`); text carries them as `SECRET_OPEN index SECRET_CLOSE`
/// until the parsed values are final.
#[derive(Debug, Default)]
pub(crate) struct Secrets {
    values: Vec<String>,
    /// The environment variable of each value.
    names: Vec<String>,
    by_name: HashMap<String, Option<usize>>,
}

/// A piece of a string that may hold tokens.
#[derive(Debug, PartialEq)]
pub(crate) enum Piece<'a> {
    Text(&'a str),
    Token(usize),
}

/// Splits `s` at `open index close` tokens.
pub(crate) fn pieces(s: &str, open: char, close: char) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find(open) {
        let after = &rest[start + open.len_utf8()..];
        let Some(end) = after.find(close) else { break };
        let Ok(index) = after[..end].parse::<usize>() else {
            break;
        };
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        out.push(Piece::Token(index));
        rest = &after[end + close.len_utf8()..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

fn token(open: char, index: usize, close: char) -> String {
    format!("{open}{index}{close}")
}

impl Secrets {
    /// Replaces secret tokens in `s` by their values; the indices of the secrets found are added
    /// to `found`.
    pub(super) fn reveal_into(&self, s: &str, found: &mut Vec<usize>) -> String {
        if !s.contains(SECRET_OPEN) {
            return s.to_owned();
        }
        let mut out = String::with_capacity(s.len());
        for piece in pieces(s, SECRET_OPEN, SECRET_CLOSE) {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Token(i) => {
                    out.push_str(self.values.get(i).map_or("", String::as_str));
                    found.push(i);
                }
            }
        }
        out
    }

    /// Replaces secret tokens in `s` by their values.
    pub(super) fn reveal(&self, s: &str) -> String {
        self.reveal_into(s, &mut Vec::new())
    }

    pub(super) fn value(&self, index: usize) -> &str {
        self.values.get(index).map_or("", String::as_str)
    }

    /// How `s` (which holds secret tokens) is made: its text and the environment variables of
    /// its secrets.
    pub(super) fn source_parts(&self, s: &str) -> Vec<SecretPart> {
        pieces(s, SECRET_OPEN, SECRET_CLOSE)
            .into_iter()
            .map(|piece| match piece {
                Piece::Text(t) => SecretPart::Text(t.to_owned()),
                Piece::Token(i) => SecretPart::Env(self.names.get(i).cloned().unwrap_or_default()),
            })
            .collect()
    }
}

/// How a value reads when substituted into text: strings as they are, null as nothing, anything
/// else as JSON (which YAML reads back as the same value).
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A node as a JSON value without revealing secrets (plain scalars typed).
pub(crate) fn node_value(node: &Node) -> Value {
    match &node.kind {
        Kind::Scalar(s, Style::Plain) => plain_value(s),
        Kind::Scalar(s, Style::Quoted) => Value::String(s.clone()),
        Kind::Seq(items) => Value::Array(items.iter().map(node_value).collect()),
        Kind::Map(entries) => Value::Object(
            entries
                .iter()
                .filter_map(|(k, v)| Some((k.as_scalar()?.to_owned(), node_value(v))))
                .collect(),
        ),
    }
}

impl Loader<'_> {
    /// Registers an expression bound late; returns the token that stands for it in the text.
    pub(super) fn late_token(&mut self, kind: ExprKind, pos: Pos, fallback: String) -> String {
        self.late.push(LateExpr {
            kind,
            pos,
            fallback,
        });
        token(LATE_OPEN, self.late.len() - 1, LATE_CLOSE)
    }

    /// Adds a variable from `vars:`; a name defined twice (in any files) is an error.
    pub(super) fn define_var(&mut self, name: &str, node: Node, key_pos: Pos) {
        if let Some(first) = self.vars.get(name) {
            let first = self.diags.loc(first.key_pos);
            self.diags.push(
                Some(key_pos),
                format!("vars.{name}"),
                format!("variable `{name}` is defined twice (first at {first})"),
            );
            return;
        }
        self.var_order.push(name.to_owned());
        self.vars.insert(
            name.to_owned(),
            VarDef {
                node: Some(node),
                key_pos,
                state: VarState::Pending,
            },
        );
    }

    /// Checks what can be checked before any variable is used: references to undefined
    /// variables, malformed expressions and cycles among variables.
    pub(super) fn check_vars(&mut self) {
        let mut edges: HashMap<String, Vec<String>> = HashMap::new();
        for name in self.var_order.clone() {
            let mut refs = Vec::new();
            if let Some(node) = self.vars.get(&name).and_then(|d| d.node.as_ref()) {
                collect_late(node, &mut refs);
            }
            let mut targets = Vec::new();
            for index in refs {
                let Some(expr) = self.late.get(index).cloned() else {
                    continue;
                };
                match &expr.kind {
                    ExprKind::Var(path) => {
                        if self.vars.contains_key(&path[0]) {
                            targets.push(path[0].clone());
                        } else {
                            self.report_undefined(&path[0], expr.pos, None);
                        }
                    }
                    ExprKind::Invalid(msg) => {
                        self.diags
                            .push(Some(expr.pos), format!("vars.{name}"), msg.clone());
                    }
                    ExprKind::Env(_) => {}
                }
            }
            edges.insert(name, targets);
        }
        self.report_var_cycles(&edges);
    }

    fn report_var_cycles(&mut self, edges: &HashMap<String, Vec<String>>) {
        // 0 = unvisited, 1 = on the current path, 2 = done.
        let mut color: HashMap<&str, u8> = HashMap::new();
        let order = self.var_order.clone();
        let mut cycles: Vec<Vec<String>> = Vec::new();
        for start in &order {
            if color.get(start.as_str()).copied().unwrap_or(0) != 0 {
                continue;
            }
            // Iterative DFS: (node, next edge index).
            let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
            color.insert(start.as_str(), 1);
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                let targets = edges.get(node).map_or(&[][..], Vec::as_slice);
                if let Some(target) = targets.get(*next) {
                    *next += 1;
                    match color.get(target.as_str()).copied().unwrap_or(0) {
                        0 => {
                            color.insert(target.as_str(), 1);
                            stack.push((target.as_str(), 0));
                        }
                        1 => {
                            let from = stack.iter().position(|(n, _)| *n == target);
                            let mut cycle: Vec<String> = stack[from.unwrap_or(0)..]
                                .iter()
                                .map(|(n, _)| (*n).to_owned())
                                .collect();
                            cycle.push(target.clone());
                            cycles.push(cycle);
                        }
                        _ => {}
                    }
                } else {
                    color.insert(node, 2);
                    stack.pop();
                }
            }
        }
        for cycle in cycles {
            let Some(def) = self.vars.get(&cycle[0]) else {
                continue;
            };
            let pos = def.key_pos;
            self.diags.push(
                Some(pos),
                format!("vars.{}", cycle[0]),
                format!(
                    "variables refer to each other in a cycle: {}",
                    cycle.join(" -> ")
                ),
            );
            for name in &cycle {
                if let Some(def) = self.vars.get_mut(name) {
                    def.state = VarState::Failed;
                }
            }
        }
    }

    fn report_undefined(&mut self, name: &str, pos: Pos, extra: Option<&Map<String, Value>>) {
        let mut names: Vec<&str> = self.var_order.iter().map(String::as_str).collect();
        if let Some(extra) = extra {
            names.extend(extra.keys().map(String::as_str));
        }
        let message = format!(
            "undefined variable `{name}`{}; define it under `vars:`",
            hint(name, names)
        );
        self.diags.push(Some(pos), String::new(), message);
    }

    fn resolve_var(&mut self, name: &str) -> Option<Value> {
        let def = self.vars.get_mut(name)?;
        match &def.state {
            VarState::Done(v) => return Some(v.clone()),
            VarState::Failed | VarState::Resolving => return None,
            VarState::Pending => {}
        }
        def.state = VarState::Resolving;
        let node = def.node.take()?;
        let value = node_value(&self.instantiate(&node, None));
        if let Some(def) = self.vars.get_mut(name) {
            def.state = VarState::Done(value.clone());
        }
        Some(value)
    }

    /// The value of `[[ a.b.c ]]`: `extra` (an app's vars) first, then `vars:`. Reports what is
    /// missing when `report` is set.
    pub(super) fn lookup(
        &mut self,
        path: &[String],
        pos: Pos,
        extra: Option<&Map<String, Value>>,
        report: bool,
    ) -> Option<Value> {
        let root = &path[0];
        let value = match extra.and_then(|e| e.get(root)) {
            Some(v) => Some(v.clone()),
            None if self.vars.contains_key(root) => self.resolve_var(root),
            None => {
                if report {
                    self.report_undefined(root, pos, extra);
                }
                return None;
            }
        };
        let mut value = value?;
        for (i, key) in path.iter().enumerate().skip(1) {
            let next = value.as_object().and_then(|m| m.get(key)).cloned();
            match next {
                Some(v) => value = v,
                None => {
                    if report {
                        let parent = path[..i].join(".");
                        let keys: Vec<&str> = value
                            .as_object()
                            .map(|m| m.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        self.diags.push(
                            Some(pos),
                            String::new(),
                            format!("variable `{parent}` has no key `{key}`{}", hint(key, keys)),
                        );
                    }
                    return None;
                }
            }
        }
        Some(value)
    }

    /// The token standing for the value of environment variable `name`, or None (reported at
    /// `pos` when `report` is set) if it is not set.
    pub(super) fn env_token(&mut self, name: &str, pos: Pos, report: bool) -> Option<String> {
        let index = match self.secrets.by_name.get(name) {
            Some(known) => *known,
            None => {
                let index = (self.env)(name).map(|value| {
                    self.secrets.values.push(value);
                    self.secrets.names.push(name.to_owned());
                    self.secrets.values.len() - 1
                });
                self.secrets.by_name.insert(name.to_owned(), index);
                index
            }
        };
        match index {
            Some(i) => Some(token(SECRET_OPEN, i, SECRET_CLOSE)),
            None => {
                if report {
                    self.diags.push(
                        Some(pos),
                        String::new(),
                        format!("environment variable `{name}` is not set"),
                    );
                }
                None
            }
        }
    }

    fn eval_late(&mut self, index: usize, extra: Option<&Map<String, Value>>) -> Option<Value> {
        let expr = self.late.get(index)?.clone();
        match &expr.kind {
            ExprKind::Var(path) => self.lookup(path, expr.pos, extra, true),
            ExprKind::Env(name) => self.env_token(name, expr.pos, true).map(Value::String),
            ExprKind::Invalid(msg) => {
                self.diags.push(Some(expr.pos), String::new(), msg.clone());
                None
            }
        }
    }

    /// Binds the late tokens in `node`. A scalar that is exactly one expression takes the
    /// value's type; otherwise values are spliced in as text.
    pub(super) fn instantiate(&mut self, node: &Node, extra: Option<&Map<String, Value>>) -> Node {
        match &node.kind {
            Kind::Scalar(text, style) => {
                if !text.contains(LATE_OPEN) {
                    return node.clone();
                }
                let parts = pieces(text, LATE_OPEN, LATE_CLOSE);
                if let [Piece::Token(i)] = parts.as_slice() {
                    return match self.eval_late(*i, extra) {
                        Some(Value::String(s)) => Node::scalar(s, *style, node.pos),
                        Some(other) => Node::from_value(&other, node.pos),
                        None => Node::scalar(self.fallback(*i), Style::Quoted, node.pos),
                    };
                }
                let mut out = String::with_capacity(text.len());
                for part in parts {
                    match part {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Token(i) => match self.eval_late(i, extra) {
                            Some(v) => out.push_str(&value_text(&v)),
                            None => out.push_str(&self.fallback(i)),
                        },
                    }
                }
                Node::scalar(out, *style, node.pos)
            }
            Kind::Seq(items) => Node {
                kind: Kind::Seq(items.iter().map(|n| self.instantiate(n, extra)).collect()),
                pos: node.pos,
            },
            Kind::Map(entries) => Node {
                kind: Kind::Map(
                    entries
                        .iter()
                        .map(|(k, v)| (self.instantiate(k, extra), self.instantiate(v, extra)))
                        .collect(),
                ),
                pos: node.pos,
            },
        }
    }

    fn fallback(&self, index: usize) -> String {
        self.late
            .get(index)
            .map_or_else(String::new, |e| e.fallback.clone())
    }
}

/// Indices of the late tokens in a node tree.
fn collect_late(node: &Node, out: &mut Vec<usize>) {
    match &node.kind {
        Kind::Scalar(s, _) => {
            if s.contains(LATE_OPEN) {
                for piece in pieces(s, LATE_OPEN, LATE_CLOSE) {
                    if let Piece::Token(i) = piece {
                        out.push(i);
                    }
                }
            }
        }
        Kind::Seq(items) => items.iter().for_each(|n| collect_late(n, out)),
        Kind::Map(entries) => entries.iter().for_each(|(k, v)| {
            collect_late(k, out);
            collect_late(v, out);
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_tokens() {
        let s = format!("a{SECRET_OPEN}12{SECRET_CLOSE}b{SECRET_OPEN}3{SECRET_CLOSE}");
        assert_eq!(
            pieces(&s, SECRET_OPEN, SECRET_CLOSE),
            [
                Piece::Text("a"),
                Piece::Token(12),
                Piece::Text("b"),
                Piece::Token(3)
            ]
        );
    }
}
