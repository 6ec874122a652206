//! Platform names (`linux-x86_64`, `darwin-aarch64`, `windows-x86_64`, …) and the library file
//! name a plugin has on each.

use std::fmt;

/// An OS/architecture pair as the registry names it: `<os>-<arch>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    /// `linux`, `darwin`, `windows`, … (Rust's `std::env::consts::OS`, with `macos` as `darwin`).
    pub os: String,
    /// `x86_64`, `aarch64`, … (Rust's `std::env::consts::ARCH`).
    pub arch: String,
}

impl Platform {
    /// The platform this dtm was built for.
    pub fn current() -> Self {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            other => other,
        };
        Platform {
            os: os.to_string(),
            arch: std::env::consts::ARCH.to_string(),
        }
    }

    /// Parses `<os>-<arch>`; both parts lower-case ASCII letters, digits and `_`.
    pub fn parse(s: &str) -> Option<Self> {
        let (os, arch) = s.split_once('-')?;
        let ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        (ok(os) && ok(arch)).then(|| Platform {
            os: os.to_string(),
            arch: arch.to_string(),
        })
    }

    /// The file name of plugin `name`'s library on this platform.
    pub fn library_file_name(&self, name: &str) -> String {
        library_file_name_for(name, &self.os)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.os, self.arch)
    }
}

/// The library file name of plugin `name` on `os` (registry spelling: `darwin` for macOS). The
/// same rule as the host's `library_file_name`, for any platform.
pub fn library_file_name_for(name: &str, os: &str) -> String {
    let stem = format!("dtm_plugin_{}", name.replace('-', "_"));
    match os {
        "windows" => format!("{stem}.dll"),
        "darwin" | "macos" | "ios" => format!("lib{stem}.dylib"),
        _ => format!("lib{stem}.so"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_matches_the_host_file_name() {
        let p = Platform::current();
        assert_eq!(
            p.library_file_name("gitlab-ci"),
            crate::plugin::library_file_name("gitlab-ci")
        );
        assert_eq!(Platform::parse(&p.to_string()), Some(p));
    }

    #[test]
    fn parse_refuses_odd_names() {
        assert!(Platform::parse("linux-x86_64").is_some());
        for bad in [
            "linux",
            "-x86",
            "linux-",
            "Linux-x86",
            "linux/x86-64",
            "../x-y",
        ] {
            assert!(Platform::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(
            library_file_name_for("a-b", "windows"),
            "dtm_plugin_a_b.dll"
        );
        assert_eq!(
            library_file_name_for("a", "darwin"),
            "libdtm_plugin_a.dylib"
        );
    }
}
