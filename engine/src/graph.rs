//! The dependency graph every part of the engine walks: config validation looks for cycles in
//! it, planning orders tools and deletes by it, and the executor schedules steps with a
//! [`DependencyQueue`] over it.
//!
//! Nodes are indices `0..len` into the caller's own list (tools, changes); an edge says that one
//! node waits for another. Building it from names is [`DepGraph::from_names`]; everything else
//! works on indices, so the callers keep their own data and the graph stays small.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};

/// Which nodes wait for which: `dependencies[i]` are the nodes `i` waits for, `dependents[i]`
/// the nodes that wait for `i`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepGraph {
    dependencies: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
}

impl DepGraph {
    /// A graph of `len` nodes without edges.
    pub fn with_nodes(len: usize) -> Self {
        Self {
            dependencies: vec![Vec::new(); len],
            dependents: vec![Vec::new(); len],
        }
    }

    /// A graph over `keys` in which node `i` waits for every key `deps(i)` names; names that are
    /// not among `keys` are ignored (they are not part of this walk).
    pub fn from_names<'d, K, I>(keys: &[K], mut deps: impl FnMut(usize) -> I) -> Self
    where
        K: AsRef<str>,
        I: IntoIterator<Item = &'d str>,
    {
        let index = Self::index(keys);
        let mut graph = Self::with_nodes(keys.len());
        for i in 0..keys.len() {
            for d in deps(i) {
                if let Some(&j) = index.get(d) {
                    graph.add_dependency(i, j);
                }
            }
        }
        graph
    }

    /// Each key's node index (the first, where a key repeats).
    pub fn index<K: AsRef<str>>(keys: &[K]) -> HashMap<&str, usize> {
        let mut index = HashMap::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            index.entry(k.as_ref()).or_insert(i);
        }
        index
    }

    /// Makes `node` wait for `on`. A node waiting for itself is left out of orders and queues.
    pub fn add_dependency(&mut self, node: usize, on: usize) {
        self.dependencies[node].push(on);
        self.dependents[on].push(node);
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.dependencies.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.dependencies.is_empty()
    }

    /// The nodes `node` waits for.
    pub fn dependencies(&self, node: usize) -> &[usize] {
        &self.dependencies[node]
    }

    /// The nodes that wait for `node`.
    pub fn dependents(&self, node: usize) -> &[usize] {
        &self.dependents[node]
    }

    /// Every node, each after the nodes it waits for; among nodes free to go, the lowest index
    /// first, so the order is stable (Kahn's algorithm). Nodes in a cycle (config validation
    /// rejects those) come last, in index order.
    pub fn topo_order(&self) -> Vec<usize> {
        let n = self.len();
        let mut indegree: Vec<usize> = (0..n).map(|i| self.waits(i)).collect();
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
        let mut out = Vec::with_capacity(n);
        while let Some(Reverse(i)) = ready.pop() {
            out.push(i);
            for &j in &self.dependents[i] {
                if j == i {
                    continue;
                }
                indegree[j] -= 1;
                if indegree[j] == 0 {
                    ready.push(Reverse(j));
                }
            }
        }
        if out.len() < n {
            let seen: BTreeSet<usize> = out.iter().copied().collect();
            out.extend((0..n).filter(|i| !seen.contains(i)));
        }
        out
    }

    /// One cycle per strongly connected component of more than one node, starting at the
    /// component's lowest node and following the shortest way back to it; sorted.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let edges: Vec<Vec<usize>> = self
            .dependencies
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.sort_unstable();
                e.dedup();
                e
            })
            .collect();
        let mut cycles: Vec<Vec<usize>> = strongly_connected(&edges)
            .into_iter()
            .filter(|comp| comp.len() > 1)
            .filter_map(|comp| shortest_cycle(&edges, &comp))
            .collect();
        cycles.sort();
        cycles
    }

    /// How many other nodes `node` waits for.
    fn waits(&self, node: usize) -> usize {
        self.dependencies[node]
            .iter()
            .filter(|&&d| d != node)
            .count()
    }
}

/// The shortest cycle through the lowest node of `comp`, breadth-first inside the component.
fn shortest_cycle(edges: &[Vec<usize>], comp: &[usize]) -> Option<Vec<usize>> {
    let &start = comp.iter().min()?;
    let mut member = vec![false; edges.len()];
    for &c in comp {
        member[c] = true;
    }
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([start]);
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
    let mut n = last?;
    let mut path = vec![n];
    while n != start {
        let Some(&p) = parent.get(&n) else { break };
        n = p;
        path.push(n);
    }
    path.reverse();
    Some(path)
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

/// Where a node of a [`DependencyQueue`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Waiting for dependencies, or ready and not yet taken.
    Waiting,
    /// Taken by [`DependencyQueue::dequeue`], not finished.
    Running,
    /// Finished successfully: its dependents were released.
    Finished,
    /// Finished without success: its dependents were skipped.
    Failed,
    /// Never run because something it waits for failed.
    Skipped,
}

/// A walk over a [`DepGraph`]: nodes become ready when everything they wait for has finished
/// ([`dequeue`](Self::dequeue) hands them out, [`finish`](Self::finish) releases their
/// dependents or skips them), as cargo's `DependencyQueue` does for compile jobs.
#[derive(Debug)]
pub struct DependencyQueue {
    graph: DepGraph,
    remaining: Vec<usize>,
    state: Vec<NodeState>,
    ready: VecDeque<usize>,
}

impl DependencyQueue {
    /// A queue over `graph` whose nodes without dependencies are ready, in index order.
    pub fn new(graph: DepGraph) -> Self {
        let remaining: Vec<usize> = (0..graph.len()).map(|i| graph.waits(i)).collect();
        let ready = (0..graph.len()).filter(|&i| remaining[i] == 0).collect();
        Self {
            state: vec![NodeState::Waiting; graph.len()],
            graph,
            remaining,
            ready,
        }
    }

    /// The next ready node, marked running.
    pub fn dequeue(&mut self) -> Option<usize> {
        let node = self.ready.pop_front()?;
        self.state[node] = NodeState::Running;
        Some(node)
    }

    /// Puts ready nodes that [`dequeue`](Self::dequeue) handed out but that cannot start yet
    /// back at the end of the queue, in the order given.
    pub fn requeue(&mut self, nodes: impl IntoIterator<Item = usize>) {
        for node in nodes {
            self.state[node] = NodeState::Waiting;
            self.ready.push_back(node);
        }
    }

    /// Records that `node` finished. On success its dependents whose dependencies are all
    /// finished become ready; on failure every node still waiting that waits for it, directly
    /// or not, is skipped, and those are returned (nearest first).
    pub fn finish(&mut self, node: usize, ok: bool) -> Vec<usize> {
        if ok {
            self.state[node] = NodeState::Finished;
            for &j in &self.graph.dependents[node] {
                if j == node {
                    continue;
                }
                self.remaining[j] -= 1;
                if self.remaining[j] == 0 && self.state[j] == NodeState::Waiting {
                    self.ready.push_back(j);
                }
            }
            return Vec::new();
        }
        self.state[node] = NodeState::Failed;
        let mut skipped = Vec::new();
        let mut stack = vec![node];
        while let Some(i) = stack.pop() {
            for &j in &self.graph.dependents[i] {
                if self.state[j] != NodeState::Waiting {
                    continue;
                }
                self.state[j] = NodeState::Skipped;
                skipped.push(j);
                stack.push(j);
            }
        }
        skipped
    }

    /// Where `node` is.
    pub fn state(&self, node: usize) -> NodeState {
        self.state[node]
    }

    /// The nodes still waiting (never run, never skipped), in index order.
    pub fn waiting(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.state.len()).filter(|&i| self.state[i] == NodeState::Waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(deps: &[&[usize]]) -> DepGraph {
        let mut g = DepGraph::with_nodes(deps.len());
        for (i, ds) in deps.iter().enumerate() {
            for &d in *ds {
                g.add_dependency(i, d);
            }
        }
        g
    }

    #[test]
    fn topo_is_stable_and_respects_deps() {
        // 0 <- 2, 1 <- 0
        assert_eq!(graph(&[&[2], &[0], &[]]).topo_order(), vec![2, 0, 1]);
        assert_eq!(graph(&[&[], &[], &[]]).topo_order(), vec![0, 1, 2]);
    }

    #[test]
    fn finds_each_cycle_once() {
        // 0 -> 1 -> 2 -> 0, 3 -> 4 -> 3, 5 alone, 2 -> 5
        let g = graph(&[&[1], &[2], &[0, 5], &[4], &[3], &[]]);
        assert_eq!(g.cycles(), vec![vec![0, 1, 2], vec![3, 4]]);
    }

    #[test]
    fn from_names_ignores_names_outside_the_walk() {
        let keys = ["a.x", "b.x", "c.x"];
        let deps: [&[&str]; 3] = [&[], &["a.x", "gone.x"], &["b.x"]];
        let g = DepGraph::from_names(&keys, |i| deps[i].iter().copied());
        assert_eq!(g.dependencies(1), &[0]);
        assert_eq!(g.dependents(1), &[2]);
    }

    #[test]
    fn queue_releases_dependents_and_skips_after_a_failure() {
        // 1 and 2 wait for 0, 3 waits for 2.
        let mut q = DependencyQueue::new(graph(&[&[], &[0], &[0], &[2]]));
        assert_eq!(q.dequeue(), Some(0));
        assert_eq!(q.dequeue(), None);
        assert!(q.finish(0, true).is_empty());
        assert_eq!(q.dequeue(), Some(1));
        assert_eq!(q.dequeue(), Some(2));
        assert_eq!(q.finish(2, false), vec![3]);
        assert_eq!(q.state(3), NodeState::Skipped);
        assert!(q.finish(1, true).is_empty());
        assert_eq!(q.waiting().count(), 0);
    }
}
