//! Shared code of dtm's git plugins (`repo-scaffolding`, `github-actions`, `gitlab-ci`,
//! `ci-generic`): the `git` CLI with time limits and cancellation ([`cmd`]), remotes and
//! throw-away work trees ([`git`]), DevStream's repository options and the GitHub/GitLab REST
//! calls behind them ([`scm`], [`http`]), `[[ name ]]` templates ([`render`]), built-in CI
//! pipelines ([`pipelines`]), the CI plugin itself ([`ci`]), repository secrets ([`secrets`]),
//! the repository side of the issue-tracker plugins ([`integration`]) and git for tests
//! ([`testing`]).
//!
//! A plain library: plugins link it statically; it depends on the SDK, never on the engine.
#![forbid(unsafe_code)]

pub mod ci;
pub mod cmd;
pub mod git;
pub mod http;
pub mod integration;
pub mod pipelines;
pub mod render;
pub mod scm;
pub mod secrets;
pub mod testing;
