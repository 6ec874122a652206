//! The dtm engine: config loading and validation, the plugin host, planning against state and
//! live status, and the parallel executor. The CLI is a thin layer over this crate.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod executor;
pub mod graph;
pub mod names;
pub mod plan;
pub mod plugin;
pub mod registry;
pub mod state;
pub mod store;
pub mod text;
pub mod workspace;
