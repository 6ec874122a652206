//! The state backends this dtm has, by the names a config uses: the one list of them.

use std::fmt;

/// A kind of state backend, as `config.state.backend` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// A file on this machine ([`crate::local`]).
    Local,
    /// An object in S3 or an S3-compatible store ([`crate::s3`]).
    S3,
    /// A ConfigMap in a Kubernetes cluster ([`crate::k8s`]).
    Kubernetes,
}

impl BackendKind {
    /// Every backend, in the order docs and messages list them.
    pub const ALL: [BackendKind; 3] =
        [BackendKind::Local, BackendKind::S3, BackendKind::Kubernetes];

    /// Every name a config may use: each backend's name, and DevStream's second name for the
    /// Kubernetes one.
    pub const NAMES: &'static [&'static str] = &["local", "s3", "k8s", "kubernetes"];

    /// The backend's name in configs and messages.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::S3 => "s3",
            BackendKind::Kubernetes => "k8s",
        }
    }

    /// The backend a config's name means, if any.
    pub fn from_name(name: &str) -> Option<BackendKind> {
        match name {
            "local" => Some(BackendKind::Local),
            "s3" => Some(BackendKind::S3),
            // DevStream's two names for the same backend.
            "k8s" | "kubernetes" => Some(BackendKind::Kubernetes),
            _ => None,
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::BackendKind;

    #[test]
    fn every_name_means_a_backend_and_every_backend_has_its_name() {
        for name in BackendKind::NAMES {
            assert!(BackendKind::from_name(name).is_some(), "{name}");
        }
        for kind in BackendKind::ALL {
            assert_eq!(BackendKind::from_name(kind.name()), Some(kind));
        }
    }
}
