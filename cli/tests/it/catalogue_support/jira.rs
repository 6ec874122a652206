//! A loopback stand-in for the part of Jira's REST API (version 2) the `jira` plugin calls:
//! basic authentication with the user's email address and API token (401 with Jira's text
//! otherwise), `GET /rest/api/2/myself` and `GET /rest/api/2/project/{key}` (keys matched
//! whatever their case, 404 with `errorMessages` for unknown ones), in Jira Cloud's shapes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::http::{Response, Server, base64_encode};

#[derive(Debug, Default)]
struct World {
    /// Upper-case key → (id, name, issue types).
    projects: BTreeMap<String, (String, String, Vec<String>)>,
    locale: String,
    log: Vec<String>,
}

pub(crate) struct JiraStandIn {
    world: Arc<Mutex<World>>,
    server: Server,
}

impl JiraStandIn {
    /// Accepts `email` with API token `token`.
    pub(crate) fn start(email: &str, token: &str) -> JiraStandIn {
        let world = Arc::new(Mutex::new(World {
            locale: "en_US".into(),
            ..World::default()
        }));
        let w = world.clone();
        let expected = format!(
            "Basic {}",
            base64_encode(format!("{email}:{token}").as_bytes())
        );
        let email = email.to_string();
        let server = Server::start(move |req| {
            let mut world = w.lock().unwrap();
            let authorized = req.header("authorization") == Some(expected.as_str());
            world.log.push(format!(
                "{} {} {}",
                req.method,
                req.path,
                if authorized { "auth" } else { "none" }
            ));
            if !authorized {
                return Response::text(
                    401,
                    "Client must be authenticated to access this resource.",
                );
            }
            let Some(seg) = req.segments("/rest/api/2") else {
                return Response::json(404, json!({"errorMessages": ["Not found"], "errors": {}}));
            };
            let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
            match (req.method.as_str(), seg.as_slice()) {
                ("GET", ["myself"]) => Response::json(
                    200,
                    json!({
                        "accountId": "5b10ac8d82e05b22cc7d4ef5",
                        "emailAddress": email,
                        "displayName": "Stand-in User",
                        "active": true,
                        "locale": world.locale,
                    }),
                ),
                ("GET", ["project", key]) => match world.projects.get(&key.to_uppercase()) {
                    Some((id, name, types)) => {
                        Response::json(200, project_json(key, id, name, types))
                    }
                    None => Response::json(
                        404,
                        json!({"errorMessages": [format!("No project could be found with key '{key}'.")], "errors": {}}),
                    ),
                },
                _ => Response::json(404, json!({"errorMessages": ["Not found"], "errors": {}})),
            }
        });
        JiraStandIn { world, server }
    }

    /// The `jira.baseURL` to configure.
    pub(crate) fn base_url(&self) -> String {
        self.server.url()
    }

    pub(crate) fn add_project(&self, key: &str, name: &str) {
        let mut w = self.world.lock().unwrap();
        let id = format!("{}", 10000 + w.projects.len());
        let types = ["Epic", "Story", "Task", "Bug", "Subtask"]
            .map(String::from)
            .to_vec();
        w.projects
            .insert(key.to_uppercase(), (id, name.to_string(), types));
    }

    pub(crate) fn remove_project(&self, key: &str) {
        self.world
            .lock()
            .unwrap()
            .projects
            .remove(&key.to_uppercase());
    }

    pub(crate) fn log(&self) -> Vec<String> {
        self.world.lock().unwrap().log.clone()
    }
}

fn project_json(key: &str, id: &str, name: &str, types: &[String]) -> Value {
    json!({
        "id": id,
        "key": key.to_uppercase(),
        "name": name,
        "projectTypeKey": "software",
        "simplified": false,
        "style": "classic",
        "issueTypes": types.iter().enumerate().map(|(i, t)| json!({
            "id": format!("{}", 10001 + i),
            "name": t,
            "subtask": t == "Subtask",
        })).collect::<Vec<_>>(),
    })
}
