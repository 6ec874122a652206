#![allow(clippy::unwrap_used, reason = "tests")]

use dtm_plugin_sdk::testing::{TestHost, call, request};
use dtm_plugin_sdk::{Operation, Response};
use serde_json::json;

use super::*;

#[test]
fn the_body_takes_devstreams_auth_and_names_the_auth_method() {
    let c: options::Connection = serde_json::from_value(json!({
        "name": "default",
        "endpoint": "https://changeme.atlassian.net",
        "proxy": "",
        "rateLimitPerHour": 0,
        "auth": {"username": "me", "password": "secret"},
        "extra": {"enableGraphql": false},
    }))
    .unwrap();
    let body = c.body();
    assert_eq!(body["username"], "me");
    assert_eq!(body["password"], "secret");
    assert_eq!(body["authMethod"], "BasicAuth");
    assert_eq!(body["enableGraphql"], false);
    assert!(body.get("token").is_none());
    // DevLake's own spelling, on the connection.
    let c: options::Connection = serde_json::from_value(json!({
        "name": "gh", "endpoint": "https://api.github.com/", "token": "t1,t2",
    }))
    .unwrap();
    assert_eq!(c.body()["authMethod"], "AccessToken");
    assert_eq!(c.body()["token"], "t1,t2");
}

#[test]
fn devstreams_sample_validates_and_mistakes_are_named() {
    let host = TestHost::new();
    let sample = json!({
        "devlakeAddr": "http://127.0.0.1:1234",
        "plugins": [
            {"name": "github", "connections": [{"name": "default", "endpoint": "https://github.com/changeme/changeme", "proxy": "", "rateLimitPerHour": 0, "auth": {"token": "xxx"}}]},
            {"name": "jira", "connections": [{"name": "default", "endpoint": "https://changeme.atlassian.net", "auth": {"username": "changeme", "password": "changeme"}}]},
        ],
    });
    let response = call(
        &DevLakeConfig,
        &host,
        &request(Operation::Validate, "devlake-config.x", sample),
    );
    assert!(matches!(response, Response::Done { .. }), "{response:?}");
    let bad = json!({
        "devlakeAddr": "127.0.0.1:1234",
        "plugins": [{"name": "github", "connections": [
            {"name": "a", "endpoint": "api.github.com"},
            {"name": "a", "endpoint": "https://api.github.com/", "authMethod": "Magic"},
        ]}],
    });
    let response = call(
        &DevLakeConfig,
        &host,
        &request(Operation::Validate, "devlake-config.x", bad),
    );
    let Response::Invalid { problems } = response else {
        panic!("{response:?}")
    };
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for p in [
        "/devlakeAddr",
        "/plugins/0/connections/0/endpoint",
        "/plugins/0/connections/1/name",
        "/plugins/0/connections/1/authMethod",
    ] {
        assert!(paths.contains(&p), "{p}: {problems:?}");
    }
}

#[test]
fn the_status_keeps_neither_secrets_nor_timestamps() {
    let live = json!({"id": 3, "name": "n", "endpoint": "e", "proxy": "", "rateLimitPerHour": 0,
        "token": "ghp_****", "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-02T00:00:00Z"});
    let s = shown(&live);
    assert!(
        s.get("token").is_none() && s.get("updatedAt").is_none(),
        "{s}"
    );
    assert_eq!(s["id"], 3);
}
