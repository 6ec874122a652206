//! Name rules shared by config validation and the plugin host.

/// Whether `s` is a DNS-1123 label: 1-63 lower-case alphanumerics or `-`, starting and ending
/// with an alphanumeric.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether `s` is a DNS-1123 subdomain: DNS-1123 labels joined by `.`, at most 253 characters
/// (what DevStream allows as an `instanceID`, e.g. `golang.github`).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

#[cfg(test)]
mod tests {
    use super::{is_dns1123_label, is_dns1123_subdomain};

    #[test]
    fn dns1123() {
        assert!(is_dns1123_label("golang-github"));
        assert!(is_dns1123_label("a"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label("A"));
        assert!(!is_dns1123_label("a_b"));
        assert!(!is_dns1123_label(""));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(!is_dns1123_label("a.b"));
    }

    #[test]
    fn dns1123_subdomains() {
        for ok in ["a", "golang.github", "app-1.eu.prod", "0.1"] {
            assert!(is_dns1123_subdomain(ok), "{ok}");
        }
        let long = ["a"; 128].join(".");
        for bad in [
            "",
            ".a",
            "a.",
            "a..b",
            "A.b",
            "a_b.c",
            "-a.b",
            long.as_str(),
        ] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
    }
}
