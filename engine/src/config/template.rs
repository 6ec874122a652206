//! `[[ ... ]]` expressions in the raw file text, the top-level sections of a file, and text
//! substitution that remembers where every replaced piece came from.
//!
//! DevStream renders its config as a Go template (with `[[ ]]` delimiters) before parsing the
//! YAML, which is why users write unquoted `owner: [[ githubUsername ]]`. dtm does the same
//! substitution on the text, then parses; the [`SourceMap`] maps parser positions back to the
//! text the user wrote.

use std::ops::Range;

/// Marks a secret (`[[ env "X" ]]`) in substituted text: `SECRET_OPEN index SECRET_CLOSE`.
pub(crate) const SECRET_OPEN: char = '\u{E000}';
pub(crate) const SECRET_CLOSE: char = '\u{E001}';
/// Marks an expression whose value is bound later (inside `vars:` and `pipelineTemplates:`).
pub(crate) const LATE_OPEN: char = '\u{E002}';
pub(crate) const LATE_CLOSE: char = '\u{E003}';

/// What a `[[ ... ]]` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExprKind {
    /// `[[ name ]]` or `[[ name.key ]]`.
    Var(Vec<String>),
    /// `[[ env "NAME" ]]`.
    Env(String),
    /// Something dtm does not understand; the message says what.
    Invalid(String),
}

/// One `[[ ... ]]` occurrence in a file.
#[derive(Debug, Clone)]
pub(crate) struct Expr {
    /// Byte range of the whole `[[ ... ]]` in the file text.
    pub range: Range<usize>,
    /// The line, counting from 1.
    pub line: u32,
    /// 0-based column, in characters.
    pub col0: u32,
    /// Width of the expression in characters.
    pub width: u32,
    pub kind: ExprKind,
    /// The line is a YAML comment (first non-blank character `#`): an expression there that
    /// cannot be substituted is left alone instead of being an error.
    pub in_comment: bool,
}

/// Finds every `[[ ... ]]` in `text`, but no more than `limit` + 1 (the one past the limit is
/// where the loader reports it). A `[[` whose content does not start like an expression (a
/// letter, `_` or `.`) is YAML (a nested flow list such as `[[1, 2]]`) and is left alone.
pub(crate) fn scan(text: &str, limit: usize) -> Vec<Expr> {
    let mut out = Vec::new();
    let mut line_start = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if line.contains("[[") {
            scan_line(line, line_start, line_no, limit, &mut out);
            if out.len() > limit {
                break;
            }
        }
        line_start += line.len();
    }
    out
}

fn scan_line(line: &str, offset: usize, line_no: u32, limit: usize, out: &mut Vec<Expr>) {
    let in_comment = line.trim_start().starts_with('#');
    let mut from = 0;
    // Columns are counted from the previous expression on, not from the start of the line: a
    // long line of expressions must not cost quadratic time.
    let (mut counted_to, mut counted_chars) = (0usize, 0u32);
    while out.len() <= limit
        && let Some(found) = line[from..].find("[[")
    {
        let start = from + found;
        let inner_start = start + 2;
        let rest = &line[inner_start..];
        let first = rest.trim_start().chars().next();
        if !first.is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '.') {
            from = start + 1;
            continue;
        }
        counted_chars = counted_chars.saturating_add(char_count(&line[counted_to..start]));
        counted_to = start;
        let col0 = counted_chars;
        let (end, kind) = match rest.find("]]") {
            Some(close) => (inner_start + close + 2, parse_expr(&rest[..close])),
            None => (
                line.trim_end_matches(['\n', '\r']).len().max(inner_start),
                ExprKind::Invalid("unclosed `[[`: expected `]]` on the same line".into()),
            ),
        };
        out.push(Expr {
            range: offset + start..offset + end,
            line: line_no,
            col0,
            width: char_count(&line[start..end]),
            kind,
            in_comment,
        });
        from = end;
    }
}

fn char_count(s: &str) -> u32 {
    u32::try_from(s.chars().count()).unwrap_or(u32::MAX)
}

fn parse_expr(inner: &str) -> ExprKind {
    let t = inner.trim();
    if let Some(rest) = t.strip_prefix("env")
        && (rest.is_empty() || rest.starts_with([' ', '\t', '"']))
    {
        let arg = rest.trim();
        // `env "NAME"` as documented; `env NAME` as DevStream's own examples write it.
        let quoted = arg
            .strip_prefix('"')
            .and_then(|a| a.strip_suffix('"'))
            .filter(|name| !name.is_empty() && !name.contains('"'));
        let bare = Some(arg).filter(|a| {
            a.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        return match quoted.or(bare) {
            Some(name) => ExprKind::Env(name.to_owned()),
            None => ExprKind::Invalid(format!(
                "`[[ {t} ]]`: expected `[[ env \"NAME\" ]]` (or `[[ env NAME ]]`) naming an \
                 environment variable"
            )),
        };
    }
    let path = t.strip_prefix('.').unwrap_or(t);
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().all(|s| is_var_name(s)) {
        return ExprKind::Var(segments.into_iter().map(str::to_owned).collect());
    }
    ExprKind::Invalid(format!(
        "unsupported expression `[[ {t} ]]`: dtm understands `[[ name ]]`, `[[ name.key ]]` and \
         `[[ env \"NAME\" ]]`"
    ))
}

/// Variable names: a letter or `_`, then letters, digits, `_` or `-`.
pub(crate) fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A top-level key's section of the file text: from its line to the next top-level key.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub key: String,
    /// Byte range, starting at the beginning of the key's line.
    pub range: Range<usize>,
    /// 1-based line of the key.
    pub line: u32,
}

/// Splits a file into its top-level sections by looking at lines that start in column 0 (what a
/// block mapping at the top level looks like). Every YAML document counts: a `---` or `...`
/// line ends the section before it, so a file may repeat a key in each of its documents.
pub(crate) fn sections(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bytes = line.as_bytes();
        let starts_doc = line.starts_with("---") || line.starts_with("...");
        if starts_doc {
            if let Some(last) = out.last_mut().filter(|l| l.range.end > offset) {
                last.range.end = offset;
            }
            offset += line.len();
            continue;
        }
        let top_key = !bytes.is_empty()
            && !bytes[0].is_ascii_whitespace()
            && !matches!(bytes[0], b'#' | b'-' | b'}' | b']');
        if top_key {
            if let Some(last) = out.last_mut().filter(|l| l.range.end > offset) {
                last.range.end = offset;
            }
            let key = line
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\''])
                .to_owned();
            out.push(Section {
                key,
                range: offset..text.len(),
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
            });
        }
        offset += line.len();
    }
    out
}

/// One replaced piece: where it is in the output and where it was in the original, as
/// (1-based line, 0-based character column).
#[derive(Debug, Clone, Copy)]
struct Edit {
    out_start: (u32, u32),
    out_end: (u32, u32),
    orig_start: (u32, u32),
    orig_end: (u32, u32),
}

/// Maps positions in substituted text back to the original text.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceMap {
    edits: Vec<Edit>,
}

impl SourceMap {
    /// Original (line, 0-based column) of output position (line, 0-based column). A position
    /// inside a replaced piece maps to the start of the `[[` that produced it.
    pub(super) fn map(&self, line: u32, col0: u32) -> (u32, u32) {
        let p = (line, col0);
        let i = self.edits.partition_point(|e| e.out_start <= p);
        if i == 0 {
            return p;
        }
        let e = self.edits[i - 1];
        if p == e.out_start || p < e.out_end {
            return e.orig_start;
        }
        if p.0 == e.out_end.0 {
            (e.orig_end.0, e.orig_end.1 + (p.1 - e.out_end.1))
        } else {
            (e.orig_end.0 + (p.0 - e.out_end.0), p.1)
        }
    }
}

/// Advances a (line, column) position over `s`.
fn advance(mut pos: (u32, u32), s: &str) -> (u32, u32) {
    match s.rfind('\n') {
        None => pos.1 += char_count(s),
        Some(last) => {
            let newlines = s.bytes().filter(|&b| b == b'\n').count();
            pos.0 += u32::try_from(newlines).unwrap_or(u32::MAX);
            pos.1 = char_count(&s[last + 1..]);
        }
    }
    pos
}

/// Renders `text[range]` (which starts at the beginning of line `first_line`), preceded by empty
/// lines so that line numbers stay those of the whole file. `replace` gives each expression's
/// replacement, or None to leave it as written. `exprs` must be sorted by position.
pub(crate) fn render(
    text: &str,
    range: Range<usize>,
    first_line: u32,
    exprs: &[Expr],
    mut replace: impl FnMut(usize, &Expr) -> Option<String>,
) -> (String, SourceMap) {
    let lead = first_line.saturating_sub(1) as usize;
    let mut out = String::with_capacity(range.len() + lead + 64);
    out.extend(std::iter::repeat_n('\n', lead));
    let mut map = SourceMap::default();
    let mut pos = (first_line, 0u32);
    let mut copied_to = range.start;
    for (i, expr) in exprs.iter().enumerate() {
        if expr.range.start < range.start || expr.range.end > range.end {
            continue;
        }
        let Some(replacement) = replace(i, expr) else {
            continue;
        };
        let before = &text[copied_to..expr.range.start];
        out.push_str(before);
        pos = advance(pos, before);
        let out_start = pos;
        out.push_str(&replacement);
        pos = advance(pos, &replacement);
        map.edits.push(Edit {
            out_start,
            out_end: pos,
            orig_start: (expr.line, expr.col0),
            orig_end: (expr.line, expr.col0 + expr.width),
        });
        copied_to = expr.range.end;
    }
    out.push_str(&text[copied_to..range.end]);
    (out, map)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn env_names_may_be_bare_as_in_devstream_examples() {
        assert_eq!(
            parse_expr(" env GITHUB_TOKEN "),
            ExprKind::Env("GITHUB_TOKEN".into())
        );
        assert_eq!(parse_expr("env \"A_B\""), ExprKind::Env("A_B".into()));
        assert!(matches!(parse_expr("env 9x"), ExprKind::Invalid(_)));
        assert!(matches!(parse_expr("env a b"), ExprKind::Invalid(_)));
    }

    #[test]
    fn scans_vars_env_and_leaves_yaml_lists() {
        let text = "a: [[ x ]]\nb: [[env \"T\"]] [[1, 2]]\n# [[ y.z ]]\nc: [[ if x ]]\n";
        let e = scan(text, usize::MAX);
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].kind, ExprKind::Var(vec!["x".into()]));
        assert_eq!((e[0].line, e[0].col0, e[0].width), (1, 3, 7));
        assert_eq!(e[1].kind, ExprKind::Env("T".into()));
        assert_eq!(e[2].kind, ExprKind::Var(vec!["y".into(), "z".into()]));
        assert!(e[2].in_comment);
        assert!(matches!(e[3].kind, ExprKind::Invalid(_)));
    }

    #[test]
    fn render_maps_positions_back() {
        let text = "a: [[ long_name ]] x\nb: [[ v ]]\n";
        let exprs = scan(text, usize::MAX);
        let (out, map) = render(text, 0..text.len(), 1, &exprs, |i, _| {
            Some(if i == 0 { "s".into() } else { "l1\nl2".into() })
        });
        assert_eq!(out, "a: s x\nb: l1\nl2\n");
        // `x` after the short replacement is at column 19 in the original.
        assert_eq!(map.map(1, 5), (1, 19));
        // Inside a replacement: the `[[`.
        assert_eq!(map.map(1, 3), (1, 3));
        assert_eq!(map.map(3, 1), (2, 3));
        // Lines after a multi-line replacement shift back.
        assert_eq!(map.map(4, 0), (3, 0));
    }

    #[test]
    fn sections_of_every_document() {
        let text = "config:\n  a: 1\n---\ntools:\n- a\n---\nvars:\n  x: 1\n...\n---\ntools:\n- b\n";
        let s = sections(text);
        let keys: Vec<_> = s.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["config", "tools", "vars", "tools"]);
        assert_eq!(&text[s[0].range.clone()], "config:\n  a: 1\n");
        assert_eq!(&text[s[2].range.clone()], "vars:\n  x: 1\n");
        assert_eq!(&text[s[3].range.clone()], "tools:\n- b\n");
        assert_eq!(s[3].line, 11);
    }

    #[test]
    fn sections_split_on_top_level_keys() {
        let text = "config:\n  a: 1\nvars:\n  x: 1\n# c\ntools:\n- name: a\n";
        let s = sections(text);
        let keys: Vec<_> = s.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["config", "vars", "tools"]);
        assert_eq!(&text[s[1].range.clone()], "vars:\n  x: 1\n# c\n");
        assert_eq!(s[2].line, 6);
    }
}
