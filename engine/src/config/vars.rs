//! Variables (`vars:`), environment lookups and secrets.
//!
//! Inside `vars:` and `pipelineTemplates:` an expression is not substituted in the text: it is
//! replaced by a "late" token and bound when its value is needed (a variable is resolved the
//! first time it is used; a pipeline template each time an app uses it, with that app's vars).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::SecretPart;
use super::limits::{Exceeded, MAX_DEPTH, MAX_EXPANDED_BYTES, MAX_EXPANSIONS, MAX_NODES};
use super::limits::{MAX_VAR_DEPTH, bytes_text, count_text};
use super::load::Loader;
use super::suggest::hint;
use super::template::{ExprKind, LATE_CLOSE, LATE_OPEN, SECRET_CLOSE, SECRET_OPEN};
use super::yaml::{Kind, Node, Pos, Style, count_nodes, plain_value};

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
        self.var_deps = edges;
        self.report_deep_vars();
    }

    /// Reports variables that use variables more than [`MAX_VAR_DEPTH`] levels deep (once per
    /// chain, at the variable where the chain crosses the limit) and marks every variable past
    /// the limit as failed, so that none is resolved.
    fn report_deep_vars(&mut self) {
        // Longest chain below each variable, computed bottom-up without recursion: chains may be
        // thousands of variables long. Variables in a cycle (failed) end a chain.
        let mut depth: HashMap<&str, usize> = HashMap::with_capacity(self.var_order.len());
        for start in &self.var_order {
            let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
            while let Some(&mut (name, ref mut next)) = stack.last_mut() {
                if depth.contains_key(name) {
                    stack.pop();
                    continue;
                }
                let deps = self.var_deps.get(name).map_or(&[][..], Vec::as_slice);
                if let Some(dep) = deps.get(*next) {
                    *next += 1;
                    if !depth.contains_key(dep.as_str()) && !self.var_failed(dep) {
                        stack.push((dep.as_str(), 0));
                    }
                    continue;
                }
                let below = deps
                    .iter()
                    .filter_map(|d| depth.get(d.as_str()))
                    .max()
                    .copied()
                    .unwrap_or(0);
                // A variable in a cycle (reported already) has no depth and ends every chain.
                let own = if self.var_failed(name) { 0 } else { below + 1 };
                depth.insert(name, own);
                stack.pop();
            }
        }
        let mut reports = Vec::new();
        let mut too_deep = Vec::new();
        for name in &self.var_order {
            let d = depth.get(name.as_str()).copied().unwrap_or(0);
            if d <= MAX_VAR_DEPTH {
                continue;
            }
            too_deep.push(name.clone());
            if d == MAX_VAR_DEPTH + 1 {
                // The deepest chain below, following the deepest variable at each step.
                let mut chain = vec![name.as_str()];
                let mut at = name.as_str();
                let level = |n: &str| depth.get(n).copied().unwrap_or(0);
                while let Some(next) = self
                    .var_deps
                    .get(at)
                    .and_then(|deps| deps.iter().max_by_key(|d| level(d)))
                    // Each step goes one level down, so the walk ends.
                    .filter(|next| level(next) > 0 && level(next) < level(at))
                {
                    at = next.as_str();
                    chain.push(at);
                }
                let shown = if chain.len() > 6 {
                    format!(
                        "{} -> ... -> {}",
                        chain[..3].join(" -> "),
                        chain[chain.len() - 2..].join(" -> ")
                    )
                } else {
                    chain.join(" -> ")
                };
                reports.push((name.clone(), shown));
            }
        }
        for (name, shown) in reports {
            let Some(pos) = self.vars.get(&name).map(|d| d.key_pos) else {
                continue;
            };
            self.diags.push(
                Some(pos),
                format!("vars.{name}"),
                format!(
                    "variables use each other more than {MAX_VAR_DEPTH} levels deep here \
                     ({shown}; the limit is {MAX_VAR_DEPTH}); use fewer levels of variables"
                ),
            );
        }
        for name in too_deep {
            if let Some(def) = self.vars.get_mut(&name) {
                def.state = VarState::Failed;
            }
        }
    }

    fn var_failed(&self, name: &str) -> bool {
        self.vars
            .get(name)
            .is_some_and(|d| matches!(d.state, VarState::Failed))
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
        match &self.vars.get(name)?.state {
            VarState::Done(v) => return Some(v.clone()),
            VarState::Failed | VarState::Resolving => return None,
            VarState::Pending => {}
        }
        // What `name` uses is resolved first, deepest first, so that resolving one variable
        // never recurses into resolving another: the stack stays flat however long a chain of
        // variables is.
        for dep in self.unresolved_deps(name) {
            self.resolve_one(&dep);
        }
        self.resolve_one(name)
    }

    /// The pending variables that `name` uses, directly or not, each after those it uses.
    fn unresolved_deps(&self, name: &str) -> Vec<String> {
        let pending = |n: &str| {
            self.vars
                .get(n)
                .is_some_and(|d| matches!(d.state, VarState::Pending))
        };
        let mut order = Vec::new();
        let mut seen: HashSet<&str> = HashSet::from([name]);
        let mut stack: Vec<(&str, usize)> = vec![(name, 0)];
        while let Some(&mut (at, ref mut next)) = stack.last_mut() {
            let deps = self.var_deps.get(at).map_or(&[][..], Vec::as_slice);
            if let Some(dep) = deps.get(*next) {
                *next += 1;
                if pending(dep) && seen.insert(dep.as_str()) {
                    stack.push((dep.as_str(), 0));
                }
            } else {
                if at != name {
                    order.push(at.to_owned());
                }
                stack.pop();
            }
        }
        order
    }

    fn resolve_one(&mut self, name: &str) -> Option<Value> {
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

    /// Spends the budget for one substitution of `expr` that inserts `bytes` bytes and creates
    /// `nodes` nodes; false (reported at `pos` the first time) if a limit is reached.
    pub(super) fn spend(&mut self, bytes: usize, nodes: usize, pos: Pos, expr: &ExprKind) -> bool {
        self.spend_for(1, bytes, nodes, pos, || format!("`{}`", expr_text(expr)))
    }

    /// Spends the budget for the copies of an app's repo and spec that each of its CI/CD
    /// entries makes: a long list of entries under a large app must not multiply its size
    /// without bound.
    pub(super) fn spend_copies(
        &mut self,
        repo: &Node,
        spec: &Map<String, Value>,
        pos: Pos,
    ) -> bool {
        let nodes = count_nodes(repo) + spec.values().map(value_nodes).sum::<usize>();
        self.spend_for(0, 0, nodes, pos, || "this CI/CD entry".to_owned())
    }

    /// [`Loader::spend`] for `[[ env "NAME" ]]`: its value is inserted where the token is.
    pub(super) fn spend_env(&mut self, name: &str, pos: Pos, expr: &ExprKind) -> bool {
        let bytes = match self.secrets.by_name.get(name) {
            Some(Some(i)) => self.secrets.value(*i).len(),
            _ => 0,
        };
        self.spend(bytes, 0, pos, expr)
    }

    fn spend_for(
        &mut self,
        expansions: usize,
        bytes: usize,
        nodes: usize,
        pos: Pos,
        what: impl FnOnce() -> String,
    ) -> bool {
        if self.budget.exhausted.is_some() {
            // Already reported: stop substituting, quietly.
            return false;
        }
        let Err(exceeded) = self.budget.spend(expansions, bytes, nodes) else {
            return true;
        };
        self.budget.exhausted = Some(pos);
        let what = what();
        let message = match exceeded {
            Exceeded::Bytes => format!(
                "{what}: substituting it takes the text that `[[ ]]` inserts past {} in all \
                 (the limit); a variable that uses another one twice doubles in size at each \
                 level: check what it expands to",
                bytes_text(MAX_EXPANDED_BYTES)
            ),
            Exceeded::Expansions => format!(
                "{what}: more than {} substitutions while loading this config (the limit; the \
                 expressions of a pipeline template count once for each app that uses it); use \
                 fewer expressions, or split the tools into several configs",
                count_text(MAX_EXPANSIONS)
            ),
            Exceeded::Nodes => format!(
                "{what}: expanding it takes this config past {} YAML nodes (the limit; aliases \
                 and pipeline templates count every node they copy); make the config smaller, \
                 or split the tools into several configs",
                count_text(MAX_NODES)
            ),
        };
        self.diags.push(Some(pos), String::new(), message);
        false
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

    /// The value of late expression `index`, if it can be substituted within the budget, which
    /// it is charged against: `cost` tells what inserting the value costs, as (bytes, nodes).
    fn eval_late(
        &mut self,
        index: usize,
        extra: Option<&Map<String, Value>>,
        cost: impl FnOnce(&Value) -> Option<(usize, usize)>,
    ) -> Option<Value> {
        let expr = self.late.get(index)?.clone();
        let value = match &expr.kind {
            ExprKind::Var(path) => self.lookup(path, expr.pos, extra, true),
            ExprKind::Env(name) => self.env_token(name, expr.pos, true).map(Value::String),
            ExprKind::Invalid(msg) => {
                self.diags.push(Some(expr.pos), String::new(), msg.clone());
                None
            }
        }?;
        let (bytes, nodes) = match (&expr.kind, &value) {
            // The token stands for the secret's value, which is what ends up in the options.
            (ExprKind::Env(name), _) => {
                let bytes = match self.secrets.by_name.get(name) {
                    Some(Some(i)) => self.secrets.value(*i).len(),
                    _ => 0,
                };
                (bytes, 1)
            }
            _ => match cost(&value) {
                Some(cost) => cost,
                None => {
                    let what = expr_text(&expr.kind);
                    self.diags.push(
                        Some(expr.pos),
                        String::new(),
                        format!(
                            "`{what}`: its value nests too deep to be inserted here: values \
                             may nest at most {MAX_DEPTH} levels (the limit)"
                        ),
                    );
                    return None;
                }
            },
        };
        self.spend(bytes, nodes, expr.pos, &expr.kind)
            .then_some(value)
    }

    /// Binds the late tokens in `node`. A scalar that is exactly one expression takes the
    /// value's type; otherwise values are spliced in as text. Each binding is charged against
    /// the budget; a template (bound with `extra`, once per app) is charged for every node it
    /// copies, as are the app's variables.
    pub(super) fn instantiate(&mut self, node: &Node, extra: Option<&Map<String, Value>>) -> Node {
        if let Some(extra) = extra {
            let nodes = count_nodes(node) + extra.values().map(value_nodes).sum::<usize>();
            if !self.spend_for(0, 0, nodes, node.pos, || {
                "this pipeline template".to_owned()
            }) {
                // Reported; an empty mapping, which is what templates hold, makes no follow-up.
                return Node {
                    kind: Kind::Map(Vec::new()),
                    pos: node.pos,
                };
            }
        }
        self.instantiate_at(node, extra, 1)
    }

    /// [`Loader::instantiate`] for a node nested `depth` levels deep in what is instantiated.
    fn instantiate_at(
        &mut self,
        node: &Node,
        extra: Option<&Map<String, Value>>,
        depth: usize,
    ) -> Node {
        match &node.kind {
            Kind::Scalar(text, style) => {
                if !text.contains(LATE_OPEN) {
                    return node.clone();
                }
                let parts = pieces(text, LATE_OPEN, LATE_CLOSE);
                if let [Piece::Token(i)] = parts.as_slice() {
                    let cost = |v: &Value| {
                        let (bytes, nodes, levels) = value_size(v);
                        (depth - 1 + levels <= MAX_DEPTH).then_some((bytes, nodes))
                    };
                    return match self.eval_late(*i, extra, cost) {
                        Some(Value::String(s)) => Node::scalar(s, *style, node.pos),
                        Some(other) => Node::from_value(&other, node.pos),
                        None => Node::scalar(self.fallback(*i), Style::Quoted, node.pos),
                    };
                }
                let mut out = String::with_capacity(text.len());
                for part in parts {
                    match part {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Token(i) => {
                            let mut inserted = None;
                            let cost = |v: &Value| {
                                let text = value_text(v);
                                let bytes = text.len();
                                inserted = Some(text);
                                Some((bytes, 0))
                            };
                            match self.eval_late(i, extra, cost) {
                                // A secret's token is inserted as it is (`cost` is not asked).
                                Some(v) => {
                                    out.push_str(&inserted.unwrap_or_else(|| value_text(&v)))
                                }
                                None => out.push_str(&self.fallback(i)),
                            }
                        }
                    }
                }
                Node::scalar(out, *style, node.pos)
            }
            Kind::Seq(items) => Node {
                kind: Kind::Seq(
                    items
                        .iter()
                        .map(|n| self.instantiate_at(n, extra, depth + 1))
                        .collect(),
                ),
                pos: node.pos,
            },
            Kind::Map(entries) => Node {
                kind: Kind::Map(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            (
                                self.instantiate_at(k, extra, depth + 1),
                                self.instantiate_at(v, extra, depth + 1),
                            )
                        })
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

/// `[[ name ]]`, as written, for messages.
pub(crate) fn expr_text(kind: &ExprKind) -> String {
    match kind {
        ExprKind::Var(path) => format!("[[ {} ]]", path.join(".")),
        ExprKind::Env(name) => format!("[[ env \"{name}\" ]]"),
        ExprKind::Invalid(_) => "[[ ]]".to_owned(),
    }
}

/// Nodes that [`Node::from_value`] makes of `v`.
fn value_nodes(v: &Value) -> usize {
    value_size(v).1
}

/// What inserting `v` costs: about as many bytes as its text, the nodes it becomes, and how
/// many levels it nests (a scalar: 0).
fn value_size(v: &Value) -> (usize, usize, usize) {
    match v {
        Value::Null => (0, 1, 0),
        Value::Bool(b) => (if *b { 4 } else { 5 }, 1, 0),
        Value::Number(n) => (n.to_string().len(), 1, 0),
        Value::String(s) => (s.len(), 1, 0),
        Value::Array(items) => items.iter().fold((2, 1, 1), |(b, n, d), item| {
            let (ib, inodes, id) = value_size(item);
            (b + ib + 1, n + inodes, d.max(id + 1))
        }),
        Value::Object(map) => map.iter().fold((2, 1, 1), |(b, n, d), (k, item)| {
            let (ib, inodes, id) = value_size(item);
            (b + k.len() + ib + 4, n + inodes + 1, d.max(id + 1))
        }),
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
