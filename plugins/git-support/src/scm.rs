//! DevStream's repository options (`destinationRepo`, `sourceRepo`, `scm`) and what they point
//! at: a plain git remote, a GitHub repository or a GitLab project.

use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};

use crate::cmd::GitEnv;
use crate::git::{Remote, is_local, local_path};
use crate::http::{Api, TokenStyle, base64, encode_segment};

/// A repository as DevStream's configs describe it (`scm:`, `destinationRepo:`, an app's
/// `repo:`). Give `url`, or `scmType` with `owner`/`org` and `name`.
///
/// `repo` and `repoType` are DevStream's older spellings of `name` and `scmType`: serde takes
/// them, and the schema names them (`x-aliases`) so that dtm brings them to these spellings
/// before it checks options against the schema.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("x-aliases" = {"repo": "name", "repoType": "scmType"}))]
pub struct RepoInfo {
    /// Owner (a user) of the repository. Give `owner` or `org`, not both.
    #[serde(default)]
    pub owner: Option<String>,
    /// Organization (GitHub) or group (GitLab) of the repository.
    #[serde(default)]
    pub org: Option<String>,
    /// Name of the repository.
    #[serde(default, alias = "repo")]
    pub name: Option<String>,
    /// Branch (default: `main`; `master` for GitLab, as in DevStream).
    #[serde(default)]
    #[schemars(example = &"main")]
    pub branch: Option<String>,
    /// `git` (any git URL or a local path), `github` or `gitlab`. Guessed from `url` when absent.
    #[serde(default, rename = "scmType", alias = "repoType")]
    #[schemars(pattern(r"^(git|github|gitlab)?$"))]
    pub scm_type: Option<String>,
    /// The repository's URL (`https://github.com/o/n`, `github.com/o/n`, `git@host:o/n.git`),
    /// or with `scmType: git` any git URL or a local path (relative to the config's directory).
    #[serde(default)]
    #[schemars(example = "https://github.com/my-org/my-service")]
    pub url: Option<String>,
    /// REST API base URL, e.g. `https://ghe.example.com/api/v3` (default: derived from
    /// `baseURL`, or the public service).
    #[serde(default, rename = "apiURL", alias = "apiUrl")]
    pub api_url: Option<String>,
    /// Base URL of a self-hosted GitLab or a GitHub Enterprise server, e.g.
    /// `https://gitlab.example.com`.
    #[serde(default, rename = "baseURL", alias = "baseUrl")]
    pub base_url: Option<String>,
    /// Access token for the API and for git over HTTPS; usually `[[ env "GITHUB_TOKEN" ]]`.
    #[serde(default)]
    pub token: Option<String>,
    /// Visibility of a repository dtm creates: `public`, `private` (default) or `internal`.
    #[serde(default)]
    #[schemars(pattern(r"^(public|private|internal)?$"))]
    pub visibility: Option<String>,
    /// GitLab namespace (group path) to create the project in; default `org` or `owner`.
    #[serde(default, rename = "nameSpace")]
    pub name_space: Option<String>,
    /// Accepted for DevStream compatibility; dtm uses the user's ssh agent and configuration.
    #[serde(default, rename = "sshPrivateKey")]
    pub ssh_private_key: Option<String>,
    /// Accepted for DevStream compatibility (dtm reads the token from `token`).
    #[serde(default, rename = "needAuth")]
    pub need_auth: Option<bool>,
    /// Accepted for DevStream compatibility; ignored.
    #[serde(default, rename = "workPath")]
    pub work_path: Option<String>,
    /// dtm: author and committer of dtm's commits, as `Name <email>` (default
    /// `dtm <dtm@localhost>`).
    #[serde(default, rename = "commitAuthor")]
    pub commit_author: Option<String>,
}

/// Which service holds the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScmKind {
    /// A plain git remote.
    Git,
    /// GitHub or GitHub Enterprise.
    GitHub,
    /// GitLab (gitlab.com or self-hosted).
    GitLab,
}

impl ScmKind {
    /// The `scmType` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ScmKind::Git => "git",
            ScmKind::GitHub => "github",
            ScmKind::GitLab => "gitlab",
        }
    }
}

/// A resolved repository.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The service.
    pub kind: ScmKind,
    /// Owner, organization or group ("" for a plain git remote without one).
    pub owner: String,
    /// Whether `owner` is an organization/group rather than the token's user.
    pub owner_is_org: bool,
    /// Repository name.
    pub name: String,
    /// Branch.
    pub branch: String,
    /// For `git`: the URL or absolute path. For GitHub/GitLab: the web URL.
    pub url: String,
    /// REST API base (GitHub/GitLab).
    pub api_base: Option<String>,
    /// Token, if any.
    pub token: Option<String>,
    /// Visibility for a repository dtm creates.
    pub visibility: String,
    /// GitLab namespace for a project dtm creates.
    pub namespace: String,
    /// Environment for git commands.
    pub env: GitEnv,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `(owner, name)` from the path of a URL (`https://h/o/n.git`, `git@h:o/n.git`, `/x/o/n.git`).
fn owner_and_name(url: &str) -> (String, String) {
    let path = match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            rest.find('/').map_or("", |p| &rest[p..])
        }
        None => match url.find(':') {
            Some(c) if !url[..c].contains('/') => &url[c + 1..],
            _ => url,
        },
    };
    let parts: Vec<&str> = path
        .trim_end_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let name = parts
        .last()
        .map(|n| n.trim_end_matches(".git").to_string())
        .unwrap_or_default();
    let owner = if parts.len() >= 2 {
        parts[..parts.len() - 1].join("/")
    } else {
        String::new()
    };
    (owner, name)
}

/// `scheme://host` of a URL.
fn origin(url: &str) -> Option<String> {
    let i = url.find("://")?;
    let rest = &url[i + 3..];
    let host = rest.split('/').next()?;
    let host = host.rsplit('@').next().unwrap_or(host);
    Some(format!("{}://{host}", &url[..i]))
}

fn parse_author(text: &str) -> Option<(String, String)> {
    let (name, rest) = text.split_once('<')?;
    let email = rest.strip_suffix('>')?;
    Some((name.trim().to_string(), email.trim().to_string()))
}

impl RepoInfo {
    /// Checks what the types cannot; `at` is the JSON pointer of this value in the options.
    pub fn problems(&self, at: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(Problem {
                path: format!("{at}/{key}"),
                message,
            });
        };
        if nonempty(&self.owner).is_some() && nonempty(&self.org).is_some() {
            problem("org", "give `owner` or `org`, not both".into());
        }
        if let Some(kind) = nonempty(&self.scm_type)
            && !matches!(kind.as_str(), "git" | "github" | "gitlab")
        {
            problem(
                "scmType",
                format!("unknown scmType `{kind}`; expected one of: git, github, gitlab"),
            );
        }
        if let Some(v) = nonempty(&self.visibility)
            && !matches!(v.as_str(), "public" | "private" | "internal")
        {
            problem(
                "visibility",
                format!("unknown visibility `{v}`; expected one of: public, private, internal"),
            );
        }
        if let Some(author) = nonempty(&self.commit_author)
            && parse_author(&author).is_none()
        {
            problem(
                "commitAuthor",
                format!("`{author}` is not of the form `Name <email>`"),
            );
        }
        if nonempty(&self.url).is_none() && nonempty(&self.name).is_none() {
            problem(
                "url",
                "give `url`, or `name` with `owner`/`org` and `scmType`".into(),
            );
        }
        let kind = nonempty(&self.scm_type);
        if kind.as_deref() == Some("git") && nonempty(&self.url).is_none() {
            problem(
                "url",
                "`scmType: git` needs `url`: a git URL or a local path".into(),
            );
        }
        if nonempty(&self.url).is_none() && kind.is_none() && nonempty(&self.name).is_some() {
            problem(
                "scmType",
                "without `url`, say where the repository is: `scmType: github` or `gitlab`".into(),
            );
        }
        if nonempty(&self.url).is_none()
            && matches!(kind.as_deref(), Some("github" | "gitlab"))
            && nonempty(&self.owner).is_none()
            && nonempty(&self.org).is_none()
        {
            problem("owner", "give `owner` or `org`".into());
        }
        problems
    }

    /// Resolves the options; relative local paths are resolved with `resolve`.
    pub fn resolve(
        &self,
        resolve: impl Fn(&str) -> std::path::PathBuf,
    ) -> Result<Repo, PluginError> {
        let url = nonempty(&self.url);
        let kind = match nonempty(&self.scm_type).as_deref() {
            Some("git") => ScmKind::Git,
            Some("github") => ScmKind::GitHub,
            Some("gitlab") => ScmKind::GitLab,
            Some(other) => {
                return Err(PluginError::invalid_options(format!(
                    "unknown scmType `{other}`; expected one of: git, github, gitlab"
                )));
            }
            None => match &url {
                Some(u) if is_local(u) && !u.contains("github.com") && !u.contains("gitlab") => {
                    ScmKind::Git
                }
                Some(u) if u.contains("github") => ScmKind::GitHub,
                Some(u) if u.contains("gitlab") => ScmKind::GitLab,
                Some(_) => ScmKind::Git,
                None => {
                    return Err(PluginError::invalid_options(
                        "the repository needs `url`, or `scmType` with `owner`/`org` and `name`",
                    ));
                }
            },
        };
        let token = nonempty(&self.token);
        let author = nonempty(&self.commit_author).and_then(|a| parse_author(&a));
        let branch_default = if kind == ScmKind::GitLab {
            "master"
        } else {
            "main"
        };
        let branch = nonempty(&self.branch).unwrap_or_else(|| branch_default.to_string());
        if branch.starts_with('-') || branch.contains("..") || branch.contains(' ') {
            return Err(PluginError::invalid_options(format!(
                "`{branch}` is not a valid branch name"
            )));
        }
        let visibility = nonempty(&self.visibility).unwrap_or_else(|| "private".into());
        let mut env = GitEnv {
            config: Vec::new(),
            author,
        };
        match kind {
            ScmKind::Git => {
                let Some(url) = url else {
                    return Err(PluginError::invalid_options(
                        "`scmType: git` needs `url`: a git URL or a local path",
                    ));
                };
                let url = if is_local(&url) {
                    let path = resolve(&local_path(&url).to_string_lossy());
                    std::path::absolute(&path)
                        .map_err(|e| PluginError::io(format!("resolving {}", path.display()), &e))?
                        .to_string_lossy()
                        .into_owned()
                } else {
                    url
                };
                let (url_owner, url_name) = owner_and_name(&url);
                // For a path, the owner is the parent directory's name, not the whole path.
                let url_owner = if is_local(&url) {
                    url_owner.rsplit('/').next().unwrap_or_default().to_string()
                } else {
                    url_owner
                };
                if let Some(token) = &token
                    && (url.starts_with("https://") || url.starts_with("http://"))
                {
                    let auth = base64(format!("git:{token}").as_bytes());
                    env.config.push((
                        "http.extraHeader".into(),
                        format!("Authorization: Basic {auth}"),
                    ));
                }
                Ok(Repo {
                    kind,
                    owner: nonempty(&self.org)
                        .or_else(|| nonempty(&self.owner))
                        .unwrap_or(url_owner),
                    owner_is_org: nonempty(&self.org).is_some(),
                    name: nonempty(&self.name).unwrap_or(url_name),
                    branch,
                    url,
                    api_base: None,
                    token,
                    visibility,
                    namespace: String::new(),
                    env,
                })
            }
            ScmKind::GitHub | ScmKind::GitLab => {
                let url = url.map(|u| {
                    if u.contains("://") || u.starts_with("git@") {
                        u
                    } else {
                        format!("https://{u}")
                    }
                });
                let (url_owner, url_name) = url.as_deref().map(owner_and_name).unwrap_or_default();
                let owner_is_org = nonempty(&self.org).is_some();
                let owner = nonempty(&self.org)
                    .or_else(|| nonempty(&self.owner))
                    .unwrap_or(url_owner);
                let name = nonempty(&self.name).unwrap_or(url_name);
                if owner.is_empty() || name.is_empty() {
                    return Err(PluginError::invalid_options(
                        "cannot tell the repository's owner and name: give `owner`/`org` and `name`, or a `url` like https://github.com/OWNER/NAME",
                    ));
                }
                let base_url =
                    nonempty(&self.base_url).map(|b| b.trim_end_matches('/').to_string());
                let web_origin = base_url.clone().or_else(|| {
                    url.as_deref()
                        .filter(|u| u.contains("://"))
                        .and_then(origin)
                });
                let api_base = match (kind, nonempty(&self.api_url)) {
                    (_, Some(api)) => api.trim_end_matches('/').to_string(),
                    (ScmKind::GitHub, None) => match &base_url {
                        Some(b) => format!("{b}/api/v3"),
                        None => "https://api.github.com".into(),
                    },
                    (_, None) => format!(
                        "{}/api/v4",
                        web_origin
                            .clone()
                            .unwrap_or_else(|| "https://gitlab.com".into())
                    ),
                };
                let web = web_origin.unwrap_or_else(|| {
                    if kind == ScmKind::GitHub {
                        "https://github.com".into()
                    } else {
                        "https://gitlab.com".into()
                    }
                });
                if let Some(token) = &token {
                    let user = if kind == ScmKind::GitHub {
                        "x-access-token"
                    } else {
                        "oauth2"
                    };
                    let auth = base64(format!("{user}:{token}").as_bytes());
                    env.config.push((
                        "http.extraHeader".into(),
                        format!("Authorization: Basic {auth}"),
                    ));
                }
                Ok(Repo {
                    kind,
                    namespace: nonempty(&self.name_space).unwrap_or_else(|| owner.clone()),
                    url: format!("{web}/{owner}/{name}"),
                    owner,
                    owner_is_org,
                    name,
                    branch,
                    api_base: Some(api_base),
                    token,
                    visibility,
                    env,
                })
            }
        }
    }
}

/// What [`Repo::ensure`] found or did.
#[derive(Debug, Clone)]
pub struct Ensured {
    /// The git remote to push to.
    pub remote: Remote,
    /// Whether dtm created the repository just now.
    pub created: bool,
}

impl Repo {
    fn api(&self) -> Result<Api, PluginError> {
        let base = self
            .api_base
            .as_deref()
            .ok_or_else(|| PluginError::internal("no API base URL for a plain git remote"))?;
        let style = match self.kind {
            ScmKind::GitLab => TokenStyle::PrivateToken,
            _ => TokenStyle::Bearer,
        };
        Api::new(base, self.token.clone(), style)
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        if self.owner.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.owner, self.name)
        }
    }

    /// The git URL of the repository as the API reports it; `None` if it does not exist.
    fn api_clone_url(&self, ctx: &Ctx) -> Result<Option<String>, PluginError> {
        let api = self.api()?;
        let (path, key) = match self.kind {
            ScmKind::GitHub => (
                format!(
                    "/repos/{}/{}",
                    encode_segment(&self.owner),
                    encode_segment(&self.name)
                ),
                "clone_url",
            ),
            _ => (
                format!("/projects/{}", encode_segment(&self.full_name())),
                "http_url_to_repo",
            ),
        };
        let answer = api.call(ctx, "GET", &path, None)?;
        match answer.status {
            200 => answer.body[key]
                .as_str()
                .map(|u| Some(u.to_string()))
                .ok_or_else(|| {
                    PluginError::internal(format!(
                        "GET {}{path}: the answer has no `{key}`",
                        api.base
                    ))
                }),
            404 => Ok(None),
            status => Err(PluginError::internal(format!(
                "GET {}{path}: unexpected status {status} ({})",
                api.base,
                answer.message()
            ))),
        }
    }

    /// The git remote of an existing repository; `None` if the repository does not exist.
    pub fn remote(&self, ctx: &Ctx) -> Result<Option<Remote>, PluginError> {
        match self.kind {
            ScmKind::Git => {
                let remote = Remote::new(self.url.clone(), self.env.clone());
                Ok(Some(remote))
            }
            _ => Ok(self
                .api_clone_url(ctx)?
                .map(|u| Remote::new(u, self.env.clone()))),
        }
    }

    /// Makes sure the repository exists: creates a local bare repository, or the repository
    /// through the GitHub/GitLab API. A remote git URL must exist already.
    pub fn ensure(&self, ctx: &Ctx) -> Result<Ensured, PluginError> {
        match self.kind {
            ScmKind::Git => {
                let remote = Remote::new(self.url.clone(), self.env.clone());
                if remote.head(ctx, &self.branch)? != crate::git::RemoteHead::NoRepo {
                    return Ok(Ensured {
                        remote,
                        created: false,
                    });
                }
                if !remote.is_local() {
                    return Err(PluginError::not_found(format!(
                        "there is no git repository at {}; dtm creates local repositories and GitHub/GitLab ones (scmType github/gitlab), but not others: create it first",
                        remote.shown()
                    )));
                }
                let path = local_path(&self.url);
                if path.exists()
                    && std::fs::read_dir(&path)
                        .map(|mut d| d.next().is_some())
                        .unwrap_or(true)
                {
                    return Err(PluginError::conflict(format!(
                        "{} exists and is not an empty directory or a git repository",
                        path.display()
                    )));
                }
                remote.init_bare(ctx, &self.branch)?;
                ctx.info(format!("created the bare repository {}", path.display()));
                Ok(Ensured {
                    remote,
                    created: true,
                })
            }
            ScmKind::GitHub | ScmKind::GitLab => {
                if let Some(url) = self.api_clone_url(ctx)? {
                    return Ok(Ensured {
                        remote: Remote::new(url, self.env.clone()),
                        created: false,
                    });
                }
                let api = self.api()?;
                let (path, body) = match self.kind {
                    ScmKind::GitHub => {
                        let path = if self.owner_is_org {
                            format!("/orgs/{}/repos", encode_segment(&self.owner))
                        } else {
                            "/user/repos".to_string()
                        };
                        let body = json!({
                            "name": self.name,
                            "private": self.visibility != "public",
                            "visibility": self.visibility,
                            "auto_init": false,
                        });
                        (path, body)
                    }
                    _ => {
                        let ns = api.call(
                            ctx,
                            "GET",
                            &format!("/namespaces/{}", encode_segment(&self.namespace)),
                            None,
                        )?;
                        let namespace_id = match ns.status {
                            200 => ns.body["id"].clone(),
                            404 => {
                                return Err(PluginError::not_found(format!(
                                    "GitLab namespace `{}` does not exist at {}",
                                    self.namespace, api.base
                                )));
                            }
                            s => {
                                return Err(PluginError::internal(format!(
                                    "GET {}/namespaces/{}: unexpected status {s} ({})",
                                    api.base,
                                    self.namespace,
                                    ns.message()
                                )));
                            }
                        };
                        let body = json!({
                            "name": self.name,
                            "path": self.name,
                            "namespace_id": namespace_id,
                            "visibility": self.visibility,
                        });
                        ("/projects".to_string(), body)
                    }
                };
                let answer = api.call(ctx, "POST", &path, Some(&body))?;
                if !matches!(answer.status, 200 | 201) {
                    return Err(PluginError::internal(format!(
                        "creating {} with POST {}{path}: status {} ({})",
                        self.full_name(),
                        api.base,
                        answer.status,
                        answer.message()
                    )));
                }
                let key = if self.kind == ScmKind::GitHub {
                    "clone_url"
                } else {
                    "http_url_to_repo"
                };
                let url = answer.body[key].as_str().ok_or_else(|| {
                    PluginError::internal(format!(
                        "POST {}{path}: the answer has no `{key}`",
                        api.base
                    ))
                })?;
                ctx.info(format!(
                    "created {} repository {}",
                    self.kind.as_str(),
                    self.full_name()
                ));
                let remote = Remote::new(url, self.env.clone());
                // A repository made through the API may take a moment to answer git.
                for wait_ms in [250, 500, 1000, 2000, 4000] {
                    if remote.head(ctx, &self.branch)? != crate::git::RemoteHead::NoRepo {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(wait_ms));
                }
                Ok(Ensured {
                    remote,
                    created: true,
                })
            }
        }
    }

    /// Deletes the repository (local directory, or through the API). Gone already is fine.
    pub fn delete_repository(&self, ctx: &Ctx) -> Result<(), PluginError> {
        match self.kind {
            ScmKind::Git => {
                if !is_local(&self.url) {
                    return Err(PluginError::unsupported(format!(
                        "dtm cannot delete the remote repository {}",
                        self.url
                    )));
                }
                let path = local_path(&self.url);
                match std::fs::remove_dir_all(&path) {
                    Ok(()) => {
                        ctx.info(format!("deleted the repository {}", path.display()));
                        Ok(())
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(PluginError::io(format!("deleting {}", path.display()), &e)),
                }
            }
            _ => {
                let api = self.api()?;
                let path = match self.kind {
                    ScmKind::GitHub => format!(
                        "/repos/{}/{}",
                        encode_segment(&self.owner),
                        encode_segment(&self.name)
                    ),
                    _ => format!("/projects/{}", encode_segment(&self.full_name())),
                };
                let answer = api.call(ctx, "DELETE", &path, None)?;
                match answer.status {
                    200 | 202 | 204 => {
                        ctx.info(format!(
                            "deleted {} repository {}",
                            self.kind.as_str(),
                            self.full_name()
                        ));
                        Ok(())
                    }
                    404 => Ok(()),
                    s => Err(PluginError::internal(format!(
                        "DELETE {}{path}: unexpected status {s} ({})",
                        api.base,
                        answer.message()
                    ))),
                }
            }
        }
    }
}

/// The repository's identity for statuses and outputs, without any secret.
pub fn describe(repo: &Repo) -> Value {
    json!({
        "scmType": repo.kind.as_str(),
        "repoURL": repo.url,
        "owner": repo.owner,
        "repo": repo.name,
        "branch": repo.branch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(v: Value) -> RepoInfo {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn owner_and_name_from_urls() {
        assert_eq!(
            owner_and_name("https://github.com/o/n.git"),
            ("o".into(), "n".into())
        );
        assert_eq!(
            owner_and_name("git@gitlab.com:g/sub/n.git"),
            ("g/sub".into(), "n".into())
        );
        assert_eq!(owner_and_name("/srv/git/svc.git").1, "svc");
    }

    #[test]
    fn github_url_without_scheme_resolves_like_devstream() {
        let repo = info(json!({"url": "github.com/alice/svc", "token": "t"}))
            .resolve(|p: &str| std::path::PathBuf::from(p))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(repo.kind, ScmKind::GitHub);
        assert_eq!(repo.owner, "alice");
        assert_eq!(repo.name, "svc");
        assert_eq!(repo.branch, "main");
        assert_eq!(repo.api_base.as_deref(), Some("https://api.github.com"));
        assert_eq!(repo.url, "https://github.com/alice/svc");
    }

    #[test]
    fn self_hosted_gitlab_uses_base_url() {
        let repo = info(json!({"scmType": "gitlab", "owner": "g", "name": "p", "baseURL": "http://127.0.0.1:8080/"}))
            .resolve(|p: &str| std::path::PathBuf::from(p))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            repo.api_base.as_deref(),
            Some("http://127.0.0.1:8080/api/v4")
        );
        assert_eq!(repo.branch, "master");
    }

    #[test]
    fn local_path_is_made_absolute() {
        let repo = info(json!({"url": "out/svc.git", "scmType": "git"}))
            .resolve(|p| std::path::Path::new("/srv/project").join(p))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(repo.url, "/srv/project/out/svc.git");
        assert_eq!(repo.name, "svc");
    }

    #[test]
    fn problems_are_reported_at_their_keys() {
        let p =
            info(json!({"owner": "a", "org": "b", "scmType": "svn", "name": "x"})).problems("/scm");
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"/scm/org"), "{p:?}");
        assert!(paths.contains(&"/scm/scmType"), "{p:?}");
    }
}
