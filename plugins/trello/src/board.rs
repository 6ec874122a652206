//! The Trello board and its three lists (To Do, Doing, Done), as DevStream's `trello` plugin
//! had them: a board made with Trello's default lists and labels, found again by its recorded
//! id (or, before dtm recorded one, by name and description as DevStream did).

use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

use crate::client::Trello;

/// The lists the workflow uses: status key and the name Trello gives its default lists.
pub(crate) const LISTS: [(&str, &str); 3] =
    [("todo", "To Do"), ("doing", "Doing"), ("done", "Done")];

/// Board fields asked for.
const BOARD_FIELDS: &str = "name,desc,closed,url";

/// A board as Trello reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Board {
    /// Trello's id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub desc: String,
    /// Whether it is closed (archived).
    pub closed: bool,
    /// Its web address.
    pub url: String,
}

/// A list as Trello reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct List {
    /// Trello's id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Position on the board.
    pub pos: f64,
}

/// A board and the lists that stand for To Do, Doing and Done (`None`: not there).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Live {
    /// The board.
    pub board: Board,
    /// One entry per [`LISTS`] item, in that order.
    pub lists: [Option<List>; 3],
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

fn board_of(value: &Value) -> Board {
    Board {
        id: text(value, "id"),
        name: text(value, "name"),
        desc: text(value, "desc"),
        closed: value["closed"].as_bool().unwrap_or(false),
        url: text(value, "url"),
    }
}

/// The board with `id`; `None` when Trello does not know it (404, or 400 "invalid id").
pub(crate) fn get(api: &Trello, ctx: &Ctx, id: &str) -> Result<Option<Board>, PluginError> {
    let path = format!("/boards/{id}");
    let answer = api.call(ctx, "GET", &path, &[("fields", BOARD_FIELDS)])?;
    match answer.status {
        200 => Ok(Some(board_of(&answer.body))),
        400 | 404 => Ok(None),
        _ => Err(api.unexpected("GET", &path, &answer)),
    }
}

/// An open board of the token's member with this name and description (DevStream's lookup).
pub(crate) fn find(
    api: &Trello,
    ctx: &Ctx,
    name: &str,
    desc: &str,
) -> Result<Option<Board>, PluginError> {
    let path = "/members/me/boards";
    let answer = api.call(
        ctx,
        "GET",
        path,
        &[("filter", "open"), ("fields", BOARD_FIELDS)],
    )?;
    if answer.status != 200 {
        return Err(api.unexpected("GET", path, &answer));
    }
    Ok(answer
        .body
        .as_array()
        .into_iter()
        .flatten()
        .map(board_of)
        .find(|b| !b.closed && b.name == name && b.desc == desc))
}

/// Creates a board with Trello's default lists and labels.
fn create(api: &Trello, ctx: &Ctx, name: &str, desc: &str) -> Result<Board, PluginError> {
    let path = "/boards/";
    let answer = api.call(
        ctx,
        "POST",
        path,
        &[
            ("name", name),
            ("desc", desc),
            ("defaultLists", "true"),
            ("defaultLabels", "true"),
            ("prefs_permissionLevel", "private"),
        ],
    )?;
    if answer.status != 200 {
        return Err(api.unexpected("POST", path, &answer));
    }
    let board = board_of(&answer.body);
    ctx.info(format!("created the Trello board `{name}` ({})", board.url));
    Ok(board)
}

/// The open lists of a board, in board order.
fn open_lists(api: &Trello, ctx: &Ctx, board: &str) -> Result<Vec<List>, PluginError> {
    let path = format!("/boards/{board}/lists");
    let answer = api.call(
        ctx,
        "GET",
        &path,
        &[("filter", "open"), ("fields", "name,pos,closed")],
    )?;
    if answer.status != 200 {
        return Err(api.unexpected("GET", &path, &answer));
    }
    let mut lists: Vec<List> = answer
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| !l["closed"].as_bool().unwrap_or(false))
        .map(|l| List {
            id: text(l, "id"),
            name: text(l, "name"),
            pos: l["pos"].as_f64().unwrap_or(0.0),
        })
        .collect();
    lists.sort_by(|a, b| a.pos.total_cmp(&b.pos));
    Ok(lists)
}

/// The recorded id of list `key` in a status.
fn recorded_list(status: &Value, key: &str) -> Option<String> {
    status["lists"][key]["id"].as_str().map(str::to_string)
}

/// Which open list stands for each of [`LISTS`]: the recorded one while it is open, else the
/// first unclaimed list with the usual name.
fn match_lists(open: &[List], status: &Value) -> [Option<List>; 3] {
    let mut taken: Vec<String> = Vec::new();
    let mut found: [Option<List>; 3] = [None, None, None];
    for (i, (key, _)) in LISTS.iter().enumerate() {
        if let Some(id) = recorded_list(status, key)
            && let Some(list) = open.iter().find(|l| l.id == id)
        {
            taken.push(list.id.clone());
            found[i] = Some(list.clone());
        }
    }
    for (i, (key, name)) in LISTS.iter().enumerate() {
        if found[i].is_some() || recorded_list(status, key).is_some() {
            continue;
        }
        if let Some(list) = open
            .iter()
            .find(|l| l.name == *name && !taken.contains(&l.id))
        {
            taken.push(list.id.clone());
            found[i] = Some(list.clone());
        }
    }
    found
}

/// The board the status recorded, else (nothing recorded) the one DevStream's lookup finds.
fn locate(
    api: &Trello,
    ctx: &Ctx,
    status: &Value,
    name: &str,
    desc: &str,
) -> Result<Option<Board>, PluginError> {
    match status["board"]["id"].as_str() {
        Some(id) => get(api, ctx, id),
        None => find(api, ctx, name, desc),
    }
}

/// The board and lists as they are; `None` when the board is gone.
pub(crate) fn read(
    api: &Trello,
    ctx: &Ctx,
    status: &Value,
    name: &str,
    desc: &str,
) -> Result<Option<Live>, PluginError> {
    let Some(board) = locate(api, ctx, status, name, desc)? else {
        return Ok(None);
    };
    let lists = match_lists(
        &open_lists(api, ctx, &board.id)?,
        same_board(status, &board),
    );
    Ok(Some(Live { board, lists }))
}

/// The recorded status when it is about `board`; `Null` for another board (a new one).
fn same_board<'a>(status: &'a Value, board: &Board) -> &'a Value {
    if status["board"]["id"].as_str() == Some(board.id.as_str()) {
        status
    } else {
        &Value::Null
    }
}

/// Makes the board what the options say: finds or creates it, reopens it, sets its name and
/// description, and gives it the three lists (created where missing, renamed where renamed).
pub(crate) fn ensure(
    api: &Trello,
    ctx: &Ctx,
    status: &Value,
    name: &str,
    desc: &str,
) -> Result<Live, PluginError> {
    let mut board = match locate(api, ctx, status, name, desc)? {
        Some(board) => board,
        None => create(api, ctx, name, desc)?,
    };
    if board.closed || board.name != name || board.desc != desc {
        let path = format!("/boards/{}", board.id);
        let params = [("closed", "false"), ("name", name), ("desc", desc)];
        let answer = api.call(ctx, "PUT", &path, &params)?;
        if answer.status != 200 {
            return Err(api.unexpected("PUT", &path, &answer));
        }
        ctx.info(format!(
            "set the name, description and open state of board {}",
            board.url
        ));
        board = Board {
            name: name.to_string(),
            desc: desc.to_string(),
            closed: false,
            ..board
        };
    }
    let open = open_lists(api, ctx, &board.id)?;
    let mut lists = match_lists(&open, same_board(status, &board));
    for i in 0..LISTS.len() {
        let wanted = LISTS[i].1;
        match &lists[i] {
            Some(list) if list.name == wanted => {}
            Some(list) => {
                let path = format!("/lists/{}", list.id);
                let answer = api.call(ctx, "PUT", &path, &[("name", wanted)])?;
                if answer.status != 200 {
                    return Err(api.unexpected("PUT", &path, &answer));
                }
                ctx.info(format!("renamed list `{}` back to `{wanted}`", list.name));
                lists[i] = Some(List {
                    name: wanted.to_string(),
                    ..list.clone()
                });
            }
            None => lists[i] = Some(create_list(api, ctx, &board, &lists, i)?),
        }
    }
    Ok(Live { board, lists })
}

/// Creates list `i` of [`LISTS`] between its neighbours.
fn create_list(
    api: &Trello,
    ctx: &Ctx,
    board: &Board,
    lists: &[Option<List>; 3],
    i: usize,
) -> Result<List, PluginError> {
    let before = lists[..i].iter().rev().flatten().next().map(|l| l.pos);
    let after = lists[i + 1..].iter().flatten().next().map(|l| l.pos);
    let pos = match (before, after) {
        (Some(a), Some(b)) => ((a + b) / 2.0).to_string(),
        (None, Some(_)) => "top".to_string(),
        _ => "bottom".to_string(),
    };
    let name = LISTS[i].1;
    let path = "/lists";
    let params = [
        ("name", name),
        ("idBoard", board.id.as_str()),
        ("pos", pos.as_str()),
    ];
    let answer = api.call(ctx, "POST", path, &params)?;
    if answer.status != 200 {
        return Err(api.unexpected("POST", path, &answer));
    }
    ctx.info(format!("created list `{name}` on board {}", board.url));
    Ok(List {
        id: text(&answer.body, "id"),
        name: name.to_string(),
        pos: answer.body["pos"].as_f64().unwrap_or_default(),
    })
}

/// Removes the board (Trello deletes it for good). One that is gone is fine.
pub(crate) fn delete(api: &Trello, ctx: &Ctx, board: &Board) -> Result<(), PluginError> {
    let path = format!("/boards/{}", board.id);
    let answer = api.call(ctx, "DELETE", &path, &[])?;
    match answer.status {
        200 => {
            ctx.info(format!("deleted the Trello board `{}`", board.name));
            Ok(())
        }
        400 | 404 => Ok(()),
        _ => Err(api.unexpected("DELETE", &path, &answer)),
    }
}

impl Live {
    /// The board's part of the status: ids and names, nothing that changes by itself.
    pub(crate) fn status(&self) -> Value {
        let mut lists = serde_json::Map::new();
        for ((key, _), list) in LISTS.iter().zip(&self.lists) {
            let value = list
                .as_ref()
                .map_or(Value::Null, |l| json!({"id": l.id, "name": l.name}));
            lists.insert((*key).to_string(), value);
        }
        json!({
            "board": {
                "id": self.board.id,
                "name": self.board.name,
                "description": self.board.desc,
                "closed": self.board.closed,
            },
            "lists": lists,
        })
    }

    /// The id of list `i` of [`LISTS`] ("" when missing).
    pub(crate) fn list_id(&self, i: usize) -> String {
        self.lists[i]
            .as_ref()
            .map(|l| l.id.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(id: &str, name: &str, pos: f64) -> List {
        List {
            id: id.into(),
            name: name.into(),
            pos,
        }
    }

    fn ids(found: &[Option<List>; 3]) -> Vec<Option<&str>> {
        found
            .iter()
            .map(|l| l.as_ref().map(|l| l.id.as_str()))
            .collect()
    }

    #[test]
    fn recorded_lists_win_and_names_find_the_rest() {
        let open = [
            list("a", "To Do", 1.0),
            list("b", "Renamed", 2.0),
            list("c", "Done", 3.0),
            list("d", "Doing", 4.0),
        ];
        let status = json!({"lists": {"doing": {"id": "b"}}});
        assert_eq!(
            ids(&match_lists(&open, &status)),
            [Some("a"), Some("b"), Some("c")]
        );
        // A recorded list that is gone stays missing: another one named alike is not it.
        let status = json!({"lists": {"doing": {"id": "gone"}}});
        assert_eq!(
            ids(&match_lists(&open, &status)),
            [Some("a"), None, Some("c")]
        );
        assert_eq!(
            ids(&match_lists(&open, &Value::Null)),
            [Some("a"), Some("d"), Some("c")]
        );
    }
}
