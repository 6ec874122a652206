//! Kubernetes access shared by the dtm plugins that manage cluster objects (`k8s-manifest`,
//! `argocdapp`): connecting from a kubeconfig or in-cluster, server-side apply of untyped
//! objects, readiness rules, and the drift fingerprint of an applied object.
//!
//! Everything here is blocking: a [`Cluster`] owns a current-thread runtime and runs each
//! request to completion, so plugin code stays synchronous like the rest of the plugin SDK.
#![forbid(unsafe_code)]

mod cluster;
pub mod manage;
pub mod objects;
pub mod ready;
mod wait;

pub use cluster::{Cluster, Connection, Kind};
pub use objects::{Object, ObjectKey};
pub use ready::Readiness;
pub use wait::{Deadline, parse_duration};

/// Serde defaults of the options both Kubernetes plugins share.
pub mod defaults {
    /// `true`.
    pub fn yes() -> bool {
        true
    }

    /// `waitTimeout`: five minutes.
    pub fn wait_timeout() -> String {
        "5m".into()
    }

    /// `fieldManager`: `dtm`.
    pub fn field_manager() -> String {
        "dtm".into()
    }
}
