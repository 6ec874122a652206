//! Checks over the set of tools: duplicates, dependencies, references, cycles.

use std::collections::HashMap;

use super::decode::ToolSrc;
use super::load::Loader;
use super::suggest::hint;

impl Loader<'_> {
    /// Reports duplicate tools, bad or unknown dependencies and references, self-dependencies
    /// and dependency cycles; fills every tool's `depends_on`.
    pub fn check_graph(&mut self, tools: &mut [ToolSrc]) {
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

        // Each suggestion looks at every tool; a config with thousands of unknown names gets
        // suggestions for the first few only.
        let mut hints_left = 100usize;
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); tools.len()];
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
                    Some(&j) => edges[i].push(j),
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
                    Some(&j) => edges[i].push(j),
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
        for e in &mut edges {
            e.sort_unstable();
            e.dedup();
        }
        for cycle in find_cycles(&edges) {
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
}

fn suggest(left: &mut usize, name: &str, index: &HashMap<String, usize>) -> String {
    if *left == 0 {
        return String::new();
    }
    *left -= 1;
    hint(name, index.keys().map(String::as_str))
}

/// One cycle per strongly connected component with more than one node, starting at the
/// component's first node (in config order) and following the shortest way back to it.
fn find_cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let components = strongly_connected(edges);
    let mut cycles = Vec::new();
    for comp in components {
        if comp.len() < 2 {
            continue;
        }
        let Some(&start) = comp.iter().min() else {
            continue;
        };
        let mut member = vec![false; edges.len()];
        for &c in &comp {
            member[c] = true;
        }
        // Breadth-first from start, inside the component, until an edge leads back to start.
        let mut parent: HashMap<usize, usize> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut last = None;
        'bfs: while let Some(n) = queue.pop_front() {
            for &m in &edges[n] {
                if !member[m] {
                    continue;
                }
                if m == start {
                    last = Some(n);
                    break 'bfs;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(m) {
                    e.insert(n);
                    queue.push_back(m);
                }
            }
        }
        let Some(mut n) = last else { continue };
        let mut path = vec![n];
        while n != start {
            let Some(&p) = parent.get(&n) else { break };
            n = p;
            path.push(n);
        }
        path.reverse();
        cycles.push(path);
    }
    cycles.sort();
    cycles
}

/// Tarjan's algorithm without recursion (a config may chain thousands of tools).
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const NONE: usize = usize::MAX;
    let n = edges.len();
    let mut index = vec![NONE; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0usize;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != NONE {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut ei)) = work.last_mut() {
            if let Some(&w) = edges[v].get(*ei) {
                *ei += 1;
                if index[w] == NONE {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.push(comp);
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn finds_each_cycle_once() {
        // 0 -> 1 -> 2 -> 0, 3 -> 4 -> 3, 5 alone, 2 -> 5
        let edges = vec![vec![1], vec![2], vec![0, 5], vec![4], vec![3], vec![]];
        assert_eq!(find_cycles(&edges), vec![vec![0, 1, 2], vec![3, 4]]);
    }
}
