//! A small YAML node tree with a position on every node, built from `yaml-rust2` events.
//!
//! Positions are mapped back through a [`SourceMap`] to the file as the user wrote it (before
//! `[[ ]]` substitution), so every diagnostic points at the user's text.

use std::collections::HashMap;
use std::collections::HashSet;

use serde_json::Value;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::limits::{MAX_DEPTH, MAX_NODES, count_text};
use super::template::SourceMap;

/// A position in one of the config files: file index, 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Pos {
    pub file: u32,
    pub line: u32,
    pub col: u32,
}

/// How a scalar was written: plain scalars are typed (null, bool, number), everything else is a
/// string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    Quoted,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Scalar(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

impl Node {
    pub(super) fn scalar(text: impl Into<String>, style: Style, pos: Pos) -> Node {
        Node {
            kind: Kind::Scalar(text.into(), style),
            pos,
        }
    }

    /// Builds a node tree from a JSON value, every node at `pos` (for synthesized options).
    pub(super) fn from_value(value: &Value, pos: Pos) -> Node {
        let kind = match value {
            Value::Null => Kind::Scalar(String::new(), Style::Plain),
            Value::Bool(b) => Kind::Scalar(b.to_string(), Style::Plain),
            Value::Number(n) => Kind::Scalar(n.to_string(), Style::Plain),
            Value::String(s) => Kind::Scalar(s.clone(), Style::Quoted),
            Value::Array(items) => {
                Kind::Seq(items.iter().map(|v| Node::from_value(v, pos)).collect())
            }
            Value::Object(map) => Kind::Map(
                map.iter()
                    .map(|(k, v)| {
                        (
                            Node::scalar(k.clone(), Style::Quoted, pos),
                            Node::from_value(v, pos),
                        )
                    })
                    .collect(),
            ),
        };
        Node { kind, pos }
    }

    pub(super) fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(s, Style::Plain) if is_null_text(s))
    }

    /// The scalar's text, if this is a scalar.
    pub(super) fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    pub(super) fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_scalar() == Some(key))
            .map(|(_, v)| v)
    }

    /// What a user would call this node's type, for "expected X, found Y" messages.
    pub(super) fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar(s, Style::Plain) => match plain_value(s) {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                _ => "a string",
            },
            Kind::Scalar(..) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

fn is_null_text(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// Types a plain scalar the way YAML 1.2's core schema does. Values JSON cannot hold (`.inf`,
/// `.nan`, integers beyond 64 bits that are not floats) stay strings.
pub(crate) fn plain_value(s: &str) -> Value {
    if is_null_text(s) {
        return Value::Null;
    }
    match s {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let b = s.as_bytes();
    let first = b[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Value::String(s.to_owned());
    }
    if let Some(hex) = s.strip_prefix("0x") {
        return radix_value(s, hex, 16);
    }
    if let Some(oct) = s.strip_prefix("0o") {
        return radix_value(s, oct, 8);
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::from(i);
        }
        if !s.starts_with('-')
            && let Ok(u) = digits.parse::<u64>()
        {
            return Value::from(u);
        }
    }
    if is_yaml_float(digits)
        && let Ok(f) = s.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(s.to_owned())
}

/// `0x1f` / `0o17`; the digits must all be valid in the radix (Rust's parser allows a sign).
fn radix_value(s: &str, digits: &str, radix: u32) -> Value {
    let valid = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
    match i64::from_str_radix(digits, radix) {
        Ok(i) if valid => Value::from(i),
        _ => Value::String(s.to_owned()),
    }
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (the sign is already stripped).
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - f;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return false;
        }
    }
    i == b.len()
}

/// The result of parsing one text.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The root of each document (`---` separates them), in order; none for an empty file.
    pub docs: Vec<Node>,
    /// Problems that do not stop parsing (duplicate keys, bad aliases).
    pub problems: Vec<(Pos, String)>,
}

/// Parses `text` (already substituted) into a node tree; a syntax error is returned with its
/// position in the original file. Building at most `nodes` nodes (aliases count every node they
/// copy), no deeper than [`MAX_DEPTH`]; what was built is taken off `nodes`.
pub(crate) fn parse(
    text: &str,
    file: u32,
    map: &SourceMap,
    nodes: &mut usize,
) -> Result<Parsed, (Pos, String)> {
    let mut builder = Builder {
        file,
        map,
        stack: Vec::new(),
        anchors: HashMap::new(),
        docs: Vec::new(),
        problems: Vec::new(),
        nodes_left: *nodes,
        stop: None,
    };
    let mut parser = Parser::new_from_str(text);
    let loaded = load_events(&mut parser, &mut builder);
    *nodes = builder.nodes_left;
    match loaded {
        Ok(()) => Ok(Parsed {
            docs: builder.docs,
            problems: builder.problems,
        }),
        Err(e) => Err(e),
    }
}

/// Feeds the parser's events to the builder one at a time, stopping at the first limit the
/// builder reaches. (`Parser::load` recurses once per level of nesting, so a document nested
/// thousands of levels deep in block style would overflow the stack.)
fn load_events<T: Iterator<Item = char>>(
    parser: &mut Parser<T>,
    builder: &mut Builder<'_>,
) -> Result<(), (Pos, String)> {
    loop {
        let (event, mark) = parser.next_token().map_err(|e| {
            let pos = builder.pos(*e.marker());
            (pos, format!("invalid YAML: {}", e.info()))
        })?;
        let end = event == Event::StreamEnd;
        if event == Event::DocumentStart {
            // Anchors do not reach into the next document.
            builder.anchors.clear();
        }
        builder.on_event(event, mark);
        if let Some(stop) = builder.stop.take() {
            return Err(stop);
        }
        if end {
            return Ok(());
        }
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        pos: Pos,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        pos: Pos,
        anchor: usize,
    },
}

struct Builder<'a> {
    file: u32,
    map: &'a SourceMap,
    stack: Vec<Frame>,
    /// Each anchor's node, its number of nodes and how many levels it nests.
    anchors: HashMap<usize, (Node, usize, usize)>,
    docs: Vec<Node>,
    problems: Vec<(Pos, String)>,
    /// Nodes that may still be built (see [`MAX_NODES`]).
    nodes_left: usize,
    /// The limit reached, which ends the parse.
    stop: Option<(Pos, String)>,
}

impl Builder<'_> {
    fn pos(&self, m: Marker) -> Pos {
        let line = u32::try_from(m.line()).unwrap_or(u32::MAX);
        let col0 = u32::try_from(m.col()).unwrap_or(u32::MAX);
        let (line, col0) = self.map.map(line, col0);
        Pos {
            file: self.file,
            line,
            col: col0.saturating_add(1),
        }
    }

    /// Takes `count` nodes off the budget, or stops the parse at `pos` (`alias`: they are an
    /// alias's copies).
    fn spend(&mut self, count: usize, pos: Pos, alias: bool) -> bool {
        if let Some(left) = self.nodes_left.checked_sub(count) {
            self.nodes_left = left;
            return true;
        }
        let how = if alias {
            format!(
                "this alias copies {} nodes, which takes the config past {} YAML nodes (the \
                 limit; aliases count every node they copy)",
                count_text(count),
                count_text(MAX_NODES)
            )
        } else {
            format!(
                "more than {} YAML nodes in this config (the limit; aliases count every node \
                 they copy)",
                count_text(MAX_NODES)
            )
        };
        self.stop = Some((
            pos,
            format!("{how}; make the config smaller, or split the tools into several configs"),
        ));
        false
    }

    /// Whether a collection may start at `pos`, or the parse stops: it would nest deeper than
    /// [`MAX_DEPTH`].
    fn may_nest(&mut self, pos: Pos) -> bool {
        if self.stack.len() < MAX_DEPTH {
            return self.spend(1, pos, false);
        }
        self.stop = Some((pos, too_deep_message()));
        false
    }

    /// Keeps a copy of an anchored node for its aliases; the copy counts against the budget.
    fn anchor(&mut self, id: usize, node: &Node) {
        if id != 0 {
            let size = count_nodes(node);
            if self.spend(size, node.pos, false) {
                self.anchors
                    .insert(id, (node.clone(), size, node_levels(node)));
            }
        }
    }

    fn add(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries, key, pos, ..
            }) => match key.take() {
                None => {
                    // A block mapping's start event is marked after its first key; the key's own
                    // position is where a reader sees the mapping begin.
                    if entries.is_empty() && node.pos < *pos {
                        *pos = node.pos;
                    }
                    *key = Some(node);
                }
                Some(k) => entries.push((k, node)),
            },
        }
    }

    fn finish_map(&mut self, mut entries: Vec<(Node, Node)>, pos: Pos) -> Node {
        if entries
            .iter()
            .any(|(k, _)| matches!(&k.kind, Kind::Scalar(s, Style::Plain) if s == "<<"))
        {
            entries = self.apply_merge_keys(entries);
        }
        let mut dups = Vec::new();
        if entries.len() <= 16 {
            // Small mappings (nearly all of them): comparing is cheaper than hashing.
            for (i, (k, _)) in entries.iter().enumerate() {
                let Some(name) = k.as_scalar() else { continue };
                if let Some((first, _)) = entries[..i]
                    .iter()
                    .find(|(other, _)| other.as_scalar() == Some(name))
                {
                    dups.push((k.pos, name.to_owned(), first.pos));
                }
            }
        } else {
            let mut seen: HashMap<&str, Pos> = HashMap::with_capacity(entries.len());
            for (k, _) in &entries {
                if let Some(name) = k.as_scalar()
                    && let Some(first) = seen.insert(name, k.pos)
                {
                    dups.push((k.pos, name.to_owned(), first));
                }
            }
        }
        for (at, name, first) in dups {
            self.problems.push((
                at,
                format!(
                    "duplicate key `{name}` (first at line {}, column {})",
                    first.line, first.col
                ),
            ));
        }
        Node {
            kind: Kind::Map(entries),
            pos,
        }
    }

    /// `<<: *base` / `<<: [*a, *b]`: keys of the merged mappings that the mapping does not set
    /// itself; earlier mappings win.
    fn apply_merge_keys(&mut self, entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
        let mut own = Vec::with_capacity(entries.len());
        let mut merged = Vec::new();
        for (k, v) in entries {
            if matches!(&k.kind, Kind::Scalar(s, Style::Plain) if s == "<<") {
                match v.kind {
                    Kind::Map(m) => merged.push(m),
                    Kind::Seq(items) => {
                        for item in items {
                            match item.kind {
                                Kind::Map(m) => merged.push(m),
                                _ => self.problems.push((
                                    item.pos,
                                    "`<<` merges mappings only; this item is not a mapping".into(),
                                )),
                            }
                        }
                    }
                    Kind::Scalar(..) => self.problems.push((
                        v.pos,
                        "`<<` needs a mapping or a list of mappings (usually an alias like `*base`)"
                            .into(),
                    )),
                }
            } else {
                own.push((k, v));
            }
        }
        let mut present: HashSet<String> = own
            .iter()
            .filter_map(|(k, _)| k.as_scalar().map(str::to_owned))
            .collect();
        for m in merged {
            for (k, v) in m {
                let fresh = match k.as_scalar() {
                    Some(name) => present.insert(name.to_owned()),
                    None => true,
                };
                if fresh {
                    own.push((k, v));
                }
            }
        }
        own
    }
}

fn too_deep_message() -> String {
    format!("YAML nested more than {MAX_DEPTH} levels deep (the limit); flatten the structure")
}

/// How many levels of collections a node nests (a scalar: 0).
fn node_levels(node: &Node) -> usize {
    match &node.kind {
        Kind::Scalar(..) => 0,
        Kind::Seq(items) => 1 + items.iter().map(node_levels).max().unwrap_or(0),
        Kind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| node_levels(k).max(node_levels(v)))
                .max()
                .unwrap_or(0)
        }
    }
}

pub(crate) fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        Kind::Scalar(..) => 1,
        Kind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Kind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let style = match style {
                    TScalarStyle::Plain => Style::Plain,
                    _ => Style::Quoted,
                };
                let node = Node::scalar(text, style, self.pos(mark));
                if !self.spend(1, node.pos, false) {
                    return;
                }
                self.anchor(anchor, &node);
                self.add(node);
            }
            Event::SequenceStart(anchor, _tag) => {
                let pos = self.pos(mark);
                if !self.may_nest(pos) {
                    return;
                }
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    pos,
                    anchor,
                });
            }
            Event::MappingStart(anchor, _tag) => {
                let pos = self.pos(mark);
                if !self.may_nest(pos) {
                    return;
                }
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    pos,
                    anchor,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq { items, pos, anchor }) = self.stack.pop() {
                    let node = Node {
                        kind: Kind::Seq(items),
                        pos,
                    };
                    self.anchor(anchor, &node);
                    self.add(node);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    entries,
                    pos,
                    anchor,
                    ..
                }) = self.stack.pop()
                {
                    let node = self.finish_map(entries, pos);
                    self.anchor(anchor, &node);
                    self.add(node);
                }
            }
            Event::Alias(id) => {
                let pos = self.pos(mark);
                let node = match self.anchors.get(&id) {
                    Some((node, size, levels)) => {
                        let (node, size, levels) = (node.clone(), *size, *levels);
                        // The copy nests its anchor's levels below the current one.
                        if self.stack.len() + levels > MAX_DEPTH {
                            self.stop = Some((pos, too_deep_message()));
                            return;
                        }
                        if !self.spend(size, pos, true) {
                            return;
                        }
                        node
                    }
                    None => {
                        self.problems
                            .push((pos, "alias to an unknown anchor".into()));
                        Node::scalar("", Style::Plain, pos)
                    }
                };
                self.add(node);
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd
            | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_scalars_are_typed_like_yaml_core_schema() {
        assert_eq!(plain_value("~"), Value::Null);
        assert_eq!(plain_value("True"), json!(true));
        assert_eq!(plain_value("42"), json!(42));
        assert_eq!(plain_value("-7"), json!(-7));
        assert_eq!(plain_value("0x1f"), json!(31));
        assert_eq!(plain_value("0o17"), json!(15));
        assert_eq!(plain_value("1.5e3"), json!(1500.0));
        assert_eq!(plain_value(".5"), json!(0.5));
        assert_eq!(plain_value("1.2.3"), json!("1.2.3"));
        assert_eq!(plain_value(".inf"), json!(".inf"));
        assert_eq!(plain_value("yes"), json!("yes"));
        assert_eq!(plain_value("5m"), json!("5m"));
        assert_eq!(plain_value("-"), json!("-"));
    }

    #[test]
    fn positions_and_merge_keys() {
        let text = "a: 1\nb: &x {k: 1, j: 2}\nc:\n  <<: *x\n  k: 3\n";
        let parsed = parse(text, 0, &SourceMap::default(), &mut 100).unwrap();
        let root = parsed.docs.into_iter().next().unwrap();
        assert_eq!((root.pos.line, root.pos.col), (1, 1));
        let c = root.get("c").unwrap();
        assert_eq!((c.pos.line, c.pos.col), (4, 3));
        assert_eq!(c.get("k").unwrap().as_scalar(), Some("3"));
        assert_eq!(c.get("j").unwrap().as_scalar(), Some("2"));
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("a: 1\n  b: [\n", 0, &SourceMap::default(), &mut 100).unwrap_err();
        assert_eq!(err.0.line, 2);
    }
}
