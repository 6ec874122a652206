//! The integration tests of dtm-cli: one test binary, a module per subject.

mod bad_input;
mod catalogue_devstream;
mod catalogue_helm;
mod catalogue_kube;
mod catalogue_quickstart;
mod catalogue_scm;
mod catalogue_stories;
mod catalogue_support;
mod common;
mod concurrency;
mod devstream_compat;
mod devstream_configs;
mod docs_examples;
mod examples;
mod orphan_secrets;
mod registry_cli;
mod resume;
mod runs;
mod show_config_sample;
mod state_remote;
mod state_tooling;
mod story;
mod user_text;
