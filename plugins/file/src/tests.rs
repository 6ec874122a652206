#![allow(clippy::unwrap_used, reason = "tests")]

use std::fs;

use dtm_plugin_sdk::testing::{TestHost, call, request};
use serde_json::{Value, json};

use super::*;

fn req(op: Operation, dir: &Path, options: Value) -> dtm_plugin_sdk::protocol::Request {
    let mut r = request(op, "file.test", options);
    r.workdir = dir.display().to_string();
    r
}

fn done(resp: Response) -> (Value, BTreeMap<String, Value>) {
    match resp {
        Response::Done { status, outputs } => (status, outputs),
        other => panic!("expected done, got {other:?}"),
    }
}

#[test]
fn the_whole_story_create_read_drift_update_delete() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::new();
    let options = json!({"path": "sub/motd.txt", "content": "hello\n", "mode": "0600"});

    let (status, outputs) = done(call(
        &FilePlugin,
        &host,
        &req(Operation::Create, dir.path(), options.clone()),
    ));
    let file = dir.path().join("sub/motd.txt");
    assert_eq!(fs::read_to_string(&file).unwrap(), "hello\n");
    assert_eq!(status["size"], 6);
    assert_eq!(status["mode"], "0600");
    assert_eq!(
        status["sha256"],
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    );
    assert_eq!(outputs["path"], file.display().to_string());
    assert_eq!(outputs["sha256"], status["sha256"]);

    let mut read = req(Operation::Read, dir.path(), options.clone());
    read.status = status.clone();
    assert_eq!(done(call(&FilePlugin, &host, &read)).0, status);

    fs::write(&file, "edited by hand\n").unwrap();
    let drifted = done(call(&FilePlugin, &host, &read)).0;
    assert_ne!(drifted, status);

    let mut update = req(Operation::Update, dir.path(), options.clone());
    update.status = drifted;
    update.outputs = outputs;
    assert_eq!(done(call(&FilePlugin, &host, &update)).0, status);
    assert_eq!(done(call(&FilePlugin, &host, &read)).0, status);

    let delete = req(Operation::Delete, dir.path(), options);
    done(call(&FilePlugin, &host, &delete));
    assert!(!file.exists());
    assert_eq!(call(&FilePlugin, &host, &read), Response::Absent);
    done(call(&FilePlugin, &host, &delete));
}

#[test]
fn template_is_rendered_with_vars() {
    let dir = tempfile::tempdir().unwrap();
    let options = json!({"path": "t.txt", "template": "port=[[ port ]] name=[[name]]", "vars": {"port": 80, "name": "web"}});
    done(call(
        &FilePlugin,
        &TestHost::new(),
        &req(Operation::Create, dir.path(), options),
    ));
    assert_eq!(
        fs::read_to_string(dir.path().join("t.txt")).unwrap(),
        "port=80 name=web"
    );
}

#[test]
fn a_file_without_mode_keeps_its_bits_and_a_new_one_gets_0644() {
    let dir = tempfile::tempdir().unwrap();
    let options = json!({"path": "m.txt", "content": "x"});
    let (status, _) = done(call(
        &FilePlugin,
        &TestHost::new(),
        &req(Operation::Create, dir.path(), options.clone()),
    ));
    assert_eq!(status["mode"], "0644");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.path().join("m.txt"), fs::Permissions::from_mode(0o640)).unwrap();
        let (status, _) = done(call(
            &FilePlugin,
            &TestHost::new(),
            &req(Operation::Update, dir.path(), options),
        ));
        assert_eq!(status["mode"], "0640");
    }
}

#[test]
fn changing_the_path_removes_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::new();
    let (_, outputs) = done(call(
        &FilePlugin,
        &host,
        &req(
            Operation::Create,
            dir.path(),
            json!({"path": "a", "content": "x"}),
        ),
    ));
    let mut update = req(
        Operation::Update,
        dir.path(),
        json!({"path": "b", "content": "x"}),
    );
    update.outputs = outputs;
    done(call(&FilePlugin, &host, &update));
    assert!(!dir.path().join("a").exists());
    assert!(dir.path().join("b").exists());
}

#[test]
fn validate_names_each_problem() {
    let host = TestHost::new();
    let options = json!({"path": "", "content": "x", "template": "y", "mode": "999"});
    let Response::Invalid { problems } = call(
        &FilePlugin,
        &host,
        &request(Operation::Validate, "file.t", options),
    ) else {
        panic!("expected invalid")
    };
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["/path", "", "/mode"]);

    let options = json!({"path": "p", "template": "[[ who ]]"});
    let Response::Invalid { problems } = call(
        &FilePlugin,
        &host,
        &request(Operation::Validate, "file.t", options),
    ) else {
        panic!("expected invalid")
    };
    assert_eq!(problems[0].path, "/template");
    assert!(
        problems[0].message.contains("who"),
        "{}",
        problems[0].message
    );

    let options = json!({"path": "p", "content": "x", "color": "red"});
    let Response::Invalid { problems } = call(
        &FilePlugin,
        &host,
        &request(Operation::Validate, "file.t", options),
    ) else {
        panic!("expected invalid")
    };
    assert!(
        problems[0].message.contains("unknown field `color`"),
        "{}",
        problems[0].message
    );
}

#[test]
fn a_directory_in_the_way_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("d")).unwrap();
    let resp = call(
        &FilePlugin,
        &TestHost::new(),
        &req(
            Operation::Create,
            dir.path(),
            json!({"path": "d", "content": "x"}),
        ),
    );
    let Response::Error { error } = resp else {
        panic!("expected error, got {resp:?}")
    };
    assert_eq!(error.kind, ErrorKind::Conflict);
}

#[test]
fn the_manifest_schema_describes_the_options() {
    let m = dtm_plugin_sdk::manifest::<FilePlugin>();
    assert_eq!(m.name, "file");
    assert_eq!(m.options_schema["required"], json!(["path"]));
    assert_eq!(
        m.options_schema["properties"]["mode"]["pattern"],
        "^[0-7]{3,4}$"
    );
}

#[test]
fn a_template_file_is_rendered_and_its_changes_show_as_drift() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("motd.tmpl"), "hello [[ who ]]\n").unwrap();
    let options = json!({"path": "motd", "templateFile": "motd.tmpl", "vars": {"who": "ops"}});
    let host = TestHost::new();
    let (status, _) = done(call(
        &FilePlugin,
        &host,
        &req(Operation::Create, dir.path(), options.clone()),
    ));
    assert_eq!(
        fs::read_to_string(dir.path().join("motd")).unwrap(),
        "hello ops\n"
    );
    assert!(status["template_sha256"].is_string(), "{status}");

    let read = req(Operation::Read, dir.path(), options.clone());
    assert_eq!(done(call(&FilePlugin, &host, &read)).0, status);
    fs::write(dir.path().join("motd.tmpl"), "bye [[ who ]]\n").unwrap();
    assert_ne!(done(call(&FilePlugin, &host, &read)).0, status);

    let (updated, _) = done(call(
        &FilePlugin,
        &host,
        &req(Operation::Update, dir.path(), options),
    ));
    assert_eq!(
        fs::read_to_string(dir.path().join("motd")).unwrap(),
        "bye ops\n"
    );
    assert_eq!(done(call(&FilePlugin, &host, &read)).0, updated);

    let missing = json!({"path": "x", "templateFile": "nope.tmpl"});
    let resp = call(
        &FilePlugin,
        &host,
        &req(Operation::Create, dir.path(), missing),
    );
    let Response::Error { error } = resp else {
        panic!("expected error, got {resp:?}")
    };
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(error.message.contains("nope.tmpl"), "{}", error.message);
}
