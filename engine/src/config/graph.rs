//! Checks over the set of tools: duplicates, dependencies, references, cycles.

use std::collections::HashMap;

use super::decode::ToolSrc;
use super::load::Loader;
use super::suggest::hint;
use crate::graph::DepGraph;

impl Loader<'_> {
    /// Reports duplicate tools, bad or unknown dependencies and references, self-dependencies
    /// and dependency cycles; fills every tool's `depends_on`.
    pub(super) fn check_graph(&mut self, tools: &mut [ToolSrc]) {
        let index = self.index_tools(tools);

        // Each suggestion looks at every tool; a config with thousands of unknown names gets
        // suggestions for the first few only.
        let mut hints_left = 100usize;
        let mut graph = DepGraph::with_nodes(tools.len());
        for (i, t) in tools.iter_mut().enumerate() {
            let key = t.tool.key();
            let mut depends: Vec<String> = Vec::new();
            for (dep, pos) in &t.deps {
                // Plugin names have no dots, instance IDs may: the first dot splits.
                let well_formed = dep
                    .split_once('.')
                    .is_some_and(|(n, id)| !n.is_empty() && !id.is_empty());
                if !well_formed {
                    self.diags.push(
                        Some(*pos),
                        format!("{key}.dependsOn"),
                        format!("`{dep}` is not a tool: expected `name.instanceID`"),
                    );
                    continue;
                }
                if *dep == key {
                    self.diags.push(
                        Some(*pos),
                        format!("{key}.dependsOn"),
                        format!("tool `{key}` depends on itself"),
                    );
                    continue;
                }
                match index.get(dep) {
                    Some(&j) => graph.add_dependency(i, j),
                    None => self.diags.push(
                        Some(*pos),
                        format!("{key}.dependsOn"),
                        format!(
                            "depends on `{dep}`, which is not in the config{}",
                            suggest(&mut hints_left, dep, &index)
                        ),
                    ),
                }
                depends.push(dep.clone());
            }
            for (r, pos) in t.tool.refs.iter().zip(&t.ref_pos) {
                let text = format!("${{{{ {}.outputs.{} }}}}", r.tool, r.key);
                if r.tool == key {
                    self.diags.push(
                        Some(*pos),
                        format!("{key}.options"),
                        format!("tool `{key}` depends on itself: {text} refers to its own output"),
                    );
                    continue;
                }
                match index.get(&r.tool) {
                    Some(&j) => graph.add_dependency(i, j),
                    None => self.diags.push(
                        Some(*pos),
                        format!("{key}.options"),
                        format!(
                            "{text} refers to tool `{}`, which is not in the config{}",
                            r.tool,
                            suggest(&mut hints_left, &r.tool, &index)
                        ),
                    ),
                }
                depends.push(r.tool.clone());
            }
            depends.sort();
            depends.dedup();
            t.tool.depends_on = depends;
        }
        self.report_cycles(tools, &graph);
    }

    /// Reports each dependency cycle once, at its first tool in config order.
    fn report_cycles(&mut self, tools: &[ToolSrc], graph: &DepGraph) {
        for cycle in graph.cycles() {
            let mut names: Vec<String> = cycle.iter().map(|&i| tools[i].tool.key()).collect();
            names.push(names[0].clone());
            let first = cycle[0];
            self.diags.push(
                Some(tools[first].pos),
                tools[first].tool.key(),
                format!("dependency cycle: {}", names.join(" -> ")),
            );
        }
    }

    /// Each tool's index by key; reports a key defined twice (the first definition counts).
    fn index_tools(&mut self, tools: &[ToolSrc]) -> HashMap<String, usize> {
        let mut index: HashMap<String, usize> = HashMap::with_capacity(tools.len());
        for (i, t) in tools.iter().enumerate() {
            let key = t.tool.key();
            match index.get(&key) {
                Some(&first) => {
                    let first = self.diags.loc(tools[first].pos);
                    self.diags.push(
                        Some(t.pos),
                        key.clone(),
                        format!(
                            "duplicate tool `{key}`: also defined at {first}; each \
                             `name.instanceID` must be unique"
                        ),
                    );
                }
                None => {
                    index.insert(key, i);
                }
            }
        }
        index
    }
}

fn suggest(left: &mut usize, name: &str, index: &HashMap<String, usize>) -> String {
    if *left == 0 {
        return String::new();
    }
    *left -= 1;
    hint(name, index.keys().map(String::as_str))
}
