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

#[cfg(test)]
mod tests {
    use super::is_dns1123_label;

    #[test]
    fn dns1123() {
        assert!(is_dns1123_label("golang-github"));
        assert!(is_dns1123_label("a"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label("A"));
        assert!(!is_dns1123_label("a_b"));
        assert!(!is_dns1123_label(""));
        assert!(!is_dns1123_label(&"a".repeat(64)));
    }
}
