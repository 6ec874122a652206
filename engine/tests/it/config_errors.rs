//! Configs with problems: every problem is reported, with file, line, column and key.
#![allow(clippy::unwrap_used, reason = "tests")]

use dtm_engine::config::{self, ConfigError, Diagnostic};

fn no_env(_: &str) -> Option<String> {
    None
}

/// Loads `text` (written as `dtm.yaml`) and returns its problems as `line:col key: message`.
fn problems(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dtm.yaml");
    std::fs::write(&file, text).unwrap();
    match config::load(&file, &no_env) {
        Err(ConfigError::Invalid(d)) => d.iter().map(short).collect(),
        Err(e) => panic!("expected problems, got {e}"),
        Ok(c) => panic!(
            "expected problems, got a config with {} tools",
            c.tools.len()
        ),
    }
}

fn short(d: &Diagnostic) -> String {
    let loc = d
        .loc
        .as_ref()
        .map(|l| {
            assert!(l.file.ends_with("dtm.yaml"), "{}", l.file.display());
            format!("{}:{}", l.line, l.col)
        })
        .unwrap_or_default();
    format!("{loc} {}: {}", d.key, d.message)
}

#[test]
fn unknown_keys_suggest_the_right_one() {
    let got = problems(
        r#"config:
  stat:
    backend: local
tools:
- name: file
  instanceId: a
  optoins: {}
toolz: []
"#,
    );
    assert_eq!(
        got,
        [
            "2:3 config.stat: unknown key `stat`; did you mean `state`?; expected one of: state, pluginDir, pluginRegistry, pluginRegistryKey, strict",
            "6:3 tools[0].instanceId: unknown key `instanceId`; did you mean `instanceID`?; expected one of: name, instanceID, dependsOn, options, version, timeout",
            "7:3 tools[0].optoins: unknown key `optoins`; did you mean `options`?; expected one of: name, instanceID, dependsOn, options, version, timeout",
            "8:1 toolz: unknown key `toolz`; did you mean `tools`?; expected one of: config, vars, tools, apps, pipelineTemplates",
        ]
    );
}

#[test]
fn state_keys_and_backend_are_checked() {
    let got = problems("config:\n  state:\n    backend: s4\n    option: {}\n");
    assert_eq!(
        got,
        [
            "3:14 config.state.backend: unknown state backend `s4`; did you mean `s3`?; expected one of: local, s3, k8s, kubernetes",
            "4:5 config.state.option: unknown key `option`; did you mean `options`?; expected one of: backend, options",
        ]
    );
}

#[test]
fn wrong_types_are_named() {
    let got = problems(
        r#"tools:
- name: file
  instanceID: a
  dependsOn: file.b
- name: file
  instanceID: b
  dependsOn: [ [x] ]
  options: [1]
- name: {x: 1}
  instanceID: c
"#,
    );
    assert_eq!(
        got,
        [
            "4:14 tools[0].dependsOn: expected a list of `name.instanceID` strings, found a string",
            "7:16 tools[1].dependsOn[0]: expected a `name.instanceID` string, found a list",
            "8:12 tools[1].options: expected a mapping, found a list",
            "9:9 tools[2].name: expected a string, found a mapping",
        ]
    );
}

#[test]
fn duplicate_instances_point_at_both() {
    let got = problems(
        "tools:\n- name: file\n  instanceID: a\n- name: exec\n  instanceID: a\n- name: file\n  instanceID: a\n",
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("6:3 file.a: duplicate tool `file.a`: also defined at "));
    assert!(got[0].contains("dtm.yaml:2:3;"), "{}", got[0]);
}

#[test]
fn names_must_be_dns_labels() {
    let got = problems(
        "tools:\n- name: File_Plugin\n  instanceID: golang-github\n- name: file\n  instanceID: -bad\n- name: file\n  instanceID: default\n",
    );
    let rule = "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";
    let id_rule = "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit, at most 253 characters";
    assert_eq!(
        got,
        [
            format!("2:9 tools[0].name: invalid plugin name `File_Plugin`: {rule}"),
            format!("5:15 tools[1].instanceID: invalid instanceID `-bad`: {id_rule}"),
        ]
    );
}

#[test]
fn unknown_and_malformed_dependencies() {
    let got = problems(
        r#"tools:
- name: file
  instanceID: readme
- name: exec
  instanceID: x
  dependsOn: ["file.readmee", "nodot", "file.readme"]
  options:
    u: ${{ git.repo.outputs.url }}
    v: ${{ file.readme.output.path }}
"#,
    );
    assert_eq!(
        got,
        [
            "6:15 exec.x.dependsOn: depends on `file.readmee`, which is not in the config; did you mean `file.readme`?",
            "6:31 exec.x.dependsOn: `nodot` is not a tool: expected `name.instanceID`",
            "8:8 exec.x.options: ${{ git.repo.outputs.url }} refers to tool `git.repo`, which is not in the config",
            "9:8 exec.x.options.v: malformed output reference `${{ file.readme.output.path }}`: expected `${{ name.instanceID.outputs.key }}`",
        ]
    );
}

#[test]
fn dependency_cycle_prints_the_path() {
    let got = problems(
        r#"tools:
- name: file
  instanceID: a
  dependsOn: [exec.c]
- name: file
  instanceID: b
  options:
    x: ${{ file.a.outputs.path }}
- name: exec
  instanceID: c
  dependsOn: [file.b]
- name: exec
  instanceID: free
  dependsOn: [file.a]
"#,
    );
    assert_eq!(
        got,
        ["2:3 file.a: dependency cycle: file.a -> exec.c -> file.b -> file.a"]
    );
}

#[test]
fn self_dependency_explicit_and_by_reference() {
    let got = problems(
        r#"tools:
- name: file
  instanceID: a
  dependsOn: [file.a]
- name: file
  instanceID: b
  options:
    me: ${{ file.b.outputs.path }}
"#,
    );
    assert_eq!(
        got,
        [
            "4:15 file.a.dependsOn: tool `file.a` depends on itself",
            "8:9 file.b.options: tool `file.b` depends on itself: ${{ file.b.outputs.path }} refers to its own output",
        ]
    );
}

#[test]
fn broken_yaml_has_the_parser_position() {
    let got =
        problems("vars:\n  x: 1\ntools:\n- name: file\n  instanceID: [[ x ]]\n   options: {\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("6:11 : invalid YAML:"), "{got:?}");
}

#[test]
fn broken_yaml_position_is_in_the_original_text() {
    // The error comes after a substitution on the same line that changed its length.
    let got = problems("vars:\n  name: a-much-longer-value\ntools: [[ name ]] x: y\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("3:20 : invalid YAML"), "{got:?}");
}

#[test]
fn invalid_version_and_timeout() {
    let got =
        problems("tools:\n- name: file\n  instanceID: a\n  version: \"~> 1.2\"\n  timeout: soon\n");
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with("4:12 tools[0].version: invalid version requirement `~> 1.2`"),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("5:12 tools[0].timeout: invalid timeout `soon`"),
        "{got:?}"
    );
}

#[test]
fn unsupported_template_expressions() {
    let got = problems(
        "tools:\n- name: file\n  instanceID: [[ if x ]]\n  options: {a: [[ env \"HOME\" x ]]}\n",
    );
    assert_eq!(
        got,
        [
            "3:15 : unsupported expression `[[ if x ]]`: dtm understands `[[ name ]]`, `[[ name.key ]]` and `[[ env \"NAME\" ]]`",
            "4:16 : `[[ env \"HOME\" x ]]`: expected `[[ env \"NAME\" ]]` (or `[[ env NAME ]]`) naming an environment variable",
        ]
    );
}

#[test]
fn several_problems_come_together_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "config:\n  state: {backend: nfs}\ntools:\n- name: file\n  instanceID: A\n  dependsOn: [file.zzz]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        "tools:\n- name: exec\n  instanceID: x\n  options: {t: [[ undefined ]]}\n  timeot: 5m\n",
    )
    .unwrap();
    let err = config::load(dir.path(), &no_env).unwrap_err();
    let ConfigError::Invalid(d) = &err else {
        panic!("{err}")
    };
    let got: Vec<String> = d
        .iter()
        .map(|d| {
            let l = d.loc.as_ref().unwrap();
            format!(
                "{}:{}",
                l.file.file_name().unwrap().to_str().unwrap(),
                l.line
            )
        })
        .collect();
    assert_eq!(
        got,
        ["a.yaml:2", "a.yaml:5", "a.yaml:6", "b.yaml:4", "b.yaml:5"]
    );
    let text = err.to_string();
    assert!(text.starts_with("5 problems in config:\n  "), "{text}");
    assert!(
        text.contains("a.yaml:5:15: `tools[0].instanceID`: invalid instanceID `A`"),
        "{text}"
    );
}

#[test]
fn duplicate_keys_and_config_set_twice() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), "config:\n  pluginDir: p\n").unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        "config:\n  pluginDir: q\ntools:\n- name: file\n  name: exec\n  instanceID: a\n",
    )
    .unwrap();
    let err = config::load(dir.path(), &no_env).unwrap_err();
    let ConfigError::Invalid(d) = &err else {
        panic!("{err}")
    };
    assert_eq!(d.len(), 2, "{err}");
    assert!(
        d[0].message
            .starts_with("`config.pluginDir` is set in more than one place (first at ")
            && d[0].message.ends_with("a.yaml:2:14)"),
        "{}",
        d[0]
    );
    assert_eq!(
        d[1].message,
        "duplicate key `name` (first at line 4, column 3)"
    );
    assert_eq!(d[1].loc.as_ref().unwrap().line, 5);
}
