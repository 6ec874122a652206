//! The registry's files: where they live, the index, the checksums file and the signed comment.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::RegistryError;
use super::platform::Platform;

/// Version of the index format this dtm reads and writes.
pub(super) const INDEX_FORMAT: u32 = 1;
/// The index's path in a registry.
pub(super) const INDEX: &str = "index.json";
/// Name of the checksums file in a version directory.
pub(super) const SUMS: &str = "SHA256SUMS";
/// Name of its signature.
pub(super) const SUMS_SIG: &str = "SHA256SUMS.minisig";

/// Refuses a name that would not stay one path component below a directory: empty, `.`/`..`,
/// leading `.`, separators, NUL, or anything outside `[A-Za-z0-9._+-]`.
pub fn safe_component(what: &'static str, value: &str) -> Result<(), RegistryError> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && !value.starts_with('.')
        && !value.contains("..")
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::UnsafeName {
            what,
            value: value.to_string(),
        })
    }
}

/// Checks a plugin name (a DNS-1123 label) and a version (semver) before they become paths.
pub(super) fn check_name_version(
    name: &str,
    version: &str,
) -> Result<semver::Version, RegistryError> {
    safe_component("plugin name", name)?;
    if !crate::names::is_dns1123_label(name) {
        return Err(RegistryError::UnsafeName {
            what: "plugin name",
            value: name.to_string(),
        });
    }
    safe_component("plugin version", version)?;
    semver::Version::parse(version).map_err(|_| RegistryError::UnsafeName {
        what: "plugin version",
        value: version.to_string(),
    })
}

/// `plugins/<name>/<version>` relative to the registry base.
pub(super) fn version_dir(name: &str, version: &str) -> String {
    format!("plugins/{name}/{version}")
}

/// `plugins/<name>/<version>/<platform>/<file>` relative to the registry base.
pub(super) fn library_path(name: &str, version: &str, platform: &Platform, file: &str) -> String {
    format!("plugins/{name}/{version}/{platform}/{file}")
}

/// `index.json`: what a registry publishes. Advisory: it helps to pick a version; everything that
/// decides whether a library is loaded comes from the signed checksums.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Index format version ([`INDEX_FORMAT`]).
    pub format: u32,
    /// Plugins by name.
    #[serde(default)]
    pub plugins: BTreeMap<String, IndexPlugin>,
}

/// One plugin in the index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexPlugin {
    /// The newest version's description.
    #[serde(default)]
    pub description: String,
    /// Versions by semver string.
    #[serde(default)]
    pub versions: BTreeMap<String, IndexVersion>,
}

/// One published version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexVersion {
    /// Plugin ABI of the builds, `major.minor`.
    pub abi: String,
    /// Builds by platform (`linux-x86_64`).
    #[serde(default)]
    pub builds: BTreeMap<String, IndexBuild>,
}

/// One build of a version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexBuild {
    /// Library file name.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (hex), as in the signed SHA256SUMS.
    pub sha256: String,
}

impl Index {
    /// Parses and checks an index downloaded from `url`.
    pub fn parse(bytes: &[u8], url: &str) -> Result<Index, RegistryError> {
        let bad = |message: String| RegistryError::Malformed {
            url: url.to_string(),
            what: "index",
            message,
        };
        let index: Index = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if index.format != INDEX_FORMAT {
            return Err(bad(format!(
                "index format {} is not supported by this dtm (it reads format {INDEX_FORMAT}); use a newer dtm",
                index.format
            )));
        }
        Ok(index)
    }

    /// Versions of `name` newest first, skipping any that are not valid semver or safe names.
    pub fn versions(&self, name: &str) -> Vec<(semver::Version, &IndexVersion)> {
        let mut out: Vec<_> = self
            .plugins
            .get(name)
            .map(|p| {
                p.versions
                    .iter()
                    .filter_map(|(v, iv)| check_name_version(name, v).ok().map(|sv| (sv, iv)))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| b.0.cmp(&a.0));
        out
    }

    /// Pretty JSON with sorted keys and a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Parses `major.minor`.
pub(super) fn parse_abi(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The contents of `SHA256SUMS`: `<hex>  <platform>/<file>` lines, sorted, in the format of
/// `sha256sum`, so `sha256sum -c SHA256SUMS` works inside a version directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sums {
    /// `(platform, file)` → hex SHA-256.
    pub entries: BTreeMap<(String, String), String>,
}

impl Sums {
    /// Parses a checksums file from `url`.
    pub fn parse(text: &str, url: &str) -> Result<Sums, RegistryError> {
        let bad = |message: String| RegistryError::Malformed {
            url: url.to_string(),
            what: "SHA256SUMS",
            message,
        };
        let mut entries = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (hash, path) = line
                .split_once("  ")
                .ok_or_else(|| bad(format!("line {}: expected `<sha256>  <path>`", i + 1)))?;
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad(format!("line {}: `{hash}` is not a SHA-256", i + 1)));
            }
            let (platform, file) = path
                .split_once('/')
                .ok_or_else(|| bad(format!("line {}: expected `<os>-<arch>/<file>`", i + 1)))?;
            if Platform::parse(platform).is_none() {
                return Err(bad(format!("line {}: bad platform `{platform}`", i + 1)));
            }
            safe_component("library file name", file)?;
            entries.insert(
                (platform.to_string(), file.to_string()),
                hash.to_ascii_lowercase(),
            );
        }
        Ok(Sums { entries })
    }

    /// The file text.
    pub fn to_text(&self) -> String {
        self.entries
            .iter()
            .map(|((p, f), h)| format!("{h}  {p}/{f}\n"))
            .collect()
    }

    /// The hash of `platform`'s build, with its file name.
    pub fn for_platform(&self, platform: &str) -> Option<(&str, &str)> {
        self.entries
            .iter()
            .find(|((p, _), _)| p == platform)
            .map(|((_, f), h)| (f.as_str(), h.as_str()))
    }

    /// Platform → hash, for the lock file.
    pub fn by_platform(&self) -> BTreeMap<String, String> {
        self.entries
            .iter()
            .map(|((p, _), h)| (p.clone(), h.clone()))
            .collect()
    }
}

/// The signed (trusted) comment binding a checksums file to one plugin version and ABI, so a
/// signature for one version cannot be replayed for another.
pub(super) fn trusted_comment(name: &str, version: &str, abi: &str) -> String {
    format!("dtm-plugin name={name} version={version} abi={abi}")
}

/// Reads `name`, `version` and `abi` back from a trusted comment.
pub(super) fn parse_trusted_comment(s: &str) -> Option<(String, String, String)> {
    let mut parts = s.split_whitespace();
    if parts.next()? != "dtm-plugin" {
        return None;
    }
    let (mut name, mut version, mut abi) = (None, None, None);
    for p in parts {
        match p.split_once('=') {
            Some(("name", v)) => name = Some(v.to_string()),
            Some(("version", v)) => version = Some(v.to_string()),
            Some(("abi", v)) => abi = Some(v.to_string()),
            _ => {}
        }
    }
    Some((name?, version?, abi?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_that_escape_are_refused() {
        for bad in [
            "", ".", "..", "../x", "a/b", "a\\b", "/abs", ".hidden", "a..b", "a\0b", "C:x",
        ] {
            assert!(safe_component("x", bad).is_err(), "{bad:?}");
        }
        for good in ["file", "0.1.0", "1.0.0-rc.1+build.5", "libdtm_plugin_a.so"] {
            assert!(safe_component("x", good).is_ok(), "{good:?}");
        }
        assert!(check_name_version("file", "0.1.0").is_ok());
        assert!(check_name_version("File", "0.1.0").is_err());
        assert!(check_name_version("file", "latest").is_err());
    }

    #[test]
    fn sums_round_trip_and_refuse_traversal() {
        let h = "a".repeat(64);
        let text = format!("{h}  linux-x86_64/libdtm_plugin_file.so\n");
        let sums = Sums::parse(&text, "u").unwrap();
        assert_eq!(sums.to_text(), text);
        assert_eq!(
            sums.for_platform("linux-x86_64"),
            Some(("libdtm_plugin_file.so", h.as_str()))
        );
        assert!(Sums::parse(&format!("{h}  linux-x86_64/../../etc/passwd\n"), "u").is_err());
        assert!(Sums::parse(&format!("{h}  ../x/y\n"), "u").is_err());
        assert!(Sums::parse("zz  linux-x86_64/f\n", "u").is_err());
    }

    #[test]
    fn trusted_comment_round_trips() {
        let c = trusted_comment("file", "0.1.0", "1.0");
        assert_eq!(
            parse_trusted_comment(&c),
            Some(("file".into(), "0.1.0".into(), "1.0".into()))
        );
        assert_eq!(parse_trusted_comment("timestamp:1 file:x"), None);
    }
}
