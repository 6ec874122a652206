//! An app's repository (`repo:`, `repoTemplate:`): what DevStream fills in, and the URL to
//! clone it from.

use super::super::yaml::Node;
use super::nodes::{clear_text, get, set_default, str_node};

/// Fills `scmType`, `owner` and `name` from `url` where they are not set, as DevStream does.
pub(super) fn normalize_repo(repo: &Node) -> Node {
    let mut repo = repo.clone();
    let Some(url_node) = get(&repo, "url").cloned() else {
        return repo;
    };
    let Some(url) = clear_text(&url_node) else {
        return repo;
    };
    let Some(parsed) = parse_repo_url(url) else {
        return repo;
    };
    let pos = url_node.pos;
    if let Some(scm) = parsed.scm_type {
        set_default(&mut repo, "scmType", str_node(scm, pos));
    }
    if get(&repo, "org").is_none() {
        set_default(&mut repo, "owner", str_node(&parsed.owner, pos));
    }
    if !has_name(&repo) {
        set_default(&mut repo, "name", str_node(&parsed.name, pos));
    }
    repo
}

/// An app's repository without a `name` (nor a `url` to take it from) is named after the app,
/// as in DevStream.
pub(super) fn default_name(repo: &mut Node, app: &str) {
    if !has_name(repo) {
        let pos = repo.pos;
        set_default(repo, "name", str_node(app, pos));
    }
}

/// `name`, or DevStream's older spelling `repo`.
fn has_name(repo: &Node) -> bool {
    get(repo, "name").or_else(|| get(repo, "repo")).is_some()
}

#[derive(Debug, PartialEq)]
struct RepoUrl {
    scm_type: Option<&'static str>,
    owner: String,
    name: String,
}

/// `https://github.com/owner/name(.git)`, `git@gitlab.com:group/sub/name.git`, ...
fn parse_repo_url(url: &str) -> Option<RepoUrl> {
    let rest = if let Some(r) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    {
        r.to_owned()
    } else {
        let r = url.strip_prefix("ssh://").unwrap_or(url);
        let r = r.split_once('@').map_or(r, |(_, host)| host);
        r.replacen(':', "/", 1)
    };
    let (host, path) = rest.split_once('/')?;
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let (owner, name) = path.rsplit_once('/')?;
    if owner.is_empty() || name.is_empty() {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let scm_type = if host.contains("github") {
        Some("github")
    } else if host.contains("gitlab") {
        Some("gitlab")
    } else {
        None
    };
    Some(RepoUrl {
        scm_type,
        owner: owner.to_owned(),
        name: name.to_owned(),
    })
}

/// The URL to clone the app's repo from, if it can be told. A `url` written without a scheme
/// (`github.com/owner/name`, as DevStream's examples write it) gets `https://`, as DevStream
/// gives it; local paths and `scmType: git` URLs are left as written.
pub(super) fn clone_url(repo: &Node) -> Option<String> {
    let scm_type = get(repo, "scmType").and_then(clear_text);
    if let Some(url) = get(repo, "url").and_then(clear_text) {
        if scm_type != Some("git") && is_host_path(url) {
            return Some(format!("https://{url}"));
        }
        return Some(url.to_owned());
    }
    let owner = get(repo, "owner")
        .or_else(|| get(repo, "org"))
        .and_then(clear_text)?;
    let name = get(repo, "name")
        .or_else(|| get(repo, "repo"))
        .and_then(clear_text)?;
    let host = match scm_type {
        Some("github") => "https://github.com",
        Some("gitlab") => get(repo, "baseURL")
            .and_then(clear_text)
            .unwrap_or("https://gitlab.com"),
        _ => return None,
    };
    Some(format!("{}/{owner}/{name}", host.trim_end_matches('/')))
}

/// `host.tld/owner/name`: no scheme, not scp-like (`git@host:path`), and a first segment that
/// is a host name (it has a dot), not a directory of a local path.
fn is_host_path(url: &str) -> bool {
    if url.contains("://") || url.contains('@') || url.starts_with(['/', '.', '~']) {
        return false;
    }
    let Some((host, path)) = url.split_once('/') else {
        return false;
    };
    let host_name = host.split(':').next().unwrap_or(host);
    host_name.contains('.') && !path.is_empty()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn repo_urls() {
        assert_eq!(
            parse_repo_url("https://github.com/devstream-io/service-a.git"),
            Some(RepoUrl {
                scm_type: Some("github"),
                owner: "devstream-io".into(),
                name: "service-a".into()
            })
        );
        assert_eq!(
            parse_repo_url("git@gitlab.com:group/sub/app.git"),
            Some(RepoUrl {
                scm_type: Some("gitlab"),
                owner: "group/sub".into(),
                name: "app".into()
            })
        );
        assert_eq!(parse_repo_url("https://example.com"), None);
    }

    #[test]
    fn host_paths_are_told_from_local_paths() {
        for yes in ["github.com/o/n", "gitlab.example.com:8443/g/n.git"] {
            assert!(is_host_path(yes), "{yes}");
        }
        for no in [
            "https://github.com/o/n",
            "git@github.com:o/n.git",
            "out/remotes/service.git",
            "./repo.git",
            "/srv/git/n.git",
            "github.com",
        ] {
            assert!(!is_host_path(no), "{no}");
        }
    }
}
