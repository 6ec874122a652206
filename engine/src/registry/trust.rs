//! Trusted minisign keys and signature checks.
//!
//! Keys come from three places: [`BUILTIN_KEYS`] (compiled in), `*.pub` files in
//! `<dtm home>/trusted-keys/` (minisign public key files), and a key named by the config
//! (`config.pluginRegistryKey`, the base64 line of a minisign public key).

use std::fmt;
use std::path::{Path, PathBuf};

use minisign::{PublicKey, PublicKeyBox, SignatureBox};

use super::RegistryError;

/// Public keys every dtm trusts (base64 minisign keys). None are published yet.
pub const BUILTIN_KEYS: &[&str] = &[];

/// One trusted key and where it came from.
pub struct TrustedKey {
    /// Where the key was found (file path, `built-in`, `config.pluginRegistryKey`).
    pub source: String,
    /// Key id as minisign prints it (16 hex digits).
    pub id: String,
    key: PublicKey,
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedKey")
            .field("source", &self.source)
            .field("id", &self.id)
            .finish()
    }
}

/// Key id bytes (little-endian u64) as minisign shows them.
pub fn key_id(keynum: &[u8]) -> String {
    let mut b = [0u8; 8];
    let n = keynum.len().min(8);
    b[..n].copy_from_slice(&keynum[..n]);
    format!("{:016X}", u64::from_le_bytes(b))
}

/// The set of keys signatures are checked against.
#[derive(Debug, Default)]
pub struct TrustedKeys {
    /// The trusted public keys, from the dtm home and the config.
    pub keys: Vec<TrustedKey>,
    /// The directory keys were read from (named in errors).
    pub dir: Option<PathBuf>,
}

impl TrustedKeys {
    /// Built-in keys, then every `*.pub` in `dir` (when it exists), then `extra` (config).
    pub fn load(dir: Option<&Path>, extra: Option<&str>) -> Result<Self, RegistryError> {
        let mut out = TrustedKeys {
            keys: Vec::new(),
            dir: dir.map(Path::to_path_buf),
        };
        for k in BUILTIN_KEYS {
            out.add_base64("built-in", k)?;
        }
        if let Some(dir) = dir
            && dir.is_dir()
        {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| RegistryError::io("cannot read", dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "pub"))
                .collect();
            files.sort();
            for f in files {
                let text = std::fs::read_to_string(&f)
                    .map_err(|e| RegistryError::io("cannot read", &f, e))?;
                let key = parse_public_key(&text).map_err(|message| RegistryError::BadKey {
                    path: f.clone(),
                    message,
                })?;
                out.push(f.display().to_string(), key);
            }
        }
        if let Some(k) = extra {
            out.add_base64("config.pluginRegistryKey", k)?;
        }
        Ok(out)
    }

    fn add_base64(&mut self, source: &str, b64: &str) -> Result<(), RegistryError> {
        let key = parse_public_key(b64).map_err(|message| RegistryError::BadKey {
            path: PathBuf::from(source),
            message,
        })?;
        self.push(source.to_string(), key);
        Ok(())
    }

    fn push(&mut self, source: String, key: PublicKey) {
        let id = key_id(key.keynum());
        self.keys.push(TrustedKey { source, id, key });
    }

    /// Verifies `sig_text` (a minisign signature file) over `data` and returns its trusted
    /// comment. `name`, `version` and `url` only make errors precise.
    pub fn verify(
        &self,
        data: &[u8],
        sig_text: &str,
        name: &str,
        version: &str,
        url: &str,
    ) -> Result<String, RegistryError> {
        let bad = |key_id: String, message: String| RegistryError::BadSignature {
            name: name.to_string(),
            version: version.to_string(),
            url: url.to_string(),
            key_id,
            message,
        };
        let sig = SignatureBox::from_string(sig_text)
            .map_err(|e| bad("?".into(), format!("not a minisign signature: {e}")))?;
        let id = key_id(sig.keynum());
        let Some(key) = self.keys.iter().find(|k| k.key.keynum() == sig.keynum()) else {
            return Err(RegistryError::UntrustedKey {
                name: name.to_string(),
                version: version.to_string(),
                url: url.to_string(),
                key_id: id,
                trust_dir: self
                    .dir
                    .as_ref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|| "<dtm home>/trusted-keys".into()),
            });
        };
        minisign::verify(
            &key.key,
            &sig,
            std::io::Cursor::new(data),
            true,
            false,
            false,
        )
        .map_err(|e| bad(id.clone(), e.to_string()))?;
        sig.trusted_comment()
            .map_err(|e| bad(id, format!("unreadable trusted comment: {e}")))
    }
}

/// Parses a minisign public key: a whole `.pub` file or just its base64 line.
pub(super) fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    let trimmed = text.trim();
    let parsed = if trimmed.starts_with("untrusted comment:") {
        PublicKeyBox::from_string(trimmed).and_then(|b| b.into_public_key())
    } else {
        PublicKey::from_base64(trimmed)
    };
    parsed.map_err(|e| format!("not a minisign public key: {e}"))
}
