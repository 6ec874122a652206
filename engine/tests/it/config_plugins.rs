//! `validate_against_plugins`: plugin names, options vs JSON Schema, output references.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;

use dtm_engine::config::{self, Config, ConfigError};
use dtm_plugin_protocol::{ABI_VERSION, Manifest, OutputSpec};
use serde_json::{Value, json};

fn manifest(name: &str, schema: Value, outputs: &[&str]) -> Manifest {
    Manifest {
        name: name.into(),
        version: "0.1.0".into(),
        abi_version: ABI_VERSION,
        description: format!("{name} for tests"),
        options_schema: schema,
        outputs: outputs
            .iter()
            .map(|o| OutputSpec {
                name: (*o).into(),
                description: String::new(),
            })
            .collect(),
    }
}

fn manifests() -> BTreeMap<String, Manifest> {
    let file = manifest(
        "file",
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "mode": {"type": "integer", "minimum": 0},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["path"],
            "additionalProperties": false,
        }),
        &["path", "sha256"],
    );
    let exec = manifest(
        "exec",
        json!({
            "type": "object",
            "properties": {
                "retries": {"type": "integer"},
                "token": {"type": "string", "minLength": 8},
                "args": {"type": "array", "items": {"type": "string"}},
            },
        }),
        &["stdout"],
    );
    [("file".to_owned(), file), ("exec".to_owned(), exec)].into()
}

fn load(text: &str) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dtm.yaml");
    std::fs::write(&file, text).unwrap();
    let env = |name: &str| (name == "TOKEN").then(|| "short".to_owned());
    let config = config::load(&file, &env).unwrap();
    (dir, config)
}

fn problems(config: &Config) -> Vec<String> {
    match config::validate_against_plugins(config, &manifests()) {
        Err(ConfigError::Invalid(d)) => d
            .iter()
            .map(|d| {
                let l = d.loc.as_ref().unwrap();
                format!("{}:{} {}: {}", l.line, l.col, d.key, d.message)
            })
            .collect(),
        Err(e) => panic!("{e}"),
        Ok(()) => Vec::new(),
    }
}

#[test]
fn valid_config_passes() {
    let (_dir, config) = load(
        "tools:\n- name: file\n  instanceID: a\n  options: {path: x, mode: 420}\n\
         - name: exec\n  instanceID: b\n  options:\n    retries: ${{ file.a.outputs.sha256 }}\n",
    );
    assert_eq!(problems(&config), Vec::<String>::new());
}

#[test]
fn unknown_plugin_with_suggestion() {
    let (_dir, config) =
        load("tools:\n- name: fille\n  instanceID: a\n- name: git\n  instanceID: b\n");
    assert_eq!(
        problems(&config),
        [
            "2:3 fille.a: unknown plugin `fille`; did you mean `file`?; run `dtm list plugins` \
             to see what is available",
            "4:3 git.b: unknown plugin `git`; run `dtm list plugins` to see what is available",
        ]
    );
}

#[test]
fn schema_violations_point_at_the_value() {
    let (_dir, config) = load(
        r#"tools:
- name: file
  instanceID: a
  options:
    mode: -1
    tags: [ok, 3]
    colour: red
- name: exec
  instanceID: b
  options:
    token: [[ env "TOKEN" ]]
    retries: "${{ file.a.outputs.path }}"
    args: ["--n", "${{ file.a.outputs.path }}", 7]
"#,
    );
    assert_eq!(
        problems(&config),
        [
            // Problems of the whole options object are reported where the options start.
            "5:5 file.a.options: Additional properties are not allowed ('colour' was unexpected)",
            "5:5 file.a.options: \"path\" is a required property",
            "5:11 file.a.options.mode: -1 is less than the minimum of 0",
            "6:16 file.a.options.tags.1: 3 is not of type \"string\"",
            // The secret's value is not shown.
            "11:12 exec.b.options.token: (secret) is shorter than 8 characters",
            // Strings holding references are checked at run time, once resolved; only the
            // plain item is wrong here.
            "13:49 exec.b.options.args.2: 7 is not of type \"string\"",
        ]
    );
}

#[test]
fn references_to_undeclared_outputs() {
    let (_dir, config) = load(
        r#"tools:
- name: file
  instanceID: a
  options: {path: x}
- name: exec
  instanceID: b
  options:
    args: ["${{ file.a.outputs.sha265 }}", "${{ file.a.outputs.path }}"]
- name: exec
  instanceID: c
  options:
    args: ["${{ exec.b.outputs.stderr }}"]
"#,
    );
    assert_eq!(
        problems(&config),
        [
            "8:12 exec.b.options.args.0: `file.a` has no output `sha265`; did you mean \
             `sha256`?; plugin `file` declares: path, sha256",
            "12:12 exec.c.options.args.0: `exec.b` has no output `stderr`; plugin `exec` \
             declares: stdout",
        ]
    );
}
