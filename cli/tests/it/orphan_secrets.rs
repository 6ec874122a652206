//! A tool removed from the config is deleted with its secrets: state records only their keyed
//! hashes and the environment variables they came from, and dtm rebuilds them from the
//! environment when it deletes the orphan (`apply`) or destroys what is recorded (`destroy`).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use common::{Run, Sandbox};

const SECRET: &str = "s3cret-7f1c9a";

/// Both commands succeed only if the options carry the token that `token.expected` holds, whole
/// and inside a longer string; `delete` leaves a marker so the test knows it really ran.
const CONFIG: &str = r#"
tools:
- name: exec
  instanceID: tok
  options:
    create: 'test "$DTM_OPT_TOKEN" = "$(cat token.expected)" && test "$DTM_OPT_HEADER" = "Bearer $(cat token.expected)"'
    delete: 'if test "$DTM_OPT_TOKEN" = "$(cat token.expected)" && test "$DTM_OPT_HEADER" = "Bearer $(cat token.expected)"; then touch deleted.marker; else echo "delete got the wrong token" >&2; exit 1; fi'
    options:
      token: [[ env DTM_TEST_SECRET ]]
      header: "Bearer [[ env "DTM_TEST_SECRET" ]]"
- name: file
  instanceID: keep
  options:
    path: out/keep.txt
    content: "kept\n"
"#;

/// The same config without the exec tool.
const WITHOUT: &str = r#"
tools:
- name: file
  instanceID: keep
  options:
    path: out/keep.txt
    content: "kept\n"
"#;

/// `dtm ARGS` with `DTM_TEST_SECRET` set to `secret`, or unset.
fn dtm(s: &Sandbox, args: &[&str], secret: Option<&str>) -> Run {
    let mut c = s.cmd(args);
    match secret {
        Some(v) => c.env("DTM_TEST_SECRET", v),
        None => c.env_remove("DTM_TEST_SECRET"),
    };
    Run(c.output().unwrap())
}

fn assert_not_leaked(s: &Sandbox, runs: &[&Run], secrets: &[&str]) {
    let state = s.read("devstream.state");
    for secret in secrets {
        assert!(
            !state.contains(secret),
            "secret leaked into state:\n{state}"
        );
        for run in runs {
            assert!(
                !run.all().contains(secret),
                "secret leaked into dtm's output:\n{}",
                run.all()
            );
        }
    }
}

/// A sandbox where the exec tool was applied with `SECRET`.
fn applied() -> Sandbox {
    let s = Sandbox::new();
    s.write("token.expected", SECRET);
    s.write("config.yaml", CONFIG);
    let apply = dtm(&s, &["apply", "-y"], Some(SECRET)).expect(0);
    let state = s.state();
    let token = &state["resources"]["exec.tok"]["options"]["options"]["token"]["$secret"];
    assert_eq!(token["env"], "DTM_TEST_SECRET", "{state:#}");
    assert!(token["hmac"].as_str().unwrap().starts_with("hmac-sha256:"));
    let header = &state["resources"]["exec.tok"]["options"]["options"]["header"]["$secret"];
    assert_eq!(
        header["template"],
        serde_json::json!(["Bearer ", {"env": "DTM_TEST_SECRET"}]),
        "{state:#}"
    );
    assert_not_leaked(&s, &[&apply], &[SECRET]);
    s
}

#[test]
fn a_removed_tool_is_deleted_with_its_secrets_from_the_environment() {
    let s = applied();
    s.write("config.yaml", WITHOUT);
    let plan = dtm(&s, &["plan"], Some(SECRET)).expect(0);
    assert!(
        plan.stdout()
            .contains("0 to create, 0 to update, 1 to delete"),
        "{}",
        plan.all()
    );
    let apply = dtm(&s, &["apply", "-y"], Some(SECRET)).expect(0);
    assert!(s.path("deleted.marker").exists(), "{}", apply.all());
    let state = s.state();
    assert!(state["resources"].get("exec.tok").is_none(), "{state:#}");
    assert!(state["resources"].get("file.keep").is_some());
    assert_not_leaked(&s, &[&plan, &apply], &[SECRET]);
}

#[test]
fn without_the_variable_the_delete_fails_naming_it_and_keeps_the_record() {
    let s = applied();
    s.write("config.yaml", WITHOUT);
    // The plan says so before anything runs.
    let plan = dtm(&s, &["plan"], None).expect(0);
    assert!(
        plan.stdout().contains("cannot run as things stand")
            && plan
                .stdout()
                .contains("`DTM_TEST_SECRET`, which is not set"),
        "{}",
        plan.all()
    );
    let apply = dtm(&s, &["apply", "-y"], None).expect(1);
    let out = apply.all();
    for needle in [
        "exec.tok",
        "`options.token`",
        "`options.header`",
        "`DTM_TEST_SECRET`",
    ] {
        assert!(out.contains(needle), "missing {needle}:\n{out}");
    }
    assert!(!s.path("deleted.marker").exists(), "{out}");
    let state = s.state();
    let record = &state["resources"]["exec.tok"];
    assert_eq!(record["lifecycle"], "failed", "{state:#}");
    assert!(
        record["last_error"]
            .as_str()
            .unwrap()
            .contains("DTM_TEST_SECRET")
    );
    // The secrets are still recorded as hashes with their source.
    assert_eq!(
        record["options"]["options"]["token"]["$secret"]["env"],
        "DTM_TEST_SECRET"
    );

    let retry = dtm(&s, &["apply", "-y"], Some(SECRET)).expect(0);
    assert!(s.path("deleted.marker").exists(), "{}", retry.all());
    assert!(s.state()["resources"].get("exec.tok").is_none());
    assert_not_leaked(&s, &[&plan, &apply, &retry], &[SECRET]);
}

#[test]
fn a_rotated_secret_is_used_with_a_warning() {
    let s = applied();
    s.write("config.yaml", WITHOUT);
    let rotated = "r0tated-91be2d";
    s.write("token.expected", rotated);
    let apply = dtm(&s, &["apply", "-y"], Some(rotated)).expect(0);
    let out = apply.all();
    assert!(s.path("deleted.marker").exists(), "{out}");
    assert!(
        out.contains("exec.tok: warning:")
            && out.contains("`DTM_TEST_SECRET` now holds another value"),
        "{out}"
    );
    assert_not_leaked(&s, &[&apply], &[SECRET, rotated]);
}

#[test]
fn destroy_deletes_tools_no_longer_in_the_config_with_their_secrets() {
    let s = applied();
    s.write("config.yaml", WITHOUT);
    let destroy = dtm(&s, &["destroy", "-y"], Some(SECRET)).expect(0);
    assert!(s.path("deleted.marker").exists(), "{}", destroy.all());
    assert_eq!(s.state()["resources"], serde_json::json!({}));
    assert_not_leaked(&s, &[&destroy], &[SECRET]);
}

/// Rewrites the state as a dtm of format version 1 wrote it: secrets as
/// `(secret hmac-sha256:HEX)`, no source.
fn downgrade_state(s: &Sandbox) {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(hmac) = map
                    .get("$secret")
                    .and_then(|x| x.get("hmac"))
                    .and_then(|h| h.as_str())
                {
                    *v = format!("(secret {hmac})").into();
                    return;
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut state = s.state();
    state["format_version"] = 1.into();
    strip(&mut state["resources"]);
    assert!(!state.to_string().contains("DTM_TEST_SECRET"));
    s.write("devstream.state", &state.to_string());
}

#[test]
fn a_state_from_before_sources_were_recorded_plans_unchanged_and_gains_them_on_apply() {
    let s = applied();
    downgrade_state(&s);
    // Read as it is: nothing to change.
    dtm(&s, &["verify"], Some(SECRET)).expect(0);
    assert_eq!(s.state()["format_version"], 1);
    // `apply` records where the secrets come from, without calling the plugin.
    let apply = dtm(&s, &["apply", "-y"], Some(SECRET)).expect(0);
    let state = s.state();
    assert_eq!(state["format_version"], 2);
    assert_eq!(
        state["resources"]["exec.tok"]["options"]["options"]["token"]["$secret"]["env"],
        "DTM_TEST_SECRET",
        "{state:#}"
    );
    dtm(&s, &["verify"], Some(SECRET)).expect(0);
    // …so the tool can now be deleted once removed from the config.
    s.write("config.yaml", WITHOUT);
    let delete = dtm(&s, &["apply", "-y"], Some(SECRET)).expect(0);
    assert!(s.path("deleted.marker").exists(), "{}", delete.all());
    assert_not_leaked(&s, &[&apply, &delete], &[SECRET]);
}

#[test]
fn an_old_record_removed_before_it_gained_sources_gets_hashes_and_says_so() {
    let s = applied();
    downgrade_state(&s);
    s.write("config.yaml", WITHOUT);
    let apply = dtm(&s, &["apply", "-y"], Some(SECRET)).expect(1);
    let out = apply.all();
    assert!(
        out.contains("option `options.token` is a secret recorded by an older dtm"),
        "{out}"
    );
    assert!(out.contains("delete got the wrong token"), "{out}");
    assert!(!s.path("deleted.marker").exists());
    assert!(s.state()["resources"].get("exec.tok").is_some());
}
