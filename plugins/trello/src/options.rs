//! The `trello` plugin's options: DevStream's `board` and `scm`, plus `board.apiURL`.

use dtm_git_support::scm::{Repo, RepoInfo};
use dtm_plugin_sdk::prelude::*;

use crate::client::DEFAULT_API_URL;

/// Options of a `trello` tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The GitHub repository whose issues become cards (it must exist): the keys of
    /// repo-scaffolding's `destinationRepo` (`url`, or `owner`/`org`, `name`, `scmType`, `token`,
    /// `branch`, ...). The token must be allowed to write the repository's Actions secrets.
    #[schemars(example = serde_json::json!({
        "owner": "my-org",
        "name": "my-service",
        "scmType": "github",
        "branch": "main"
    }))]
    pub scm: RepoInfo,
    /// The Trello board.
    pub board: Board,
}

/// DevStream's `board:`.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Name of the board (default: `OWNER/NAME` of the repository).
    #[serde(default)]
    #[schemars(example = "my-service")]
    pub name: Option<String>,
    /// Description of the board (default: DevStream's, `Description is managed by DevStream,
    /// please don't modify. OWNER/NAME`, so that boards DevStream made are found again).
    #[serde(default)]
    pub description: Option<String>,
    /// Trello API key (https://trello.com/app-key); usually `[[ env "TRELLO_API_KEY" ]]`.
    #[serde(rename = "apiKey")]
    #[schemars(example = "your-trello-api-key")]
    pub api_key: String,
    /// Trello token with read and write access; usually `[[ env "TRELLO_TOKEN" ]]`.
    #[schemars(example = "your-trello-token")]
    pub token: String,
    /// dtm: base URL of Trello's REST API (default `https://api.trello.com/1`).
    #[serde(default, rename = "apiURL", alias = "apiUrl")]
    pub api_url: Option<String>,
}

/// DevStream's default description for the board of `owner/name`.
pub(crate) fn default_description(full_name: &str) -> String {
    format!("Description is managed by DevStream, please don't modify. {full_name}")
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Options {
    /// What the types cannot check.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = self.scm.problems("/scm");
        let mut problem = |path: &str, message: &str| {
            problems.push(Problem {
                path: path.into(),
                message: message.into(),
            });
        };
        if self.board.api_key.trim().is_empty() {
            problem(
                "/board/apiKey",
                "the Trello API key is empty; get one at https://trello.com/app-key",
            );
        }
        if self.board.token.trim().is_empty() {
            problem(
                "/board/token",
                "the Trello token is empty; make one at https://trello.com/app-key",
            );
        }
        if let Some(url) = given(&self.board.api_url)
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            problem(
                "/board/apiURL",
                "expected an http(s) URL such as https://api.trello.com/1",
            );
        }
        problems
    }

    /// The board's name and description, with DevStream's defaults from the repository.
    pub fn board_identity(&self, repo: &Repo) -> (String, String) {
        let full = repo.full_name();
        let name = given(&self.board.name).map_or_else(|| full.clone(), str::to_string);
        let description = given(&self.board.description)
            .map_or_else(|| default_description(&full), str::to_string);
        (name, description)
    }

    /// The API base URL.
    pub fn api_url(&self) -> &str {
        given(&self.board.api_url).unwrap_or(DEFAULT_API_URL)
    }
}
