//! `validate_against_plugins`: plugin names, options vs JSON Schema, output references.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;

use dtm_engine::config::{self, CheckOptions, Config, ConfigError, Diagnostic};
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
    let mut config = config.clone();
    let check =
        config::validate_against_plugins(&mut config, &manifests(), &CheckOptions::default());
    match check.into_result() {
        Err(ConfigError::Invalid(d)) => d.iter().map(short).collect(),
        Err(e) => panic!("{e}"),
        Ok(_) => Vec::new(),
    }
}

fn short(d: &Diagnostic) -> String {
    let l = d.loc.as_ref().unwrap();
    format!("{}:{} {}: {}", l.line, l.col, d.key, d.message)
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
            // (`colour` is an unknown key: a warning, see below.)
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

fn check_with(config: &mut Config, strict: bool) -> config::PluginCheck {
    let options = CheckOptions {
        strict,
        ..CheckOptions::default()
    };
    config::validate_against_plugins(config, &manifests(), &options)
}

#[test]
fn option_keys_match_whatever_their_case_and_the_exact_spelling_wins() {
    // DevStream's decoder ignores case: `Path` is `path`. Secrets, references and positions
    // follow the keys to their new spelling.
    let (_dir, mut config) = load(
        r#"tools:
- name: file
  instanceID: a
  options:
    Path: "${{ exec.b.outputs.stdout }}"
    MODE: 420
    TAGS: ["[[ env "TOKEN" ]]"]
- name: file
  instanceID: c
  options: {path: exact, PATH: other}
- name: exec
  instanceID: b
  options: {Retries: 1, Extra: 2}
"#,
    );
    let check = check_with(&mut config, false);
    assert_eq!(check.problems, Vec::<Diagnostic>::new());
    let a = &config.tools[0];
    assert_eq!(
        a.options,
        json!({"path": "${{ exec.b.outputs.stdout }}", "mode": 420, "tags": ["short"]})
    );
    assert_eq!(a.refs[0].pointer, "/path");
    assert_eq!(a.secret_paths, ["/tags/0"]);
    assert_eq!(a.secret_sources[0].pointer, "/tags/0");
    assert_eq!(a.option_locs["/mode"].line, 6);
    // The exact spelling wins over another one, which is reported.
    assert_eq!(config.tools[1].options, json!({"path": "exact"}));
    let warnings: Vec<String> = check.warnings.iter().map(short).collect();
    assert_eq!(
        warnings,
        [
            "10:26 file.c.options.PATH: `PATH` is another spelling of `path`, which is also set; \
          `path` is used and `PATH` ignored"
        ]
    );
    // A schema that allows other keys (exec's) keeps them as written.
    assert_eq!(config.tools[2].options, json!({"retries": 1, "Extra": 2}));
}

#[test]
fn unknown_option_keys_are_warnings_and_left_out_or_errors_under_strict() {
    let text = r#"tools:
- name: file
  instanceID: a
  options:
    path: x
    modee: 420
    docker:
      password: [[ env "TOKEN" ]]
"#;
    let (_dir, mut config) = load(text);
    let check = check_with(&mut config, false);
    assert_eq!(check.problems, Vec::<Diagnostic>::new());
    let warnings: Vec<String> = check.warnings.iter().map(short).collect();
    assert_eq!(
        warnings,
        [
            "6:5 file.a.options.modee: unknown option `modee` for plugin `file`; did you mean \
             `mode`?; expected one of: mode, path, tags; ignored, as DevStream ignored it (an \
             error with --strict or `config.strict: true`)",
            "7:5 file.a.options.docker: unknown option `docker` for plugin `file`; expected one \
             of: mode, path, tags; ignored, as DevStream ignored it (an error with --strict or \
             `config.strict: true`)",
        ]
    );
    // Left out of what the plugin gets, secrets included.
    let t = &config.tools[0];
    assert_eq!(t.options, json!({"path": "x"}));
    assert!(t.secret_paths.is_empty() && t.secret_sources.is_empty());

    let (_dir, mut config) = load(text);
    let strict = check_with(&mut config, true);
    assert!(strict.warnings.is_empty());
    let problems: Vec<String> = strict.problems.iter().map(short).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "6:5 file.a.options.modee: unknown option `modee` for plugin \
                                 `file`; did you mean `mode`?; expected one of: mode, path, tags; \
                                 remove it"
        ),
        "{problems:?}"
    );
}

#[test]
fn config_strict_is_read_from_the_config() {
    let (_dir, config) = load("config:\n  strict: true\ntools:\n- name: file\n  instanceID: a\n");
    assert!(config.strict);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dtm.yaml");
    std::fs::write(&file, "config:\n  strict: \"yes\"\n").unwrap();
    let err = config::load(&file, &|_| None).unwrap_err();
    assert!(
        err.to_string()
            .contains("dtm.yaml:2:11: `config.strict`: expected true or false, found a string"),
        "{err}"
    );
}

#[test]
fn unknown_plugins_are_matched_against_every_plugin_dtm_knows() {
    let (_dir, mut config) = load("tools:\n- name: helm-instaler\n  instanceID: argocd\n");
    let options = CheckOptions {
        known_plugins: vec!["helm-installer".into(), "k8s-manifest".into()],
        searched: Some("looked in the plugin directories /p".into()),
        ..CheckOptions::default()
    };
    let check = config::validate_against_plugins(&mut config, &manifests(), &options);
    let problems: Vec<String> = check.problems.iter().map(short).collect();
    assert_eq!(
        problems,
        [
            "2:3 helm-instaler.argocd: unknown plugin `helm-instaler`; did you mean \
          `helm-installer`?; looked in the plugin directories /p; run `dtm list plugins` to see \
          what is available"
        ]
    );
}
