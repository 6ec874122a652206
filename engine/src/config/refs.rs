//! Output references: `${{ name.instanceID.outputs.key }}` in option strings.

use std::ops::Range;

use serde_json::Value;

/// One `${{ ... }}` found in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefSpan {
    /// Byte range of the whole `${{ ... }}`.
    pub range: Range<usize>,
    /// `(name.instanceID, key)`, or what is wrong with it.
    pub parsed: Result<(String, String), String>,
}

/// Finds every `${{ ... }}` in `s`.
pub(crate) fn find_refs(s: &str) -> Vec<RefSpan> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = s[from..].find("${{") {
        let start = from + found;
        let inner_start = start + 3;
        let Some(close) = s[inner_start..].find("}}") else {
            out.push(RefSpan {
                range: start..s.len(),
                parsed: Err("unclosed `${{`: expected `}}`".into()),
            });
            break;
        };
        let end = inner_start + close + 2;
        out.push(RefSpan {
            range: start..end,
            parsed: parse_ref(&s[inner_start..inner_start + close]),
        });
        from = end;
    }
    out
}

/// `name.instanceID.outputs.key`: the plugin name is up to the first dot, the key after the last,
/// and the instance ID (which may hold dots) in between.
fn parse_ref(inner: &str) -> Result<(String, String), String> {
    let t = inner.trim();
    let parsed = t.split_once('.').and_then(|(name, rest)| {
        let (head, key) = rest.rsplit_once('.')?;
        let instance = head.strip_suffix(".outputs")?;
        Some((name, instance, key))
    });
    match parsed {
        Some((name, instance, key))
            if [name, instance, key]
                .iter()
                .all(|p| !p.is_empty() && !p.contains(char::is_whitespace)) =>
        {
            Ok((format!("{name}.{instance}"), key.to_owned()))
        }
        _ => Err(format!(
            "malformed output reference `${{{{ {t} }}}}`: expected `${{{{ name.instanceID.outputs.key }}}}`"
        )),
    }
}

/// Replaces the output references in `options` using `lookup(tool, key)` (`tool` is
/// `name.instanceID`).
///
/// A string that is exactly one reference becomes the output's value with its JSON type; a
/// reference inside a longer string is spliced in as text (strings as they are, other values as
/// JSON). On failure, returns the text of every reference that `lookup` could not answer.
pub fn resolve_refs(
    options: &Value,
    lookup: &dyn Fn(&str, &str) -> Option<Value>,
) -> Result<Value, Vec<String>> {
    let mut unresolved = Vec::new();
    let value = resolve_value(options, lookup, &mut unresolved);
    if unresolved.is_empty() {
        Ok(value)
    } else {
        Err(unresolved)
    }
}

fn resolve_value(
    value: &Value,
    lookup: &dyn Fn(&str, &str) -> Option<Value>,
    unresolved: &mut Vec<String>,
) -> Value {
    match value {
        Value::String(s) => resolve_string(s, lookup, unresolved),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve_value(v, lookup, unresolved))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), resolve_value(v, lookup, unresolved)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn resolve_string(
    s: &str,
    lookup: &dyn Fn(&str, &str) -> Option<Value>,
    unresolved: &mut Vec<String>,
) -> Value {
    let spans = find_refs(s);
    if spans.is_empty() {
        return Value::String(s.to_owned());
    }
    if let [span] = spans.as_slice()
        && span.range == (0..s.len())
        && let Ok((tool, key)) = &span.parsed
    {
        return match lookup(tool, key) {
            Some(v) => v,
            None => {
                unresolved.push(s.to_owned());
                Value::String(s.to_owned())
            }
        };
    }
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    for span in spans {
        let Ok((tool, key)) = &span.parsed else {
            continue;
        };
        out.push_str(&s[copied..span.range.start]);
        match lookup(tool, key) {
            Some(Value::String(v)) => out.push_str(&v),
            Some(v) => out.push_str(&v.to_string()),
            None => {
                unresolved.push(s[span.range.clone()].to_owned());
                out.push_str(&s[span.range.clone()]);
            }
        }
        copied = span.range.end;
    }
    out.push_str(&s[copied..]);
    Value::String(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn finds_and_parses_refs() {
        let r = find_refs("x ${{a.b.outputs.c}} ${{ bad }} ${{ a.b.outputs.d ");
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].parsed, Ok(("a.b".into(), "c".into())));
        assert!(r[1].parsed.is_err());
        assert!(r[2].parsed.is_err());
        let dotted = find_refs("${{ file.eu.prod.outputs.path }}");
        assert_eq!(dotted[0].parsed, Ok(("file.eu.prod".into(), "path".into())));
        assert!(find_refs("${{ file.a.outputs. }}")[0].parsed.is_err());
        assert!(find_refs("${{ file.outputs.path }}")[0].parsed.is_err());
    }
}
