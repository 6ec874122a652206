//! The integration tests of dtm-engine: one test binary, a module per subject.

mod config_apps;
mod config_errors;
mod config_load;
mod config_plugins;
mod host_fixtures;
mod hostile_input;
mod plugin_story;
mod registry_resolve;
mod state_limits;
mod store_journal;
