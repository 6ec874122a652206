//! Docker access shared by the dtm plugins that run tools as containers on one host
//! (`gitlab-ce-docker`, `harbor-docker`): the `docker` program and its errors, containers as
//! `docker run` creates them and as `docker inspect` reports them, and readiness waits that
//! answer the plugin protocol's pending steps.
//!
//! The plugins drive Docker's own command-line client, as DevStream did, so the engine is
//! whatever that client reaches (`DOCKER_HOST`, `docker context`), with the user's TLS setup.
#![forbid(unsafe_code)]

pub mod container;
pub mod program;
pub mod wait;

pub use container::{ContainerSpec, Mount, OWNER_LABEL, PortPublish, observe, owner, readiness};
pub use program::{Docker, DockerError};
pub use wait::{Deadline, Look, Wait, parse_duration};

/// Why `name` is not a hostname (RFC 1123 labels of letters, digits and `-`, separated by dots,
/// at most 253 characters), or `None` when it is one.
pub fn hostname_problem(name: &str) -> Option<String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Some(format!(
            "`{name}` is not a hostname: use letters, digits and `-` in dot-separated labels, \
             such as `git.example.com`"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn hostnames() {
        assert!(super::hostname_problem("gitlab.example.com").is_none());
        assert!(super::hostname_problem("localhost").is_none());
        assert!(super::hostname_problem("-x.com").is_some());
        assert!(super::hostname_problem("a..b").is_some());
        assert!(super::hostname_problem("http://x").is_some());
    }
}
