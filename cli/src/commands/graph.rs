//! `dtm graph`: the dependency graph as Graphviz DOT.

use std::io::Write;

use anyhow::Result;

use crate::args::ConfigArgs;
use crate::exit::Exit;
use crate::settings;

pub fn run(args: &ConfigArgs) -> Result<Exit> {
    let cfg = settings::load_config(args)?;
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
