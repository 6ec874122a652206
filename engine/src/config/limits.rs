//! How large a config may be, and the budget loading spends against those limits.
//!
//! Every limit is far above what a real config needs and low enough that no input can make
//! loading use more than a few hundred megabytes, a deep stack or more than a few seconds: a
//! config is text that people copy from elsewhere, and variables and aliases let a few bytes stand
//! for very many. docs/config.md lists the limits; each is reported as a named error where it is
//! reached.

use super::yaml::Pos;

/// Bytes of config text, all files of a config together.
pub(crate) const MAX_CONFIG_BYTES: usize = 8 * 1024 * 1024;
/// Nesting levels of YAML collections (mappings and lists), also after variables are substituted.
pub(crate) const MAX_DEPTH: usize = 64;
/// YAML nodes (scalars, lists, mappings) built while loading a config: parsed, copied by aliases
/// and merge keys, and instantiated from pipeline templates.
pub(crate) const MAX_NODES: usize = 250_000;
/// `[[ ]]` expressions written in a config, and substitutions made while loading it.
pub(crate) const MAX_EXPANSIONS: usize = 100_000;
/// Bytes that substitutions may insert, all together.
pub(crate) const MAX_EXPANDED_BYTES: usize = 8 * 1024 * 1024;
/// Variables that use variables that use variables...: the longest such chain.
pub(crate) const MAX_VAR_DEPTH: usize = 64;
/// Tools in a config, those expanded from apps included.
pub(crate) const MAX_TOOLS: usize = 10_000;
/// Candidate names compared while looking for "did you mean" suggestions in one load; after
/// that, problems are reported without suggestions (each comparison is cheap, but a config with
/// thousands of misspelled names among thousands of tools would take minutes).
pub(crate) const MAX_SUGGESTION_WORK: usize = 200_000;

/// `8 MiB`, `250,000`: how a limit reads in a message.
pub(crate) fn bytes_text(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{} bytes", count_text(n))
    }
}

/// `250000` as `250,000`.
pub(crate) fn count_text(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What loading may still spend. Once any part runs out, loading stops substituting and
/// instantiating (each further step fails quietly: the first one was reported), so the rest of
/// the work stays linear in the input.
#[derive(Debug)]
pub(crate) struct Budget {
    pub nodes: usize,
    pub bytes: usize,
    pub expansions: usize,
    /// Where a limit was reached, once it was.
    pub exhausted: Option<Pos>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            nodes: MAX_NODES,
            bytes: MAX_EXPANDED_BYTES,
            expansions: MAX_EXPANSIONS,
            exhausted: None,
        }
    }
}

/// Which part of the budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exceeded {
    Bytes,
    Expansions,
    Nodes,
}

impl Budget {
    /// Spends `expansions` substitutions inserting `bytes` bytes and creating `nodes` nodes, or
    /// nothing if that is more than is left.
    pub(super) fn spend(
        &mut self,
        expansions: usize,
        bytes: usize,
        nodes: usize,
    ) -> Result<(), Exceeded> {
        if expansions > self.expansions {
            return Err(Exceeded::Expansions);
        }
        if bytes > self.bytes {
            return Err(Exceeded::Bytes);
        }
        if nodes > self.nodes {
            return Err(Exceeded::Nodes);
        }
        self.expansions -= expansions;
        self.bytes -= bytes;
        self.nodes -= nodes;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_well() {
        assert_eq!(bytes_text(8 * 1024 * 1024), "8 MiB");
        assert_eq!(bytes_text(1500), "1,500 bytes");
        assert_eq!(count_text(250_000), "250,000");
        assert_eq!(count_text(999), "999");
        assert_eq!(count_text(1_000_000), "1,000,000");
    }
}
