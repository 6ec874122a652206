//! A loopback stand-in for the part of Trello's REST API (`/1/...`) the `trello` plugin calls,
//! with the documented request and answer shapes: credentials as the `key` and `token` query
//! parameters (401 `invalid key` / `invalid token` otherwise), parameters in the query string,
//! 24-hex-digit ids (400 `invalid id` for others, 404 for unknown ones, as text), boards made
//! with Trello's default lists (To Do, Doing, Done) and six colour labels unless
//! `defaultLists`/`defaultLabels` say `false`, `filter=open` and `fields=` honoured.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use super::http::{Request, Response, Server};

#[derive(Debug, Clone)]
pub(crate) struct Board {
    pub name: String,
    pub desc: String,
    pub closed: bool,
    pub permission: String,
}

#[derive(Debug, Clone)]
pub(crate) struct List {
    pub board: String,
    pub name: String,
    pub closed: bool,
    pub pos: f64,
}

#[derive(Debug, Default)]
struct World {
    next: u64,
    boards: BTreeMap<String, Board>,
    lists: BTreeMap<String, List>,
    /// Board id → label colours.
    labels: BTreeMap<String, Vec<String>>,
    log: Vec<String>,
}

impl World {
    fn id(&mut self) -> String {
        self.next += 1;
        format!("5f00aa00bb00cc00{:08x}", self.next)
    }
}

pub(crate) struct TrelloStandIn {
    world: Arc<Mutex<World>>,
    server: Server,
}

const NOT_FOUND: &str = "The requested resource was not found.";

impl TrelloStandIn {
    /// Accepts the API key `key` with `token`.
    pub(crate) fn start(key: &str, token: &str) -> TrelloStandIn {
        let world = Arc::new(Mutex::new(World::default()));
        let w = world.clone();
        let (key, token) = (key.to_string(), token.to_string());
        let server = Server::start(move |req| {
            let mut world = w.lock().unwrap();
            let auth = match (req.param("key"), req.param("token")) {
                (Some(k), Some(t)) if k == key && t == token => "auth",
                _ => "none",
            };
            world
                .log
                .push(format!("{} {} {auth}", req.method, req.path));
            match (req.param("key"), req.param("token")) {
                (Some(k), _) if k != key => Response::text(401, "invalid key"),
                (None, _) => Response::text(401, "invalid key"),
                (_, Some(t)) if t == token => route(&mut world, req),
                _ => Response::text(401, "invalid token"),
            }
        });
        TrelloStandIn { world, server }
    }

    /// The `board.apiURL` to configure.
    pub(crate) fn api_url(&self) -> String {
        format!("{}/1", self.server.url())
    }

    /// `METHOD PATH auth|none` of each request (the query, with the credentials, left out).
    pub(crate) fn log(&self) -> Vec<String> {
        self.world.lock().unwrap().log.clone()
    }

    pub(crate) fn boards(&self) -> Vec<(String, Board)> {
        let w = self.world.lock().unwrap();
        w.boards
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Open lists of `board`, in board order.
    pub(crate) fn open_lists(&self, board: &str) -> Vec<(String, List)> {
        let w = self.world.lock().unwrap();
        let mut lists: Vec<(String, List)> = w
            .lists
            .iter()
            .filter(|(_, l)| l.board == board && !l.closed)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        lists.sort_by(|a, b| a.1.pos.total_cmp(&b.1.pos));
        lists
    }

    pub(crate) fn labels(&self, board: &str) -> Vec<String> {
        let w = self.world.lock().unwrap();
        w.labels.get(board).cloned().unwrap_or_default()
    }

    /// Archives (closes) the open list named `name` on `board`, as a person would.
    pub(crate) fn archive_list(&self, board: &str, name: &str) {
        let mut w = self.world.lock().unwrap();
        let list = w
            .lists
            .values_mut()
            .find(|l| l.board == board && l.name == name && !l.closed)
            .unwrap();
        list.closed = true;
    }

    /// Deletes `board` and its lists, as a person would.
    pub(crate) fn delete_board(&self, board: &str) {
        let mut w = self.world.lock().unwrap();
        w.boards.remove(board).unwrap();
        w.lists.retain(|_, l| l.board != board);
    }

    /// Renames `board`, as a person would.
    pub(crate) fn rename_board(&self, board: &str, name: &str) {
        let mut w = self.world.lock().unwrap();
        w.boards.get_mut(board).unwrap().name = name.to_string();
    }
}

fn valid_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn board_json(id: &str, b: &Board) -> Value {
    json!({
        "id": id,
        "name": b.name,
        "desc": b.desc,
        "closed": b.closed,
        "idOrganization": null,
        "url": format!("https://trello.example/b/{}/{}", &id[16..], b.name.to_lowercase().replace([' ', '/'], "-")),
        "shortUrl": format!("https://trello.example/b/{}", &id[16..]),
        "prefs": {"permissionLevel": b.permission},
    })
}

fn list_json(id: &str, l: &List) -> Value {
    json!({"id": id, "name": l.name, "closed": l.closed, "pos": l.pos, "idBoard": l.board})
}

/// Keeps `id` and the `fields` asked for (all when not asked).
fn fields(req: &Request, value: Value) -> Value {
    let Some(wanted) = req.param("fields").filter(|f| *f != "all") else {
        return value;
    };
    let mut out = Map::new();
    for (k, v) in value.as_object().cloned().unwrap_or_default() {
        if k == "id" || wanted.split(',').any(|f| f == k) {
            out.insert(k, v);
        }
    }
    Value::Object(out)
}

fn truthy(req: &Request, name: &str, default: bool) -> bool {
    req.param(name).map_or(default, |v| v == "true")
}

fn route(w: &mut World, req: &Request) -> Response {
    let Some(seg) = req.segments("/1") else {
        return Response::text(404, NOT_FOUND);
    };
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    match (req.method.as_str(), seg.as_slice()) {
        ("GET", ["members", "me", "boards"]) => {
            let open_only = req.param("filter") == Some("open");
            let boards: Vec<Value> = w
                .boards
                .iter()
                .filter(|(_, b)| !open_only || !b.closed)
                .map(|(id, b)| fields(req, board_json(id, b)))
                .collect();
            Response::json(200, Value::Array(boards))
        }
        ("POST", ["boards"]) => create_board(w, req),
        (_, ["boards", id, ..]) | (_, ["lists", id, ..]) if !valid_id(id) => {
            Response::text(400, "invalid id")
        }
        ("GET", ["boards", id]) => match w.boards.get(*id) {
            Some(b) => Response::json(200, fields(req, board_json(id, b))),
            None => Response::text(404, NOT_FOUND),
        },
        ("PUT", ["boards", id]) => {
            let Some(b) = w.boards.get_mut(*id) else {
                return Response::text(404, NOT_FOUND);
            };
            if let Some(name) = req.param("name") {
                b.name = name.to_string();
            }
            if let Some(desc) = req.param("desc") {
                b.desc = desc.to_string();
            }
            if let Some(closed) = req.param("closed") {
                b.closed = closed == "true";
            }
            Response::json(200, board_json(id, b))
        }
        ("DELETE", ["boards", id]) => {
            if w.boards.remove(*id).is_none() {
                return Response::text(404, NOT_FOUND);
            }
            w.lists.retain(|_, l| l.board != *id);
            w.labels.remove(*id);
            Response::json(200, json!({"_value": null}))
        }
        ("GET", ["boards", id, "lists"]) => {
            if !w.boards.contains_key(*id) {
                return Response::text(404, NOT_FOUND);
            }
            let open_only = req.param("filter").is_none_or(|f| f == "open");
            let mut lists: Vec<(&String, &List)> = w
                .lists
                .iter()
                .filter(|(_, l)| l.board == *id && (!open_only || !l.closed))
                .collect();
            lists.sort_by(|a, b| a.1.pos.total_cmp(&b.1.pos));
            let lists = lists.iter().map(|(i, l)| fields(req, list_json(i, l)));
            Response::json(200, Value::Array(lists.collect()))
        }
        ("POST", ["lists"]) => create_list(w, req),
        ("PUT", ["lists", id]) => {
            let Some(l) = w.lists.get_mut(*id) else {
                return Response::text(404, NOT_FOUND);
            };
            if let Some(name) = req.param("name") {
                l.name = name.to_string();
            }
            if let Some(closed) = req.param("closed") {
                l.closed = closed == "true";
            }
            Response::json(200, list_json(id, l))
        }
        _ => Response::text(404, NOT_FOUND),
    }
}

fn create_board(w: &mut World, req: &Request) -> Response {
    let Some(name) = req.param("name").filter(|n| !n.is_empty()) else {
        return Response::text(400, "invalid value for name");
    };
    let id = w.id();
    let board = Board {
        name: name.to_string(),
        desc: req.param("desc").unwrap_or_default().to_string(),
        closed: false,
        permission: req
            .param("prefs_permissionLevel")
            .unwrap_or("private")
            .to_string(),
    };
    if truthy(req, "defaultLists", true) {
        for (i, list) in ["To Do", "Doing", "Done"].into_iter().enumerate() {
            let list_id = w.id();
            let pos = 16384.0 * (i as f64 + 1.0);
            w.lists.insert(
                list_id,
                List {
                    board: id.clone(),
                    name: list.into(),
                    closed: false,
                    pos,
                },
            );
        }
    }
    if truthy(req, "defaultLabels", true) {
        let colours = ["green", "yellow", "orange", "red", "purple", "blue"];
        w.labels
            .insert(id.clone(), colours.iter().map(|c| c.to_string()).collect());
    }
    let answer = board_json(&id, &board);
    w.boards.insert(id, board);
    Response::json(200, answer)
}

fn create_list(w: &mut World, req: &Request) -> Response {
    let (Some(name), Some(board)) = (req.param("name"), req.param("idBoard")) else {
        return Response::text(400, "invalid value for idBoard");
    };
    if !w.boards.contains_key(board) {
        return Response::text(400, "invalid value for idBoard");
    }
    let positions: Vec<f64> = w
        .lists
        .values()
        .filter(|l| l.board == board && !l.closed)
        .map(|l| l.pos)
        .collect();
    let pos = match req.param("pos").unwrap_or("bottom") {
        "top" => {
            positions
                .iter()
                .copied()
                .fold(f64::MAX, f64::min)
                .min(65536.0)
                / 2.0
        }
        "bottom" => positions.iter().copied().fold(0.0, f64::max) + 16384.0,
        number => match number.parse::<f64>() {
            Ok(p) if p > 0.0 => p,
            _ => return Response::text(400, "invalid value for pos"),
        },
    };
    let list = List {
        board: board.to_string(),
        name: name.to_string(),
        closed: false,
        pos,
    };
    let id = w.id();
    let answer = list_json(&id, &list);
    w.lists.insert(id, list);
    Response::json(200, answer)
}
