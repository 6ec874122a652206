//! Every complete config in the plugin pages (`docs/plugins/*.md`: a YAML block that starts with
//! `tools:`, `config:`, `vars:` or `apps:`) is accepted by `dtm plan` as printed, with a dummy
//! value for each `[[ env "NAME" ]]` and an empty state (which only validates: no network).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use std::path::Path;

use common::{Run, Sandbox};

/// The YAML blocks of a Markdown text that are complete configs.
fn configs(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find("```yaml\n") {
        rest = &rest[start + 8..];
        let Some(end) = rest.find("```") else { break };
        let block = &rest[..end];
        if ["tools:", "config:", "vars:", "apps:"]
            .iter()
            .any(|k| block.starts_with(k))
        {
            out.push(block.to_string());
        }
        rest = &rest[end + 3..];
    }
    out
}

/// Names read with `[[ env "NAME" ]]` or `[[ env NAME ]]`.
fn env_names(text: &str) -> Vec<String> {
    text.split("[[")
        .skip(1)
        .filter_map(|part| {
            let expr = part.split("]]").next()?.trim();
            let name = expr.strip_prefix("env")?.trim().trim_matches(['"', '\'']);
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

#[test]
fn every_plugin_page_example_plans() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/plugins");
    let mut pages: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    let mut failures = Vec::new();
    let mut planned = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (i, config) in configs(&text).iter().enumerate() {
            let s = Sandbox::new();
            s.write("dtm.yaml", config);
            let mut cmd = s.cmd(&["plan", "-f", "dtm.yaml"]);
            for name in env_names(config) {
                cmd.env(&name, format!("dummy-{}", name.to_lowercase()));
            }
            let run = Run(cmd.output().unwrap());
            planned += 1;
            if run.code() != 0 {
                failures.push(format!(
                    "{} example {}:\n{config}\n{}",
                    page.file_name().unwrap().to_string_lossy(),
                    i + 1,
                    run.all()
                ));
            }
        }
    }
    assert!(planned >= pages.len(), "only {planned} examples found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
