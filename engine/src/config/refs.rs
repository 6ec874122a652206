//! Output references: `${{ name.instanceID.outputs.key }}` in option strings.

use std::ops::Range;

use serde_json::Value;

use super::limits::{MAX_EXPANDED_BYTES, bytes_text};

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

/// Why output references could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// The referenced tools have not produced these outputs (the references as written).
    #[error("cannot resolve {}: the referenced tool has not produced that output", .0.join(", "))]
    Unresolved(Vec<String>),
    /// Inserting the outputs would make the options too large: a reference repeated many times
    /// to a large output multiplies it.
    #[error(
        "cannot resolve {reference}: the outputs inserted into this tool's options would take more than {} (the limit); reference a large output fewer times",
        bytes_text(MAX_EXPANDED_BYTES)
    )]
    TooLarge {
        /// The reference that reached the limit, as written.
        reference: String,
    },
}

/// Replaces the output references in `options` using `lookup(tool, key)` (`tool` is
/// `name.instanceID`).
///
/// A string that is exactly one reference becomes the output's value with its JSON type; a
/// reference inside a longer string is spliced in as text (strings as they are, other values as
/// JSON). Fails with every reference that `lookup` could not answer, or at the first that takes
/// what is inserted past the limit of substituted text.
pub fn resolve_refs(
    options: &Value,
    lookup: &dyn Fn(&str, &str) -> Option<Value>,
) -> Result<Value, RefError> {
    let mut resolver = Resolver {
        lookup,
        unresolved: Vec::new(),
        budget: MAX_EXPANDED_BYTES,
        too_large: None,
    };
    let value = resolver.value(options);
    if let Some(reference) = resolver.too_large {
        return Err(RefError::TooLarge { reference });
    }
    if resolver.unresolved.is_empty() {
        Ok(value)
    } else {
        Err(RefError::Unresolved(resolver.unresolved))
    }
}

struct Resolver<'a> {
    lookup: &'a dyn Fn(&str, &str) -> Option<Value>,
    unresolved: Vec<String>,
    /// Bytes that may still be inserted.
    budget: usize,
    /// The reference that reached the limit; nothing is inserted after it.
    too_large: Option<String>,
}

impl Resolver<'_> {
    fn value(&mut self, value: &Value) -> Value {
        match value {
            Value::String(s) => self.string(s),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The value of `tool`'s output `key`, if it is known and fits in the budget (charged for
    /// `size` of it); `reference` is the text for messages.
    fn lookup(&mut self, tool: &str, key: &str, reference: &str) -> Option<Value> {
        if self.too_large.is_some() {
            return None;
        }
        let value = (self.lookup)(tool, key)?;
        let size = match &value {
            Value::String(s) => s.len(),
            other => other.to_string().len(),
        };
        match self.budget.checked_sub(size) {
            Some(left) => {
                self.budget = left;
                Some(value)
            }
            None => {
                self.too_large = Some(reference.to_owned());
                None
            }
        }
    }

    fn string(&mut self, s: &str) -> Value {
        let spans = find_refs(s);
        if spans.is_empty() {
            return Value::String(s.to_owned());
        }
        if let [span] = spans.as_slice()
            && span.range == (0..s.len())
            && let Ok((tool, key)) = &span.parsed
        {
            return match self.lookup(tool, key, s) {
                Some(v) => v,
                None => {
                    self.unresolved.push(s.to_owned());
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
            let reference = &s[span.range.clone()];
            match self.lookup(tool, key, reference) {
                Some(Value::String(v)) => out.push_str(&v),
                Some(v) => out.push_str(&v.to_string()),
                None => {
                    self.unresolved.push(reference.to_owned());
                    out.push_str(reference);
                }
            }
            copied = span.range.end;
        }
        out.push_str(&s[copied..]);
        Value::String(out)
    }
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

    #[test]
    fn a_large_output_referenced_many_times_stops_at_the_limit() {
        // A 1 MiB output, referenced 9 times in one string and once alone: past 8 MiB.
        let big = "x".repeat(1024 * 1024);
        let lookup = |_: &str, _: &str| Some(Value::String(big.clone()));
        let options = serde_json::json!({
            "alone": "${{ a.b.outputs.c }}",
            "many": "${{ a.b.outputs.c }}".repeat(9),
        });
        assert_eq!(
            resolve_refs(&options, &lookup),
            Err(RefError::TooLarge {
                reference: "${{ a.b.outputs.c }}".into()
            })
        );
        let fewer = serde_json::json!({"many": "${{ a.b.outputs.c }}".repeat(8)});
        let resolved = resolve_refs(&fewer, &lookup).unwrap();
        assert_eq!(
            resolved["many"].as_str().map(str::len),
            Some(8 * 1024 * 1024)
        );
        let message = RefError::TooLarge {
            reference: "${{ a.b.outputs.c }}".into(),
        }
        .to_string();
        assert!(message.contains("more than 8 MiB (the limit)"), "{message}");
    }
}
