//! The Jenkins credentials DevStream created for a job, under DevStream's IDs, through the
//! Credentials plugin's REST API (system store, global domain `_`).

use dtm_git_support::scm::{Repo, ScmKind};
use dtm_plugin_sdk::prelude::*;

use crate::client::Client;
use crate::options::{Options, encode};
use crate::xml::escape;

/// GitHub token credential (username: the repository's owner).
pub const GITHUB: &str = "githubCredential";
/// GitLab API token credential (GitLab plugin), for the GitLab connection.
pub const GITLAB: &str = "gitlabCredential";
/// GitLab SSH key credential, for cloning.
pub const GITLAB_SSH: &str = "gitlabSSHKeyCredential";
/// Image registry credential the built-in Jenkinsfile pushes with.
pub const IMAGE_REPO: &str = "image-repo-auth";

const STORE: &str = "/credentials/store/system/domain/_";

/// One credential: its ID and its XML (with the secret in it).
#[derive(Debug, Clone)]
pub struct Credential {
    /// ID in Jenkins.
    pub id: &'static str,
    /// The credential's XML.
    pub xml: String,
}

fn username_password(id: &'static str, user: &str, password: &str, what: &str) -> Credential {
    Credential {
        id,
        xml: format!(
            "<com.cloudbees.plugins.credentials.impl.UsernamePasswordCredentialsImpl>\n  <scope>GLOBAL</scope>\n  <id>{id}</id>\n  <description>{}</description>\n  <username>{}</username>\n  <password>{}</password>\n</com.cloudbees.plugins.credentials.impl.UsernamePasswordCredentialsImpl>\n",
            escape(what),
            escape(user),
            escape(password)
        ),
    }
}

/// The credentials the options call for: the SCM's (as DevStream made them) and the image
/// registry's.
pub fn wanted(options: &Options, repo: &Repo) -> Vec<Credential> {
    let mut out = Vec::new();
    match (repo.kind, repo.token.as_deref()) {
        (ScmKind::GitHub, Some(token)) => out.push(username_password(
            GITHUB,
            &repo.owner,
            token,
            "GitHub token (dtm)",
        )),
        (ScmKind::GitLab, Some(token)) => out.push(Credential {
            id: GITLAB,
            xml: format!(
                "<com.dabsquared.gitlabjenkins.connection.GitLabApiTokenImpl plugin=\"gitlab-plugin\">\n  <scope>GLOBAL</scope>\n  <id>{GITLAB}</id>\n  <description>GitLab API token (dtm)</description>\n  <apiToken>{}</apiToken>\n</com.dabsquared.gitlabjenkins.connection.GitLabApiTokenImpl>\n",
                escape(token)
            ),
        }),
        _ => {}
    }
    let key = options
        .scm
        .ssh_private_key
        .as_deref()
        .filter(|k| !k.trim().is_empty());
    if let (ScmKind::GitLab, Some(key)) = (repo.kind, key) {
        out.push(Credential {
            id: GITLAB_SSH,
            xml: format!(
                "<com.cloudbees.jenkins.plugins.sshcredentials.impl.BasicSSHUserPrivateKey plugin=\"ssh-credentials\">\n  <scope>GLOBAL</scope>\n  <id>{GITLAB_SSH}</id>\n  <description>GitLab SSH key (dtm)</description>\n  <username>{}</username>\n  <privateKeySource class=\"com.cloudbees.jenkins.plugins.sshcredentials.impl.BasicSSHUserPrivateKey$DirectEntryPrivateKeySource\">\n    <privateKey>{}</privateKey>\n  </privateKeySource>\n</com.cloudbees.jenkins.plugins.sshcredentials.impl.BasicSSHUserPrivateKey>\n",
                escape(&repo.owner),
                escape(key)
            ),
        });
    }
    if let Some(image) = &options.pipeline.image_repo
        && let Some(password) = image.password.as_deref().filter(|p| !p.is_empty())
    {
        out.push(username_password(
            IMAGE_REPO,
            image.user.as_deref().unwrap_or_default(),
            password,
            "Image registry (dtm)",
        ));
    }
    out
}

/// Creates each credential, or updates it when it exists (a rotated token reaches Jenkins).
pub fn apply(ctx: &Ctx, jenkins: &Client, credentials: &[Credential]) -> Result<(), PluginError> {
    for c in credentials {
        let create = format!("{STORE}/createCredentials");
        let answer = jenkins.post_xml(ctx, &create, &c.xml)?;
        match answer.status {
            200 | 201 | 302 => ctx.info(format!("created the Jenkins credential `{}`", c.id)),
            409 => {
                let path = format!("{STORE}/credential/{}/config.xml", encode(c.id));
                let answer = jenkins.post_xml(ctx, &path, &c.xml)?;
                if !matches!(answer.status, 200 | 302) {
                    return Err(jenkins.failure("POST", &path, &answer));
                }
                ctx.debug(format!("updated the Jenkins credential `{}`", c.id));
            }
            _ => return Err(jenkins.failure("POST", &create, &answer)),
        }
    }
    Ok(())
}

/// Which of `ids` exist in Jenkins.
pub fn existing(ctx: &Ctx, jenkins: &Client, ids: &[&str]) -> Result<Vec<String>, PluginError> {
    let mut out = Vec::new();
    for id in ids {
        let path = format!("{STORE}/credential/{}/api/json", encode(id));
        let answer = jenkins.get(ctx, &path)?;
        match answer.status {
            200 => out.push((*id).to_string()),
            404 => {}
            _ => return Err(jenkins.failure("GET", &path, &answer)),
        }
    }
    Ok(out)
}
