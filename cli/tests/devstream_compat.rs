//! DevStream's configs as DevStream read them: option keys whatever their case, unknown option
//! keys ignored (with a warning here), and what dtm says about plugins it does not know.
#![allow(clippy::unwrap_used)]

mod common;

use common::Sandbox;
use serde_json::Value;

#[test]
fn option_keys_match_whatever_their_case_and_show_config_prints_the_plugins_spelling() {
    let s = Sandbox::new();
    s.write(
        "config.yaml",
        "tools:\n- name: file\n  instanceID: x\n  options:\n    Path: out/a.txt\n    CONTENT: hi\n",
    );
    let shown = s.run(&["show", "config"]).expect(0);
    let doc: Value = serde_json::from_str(&shown.stdout()).unwrap();
    assert_eq!(
        doc["tools"][0]["options"],
        serde_json::json!({"path": "out/a.txt", "content": "hi"}),
        "{}",
        shown.all()
    );
    s.run(&["apply", "-y"]).expect(0);
    assert_eq!(s.read("out/a.txt"), "hi");
    assert_eq!(
        s.state()["resources"]["file.x"]["options"]["path"],
        "out/a.txt"
    );
}

#[test]
fn unknown_option_keys_are_warnings_with_a_place_or_errors_under_strict() {
    let s = Sandbox::new();
    let config = "tools:\n- name: file\n  instanceID: x\n  options:\n    path: out/a.txt\n    \
                  content: hi\n    colour: red\n    contnet: typo\n";
    s.write("config.yaml", config);
    let plan = s.run(&["plan"]).expect(0);
    assert!(
        plan.stderr().contains(
            "warning: config.yaml:8:5: `file.x.options.contnet`: unknown option `contnet` for \
             plugin `file`; did you mean `content`?; expected one of: content, mode, path, \
             template, templateFile, vars; ignored, as DevStream ignored it"
        ),
        "{}",
        plan.all()
    );
    assert!(
        plan.stderr()
            .contains("config.yaml:7:5: `file.x.options.colour`: unknown option `colour`"),
        "{}",
        plan.all()
    );
    let json = s.run(&["plan", "-o", "json"]).expect(0);
    let doc: Value = serde_json::from_str(&json.stdout()).unwrap();
    let warnings = doc["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{}", json.all());
    assert_eq!(warnings[0]["line"], 7);
    assert_eq!(warnings[0]["column"], 5);
    assert_eq!(warnings[0]["key"], "file.x.options.colour");
    assert!(
        warnings[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("config.yaml")
    );

    // The plugin never sees them, and neither does state.
    s.run(&["apply", "-y"]).expect(0);
    assert_eq!(s.read("out/a.txt"), "hi");
    let options = &s.state()["resources"]["file.x"]["options"];
    assert!(options.get("colour").is_none(), "{options}");

    // Under --strict, or with `config.strict: true`, they are errors.
    let strict = s.run(&["plan", "--strict"]).expect(1);
    assert!(
        strict.stderr().contains(
            "config.yaml:8:5: `file.x.options.contnet`: unknown option `contnet` for plugin \
             `file`; did you mean `content`?"
        ),
        "{}",
        strict.all()
    );
    s.write("config.yaml", &format!("config:\n  strict: true\n{config}"));
    let strict = s.run(&["plan"]).expect(1);
    assert!(
        strict
            .stderr()
            .contains("config.yaml:9:5: `file.x.options.colour`"),
        "{}",
        strict.all()
    );

    // The config's own keys are no options: an unknown one stays an error.
    s.write(
        "config.yaml",
        "tools:\n- name: file\n  instanceID: x\n  dependOn: []\n  options: {path: a}\n",
    );
    let r = s.run(&["plan"]).expect(1);
    assert!(
        r.stderr()
            .contains("unknown key `dependOn`; did you mean `dependsOn`?"),
        "{}",
        r.all()
    );
}
