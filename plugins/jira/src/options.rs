//! The `jira` plugin's options: DevStream's `scm` and `jira`.

use dtm_git_support::scm::RepoInfo;
use dtm_plugin_sdk::prelude::*;

/// Options of a `jira` tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The GitHub repository whose issues go to Jira (it must exist): the keys of
    /// repo-scaffolding's `destinationRepo` (`url`, or `owner`/`org`, `name`, `scmType`, `token`,
    /// `branch`, ...). The token becomes the workflow's `GH_TOKEN` secret, so it must be allowed
    /// to write the repository's issues and Actions secrets.
    #[schemars(example = serde_json::json!({
        "owner": "my-org",
        "name": "my-service",
        "scmType": "github",
        "branch": "main"
    }))]
    pub scm: RepoInfo,
    /// The Jira project the issues go to.
    pub jira: Jira,
}

/// DevStream's `jira:`.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Jira {
    /// Address of the Jira site, e.g. `https://my-team.atlassian.net`.
    #[serde(rename = "baseURL", alias = "baseUrl")]
    #[schemars(example = "https://my-team.atlassian.net")]
    pub base_url: String,
    /// The Jira user the workflow acts as: the account's email address on Jira Cloud (a user
    /// name on Jira Server and Data Center). It is written into the workflow file.
    #[serde(rename = "userEmail")]
    #[schemars(example = "me@example.com")]
    pub user_email: String,
    /// Key of the Jira project (it must exist), e.g. `HEAP` in
    /// `https://my-team.atlassian.net/jira/software/projects/HEAP`.
    #[serde(rename = "projectKey")]
    #[schemars(example = &"HEAP")]
    pub project_key: String,
    /// API token of that user (https://id.atlassian.com/manage-profile/security/api-tokens);
    /// usually `[[ env "JIRA_TOKEN" ]]`. It becomes the workflow's `JIRA_API_TOKEN` secret.
    #[schemars(example = "your-jira-api-token")]
    pub token: String,
}

impl Jira {
    /// The site's address without a trailing `/`.
    pub fn base(&self) -> &str {
        self.base_url.trim().trim_end_matches('/')
    }

    /// The project key as given, trimmed.
    pub fn key(&self) -> &str {
        self.project_key.trim()
    }
}

impl Options {
    /// What the types cannot check.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = self.scm.problems("/scm");
        let mut problem = |path: &str, message: String| {
            problems.push(Problem {
                path: path.into(),
                message,
            });
        };
        let jira = &self.jira;
        let base = jira.base();
        if !(base.starts_with("https://") || base.starts_with("http://")) || base.len() < 10 {
            problem(
                "/jira/baseURL",
                format!(
                    "`{base}` is not the address of a Jira site; expected e.g. https://my-team.atlassian.net"
                ),
            );
        }
        if jira.user_email.trim().is_empty() {
            problem(
                "/jira/userEmail",
                "empty; give the email address (Jira Cloud) or user name of the Jira user".into(),
            );
        }
        let key = jira.key();
        let key_ok = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !key_ok {
            problem(
                "/jira/projectKey",
                format!(
                    "`{key}` is not a Jira project key; expected letters, digits and `_`, starting with a letter, e.g. HEAP"
                ),
            );
        }
        if jira.token.trim().is_empty() {
            problem(
                "/jira/token",
                "the Jira API token is empty; make one at https://id.atlassian.com/manage-profile/security/api-tokens".into(),
            );
        }
        problems
    }
}
