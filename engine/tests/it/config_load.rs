//! Loading configs that are valid: the format, variables, secrets, output references.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};

use dtm_engine::config::{self, Config, ConfigError, Diagnostic, resolve_refs};
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// Writes `text` as `dtm.yaml` in a fresh directory and loads it.
fn load_text(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> (tempfile::TempDir, Result<Config, ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dtm.yaml");
    std::fs::write(&file, text).unwrap();
    let result = config::load(&file, env);
    (dir, result)
}

fn problems(result: Result<Config, ConfigError>) -> Vec<Diagnostic> {
    match result {
        Err(ConfigError::Invalid(d)) => d,
        Err(e) => panic!("expected problems, got {e}"),
        Ok(c) => panic!(
            "expected problems, got a config with {} tools",
            c.tools.len()
        ),
    }
}

fn tool<'c>(config: &'c Config, key: &str) -> &'c config::Tool {
    config
        .tools
        .iter()
        .find(|t| t.key() == key)
        .unwrap_or_else(|| panic!("no tool {key}"))
}

#[test]
fn minimal_config_gets_defaults() {
    let path = fixture("minimal.yaml");
    let config = config::load(&path, &no_env).unwrap();
    assert_eq!(config.files, vec![path.clone()]);
    assert_eq!(config.dir, path.parent().unwrap());
    assert_eq!(config.state.backend, "local");
    assert!(config.state.options.is_empty());
    assert_eq!(config.state.loc, None);
    assert_eq!(config.plugin_dir, None);
    assert_eq!(config.tools.len(), 1);
    let t = &config.tools[0];
    assert_eq!(t.key(), "file.readme");
    assert_eq!(t.options, json!({"path": "README.md", "content": "hello"}));
    assert!(t.depends_on.is_empty() && t.refs.is_empty() && t.secret_paths.is_empty());
    assert_eq!((t.loc.line, t.loc.col), (2, 3));
    assert_eq!(t.option_locs["/content"].line, 6);
}

#[test]
fn devstream_quickstart_loads_unchanged() {
    let env = env_of(&[
        ("GITHUB_TOKEN", "ghp_s3cret"),
        ("IMAGE_REPO_PASSWORD", "pw: #1"),
    ]);
    let config = config::load(&fixture("quickstart.yaml"), &env).unwrap();
    assert_eq!(config.state.backend, "local");
    assert_eq!(config.state.options["stateFile"], "devstream.state");
    let scaffold = tool(&config, "repo-scaffolding.golang-github");
    assert_eq!(
        scaffold.options["destinationRepo"],
        json!({"owner": "daniel-hutao", "name": "dtm-test-go", "branch": "main", "scmType": "github"})
    );
    assert_eq!(
        scaffold.options["vars"]["imageRepo"],
        "exploitht/dtm-test-go"
    );
    let gha = tool(&config, "github-actions.default");
    assert_eq!(gha.depends_on, ["repo-scaffolding.golang-github"]);
    assert_eq!(gha.options["scm"]["token"], "ghp_s3cret");
    // A secret with YAML syntax in it stays one string: secrets never go through the parser.
    assert_eq!(gha.options["pipeline"]["imageRepo"]["password"], "pw: #1");
    assert_eq!(
        gha.secret_paths,
        ["/scm/token", "/pipeline/imageRepo/password"]
    );
    assert_eq!(gha.secret_values, ["ghp_s3cret", "pw: #1"]);
    // Positions are those of the file as written, even after substitution on the same line.
    assert_eq!(gha.option_locs["/scm/name"].line, 35);
    assert_eq!(gha.option_locs["/scm/name"].col, 14);
}

#[test]
fn directory_merges_yaml_files_by_name() {
    let dir = fixture("multi");
    let config = config::load(&dir, &no_env).unwrap();
    let names: Vec<_> = config
        .files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["01-config.yaml", "02-vars.yml", "03-tools.yaml"]);
    assert_eq!(config.dir, dir);
    assert_eq!(config.plugin_dir, Some(dir.join("./plugins")));
    assert_eq!(config.state.options["stateFile"], "team.state");
    // A variable from one file used in another, itself built from another variable.
    assert_eq!(
        tool(&config, "file.readme").options["path"],
        "team-a-svc/README.md"
    );
    let publish = tool(&config, "exec.publish");
    assert_eq!(publish.depends_on, ["file.readme"]);
    assert!(publish.loc.file.ends_with("03-tools.yaml"));
}

#[test]
fn empty_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let d = problems(config::load(dir.path(), &no_env));
    assert_eq!(d.len(), 1);
    assert!(d[0].message.contains("no config files"), "{}", d[0]);
}

#[test]
fn missing_file_is_a_read_error() {
    let err = config::load(Path::new("/nonexistent/dtm.yaml"), &no_env).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
}

#[test]
fn duplicate_variable_across_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), "vars:\n  x: 1\n").unwrap();
    std::fs::write(dir.path().join("b.yaml"), "vars:\n  y: 2\n  x: 3\n").unwrap();
    let d = problems(config::load(dir.path(), &no_env));
    assert_eq!(d.len(), 1, "{d:?}");
    let loc = d[0].loc.as_ref().unwrap();
    assert!(loc.file.ends_with("b.yaml") && loc.line == 3, "{}", d[0]);
    assert!(d[0].message.contains("defined twice"), "{}", d[0]);
    assert!(d[0].message.contains("a.yaml:2:3"), "{}", d[0]);
}

#[test]
fn vars_use_vars_and_keep_types() {
    let text = r#"
vars:
  user: daniel
  repo: [[ user ]]-svc
  full: "[[ owner.org ]]/[[ repo ]]"
  owner: {org: acme, size: 3}
  port: 8080
tools:
- name: file
  instanceID: a
  options:
    name: [[ full ]]
    port: [[ port ]]
    size: [[ owner.size ]]
    owner: [[ owner ]]
    label: x-[[ port ]]
"#;
    let (_dir, result) = load_text(text, &no_env);
    let config = result.unwrap();
    assert_eq!(
        config.tools[0].options,
        json!({"name": "acme/daniel-svc", "port": 8080, "size": 3,
               "owner": {"org": "acme", "size": 3}, "label": "x-8080"})
    );
}

#[test]
fn variable_cycle_is_reported_with_path() {
    let text = "vars:\n  a: \"[[ b ]]\"\n  b: x-[[ c ]]\n  c: \"[[ a ]]\"\n  d: ok\n";
    let (_dir, result) = load_text(text, &no_env);
    let d = problems(result);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        d[0].message,
        "variables refer to each other in a cycle: a -> b -> c -> a"
    );
    assert_eq!(d[0].loc.as_ref().unwrap().line, 2);
}

#[test]
fn missing_vars_and_env_are_reported_where_used() {
    let text = r#"vars:
  known: k
tools:
- name: file
  instanceID: a
  options:
    one: [[ knwn ]]
    two: "prefix [[ env "NOPE_1" ]] and [[ nothing ]]"
    # a comment may mention [[ whatever ]] without error
    three: [[env "NOPE_2"]]
"#;
    let (_dir, result) = load_text(text, &env_of(&[]));
    let d = problems(result);
    let got: Vec<(usize, usize, &str)> = d
        .iter()
        .map(|d| {
            let l = d.loc.as_ref().unwrap();
            (l.line, l.col, d.message.as_str())
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                7,
                10,
                "undefined variable `knwn`; did you mean `known`?; define it under `vars:`"
            ),
            (8, 18, "environment variable `NOPE_1` is not set"),
            (
                8,
                41,
                "undefined variable `nothing`; define it under `vars:`"
            ),
            (10, 12, "environment variable `NOPE_2` is not set"),
        ]
    );
}

#[test]
fn secrets_are_recorded_with_pointers_everywhere_in_options() {
    let text = r#"vars:
  token: "[[ env "TOKEN" ]]"
config:
  state:
    backend: s3
    options:
      secretKey: [[ env "AWS_SECRET" ]]
tools:
- name: exec
  instanceID: deploy
  options:
    env:
    - name: A
      value: plain
    - name: B
      value: "Bearer [[ token ]]"
    args: [ "--password", [[ env "PASS" ]] ]
    headers: {x/y~z: [[ env "PASS" ]]}
"#;
    let env = env_of(&[("TOKEN", "tok"), ("AWS_SECRET", "aws"), ("PASS", "12345")]);
    let (_dir, result) = load_text(text, &env);
    let config = result.unwrap();
    // Outside tool options, secrets are just substituted.
    assert_eq!(config.state.options["secretKey"], "aws");
    let t = &config.tools[0];
    assert_eq!(t.options["env"][1]["value"], "Bearer tok");
    // A secret keeps the type its text has, like any plain scalar.
    assert_eq!(t.options["args"], json!(["--password", 12345]));
    assert_eq!(
        t.secret_paths,
        ["/env/1/value", "/args/1", "/headers/x~1y~0z"]
    );
    assert_eq!(t.secret_values, ["tok", "12345"]);
    assert_eq!(t.options.pointer("/headers/x~1y~0z"), Some(&json!(12345)));
    // Where each secret comes from, so that state can rebuild it from the environment: the
    // variable behind `[[ token ]]` is `TOKEN`, and the text around it is kept.
    use config::SecretPart::{Env, Text};
    let sources: Vec<_> = t
        .secret_sources
        .iter()
        .map(|s| (s.pointer.as_str(), s.parts.clone()))
        .collect();
    assert_eq!(
        sources,
        [
            (
                "/env/1/value",
                vec![Text("Bearer ".into()), Env("TOKEN".into())]
            ),
            ("/args/1", vec![Env("PASS".into())]),
            ("/headers/x~1y~0z", vec![Env("PASS".into())]),
        ]
    );
}

#[test]
fn output_refs_in_nested_maps_and_lists_imply_dependencies() {
    let text = r#"tools:
- name: file
  instanceID: a
- name: file
  instanceID: b
- name: exec
  instanceID: c
  dependsOn: [file.b]
  options:
    nested:
      deep:
        url: ${{ file.a.outputs.path }}
    list:
    - plain
    - {k: "x ${{file.b.outputs.size}} y ${{ file.a.outputs.path }}"}
"#;
    let (_dir, result) = load_text(text, &no_env);
    let config = result.unwrap();
    let c = tool(&config, "exec.c");
    assert_eq!(c.depends_on, ["file.a", "file.b"]);
    let refs: Vec<(&str, &str, &str, usize)> = c
        .refs
        .iter()
        .map(|r| {
            (
                r.tool.as_str(),
                r.key.as_str(),
                r.pointer.as_str(),
                r.loc.line,
            )
        })
        .collect();
    assert_eq!(
        refs,
        [
            ("file.a", "path", "/nested/deep/url", 12),
            ("file.b", "size", "/list/1/k", 15),
            ("file.a", "path", "/list/1/k", 15),
        ]
    );
    // Left in place for the engine to resolve at run time.
    assert_eq!(
        c.options["nested"]["deep"]["url"],
        "${{ file.a.outputs.path }}"
    );
}

#[test]
fn resolve_refs_types_whole_values_and_splices_embedded_ones() {
    let options = json!({
        "whole": "${{ file.a.outputs.count }}",
        "obj": "${{file.a.outputs.meta}}",
        "embedded": "n=${{ file.a.outputs.count }} p=${{ file.a.outputs.path }} m=${{ file.a.outputs.meta }}",
        "list": ["${{ file.a.outputs.path }}", 1],
        "untouched": "no refs",
    });
    let lookup = |tool: &str, key: &str| -> Option<Value> {
        assert_eq!(tool, "file.a");
        match key {
            "count" => Some(json!(3)),
            "path" => Some(json!("/tmp/x")),
            "meta" => Some(json!({"a": [1]})),
            _ => None,
        }
    };
    let resolved = resolve_refs(&options, &lookup).unwrap();
    assert_eq!(
        resolved,
        json!({
            "whole": 3,
            "obj": {"a": [1]},
            "embedded": "n=3 p=/tmp/x m={\"a\":[1]}",
            "list": ["/tmp/x", 1],
            "untouched": "no refs",
        })
    );
    let missing = json!({"a": "${{ file.a.outputs.nope }}", "b": "x ${{ file.a.outputs.gone }}"});
    let err = resolve_refs(&missing, &lookup).unwrap_err();
    assert_eq!(
        err,
        config::RefError::Unresolved(vec![
            "${{ file.a.outputs.nope }}".into(),
            "${{ file.a.outputs.gone }}".into()
        ])
    );
}

#[test]
fn version_and_timeout_are_parsed() {
    let text = "tools:\n- name: file\n  instanceID: a\n  version: \">=0.1, <0.3\"\n  timeout: 5m\n";
    let (_dir, result) = load_text(text, &no_env);
    let t = &result.unwrap().tools[0];
    let req = t.version.as_ref().unwrap();
    assert!(req.matches(&semver::Version::new(0, 2, 9)));
    assert!(!req.matches(&semver::Version::new(0, 3, 0)));
    assert_eq!(t.timeout, Some(std::time::Duration::from_secs(300)));
}

#[test]
fn yaml_anchors_and_merge_keys_work() {
    let text = r#"tools:
- name: file
  instanceID: a
  options: &base
    mode: "0644"
    path: a.txt
- name: file
  instanceID: b
  options:
    <<: *base
    path: b.txt
"#;
    let (_dir, result) = load_text(text, &no_env);
    let config = result.unwrap();
    assert_eq!(
        tool(&config, "file.b").options,
        json!({"path": "b.txt", "mode": "0644"})
    );
}

#[test]
fn documents_in_one_file_merge_as_devstream_merges_them() {
    // DevStream joins a file's `---` documents into one: `config`, `vars` and `tools` may each
    // be a document of their own, and `tools:` may come back in a later document.
    let (_dir, result) = load_text(
        "---\nconfig:\n  state: {backend: local, options: {stateFile: docs.state}}\n\
         ---\nvars:\n  owner: team-a\n\
         ---\ntools:\n- name: file\n  instanceID: golang.github\n  options: {path: \"[[ owner ]].md\"}\n\
         ---\nvars:\n  suffix: svc\ntools:\n\
         - name: exec\n  instanceID: eu.prod\n  dependsOn: [file.golang.github]\n  options:\n    \
         args: [\"${{ file.golang.github.outputs.path }}\", \"[[ suffix ]]\"]\n...\n",
        &no_env,
    );
    let config = result.unwrap();
    assert_eq!(config.state.options["stateFile"], "docs.state");
    let keys: Vec<String> = config.tools.iter().map(|t| t.key()).collect();
    assert_eq!(keys, ["file.golang.github", "exec.eu.prod"]);
    assert_eq!(
        tool(&config, "file.golang.github").options["path"],
        "team-a.md"
    );
    let exec = tool(&config, "exec.eu.prod");
    assert_eq!(exec.instance_id, "eu.prod");
    assert_eq!(exec.options["args"][1], "svc");
    assert_eq!(exec.depends_on, ["file.golang.github"]);
    assert_eq!(exec.refs[0].tool, "file.golang.github");
    assert_eq!(exec.refs[0].key, "path");
    assert_eq!((exec.loc.line, exec.loc.col), (16, 3));
}

#[test]
fn a_setting_in_two_documents_is_still_an_error() {
    let (_dir, result) = load_text(
        "config:\n  pluginDir: a\n---\nconfig:\n  pluginDir: b\n---\nvars:\n  x: 1\n---\nvars:\n  x: 2\n",
        &no_env,
    );
    let d = problems(result);
    let messages: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert_eq!(d.len(), 2, "{messages:?}");
    assert!(messages[0].contains("dtm.yaml:5:14: `config.pluginDir`: `config.pluginDir` is set in more than one place (first at "), "{messages:?}");
    assert!(
        messages[1].contains("variable `x` is defined twice"),
        "{messages:?}"
    );
}

#[test]
fn secrets_spliced_into_variables_keep_their_values() {
    // Found by fuzzing a change that lost them: a secret inside a longer string in `vars:`.
    let (_dir, config) = load_text(
        r#"vars:
  twice: "[[ env "T" ]][[ env "T" ]]"
  after: "a[[ env "T" ]]"
tools:
- name: file
  instanceID: a
  options:
    content: "[[ twice ]]"
    path: "[[ after ]]"
"#,
        &env_of(&[("T", "tok")]),
    );
    let config = config.unwrap();
    let options = &config.tools[0].options;
    assert_eq!(options["content"], "toktok");
    assert_eq!(options["path"], "atok");
    assert_eq!(config.tools[0].secret_paths, ["/content", "/path"]);
}
