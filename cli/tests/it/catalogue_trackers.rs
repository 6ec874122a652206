//! Conformance stories of the issue-tracker plugins (`trello`, `jira`) through the real binary:
//! create, read (verify), no-op plan, drift by hand, repair, option change → update, delete,
//! delete again. Against loopback stand-ins for Trello's and Jira's REST APIs and for GitHub's
//! (repositories and Actions secrets, sealed with the stand-in's repository key and opened by
//! it), with the workflow pushed over a real `git daemon`.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::catalogue_support;
use crate::common;

use catalogue_support::jira::JiraStandIn;
use catalogue_support::trello::TrelloStandIn;
use catalogue_support::{Flavor, ScmStandIn, git};
use common::{Run, Sandbox};

const GITHUB_TOKEN: &str = "ghp_standin_secret_0123456789";
const TRELLO_KEY: &str = "trello-key-0f1e2d3c4b5a69788796";
const TRELLO_TOKEN: &str = "trello-token-a1b2c3d4e5f60718293a4b5c";
const JIRA_TOKEN: &str = "jira-token-ATATT3xFfGF0abcdef";
const JIRA_EMAIL: &str = "alice@example.com";

fn run(s: &Sandbox, args: &[&str]) -> Run {
    let run = Run(s
        .cmd(args)
        .env("GITHUB_TOKEN", GITHUB_TOKEN)
        .env("TRELLO_API_KEY", TRELLO_KEY)
        .env("TRELLO_TOKEN", TRELLO_TOKEN)
        .env("JIRA_TOKEN", JIRA_TOKEN)
        .output()
        .unwrap());
    for secret in [GITHUB_TOKEN, TRELLO_KEY, TRELLO_TOKEN, JIRA_TOKEN] {
        assert!(
            !run.all().contains(secret),
            "a secret was printed\n{}",
            run.all()
        );
    }
    run
}

#[track_caller]
fn assert_no_changes(s: &Sandbox) {
    let plan = run(s, &["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("No changes"), "{}", plan.all());
}

#[track_caller]
fn assert_secret_free_state(s: &Sandbox) {
    let state = s.read("devstream.state");
    for secret in [GITHUB_TOKEN, TRELLO_KEY, TRELLO_TOKEN, JIRA_TOKEN] {
        assert!(!state.contains(secret), "a secret reached state:\n{state}");
    }
}

/// Commits `content` to `path` on `main` of the stand-in's `alice/web`, as a person would.
fn edit_by_hand(s: &Sandbox, api: &ScmStandIn, path: &str, content: &str) {
    let work = s.path("by-hand");
    let _ = std::fs::remove_dir_all(&work);
    git(
        s.dir.path(),
        &[
            "clone",
            "-q",
            "-b",
            "main",
            &api.daemon.url("alice/web.git"),
            "by-hand",
        ],
    );
    std::fs::write(work.join(path), content).unwrap();
    git(&work, &["commit", "-qam", "by hand"]);
    git(&work, &["push", "-q", "origin", "main"]);
}

fn show(api: &ScmStandIn, path: &str) -> String {
    git(
        &api.repo_path("alice", "web"),
        &["show", &format!("main:{path}")],
    )
}

fn trello_config(github: &str, trello: &str, board: &str) -> String {
    format!(
        r#"tools:
- name: trello
  instanceID: web
  options:
    scm:
      scmType: github
      baseURL: {github}
      owner: alice
      name: web
      token: [[ env "GITHUB_TOKEN" ]]
    board:
      {board}
      apikey: [[ env "TRELLO_API_KEY" ]]
      token: [[ env "TRELLO_TOKEN" ]]
      apiURL: {trello}
"#
    )
}

const TRELLO_WORKFLOW: &str = ".github/workflows/trelloIssueBuilder.yml";

#[test]
fn trello_story_against_trello_and_github_stand_ins() {
    let s = Sandbox::new();
    let api = ScmStandIn::start(Flavor::GitHub, &s.path("standin"), "alice", GITHUB_TOKEN);
    api.add_repo("alice", "web");
    let trello = TrelloStandIn::start(TRELLO_KEY, TRELLO_TOKEN);
    let config = |board: &str| trello_config(&api.base_url(), &trello.api_url(), board);
    s.write("dtm.yaml", &config(""));

    // create: DevStream's board (named after the repository), lists, secrets and workflow
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let boards = trello.boards();
    assert_eq!(boards.len(), 1, "{boards:?}");
    let (board_id, board) = &boards[0];
    assert_eq!(board.name, "alice/web");
    assert_eq!(
        board.desc,
        "Description is managed by DevStream, please don't modify. alice/web"
    );
    assert_eq!(board.permission, "private");
    let lists = trello.open_lists(board_id);
    let names: Vec<&str> = lists.iter().map(|(_, l)| l.name.as_str()).collect();
    assert_eq!(names, ["To Do", "Doing", "Done"]);
    assert_eq!(trello.labels(board_id).len(), 6, "Trello's default labels");
    let secrets = api.secrets("alice", "web");
    assert_eq!(secrets["TRELLO_API_KEY"], TRELLO_KEY);
    assert_eq!(secrets["TRELLO_TOKEN"], TRELLO_TOKEN);
    assert_eq!(&secrets["TRELLO_BOARD_ID"], board_id);
    assert_eq!(secrets["TRELLO_TODO_LIST_ID"], lists[0].0);
    assert_eq!(secrets["TRELLO_DOING_LIST_ID"], lists[1].0);
    assert_eq!(secrets["TRELLO_DONE_LIST_ID"], lists[2].0);
    assert_eq!(secrets["TRELLO_MEMBER_MAP"], "[]");
    let workflow = show(&api, TRELLO_WORKFLOW);
    assert!(
        workflow.contains("CyanRYi/trello-github-integration@v3.0.0"),
        "{workflow}"
    );
    assert!(
        workflow.contains("${{ secrets.TRELLO_BOARD_ID }}"),
        "{workflow}"
    );
    let log = trello.log();
    assert!(log.iter().all(|l| l.ends_with(" auth")), "{log:?}");
    assert!(log.contains(&"POST /1/boards/ auth".to_string()), "{log:?}");
    let outputs = &s.state()["resources"]["trello.web"]["outputs"];
    assert_eq!(&outputs["boardId"], board_id.as_str());
    assert_eq!(outputs["doingListId"], lists[1].0.as_str());
    assert_secret_free_state(&s);

    // read + no-op plan
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);
    assert_no_changes(&s);

    drift_by_hand_is_repaired(&s, &api, &trello, board_id, &workflow);

    // option change → update: the same board gets the new name and description
    s.write(
        "dtm.yaml",
        &config("name: Web issues\n      description: Issues of web"),
    );
    let plan = run(&s, &["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("1 to update"), "{}", plan.all());
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let boards = trello.boards();
    assert_eq!(boards.len(), 1);
    assert_eq!(
        (&boards[0].0, boards[0].1.name.as_str()),
        (board_id, "Web issues")
    );
    assert_eq!(boards[0].1.desc, "Issues of web");
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);
    assert_secret_free_state(&s);

    // delete: workflow and secrets go, then the board; and again
    run(&s, &["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(trello.boards().is_empty());
    assert!(api.secrets("alice", "web").is_empty());
    let tree = git(
        &api.repo_path("alice", "web"),
        &["ls-tree", "-r", "--name-only", "main"],
    );
    assert!(!tree.contains(TRELLO_WORKFLOW), "{tree}");
    run(&s, &["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.state()["resources"], serde_json::json!({}));
}

/// Drift made by hand in Trello, in the workflow and in the secrets: each shown by `verify`
/// (exit 2) and repaired by `apply`.
fn drift_by_hand_is_repaired(
    s: &Sandbox,
    api: &ScmStandIn,
    trello: &TrelloStandIn,
    board_id: &str,
    workflow: &str,
) {
    // a list archived on the board: apply makes a new one and points the secret at it
    let lists = trello.open_lists(board_id);
    trello.archive_list(board_id, "Doing");
    let drift = run(s, &["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(drift.all().contains("trello.web"), "{}", drift.all());
    assert!(
        drift.all().contains(&lists[1].0),
        "the diff shows the list: {}",
        drift.all()
    );
    run(s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let repaired = trello.open_lists(board_id);
    let names: Vec<&str> = repaired.iter().map(|(_, l)| l.name.as_str()).collect();
    assert_eq!(names, ["To Do", "Doing", "Done"]);
    assert_ne!(repaired[1].0, lists[1].0);
    assert_eq!(
        api.secrets("alice", "web")["TRELLO_DOING_LIST_ID"],
        repaired[1].0
    );
    run(s, &["verify", "-f", "dtm.yaml"]).expect(0);

    // drift by hand: the workflow edited, then a secret deleted
    edit_by_hand(s, api, TRELLO_WORKFLOW, "name: nothing\n");
    let drift = run(s, &["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(drift.all().contains("sha256"), "{}", drift.all());
    run(s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(show(api, TRELLO_WORKFLOW), workflow);
    api.delete_secret("alice", "web", "TRELLO_TOKEN");
    let drift = run(s, &["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(drift.all().contains("TRELLO_TOKEN"), "{}", drift.all());
    run(s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(api.secrets("alice", "web")["TRELLO_TOKEN"], TRELLO_TOKEN);
    run(s, &["verify", "-f", "dtm.yaml"]).expect(0);

    // drift by hand: the board renamed; apply names it back
    trello.rename_board(board_id, "scratch");
    run(s, &["verify", "-f", "dtm.yaml"]).expect(2);
    run(s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(trello.boards()[0].1.name, "alice/web");
}

#[test]
fn a_wrong_trello_token_is_a_permission_error_that_says_what_to_check() {
    let s = Sandbox::new();
    let api = ScmStandIn::start(Flavor::GitHub, &s.path("standin"), "alice", GITHUB_TOKEN);
    api.add_repo("alice", "web");
    let trello = TrelloStandIn::start(TRELLO_KEY, "another-token");
    s.write(
        "dtm.yaml",
        &trello_config(&api.base_url(), &trello.api_url(), ""),
    );
    let out = run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(out.all().contains("401 (invalid token)"), "{}", out.all());
    assert!(out.all().contains("board.token"), "{}", out.all());
    assert!(out.all().contains("/members/me/boards"), "{}", out.all());
}

fn jira_config(github: &str, jira: &str, key: &str) -> String {
    format!(
        r#"tools:
- name: jira
  instanceID: web
  options:
    scm:
      scmType: github
      baseURL: {github}
      owner: alice
      name: web
      branch: main
      token: [[ env "GITHUB_TOKEN" ]]
    jira:
      baseUrl: {jira}
      userEmail: {JIRA_EMAIL}
      projectKey: {key}
      token: [[ env "JIRA_TOKEN" ]]
"#
    )
}

const JIRA_WORKFLOW: &str = ".github/workflows/jiraIssueBuilder.yml";

#[test]
fn jira_story_against_jira_and_github_stand_ins() {
    let s = Sandbox::new();
    let api = ScmStandIn::start(Flavor::GitHub, &s.path("standin"), "alice", GITHUB_TOKEN);
    api.add_repo("alice", "web");
    let jira = JiraStandIn::start(JIRA_EMAIL, JIRA_TOKEN);
    jira.add_project("HEAP", "Heap");
    jira.add_project("OPS", "Operations");
    let config = |key: &str| jira_config(&api.base_url(), &jira.base_url(), key);

    // A project that does not exist is an error that names it and says what to do.
    s.write("dtm.yaml", &config("NOPE"));
    let out = run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(
        out.all().contains("no Jira project `NOPE`"),
        "{}",
        out.all()
    );
    assert!(out.all().contains("create it in Jira"), "{}", out.all());

    // create
    s.write("dtm.yaml", &config("HEAP"));
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let log = jira.log();
    assert!(
        log.contains(&"GET /rest/api/2/myself auth".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"GET /rest/api/2/project/HEAP auth".to_string()),
        "{log:?}"
    );
    let secrets = api.secrets("alice", "web");
    assert_eq!(secrets["GH_TOKEN"], GITHUB_TOKEN);
    assert_eq!(secrets["JIRA_API_TOKEN"], JIRA_TOKEN);
    assert_eq!(secrets.len(), 2, "{secrets:?}");
    let workflow = show(&api, JIRA_WORKFLOW);
    for wanted in [
        format!("JIRA_BASE_URL: \"{}\"", jira.base_url()),
        format!("JIRA_USER_EMAIL: \"{JIRA_EMAIL}\""),
        "project: \"HEAP\"".to_string(),
        "atlassian/gajira-create@master".to_string(),
        "${{ secrets.JIRA_API_TOKEN }}".to_string(),
    ] {
        assert!(workflow.contains(&wanted), "{wanted} in\n{workflow}");
    }
    let outputs = &s.state()["resources"]["jira.web"]["outputs"];
    assert_eq!(outputs["projectKey"], "HEAP");
    assert_secret_free_state(&s);

    // read + no-op plan
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);
    assert_no_changes(&s);

    // drift by hand: the workflow edited; apply puts it back
    edit_by_hand(&s, &api, JIRA_WORKFLOW, "name: nothing\n");
    let drift = run(&s, &["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(drift.all().contains("jira.web"), "{}", drift.all());
    assert!(drift.all().contains("sha256"), "{}", drift.all());
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(show(&api, JIRA_WORKFLOW), workflow);
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);

    // drift in Jira: the project is gone; dtm cannot make it, and says so
    jira.remove_project("HEAP");
    let drift = run(&s, &["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(drift.all().contains("project"), "{}", drift.all());
    let out = run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(1);
    assert!(
        out.all().contains("no Jira project `HEAP`"),
        "{}",
        out.all()
    );
    jira.add_project("HEAP", "Heap");
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);

    // option change → update: another project
    s.write("dtm.yaml", &config("ops"));
    let plan = run(&s, &["plan", "-f", "dtm.yaml"]).expect(0);
    assert!(plan.stdout().contains("1 to update"), "{}", plan.all());
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(show(&api, JIRA_WORKFLOW).contains("project: \"ops\""));
    assert_eq!(
        s.state()["resources"]["jira.web"]["outputs"]["projectKey"],
        "OPS"
    );
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);

    // delete: the workflow and the secrets go, the Jira project stays; and again
    run(&s, &["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(api.secrets("alice", "web").is_empty());
    let tree = git(
        &api.repo_path("alice", "web"),
        &["ls-tree", "-r", "--name-only", "main"],
    );
    assert!(!tree.contains(JIRA_WORKFLOW), "{tree}");
    run(&s, &["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(s.state()["resources"], serde_json::json!({}));
}

#[test]
fn trello_with_a_gitlab_project_keeps_ci_variables() {
    let s = Sandbox::new();
    let api = ScmStandIn::start(Flavor::GitLab, &s.path("standin"), "bob", GITHUB_TOKEN);
    api.add_repo("platform", "web");
    let trello = TrelloStandIn::start(TRELLO_KEY, TRELLO_TOKEN);
    let config = trello_config(&api.base_url(), &trello.api_url(), "name: web")
        .replace("scmType: github", "scmType: gitlab")
        .replace("owner: alice", "org: platform");
    s.write("dtm.yaml", &config);

    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let vars = api.secrets("platform", "web");
    assert_eq!(vars["TRELLO_TOKEN"], TRELLO_TOKEN);
    assert_eq!(vars["TRELLO_MEMBER_MAP"], "[]");
    assert_eq!(vars.len(), 7, "{vars:?}");
    // Masked where GitLab can mask the value: the credentials and the ids, not `[]`.
    let masked = api.masked("platform", "web");
    assert!(masked.contains(&"TRELLO_TOKEN".to_string()), "{masked:?}");
    assert!(
        !masked.contains(&"TRELLO_MEMBER_MAP".to_string()),
        "{masked:?}"
    );
    // GitLab's default branch, as in DevStream: master.
    let bare = api.repo_path("platform", "web");
    assert!(git(&bare, &["show", &format!("master:{TRELLO_WORKFLOW}")]).contains("CyanRYi"));
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);

    // A variable deleted by hand is drift; apply sets it again (and updates the others).
    api.delete_secret("platform", "web", "TRELLO_BOARD_ID");
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(2);
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    assert_eq!(
        api.secrets("platform", "web")["TRELLO_BOARD_ID"],
        trello.boards()[0].0
    );
    assert!(
        api.log()
            .iter()
            .any(|l| l.starts_with("PUT /api/v4/projects/platform%2Fweb/variables/"))
    );
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);

    // The board deleted by hand: apply makes a new one and points the variables at it.
    let old_board = trello.boards()[0].0.clone();
    trello.delete_board(&old_board);
    let drift = run(&s, &["verify", "-f", "dtm.yaml"]).expect(2);
    assert!(drift.all().contains(&old_board), "{}", drift.all());
    run(&s, &["apply", "-y", "-f", "dtm.yaml"]).expect(0);
    let new_board = trello.boards()[0].0.clone();
    assert_ne!(new_board, old_board);
    assert_eq!(api.secrets("platform", "web")["TRELLO_BOARD_ID"], new_board);
    run(&s, &["verify", "-f", "dtm.yaml"]).expect(0);

    run(&s, &["delete", "-y", "-f", "dtm.yaml"]).expect(0);
    assert!(api.secrets("platform", "web").is_empty());
    assert!(trello.boards().is_empty());
}
