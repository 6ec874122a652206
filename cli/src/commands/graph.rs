//! `dtm graph`: the dependency graph as Graphviz DOT.

use std::io::Write;

use anyhow::Result;

use crate::exit::Exit;
use crate::settings::ConfigSettings;

pub(super) fn run(settings: ConfigSettings) -> Result<Exit> {
    let cfg = settings.config;
    let mut out = std::io::stdout().lock();
    writeln!(out, "digraph dtm {{")?;
    writeln!(out, "  rankdir=LR;")?;
    writeln!(out, "  node [shape=box];")?;
    for t in &cfg.tools {
        writeln!(out, "  \"{}\";", t.key())?;
    }
    // Edges point from a dependency to what depends on it: the order apply runs them.
    for t in &cfg.tools {
        for d in &t.depends_on {
            writeln!(out, "  \"{d}\" -> \"{}\";", t.key())?;
        }
    }
    writeln!(out, "}}")?;
    Ok(Exit::Ok)
}
