//! Criterion benches for the engine's hot paths at 1,000 and 10,000 tools: loading a config,
//! parsing and serialising state, planning with nothing to do, ordering the graph.
//! Run: `cargo bench -p dtm-engine` (whole-command numbers: `bench/run.sh`).
#![allow(
    clippy::unwrap_used,
    missing_docs,
    reason = "a benchmark fails loudly; criterion's macros generate undocumented items"
)]

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dtm_engine::config;
use dtm_engine::graph::DepGraph;
use dtm_engine::plan::{Live, Mode, plan};
use dtm_engine::state::{Lifecycle, Resource, State};

fn config_text(n: usize) -> String {
    let mut s = String::from("vars:\n  team: platform\ntools:\n");
    for i in 0..n {
        s.push_str(&format!("- name: file\n  instanceID: t{i}\n"));
        if i > 0 {
            s.push_str(&format!("  dependsOn: [\"file.t{}\"]\n", i / 2));
        }
        s.push_str(&format!(
            "  options:\n    path: out/[[ team ]]/{i}.txt\n    content: \"${{{{ file.t{}.outputs.sha256 }}}}\"\n",
            if i > 0 { i - 1 } else { 0 }
        ));
    }
    s.replace(
        "content: \"${{ file.t0.outputs.sha256 }}\"\n- name",
        "content: x\n- name",
    )
}

fn state_for(cfg: &config::Config) -> State {
    let mut st = State::new();
    for t in &cfg.tools {
        let (opts, _) = dtm_engine::plan::resolve_from_state(t, &st);
        let r = Resource {
            plugin: t.plugin.clone(),
            instance_id: t.instance_id.clone(),
            plugin_version: "0.1.0".into(),
            depends_on: t.depends_on.clone(),
            options: st.redact(&opts, &t.secret_sources),
            status: serde_json::json!({"sha256": format!("{:064}", 7), "mode": "0644", "size": 10}),
            outputs: [(
                "sha256".to_string(),
                serde_json::json!(format!("{:064}", 7)),
            )]
            .into(),
            lifecycle: Lifecycle::Completed,
            pending: None,
            last_error: None,
            created: "2026-11-21T00:00:00Z".into(),
            updated: "2026-11-21T00:00:00Z".into(),
            history: vec![],
        };
        st.resources.insert(t.key(), r);
    }
    st
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let env = |_: &str| None;
    for n in [1_000usize, 10_000] {
        let path = dir.path().join(format!("c{n}.yaml"));
        std::fs::write(&path, config_text(n)).unwrap();
        let cfg = config::load(&path, &env).unwrap();
        assert_eq!(cfg.tools.len(), n);
        c.bench_with_input(BenchmarkId::new("config_load", n), &path, |b, p| {
            b.iter(|| config::load(black_box(p), &env).unwrap())
        });

        // Resolve references against a state that has every output, as after a first apply.
        let st = state_for(&cfg);
        let st = {
            let mut full = st.clone();
            for t in &cfg.tools {
                let (opts, _) = dtm_engine::plan::resolve_from_state(t, &st);
                if let Some(r) = full.resources.get_mut(&t.key()) {
                    r.options = st.redact(&opts, &t.secret_sources);
                }
            }
            full
        };
        let bytes = st.to_bytes();
        c.bench_with_input(BenchmarkId::new("state_parse", n), &bytes, |b, bytes| {
            b.iter(|| State::from_bytes(black_box(bytes), "bench").unwrap())
        });
        c.bench_with_input(BenchmarkId::new("state_serialize", n), &st, |b, st| {
            b.iter(|| black_box(st).to_bytes())
        });

        let live: HashMap<String, Live> = st
            .resources
            .iter()
            .map(|(k, r)| (k.clone(), Live::Present(r.status.clone())))
            .collect();
        let p = plan(&cfg, &st, &live, Mode::Apply);
        assert!(!p.has_changes(), "the bench plan must be a no-op");
        c.bench_with_input(BenchmarkId::new("plan_noop", n), &(), |b, _| {
            b.iter(|| {
                plan(
                    black_box(&cfg),
                    black_box(&st),
                    black_box(&live),
                    Mode::Apply,
                )
            })
        });

        let mut graph = DepGraph::with_nodes(n);
        for i in 1..n {
            graph.add_dependency(i, i / 2);
            graph.add_dependency(i, i - 1);
        }
        c.bench_with_input(BenchmarkId::new("topo_order", n), &graph, |b, g| {
            b.iter(|| black_box(g).topo_order())
        });
    }
}

criterion_group! {
    name = engine;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(engine);
