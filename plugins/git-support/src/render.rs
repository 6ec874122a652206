//! `[[ name ]]` placeholders in template files.
//!
//! Templates are files (in a template repository, built into a plugin, or named by
//! `configLocation`), never config text: dtm substitutes its own `[[ ]]` variables in the config
//! before plugins see it. Only placeholders whose name is defined are replaced; anything else
//! between `[[` and `]]` (TOML's `[[bin]]`, a nested list) is left alone, so ordinary files pass
//! through unchanged.

use std::collections::BTreeMap;

use serde_json::Value;

/// Values for placeholders.
pub type Vars = BTreeMap<String, Value>;

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Looks `name` up in `vars`; `a.b` reaches into a mapping. A leading `.` is ignored, so that
/// DevStream's Go-template style `[[ .AppName ]]` and `[[ .Repo.Owner ]]` work too.
fn lookup<'a>(vars: &'a Vars, name: &str) -> Option<&'a Value> {
    let name = name.strip_prefix('.').unwrap_or(name);
    if let Some(v) = vars.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut value = vars.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}

/// Replaces each `[[ name ]]` (spaces optional) whose name is in `vars`.
pub fn render(template: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("[[") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let replaced = after.find("]]").and_then(|end| {
            let name = after[..end].trim();
            let valid = !name.is_empty()
                && !after[..end].contains('\n')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !valid {
                return None;
            }
            lookup(vars, name).map(|v| (text_of(v), end))
        });
        match replaced {
            Some((text, end)) => {
                out.push_str(&text);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("[[");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Vars {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn replaces_defined_names_and_leaves_the_rest() {
        let v = vars(json!({"appName": "svc", "port": 8080, "image": {"repo": "r/svc"}}));
        assert_eq!(
            render(
                "[[ appName ]]:[[port]] [[ image.repo ]] [[bin]] [[ unknown ]]",
                &v
            ),
            "svc:8080 r/svc [[bin]] [[ unknown ]]"
        );
        assert_eq!(render("a [[ x", &v), "a [[ x");
        assert_eq!(render("[[ .appName ]]/[[ .image.repo ]]", &v), "svc/r/svc");
        assert_eq!(render("[[[[ appName ]]]]", &v), "[[svc]]");
    }
}
