//! Configs made to exhaust memory, stack or time: each stops at a named limit, with the file,
//! line and what to do. The small ones are kept in `tests/fixtures/hostile/` (also the seeds of
//! the config fuzz target); the large ones are generated here.
//!
//! Tests that could overflow the stack run on a thread with a small one, so that a recursion
//! that grew with the input would fail them.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use dtm_engine::config::{self, Config, ConfigError};

/// Stack for the loads below: far less than a main thread's 8 MiB.
const SMALL_STACK: usize = 512 * 1024;

fn no_env(_: &str) -> Option<String> {
    None
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hostile")
        .join(name)
}

/// Loads `path` on a thread with a small stack.
fn load_small_stack(path: PathBuf) -> Result<Config, ConfigError> {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(move || config::load(&path, &no_env))
        .unwrap()
        .join()
        .expect("loading overflowed a small stack or panicked")
}

/// The problems of loading `path`, as `line:col key: message`.
fn problems_of(path: PathBuf) -> Vec<String> {
    match load_small_stack(path) {
        Err(ConfigError::Invalid(d)) => d
            .iter()
            .map(|d| {
                let loc = d
                    .loc
                    .as_ref()
                    .map(|l| format!("{}:{}", l.line, l.col))
                    .unwrap_or_default();
                format!("{loc} {}: {}", d.key, d.message)
            })
            .collect(),
        Err(e) => panic!("expected problems, got {e}"),
        Ok(c) => panic!(
            "expected problems, got a config with {} tools",
            c.tools.len()
        ),
    }
}

/// Writes `text` as `dtm.yaml` in a new directory and returns its problems.
fn problems(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dtm.yaml");
    std::fs::write(&file, text).unwrap();
    problems_of(file)
}

fn load_text(text: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dtm.yaml");
    std::fs::write(&file, text).unwrap();
    match load_small_stack(file) {
        Ok(c) => c,
        Err(e) => panic!("expected a config, got {e}"),
    }
}

/// The only problem, which must contain every one of `parts`.
#[track_caller]
fn assert_one(problems: &[String], parts: &[&str]) {
    assert_eq!(problems.len(), 1, "expected one problem: {problems:#?}");
    for part in parts {
        assert!(
            problems[0].contains(part),
            "`{part}` missing in: {}",
            problems[0]
        );
    }
}

const TOOL_HEAD: &str = "tools:\n- name: file\n  instanceID: a\n  options:\n    path: out.txt\n";

#[test]
fn doubling_variables_stop_at_the_limit_of_inserted_text() {
    // 2 KB of text that would expand to 512 MiB.
    let got = problems_of(fixture("doubling-variables.yaml"));
    assert_one(
        &got,
        &[
            "25:9 ",
            "`[[ v21 ]]`",
            "past 8 MiB",
            "(the limit)",
            "check what it expands to",
        ],
    );
}

#[test]
fn a_chain_of_8000_variables_stops_at_the_depth_limit_without_deep_recursion() {
    let mut text = String::from("vars:\n  v0: x\n");
    for i in 1..=8000 {
        writeln!(text, "  v{i}: \"[[ v{} ]]\"", i - 1).unwrap();
    }
    writeln!(text, "{TOOL_HEAD}    content: \"[[ v8000 ]]\"").unwrap();
    let got = problems(&text);
    assert_one(
        &got,
        &[
            "66:3 vars.v64:",
            "v64 -> v63 -> v62 -> ... -> v1 -> v0",
            "the limit is 64",
            "use fewer levels",
        ],
    );
    assert_one(
        &problems_of(fixture("variable-chain.yaml")),
        &["67:3 vars.v64:", "the limit is 64"],
    );
}

#[test]
fn a_chain_broken_by_a_cycle_is_reported_once_each() {
    // Found by fuzzing: the chain shown in the depth message was followed round v6's cycle for
    // ever, until memory ran out.
    let got = problems_of(fixture("chain-with-a-cycle.yaml"));
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got[0].starts_with("10:3 vars.v6: variables refer to each other in a cycle: v6 -> v6"));
    assert!(
        got[1].starts_with("75:3 vars.v71:")
            && got[1].contains("(v71 -> v70 -> v69 -> ... -> v8 -> v7;"),
        "{got:#?}"
    );
}

#[test]
fn a_chain_at_the_depth_limit_resolves_on_a_small_stack() {
    let mut text = String::from("vars:\n  v1: {x: [0]}\n");
    for i in 2..=64 {
        writeln!(text, "  v{i}: \"[[ v{} ]]\"", i - 1).unwrap();
    }
    writeln!(text, "{TOOL_HEAD}    content: [[ v64 ]]").unwrap();
    let config = load_text(&text);
    assert_eq!(
        config.tools[0].options["content"],
        serde_json::json!({"x": [0]})
    );
}

#[test]
fn three_megabytes_of_variable_uses_stop_at_the_expression_limit() {
    let uses = "[[ v ]]".repeat(3_000_000 / 7);
    let text = format!("vars:\n  v: x\n{TOOL_HEAD}    content: \"{uses}\"\n");
    let got = problems(&text);
    // The 100,001st expression, on line 8 after `    content: "`.
    let col = 15 + 100_000 * 7;
    assert_one(
        &got,
        &[
            &format!("8:{col} "),
            "more than 100,000 `[[ ]]` expressions",
            "(the limit)",
            "put a repeated value into one variable",
        ],
    );
}

#[test]
fn a_line_of_expressions_up_to_the_limit_loads() {
    let uses = "[[ v ]]".repeat(100_000);
    let text = format!("vars:\n  v: x\n{TOOL_HEAD}    content: \"{uses}\"\n");
    let config = load_text(&text);
    assert_eq!(config.tools[0].options["content"], "x".repeat(100_000));
}

#[test]
fn substitutions_made_while_loading_are_counted() {
    // 300 expressions, each substituted once per app that uses the template: 600 apps make
    // 180,000 substitutions.
    let mut text = String::from("pipelineTemplates:\n- name: t\n  type: exec\n  options:\n");
    for i in 0..30 {
        writeln!(text, "    k{i}: \"{}\"", "[[ appName ]]".repeat(10)).unwrap();
    }
    text.push_str("apps:\n");
    for i in 0..600 {
        writeln!(
            text,
            "- name: app{i}\n  repo: {{url: https://example.com/o/app{i}}}\n  ci: [{{type: template, templateName: t}}]"
        )
        .unwrap();
    }
    let got = problems(&text);
    assert_one(
        &got,
        &[
            "`[[ appName ]]`",
            "more than 100,000 substitutions",
            "once for each app",
        ],
    );
}

#[test]
fn a_pipeline_template_used_by_many_apps_stops_at_the_node_limit() {
    // A template of 2,000 nodes, copied for each of 200 apps: 400,000 nodes.
    let mut text = String::from("pipelineTemplates:\n- name: t\n  type: exec\n  options:\n");
    text.push_str("    list: [");
    text.push_str(&vec!["1"; 2000].join(","));
    text.push_str("]\napps:\n");
    for i in 0..200 {
        writeln!(
            text,
            "- name: app{i}\n  repo: {{url: https://example.com/o/app{i}}}\n  ci: [{{type: template, templateName: t}}]"
        )
        .unwrap();
    }
    let got = problems(&text);
    assert_one(
        &got,
        &[
            "this pipeline template",
            "past 250,000 YAML nodes",
            "(the limit;",
        ],
    );
}

#[test]
fn many_entries_under_a_large_app_stop_at_the_node_limit() {
    // Each CI entry copies the app's spec (20,000 nodes); 40 entries would copy 800,000.
    let mut text = String::from("apps:\n- name: app\n  repo: {url: https://example.com/o/app}\n");
    text.push_str("  spec: {language: python, list: [");
    text.push_str(&vec!["1"; 20_000].join(","));
    text.push_str("]}\n  ci:\n");
    for i in 0..40 {
        writeln!(text, "  - {{type: exec{i}}}").unwrap();
    }
    let got = problems(&text);
    assert_one(&got, &["this CI/CD entry", "past 250,000 YAML nodes"]);
}

#[test]
fn billion_laughs_stop_at_the_node_limit() {
    let got = problems_of(fixture("billion-laughs.yaml"));
    assert_one(
        &got,
        &[
            "13:17 ",
            "this alias copies 66,430 nodes",
            "past 250,000 YAML nodes",
            "aliases count every node they copy",
        ],
    );
}

#[test]
fn anchors_holding_anchors_are_counted() {
    // Each level anchors a list holding the previous level 16 times: the anchors' own copies,
    // not just the aliases, must count.
    let mut text = format!("{TOOL_HEAD}    content:\n      l0: &l0 [1,1,1,1,1,1,1,1]\n");
    for i in 1..12 {
        let items = vec![format!("*l{}", i - 1); 4].join(",");
        writeln!(text, "      l{i}: &l{i} [{items}]").unwrap();
    }
    let got = problems(&text);
    assert_one(&got, &["past 250,000 YAML nodes"]);
}

#[test]
fn aliases_cannot_nest_deeper_than_the_limit() {
    let got = problems_of(fixture("alias-depth.yaml"));
    assert_one(
        &got,
        &["37:19 ", "nested more than 64 levels deep", "flatten"],
    );
}

#[test]
fn deep_yaml_stops_at_the_depth_limit() {
    assert_one(
        &problems_of(fixture("deep-flow.yaml")),
        &["7:134 ", "nested more than 64 levels deep (the limit)"],
    );
    assert_one(
        &problems_of(fixture("deep-block.yaml")),
        &["68:67 ", "nested more than 64 levels deep (the limit)"],
    );
}

#[test]
fn thousands_of_levels_of_block_yaml_do_not_overflow_the_parser() {
    // The YAML parser's own loader recurses once per level; dtm drives it event by event.
    let mut text = format!("{TOOL_HEAD}    content:\n");
    for i in 0..2500 {
        writeln!(text, "     {}k:", " ".repeat(i)).unwrap();
    }
    let got = problems(&text);
    assert_one(&got, &["nested more than 64 levels deep"]);
}

#[test]
fn a_typed_variable_cannot_nest_a_value_past_the_depth_limit() {
    // Each variable holds the one before two levels down: v31 nests 64 levels, v32 would nest 66.
    let mut text = String::from("vars:\n  v0: {a: {b: 1}}\n");
    for i in 1..40 {
        writeln!(text, "  v{i}: {{a: {{b: \"[[ v{} ]]\"}}}}", i - 1).unwrap();
    }
    writeln!(text, "{TOOL_HEAD}    content: x").unwrap();
    // Unused variables are never evaluated...
    load_text(&text);
    // ...a used one is, and stops where it would pass 64 levels.
    text = text.replace("content: x", "content: [[ v39.a.b.a.b ]]");
    let got = problems(&text);
    assert_one(
        &got,
        &[
            "34:17 ",
            "`[[ v31 ]]`: its value nests too deep",
            "at most 64 levels (the limit)",
        ],
    );
}

#[test]
fn more_nodes_than_the_limit_stop_the_parse() {
    let list = vec!["1"; 300_000].join(",");
    let got = problems(&format!("{TOOL_HEAD}    content: [{list}]\n"));
    assert_one(
        &got,
        &["more than 250,000 YAML nodes in this config (the limit"],
    );
}

#[test]
fn more_tools_than_the_limit_are_refused() {
    let mut text = String::from("tools:\n");
    for i in 0..10_001 {
        writeln!(text, "- {{name: file, instanceID: t{i}}}").unwrap();
    }
    let got = problems(&text);
    assert_one(
        &got,
        &[
            "10002:3 ",
            "more than 10,000 tools",
            "split the tools into several configs",
        ],
    );
}

#[test]
fn a_config_larger_than_the_limit_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), TOOL_HEAD).unwrap();
    // Together with a.yaml, one byte over.
    let filler = format!("#{}\n", "x".repeat(8 * 1024 * 1024 - TOOL_HEAD.len() - 1));
    std::fs::write(dir.path().join("b.yaml"), filler).unwrap();
    let got = problems_of(dir.path().to_path_buf());
    assert_one(
        &got,
        &[
            "b.yaml is too large",
            "at most 8 MiB of text",
            "several configs",
        ],
    );
}

#[cfg(unix)]
#[test]
fn an_endless_file_is_refused_at_the_size_limit() {
    let got = problems_of(PathBuf::from("/dev/zero"));
    assert_one(&got, &["/dev/zero is too large", "at most 8 MiB"]);
}

#[test]
fn a_very_long_line_loads() {
    // One 7 MiB line: a value, and the end of the line after it.
    let long = "y".repeat(7 * 1024 * 1024);
    let config = load_text(&format!("{TOOL_HEAD}    content: \"{long}\" # end\n"));
    assert_eq!(
        config.tools[0].options["content"].as_str().map(str::len),
        Some(long.len())
    );
}

#[test]
fn a_long_line_of_yaml_lists_is_not_taken_for_expressions() {
    // `[[` that starts no expression, hundreds of thousands of times on one line.
    let list = "[[1],".repeat(20_000);
    let got = problems(&format!("{TOOL_HEAD}    content: [{list}]\n"));
    assert!(got.iter().all(|p| p.contains("invalid YAML")), "{got:#?}");
}
