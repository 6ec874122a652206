//! `[[ name ]]` placeholders in the `template` option.

use std::collections::BTreeMap;

use serde_json::Value;

/// Renders `template`, replacing each `[[ name ]]` (spaces inside optional) by `vars[name]`:
/// strings as they are, other values as JSON. Names are letters, digits, `_`, `-` and `.`.
/// Errors name every undefined variable, or the first malformed placeholder.
pub(crate) fn render(template: &str, vars: &BTreeMap<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut missing: Vec<&str> = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("[[") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("]]") else {
            return Err(format!(
                "unterminated placeholder: `{}` has no closing `]]`",
                excerpt(&rest[start..])
            ));
        };
        let name = after[..end].trim();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid {
            return Err(format!(
                "`[[{}]]` is not a placeholder: expected `[[ name ]]` with a name of letters, digits, `_`, `-`, `.`",
                &after[..end]
            ));
        }
        match vars.get(name) {
            Some(Value::String(s)) => out.push_str(s),
            Some(other) => out.push_str(&other.to_string()),
            None => {
                if !missing.contains(&name) {
                    missing.push(name);
                }
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(format!("undefined in `vars`: {}", missing.join(", ")))
    }
}

fn excerpt(s: &str) -> &str {
    match s.char_indices().nth(30) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn replaces_placeholders_with_and_without_spaces() {
        let v = vars(json!({"name": "dtm", "n": 3, "on": true}));
        assert_eq!(
            render("hi [[ name ]]/[[n]]/[[  on ]]!", &v),
            Ok("hi dtm/3/true!".to_string())
        );
    }

    #[test]
    fn text_without_placeholders_is_unchanged() {
        assert_eq!(
            render("a [b] ]] c", &BTreeMap::new()),
            Ok("a [b] ]] c".to_string())
        );
    }

    #[test]
    fn names_every_missing_variable_once() {
        let err = render("[[ a ]] [[ b ]] [[ a ]]", &BTreeMap::new()).unwrap_err();
        assert_eq!(err, "undefined in `vars`: a, b");
    }

    #[test]
    fn rejects_unterminated_and_malformed_placeholders() {
        assert!(
            render("x [[ a", &BTreeMap::new())
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            render(r#"[[ env "HOME" ]]"#, &BTreeMap::new())
                .unwrap_err()
                .contains("not a placeholder")
        );
    }
}
