//! Small helpers for messages users read: plurals and lists, so that error and warning texts
//! say "1 tool" and "2 tools" without spelling the rule out at every call.

use std::fmt::{self, Display};

/// `one` when the count is 1, else `many`: `Plural(n, "tool", "tools")`.
#[derive(Debug, Clone, Copy)]
pub struct Plural<'a>(pub usize, pub &'a str, pub &'a str);

impl Display for Plural<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 == 1 { self.1 } else { self.2 })
    }
}

/// A count with its noun: `count(2, "tool", "tools")` is `2 tools`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", Plural(n, one, many))
}

/// Items in backquotes, separated by commas: `` `A`, `B` ``.
pub fn quoted_list<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    join(items.into_iter().map(|i| format!("`{i}`")), ", ")
}

/// Items separated by `sep`.
pub fn join<T: Display>(items: impl IntoIterator<Item = T>, sep: &str) -> String {
    let mut out = String::new();
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&item.to_string());
    }
    out
}

/// One item per line, each indented by two spaces (the body of a multi-line error).
pub fn indented_lines<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    join(items.into_iter().map(|i| format!("  {i}")), "\n")
}

/// An error and every error under it, joined by `: ` (`cannot write x: permission denied`), for
/// places that keep an error as text (a step's result, a list inside another error). An error's
/// own message never repeats its source; the CLI's reporter prints the chain, and this does the
/// same for text that does not reach it as an error.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl<'a> Chain<'a> {
    /// The chain of `error`.
    pub fn of<E: std::error::Error + 'static>(error: &'a E) -> Self {
        Chain(error)
    }
}

impl Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_and_lists() {
        assert_eq!(count(1, "tool", "tools"), "1 tool");
        assert_eq!(count(0, "tool", "tools"), "0 tools");
        assert_eq!(quoted_list(["A", "B"]), "`A`, `B`");
        assert_eq!(indented_lines(["a", "b"]), "  a\n  b");
        let io = std::io::Error::other("disk full");
        let outer = crate::store::StoreError::Backend(dtm_backends::BackendError::Io {
            location: "x".into(),
            action: "writing".into(),
            source: io,
        });
        assert_eq!(Chain::of(&outer).to_string(), "state x: writing: disk full");
    }
}
