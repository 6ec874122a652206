//! Variables that use each other in any way: loading gives exactly what a simple model of
//! substitution says, or, where the model finds a cycle, a chain deeper than the limit or an
//! undefined variable, an error; never a panic, a stack overflow or a runaway.
#![no_main]

use std::fmt::Write as _;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

/// As in the engine's limits: longest chain of variables using variables.
const MAX_VAR_DEPTH: usize = 64;
/// Below the engine's limits on substituted bytes and substitutions, with room to spare.
const SMALL_WORK: usize = 1024 * 1024;
const SMALL_COUNT: usize = 50_000;

#[derive(Debug, Arbitrary)]
enum Piece {
    /// Literal text.
    Lit(u8),
    /// `[[ vN ]]`, N taken modulo the number of variables.
    Ref(u8),
    /// `[[ env "T" ]]`.
    Env,
    /// A variable that is not defined.
    Missing,
}

#[derive(Debug, Arbitrary)]
struct Input {
    vars: Vec<Vec<Piece>>,
    /// What the tool's option uses.
    uses: Vec<u8>,
    /// Adds a chain this long in front (to reach the depth limit).
    chain: u8,
}

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
}

const SECRET: &str = "tok";

fn env(name: &str) -> Option<String> {
    (name == "T").then(|| SECRET.to_owned())
}

/// What the model says loading must give.
enum Expect {
    /// This content.
    Content(String),
    /// An error.
    Error,
    /// Too much work for the model to say (the engine may refuse it at a limit).
    Either,
}

struct Model<'a> {
    vars: &'a [Vec<Piece>],
    n: usize,
}

impl Model<'_> {
    fn lit(b: u8) -> String {
        ["a", "bc", "-", "x y", "0"][usize::from(b) % 5].to_owned()
    }

    fn target(&self, j: u8) -> usize {
        usize::from(j) % self.n
    }

    /// Depth of each variable's chain, or None if there is a cycle.
    fn depths(&self) -> Option<Vec<usize>> {
        // 0 = unvisited, 1 = in progress, 2 = done; iterative post-order.
        let mut state = vec![0u8; self.n];
        let mut depth = vec![0usize; self.n];
        for start in 0..self.n {
            if state[start] == 2 {
                continue;
            }
            let mut stack = vec![(start, 0usize)];
            state[start] = 1;
            while let Some(&mut (at, ref mut next)) = stack.last_mut() {
                let refs: Vec<usize> = self.vars[at]
                    .iter()
                    .filter_map(|p| match p {
                        Piece::Ref(j) => Some(self.target(*j)),
                        _ => None,
                    })
                    .collect();
                if let Some(&dep) = refs.get(*next) {
                    *next += 1;
                    match state[dep] {
                        0 => {
                            state[dep] = 1;
                            stack.push((dep, 0));
                        }
                        1 => return None,
                        _ => {}
                    }
                } else {
                    depth[at] = 1 + refs.iter().map(|&d| depth[d]).max().unwrap_or(0);
                    state[at] = 2;
                    stack.pop();
                }
            }
        }
        Some(depth)
    }

    fn expect(&self, uses: &[usize]) -> Expect {
        if self
            .vars
            .iter()
            .flatten()
            .any(|p| matches!(p, Piece::Missing))
        {
            return Expect::Error;
        }
        let Some(depths) = self.depths() else {
            return Expect::Error;
        };
        if depths.iter().any(|&d| d > MAX_VAR_DEPTH) {
            return Expect::Error;
        }
        // Lengths bottom-up (by depth), saturating; then the work of every substitution.
        let mut order: Vec<usize> = (0..self.n).collect();
        order.sort_by_key(|&i| depths[i]);
        let mut len = vec![0usize; self.n];
        let mut work = 0usize;
        let mut count = 0usize;
        for &i in &order {
            for p in &self.vars[i] {
                let add = match p {
                    Piece::Lit(b) => Self::lit(*b).len(),
                    Piece::Ref(j) => {
                        count += 1;
                        len[self.target(*j)]
                    }
                    Piece::Env => {
                        count += 1;
                        SECRET.len()
                    }
                    Piece::Missing => 0,
                };
                len[i] = len[i].saturating_add(add);
                if !matches!(p, Piece::Lit(_)) {
                    work = work.saturating_add(add);
                }
            }
        }
        for &u in uses {
            work = work.saturating_add(len[u]);
            count += 1;
        }
        if work > SMALL_WORK || count > SMALL_COUNT {
            return Expect::Either;
        }
        let mut value = vec![String::new(); self.n];
        for &i in &order {
            let mut s = String::new();
            for p in &self.vars[i] {
                match p {
                    Piece::Lit(b) => s.push_str(&Self::lit(*b)),
                    Piece::Ref(j) => s.push_str(&value[self.target(*j)]),
                    Piece::Env => s.push_str(SECRET),
                    Piece::Missing => {}
                }
            }
            value[i] = s;
        }
        Expect::Content(uses.iter().map(|&u| value[u].as_str()).collect())
    }
}

fuzz_target!(|input: Input| {
    let mut vars: Vec<Vec<Piece>> = input.vars.into_iter().take(100).collect();
    // A chain in front: c0 uses v0's value... expressed as pieces on new variables at the end.
    for _ in 0..input.chain {
        let previous = u8::try_from(vars.len().saturating_sub(1)).unwrap_or(u8::MAX);
        if vars.len() >= 250 {
            break;
        }
        vars.push(vec![Piece::Ref(previous), Piece::Lit(2)]);
    }
    let n = vars.len();
    if n == 0 {
        return;
    }
    let uses: Vec<usize> = input
        .uses
        .iter()
        .take(10)
        .map(|&u| usize::from(u) % n)
        .collect();
    if uses.is_empty() {
        return;
    }

    let mut text = String::from("vars:\n");
    for (i, pieces) in vars.iter().enumerate() {
        write!(text, "  v{i}: \"").unwrap();
        for p in pieces {
            match p {
                Piece::Lit(b) => text.push_str(&Model::lit(*b)),
                Piece::Ref(j) => write!(text, "[[ v{} ]]", usize::from(*j) % n).unwrap(),
                Piece::Env => text.push_str("[[ env \"T\" ]]"),
                Piece::Missing => text.push_str("[[ undefined ]]"),
            }
        }
        text.push_str("\"\n");
    }
    text.push_str("tools:\n- name: file\n  instanceID: a\n  options:\n    content: \"");
    for &u in &uses {
        write!(text, "[[ v{u} ]]").unwrap();
    }
    text.push_str("\"\n");

    let path = dir().path().join("dtm.yaml");
    std::fs::write(&path, &text).expect("writing the config");
    let loaded = dtm_engine::config::load(&path, &env);
    let expect = Model { vars: &vars, n }.expect(&uses);
    match (expect, loaded) {
        (Expect::Content(want), Ok(config)) => {
            assert_eq!(config.tools[0].options["content"], want.as_str(), "{text}");
        }
        (Expect::Content(want), Err(e)) => {
            panic!("expected content {want:?}, got {e}\n{text}")
        }
        (Expect::Error, Ok(config)) => panic!(
            "expected an error, got {}\n{text}",
            config.tools[0].options["content"]
        ),
        (Expect::Error | Expect::Either, Err(e)) => drop(e.to_string()),
        (Expect::Either, Ok(_)) => {}
    }
});
