//! The job's `config.xml`, as DevStream's seed script built the job: for GitLab a Pipeline job
//! reading the Jenkinsfile from git, with GitLab's push/merge-request trigger and the GitLab
//! connection; for GitHub a multibranch Pipeline over the repository (GitHub branch source);
//! for a plain git repository (dtm) a Pipeline job that polls it.

use dtm_git_support::scm::{Repo, ScmKind};

use crate::credentials;
use crate::xml::escape;

/// DevStream's name of the GitLab connection its jobs use (`gitlabConnection`).
pub const GITLAB_CONNECTION: &str = "gitlabConnection";
/// How often a job over a plain git repository polls it.
pub const POLL_SCHEDULE: &str = "H/5 * * * *";

/// What a job's config needs.
#[derive(Debug, Clone)]
pub struct JobSpec<'a> {
    /// The repository.
    pub repo: &'a Repo,
    /// The git URL Jenkins clones.
    pub clone_url: String,
    /// The branch it builds.
    pub branch: String,
    /// The Jenkinsfile's path in the repository.
    pub script_path: String,
    /// The credential Jenkins clones with, if any.
    pub credentials_id: Option<String>,
    /// The secret GitLab sends with webhook calls.
    pub secret_token: String,
    /// Shown as the job's display name (DevStream: the job name).
    pub display_name: String,
    /// `name.instanceID`, for the description.
    pub instance: String,
}

fn description(spec: &JobSpec<'_>) -> String {
    escape(&format!(
        "Managed by dtm ({}): a change made here shows as drift, and the next `dtm apply` puts dtm's configuration back.",
        spec.instance
    ))
}

/// The job's `config.xml`.
pub fn config_xml(spec: &JobSpec<'_>) -> String {
    match spec.repo.kind {
        ScmKind::GitHub => multibranch(spec),
        ScmKind::GitLab => pipeline_job(spec, &gitlab_properties(spec)),
        ScmKind::Git => pipeline_job(spec, &polling_properties()),
    }
}

fn gitlab_properties(spec: &JobSpec<'_>) -> String {
    format!(
        r#"    <com.dabsquared.gitlabjenkins.connection.GitLabConnectionProperty plugin="gitlab-plugin">
      <gitLabConnection>{connection}</gitLabConnection>
    </com.dabsquared.gitlabjenkins.connection.GitLabConnectionProperty>
    <org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty>
      <triggers>
        <com.dabsquared.gitlabjenkins.GitLabPushTrigger plugin="gitlab-plugin">
          <spec></spec>
          <triggerOnPush>true</triggerOnPush>
          <triggerOnMergeRequest>true</triggerOnMergeRequest>
          <branchFilterType>RegexBasedFilter</branchFilterType>
          <sourceBranchRegex>.*</sourceBranchRegex>
          <targetBranchRegex>{branch}</targetBranchRegex>
          <secretToken>{token}</secretToken>
        </com.dabsquared.gitlabjenkins.GitLabPushTrigger>
      </triggers>
    </org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty>
"#,
        connection = GITLAB_CONNECTION,
        branch = escape(&spec.branch),
        token = escape(&spec.secret_token),
    )
}

fn polling_properties() -> String {
    format!(
        r#"    <org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty>
      <triggers>
        <hudson.triggers.SCMTrigger>
          <spec>{POLL_SCHEDULE}</spec>
          <ignorePostCommitHooks>false</ignorePostCommitHooks>
        </hudson.triggers.SCMTrigger>
      </triggers>
    </org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty>
"#
    )
}

/// A Pipeline job (`WorkflowJob`) whose Jenkinsfile comes from git.
fn pipeline_job(spec: &JobSpec<'_>, properties: &str) -> String {
    let credentials = spec
        .credentials_id
        .as_deref()
        .map(|id| format!("\n          <credentialsId>{}</credentialsId>", escape(id)))
        .unwrap_or_default();
    format!(
        r#"<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job">
  <description>{description}</description>
  <displayName>{display}</displayName>
  <keepDependencies>false</keepDependencies>
  <properties>
{properties}  </properties>
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition" plugin="workflow-cps">
    <scm class="hudson.plugins.git.GitSCM" plugin="git">
      <configVersion>2</configVersion>
      <userRemoteConfigs>
        <hudson.plugins.git.UserRemoteConfig>
          <url>{url}</url>{credentials}
        </hudson.plugins.git.UserRemoteConfig>
      </userRemoteConfigs>
      <branches>
        <hudson.plugins.git.BranchSpec>
          <name>*/{branch}</name>
        </hudson.plugins.git.BranchSpec>
      </branches>
      <doGenerateSubmoduleConfigurations>false</doGenerateSubmoduleConfigurations>
      <submoduleCfg class="empty-list"/>
      <extensions/>
    </scm>
    <scriptPath>{script}</scriptPath>
    <lightweight>true</lightweight>
  </definition>
  <triggers/>
  <disabled>false</disabled>
</flow-definition>
"#,
        description = description(spec),
        display = escape(&spec.display_name),
        url = escape(&spec.clone_url),
        branch = escape(&spec.branch),
        script = escape(&spec.script_path),
    )
}

/// A multibranch Pipeline over a GitHub repository: origin branches and pull requests (merged
/// with their target), as DevStream configured its GitHub branch source.
fn multibranch(spec: &JobSpec<'_>) -> String {
    const CLASS: &str = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject";
    let api = spec
        .repo
        .api_base
        .as_deref()
        .filter(|a| *a != "https://api.github.com")
        .map(|a| format!("\n          <apiUri>{}</apiUri>", escape(a)))
        .unwrap_or_default();
    let credentials = spec
        .credentials_id
        .as_deref()
        .map(|id| format!("\n          <credentialsId>{}</credentialsId>", escape(id)))
        .unwrap_or_default();
    format!(
        r#"<?xml version='1.1' encoding='UTF-8'?>
<{CLASS} plugin="workflow-multibranch">
  <description>{description}</description>
  <displayName>{display}</displayName>
  <properties/>
  <orphanedItemStrategy class="com.cloudbees.hudson.plugins.folder.computed.DefaultOrphanedItemStrategy" plugin="cloudbees-folder">
    <pruneDeadBranches>true</pruneDeadBranches>
    <daysToKeep>-1</daysToKeep>
    <numToKeep>-1</numToKeep>
  </orphanedItemStrategy>
  <triggers/>
  <sources class="jenkins.branch.MultiBranchProject$BranchSourceList" plugin="branch-api">
    <data>
      <jenkins.branch.BranchSource>
        <source class="org.jenkinsci.plugins.github_branch_source.GitHubSCMSource" plugin="github-branch-source">
          <id>dtm-{id}</id>{api}{credentials}
          <repoOwner>{owner}</repoOwner>
          <repository>{name}</repository>
          <repositoryUrl>{url}</repositoryUrl>
          <traits>
            <org.jenkinsci.plugins.github__branch__source.BranchDiscoveryTrait>
              <strategyId>1</strategyId>
            </org.jenkinsci.plugins.github__branch__source.BranchDiscoveryTrait>
            <org.jenkinsci.plugins.github__branch__source.OriginPullRequestDiscoveryTrait>
              <strategyId>1</strategyId>
            </org.jenkinsci.plugins.github__branch__source.OriginPullRequestDiscoveryTrait>
          </traits>
        </source>
        <strategy class="jenkins.branch.DefaultBranchPropertyStrategy">
          <properties class="empty-list"/>
        </strategy>
      </jenkins.branch.BranchSource>
    </data>
    <owner class="{CLASS}" reference="../.."/>
  </sources>
  <factory class="org.jenkinsci.plugins.workflow.multibranch.WorkflowBranchProjectFactory">
    <owner class="{CLASS}" reference="../.."/>
    <scriptPath>{script}</scriptPath>
  </factory>
</{CLASS}>
"#,
        description = description(spec),
        display = escape(&spec.display_name),
        id = escape(&spec.instance),
        owner = escape(&spec.repo.owner),
        name = escape(&spec.repo.name),
        url = escape(&spec.repo.url),
        script = escape(&spec.script_path),
    )
}

/// A folder (CloudBees Folders plugin) for jobs named `FOLDER/NAME`.
pub fn folder_xml(instance: &str) -> String {
    format!(
        r#"<?xml version='1.1' encoding='UTF-8'?>
<com.cloudbees.hudson.plugins.folder.Folder plugin="cloudbees-folder">
  <description>{}</description>
  <properties/>
</com.cloudbees.hudson.plugins.folder.Folder>
"#,
        escape(&format!("Created by dtm ({instance}) for its job."))
    )
}

/// The paths of a job's config that hold secrets (Jenkins stores them encrypted, so they are
/// not compared).
pub fn is_secret(path: &str) -> bool {
    path.ends_with("/secretToken")
}

/// The credential a job clones with, as DevStream chose it: GitHub's token credential, or
/// GitLab's SSH key credential when `sshPrivateKey` is given.
pub fn clone_credential(repo: &Repo, has_ssh_key: bool) -> Option<String> {
    match repo.kind {
        ScmKind::GitHub if repo.token.is_some() => Some(credentials::GITHUB.into()),
        ScmKind::GitLab if has_ssh_key => Some(credentials::GITLAB_SSH.into()),
        _ => None,
    }
}
