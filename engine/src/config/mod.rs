//! Loading and validating configs: DevStream v0.10+ format plus dtm's additions.
//!
//! The entry points are [`load`] (parse, substitute variables, expand apps, check everything that
//! needs no plugin) and [`validate_against_plugins`] (unknown plugins, options vs JSON Schema,
//! references to outputs a plugin does not declare). Both report every problem at once.
//! [`resolve_refs`] fills in output references when a tool is about to run.
//!
//! Loading goes: read the files → find `[[ ]]` expressions and the top-level sections of each
//! file (`template`) → read every file's `vars:` (`vars`) → substitute variables in the text,
//! secrets as tokens (`load`) → parse with positions (`yaml`) → decode (`decode`) → expand apps
//! (`apps`) → check the tool graph (`graph`). docs/config.md is the user's reference.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

mod apps;
mod decode;
mod graph;
mod limits;
mod load;
mod options;
mod plugins;
mod refs;
mod suggest;
mod template;
mod vars;
mod yaml;

pub use load::load;
pub use options::ALIASES_KEYWORD;
pub use plugins::{CheckOptions, PluginCheck, validate_against_plugins};
pub use refs::{RefError, resolve_refs};
pub(crate) use vars::value_text;
pub(crate) use yaml::plain_value;

/// A position in a config file, 1-based.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    /// The config file the position is in.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// One problem found in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where (None when the problem has no single place, e.g. an empty directory).
    pub loc: Option<Loc>,
    /// The offending key or dotted path (`tools[2].dependsOn`), may be empty.
    pub key: String,
    /// What is wrong and, where possible, what to do.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.loc {
            write!(f, "{loc}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "`{}`: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Errors from loading a config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The path given with `-f` could not be read.
    #[error("cannot read config {path}")]
    Read {
        /// The path the operation was on.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// One or more problems; all of them, in file order.
    #[error("{} in config:\n{}", crate::text::count(.0.len(), "problem", "problems"), crate::text::indented_lines(.0))]
    Invalid(Vec<Diagnostic>),
}

/// The `config.state` section.
#[derive(Debug, Clone, PartialEq)]
pub struct StateConfig {
    /// `local` (default), `s3`, `k8s`/`kubernetes`.
    pub backend: String,
    /// Backend options as written (after variable substitution).
    pub options: serde_json::Map<String, Value>,
    /// Where the section is (None when defaulted).
    pub loc: Option<Loc>,
}

/// A validated config.
#[derive(Debug, Clone)]
pub struct Config {
    /// Files the config was read from, in merge order.
    pub files: Vec<PathBuf>,
    /// Directory relative paths are resolved against: the file's directory, or the directory
    /// given with `-f`.
    pub dir: PathBuf,
    /// State backend; defaults to local `devstream.state`.
    pub state: StateConfig,
    /// `config.pluginDir`, resolved against `dir`.
    pub plugin_dir: Option<PathBuf>,
    /// `config.pluginRegistry`, if any.
    pub plugin_registry: Option<String>,
    /// `config.pluginRegistryKey`: a minisign public key (base64) trusted for this config's
    /// plugins, besides the built-in keys and those in the dtm home.
    pub plugin_registry_key: Option<String>,
    /// `config.strict`: option keys a plugin does not know are errors, not warnings.
    pub strict: bool,
    /// Tool instances: every `tools:` entry in file order, then the tools expanded from `apps:`
    /// (in app order).
    pub tools: Vec<Tool>,
}

/// One tool instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// Plugin name (`tools[].name`).
    pub plugin: String,
    /// `tools[].instanceID`.
    pub instance_id: String,
    /// Every dependency as `name.instanceID`: explicit `dependsOn` plus those implied by output
    /// references, deduplicated, sorted.
    pub depends_on: Vec<String>,
    /// Optional plugin version requirement.
    pub version: Option<semver::VersionReq>,
    /// Optional per-tool timeout for each plugin step.
    pub timeout: Option<Duration>,
    /// Options with `[[ ]]` variables substituted and secrets in clear text; output references
    /// `${{ a.b.outputs.c }}` are still in place (see [`OutputRef`]).
    pub options: Value,
    /// JSON pointers (into `options`) of string values that carry a secret.
    pub secret_paths: Vec<String>,
    /// The clear-text secret values used by this tool, for masking logs.
    pub secret_values: Vec<String>,
    /// Where each secret string comes from (one per entry of `secret_paths`, same order), so
    /// that state can record how to rebuild it from the environment.
    pub secret_sources: Vec<SecretSource>,
    /// Every output reference in `options`.
    pub refs: Vec<OutputRef>,
    /// Where the tool is defined.
    pub loc: Loc,
    /// Location of each option value, keyed by JSON pointer, for schema errors.
    pub option_locs: BTreeMap<String, Loc>,
    /// Location of each option key, keyed by the JSON pointer of its value, for messages about
    /// keys.
    pub key_locs: BTreeMap<String, Loc>,
}

impl Tool {
    /// `name.instanceID`, the tool's key everywhere.
    pub fn key(&self) -> String {
        format!("{}.{}", self.plugin, self.instance_id)
    }
}

/// How the option string at one secret path is made: text as written and environment
/// variables. State records it next to the secret's keyed hash, so that a tool removed from the
/// config can still be given its secrets (rebuilt from the environment) when it is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSource {
    /// JSON pointer (into options) of the string.
    pub pointer: String,
    /// The string, piece by piece, in order.
    pub parts: Vec<SecretPart>,
}

/// One piece of a [`SecretSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretPart {
    /// Text as written, variables substituted (output references `${{ }}` may still be in it).
    Text(String),
    /// The value of this environment variable (`[[ env "NAME" ]]`).
    Env(String),
}

/// One `${{ tool.instance.outputs.key }}` occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRef {
    /// `name.instanceID` of the referenced tool.
    pub tool: String,
    /// The name of the output, as the producing plugin declares it.
    pub key: String,
    /// JSON pointer (into options) of the string holding the reference.
    pub pointer: String,
    /// Where it is.
    pub loc: Loc,
}
