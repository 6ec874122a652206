//! Conformance story of the devlake-config plugin through the real binary: create, read
//! (verify), no-op plan, drift by hand (an edited and a deleted connection) repaired by apply,
//! an option change that updates, adds and removes connections, delete, delete again. Against
//! a loopback stand-in for DevLake's connection API (`devlake_support`).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;
use crate::devlake_support;

use common::{Run, Sandbox};
use devlake_support::DevLakeStandIn;

const GITHUB_TOKEN: &str = "ghp_devlake_standin_0123456789";
const JIRA_PASSWORD: &str = "jira-standin-password";
const API_KEY: &str = "devlake-standin-api-key";

fn run(s: &Sandbox, args: &[&str]) -> Run {
    Run(s
        .cmd(args)
        .env("GITHUB_TOKEN", GITHUB_TOKEN)
        .env("JIRA_PASSWORD", JIRA_PASSWORD)
        .env("DEVLAKE_API_KEY", API_KEY)
        .output()
        .unwrap())
}

/// DevStream's sample shape; `second` swaps Jira for GitLab and changes GitHub's rate limit.
fn config(addr: &str, second: bool) -> String {
    let description = if second {
        "Team one's services"
    } else {
        "Team one"
    };
    let (rate, other) = if second {
        (
            5000,
            r#"    - name: gitlab
      connections:
      - name: company
        endpoint: https://gitlab.example.com/api/v4/
        token: [[ env "GITHUB_TOKEN" ]]
"#,
        )
    } else {
        (
            0,
            r#"    - name: jira
      connections:
      - name: default
        endpoint: https://team.atlassian.example/rest/
        auth:
          username: robot
          password: [[ env "JIRA_PASSWORD" ]]
"#,
        )
    };
    format!(
        r#"tools:
- name: devlake-config
  instanceID: default
  options:
    devlakeAddr: {addr}
    apiKey: [[ env "DEVLAKE_API_KEY" ]]
    projects:
    - name: team one
      description: {description}
    plugins:
    - name: github
      connections:
      - name: default
        endpoint: https://api.github.com/
        proxy: ""
        rateLimitPerHour: {rate}
        auth:
          token: [[ env "GITHUB_TOKEN" ]]
{other}"#
    )
}

#[track_caller]
fn verify(s: &Sandbox, code: i32) -> Run {
    run(s, &["verify", "-f", "dtm.yaml"]).expect(code)
}

#[test]
fn devlake_config_story_against_a_devlake_stand_in() {
    let s = Sandbox::new();
    let lake = DevLakeStandIn::start(Some(API_KEY));
    s.write("dtm.yaml", &config(&lake.url(), false));

    // create
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let github = lake.connections("github");
    assert_eq!(github["default"]["token"], GITHUB_TOKEN);
    assert_eq!(github["default"]["authMethod"], "AccessToken");
    assert_eq!(github["default"]["endpoint"], "https://api.github.com/");
    let jira = lake.connections("jira");
    assert_eq!(jira["default"]["username"], "robot");
    assert_eq!(jira["default"]["password"], JIRA_PASSWORD);
    assert_eq!(jira["default"]["authMethod"], "BasicAuth");
    let state = s.read("devstream.state");
    for secret in [GITHUB_TOKEN, JIRA_PASSWORD, API_KEY] {
        assert!(!state.contains(secret), "no secret reaches state");
    }
    let projects = lake.projects();
    assert_eq!(projects["team one"]["description"], "Team one");
    assert_eq!(
        projects["team one"]["metrics"],
        serde_json::json!([{"pluginName": "dora", "enable": true}])
    );
    let outputs = &s.state()["resources"]["devlake-config.default"]["outputs"];
    assert_eq!(outputs["connectionIds"]["github/default"], 1);

    // read + no-op plan (DevLake's timestamps move on every request; they are not drift)
    verify(&s, 0);
    let plan = run(&s, &["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("No changes"), "{}", plan.all());

    // drift by hand: an endpoint changed in DevLake's UI
    lake.edit(
        "jira",
        "default",
        "endpoint",
        "https://elsewhere.example/".into(),
    );
    let drift = verify(&s, 2);
    assert!(drift.all().contains("elsewhere.example"), "{}", drift.all());
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(
        lake.connections("jira")["default"]["endpoint"],
        "https://team.atlassian.example/rest/"
    );
    verify(&s, 0);

    // drift by hand: the project's DORA metrics turned off
    lake.edit_project(
        "team one",
        "metrics",
        serde_json::json!([{"pluginName": "dora", "enable": false}]),
    );
    let drift = verify(&s, 2);
    assert!(drift.all().contains("dora"), "{}", drift.all());
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(lake.projects()["team one"]["metrics"][0]["enable"], true);
    verify(&s, 0);

    // drift by hand: a connection deleted; apply makes it again
    lake.remove("github", "default");
    verify(&s, 2);
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(lake.connections("github").contains_key("default"));
    verify(&s, 0);

    // option change → update: GitHub's rate limit, Jira's connection out, GitLab's in
    s.write("dtm.yaml", &config(&lake.url(), true));
    let plan = run(&s, &["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("1 to update"), "{}", plan.all());
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(
        lake.connections("github")["default"]["rateLimitPerHour"],
        5000
    );
    assert!(lake.connections("jira").is_empty());
    assert_eq!(lake.connections("gitlab")["company"]["token"], GITHUB_TOKEN);
    assert_eq!(
        lake.projects()["team one"]["description"],
        "Team one's services"
    );
    verify(&s, 0);

    // a connection a DevLake project uses cannot go: the error says why and what to do
    lake.reference("gitlab", "company", true);
    let out = run(&s, &["delete", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(out.all().contains("409"), "{}", out.all());
    assert!(
        out.all().contains("blueprint/project references"),
        "{}",
        out.all()
    );
    assert!(
        out.all()
            .contains("remove the connection from the DevLake projects"),
        "{}",
        out.all()
    );
    lake.reference("gitlab", "company", false);

    // delete, and again
    run(&s, &["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(lake.connections("github").is_empty());
    assert!(lake.connections("gitlab").is_empty());
    assert!(lake.projects().is_empty());
    run(&s, &["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.state()["resources"], serde_json::json!({}));
}

#[test]
fn devlake_errors_name_the_url_and_what_to_do() {
    let s = Sandbox::new();
    let lake = DevLakeStandIn::start(Some("another-key"));
    s.write("dtm.yaml", &config(&lake.url(), false));
    let out = run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(out.all().contains("401"), "{}", out.all());
    assert!(out.all().contains("apiKey"), "{}", out.all());
    assert!(!out.all().contains(API_KEY));

    let lake = DevLakeStandIn::start(None);
    let text = config(&lake.url(), false).replace("- name: jira", "- name: nosuchplugin");
    s.write("dtm.yaml", &text);
    let out = run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(
        out.all().contains("DevLake has no plugin `nosuchplugin`"),
        "{}",
        out.all()
    );
    assert!(
        out.all()
            .contains(&format!("{}/plugins/nosuchplugin/connections", lake.url()))
    );
}
