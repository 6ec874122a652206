//! Checks that need the plugins' manifests: plugin names, option keys and values against each
//! plugin's JSON Schema, and references to outputs.

use std::collections::{BTreeMap, HashMap};

use dtm_plugin_protocol::Manifest;
use serde_json::Value;

use super::options::{Ignored, Normalized, Reason, normalize};
use super::refs::find_refs;
use super::suggest::hint;
use super::{Config, ConfigError, Diagnostic, Loc, Tool};

/// How [`validate_against_plugins`] checks.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Option keys a plugin does not know are errors instead of warnings (`--strict`,
    /// `config.strict: true`).
    pub strict: bool,
    /// Every plugin dtm could load (plugin directories, plugin cache, registry), for the
    /// suggestion when a tool names an unknown plugin. The manifests' names always count.
    pub known_plugins: Vec<String>,
    /// Where plugins were looked for, said when a tool names an unknown plugin (e.g. `looked for
    /// libdtm_plugin_x.so in /a, /b`).
    pub searched: Option<String>,
}

/// What [`validate_against_plugins`] found.
#[derive(Debug, Clone, Default)]
pub struct PluginCheck {
    /// Problems: the config cannot be used as it is. In file order.
    pub problems: Vec<Diagnostic>,
    /// Option keys dtm ignored (as DevStream did): unknown keys and second spellings of a key.
    /// In file order.
    pub warnings: Vec<Diagnostic>,
}

impl PluginCheck {
    /// The warnings when there are no problems; otherwise every problem.
    pub fn into_result(self) -> Result<Vec<Diagnostic>, ConfigError> {
        if self.problems.is_empty() {
            Ok(self.warnings)
        } else {
            Err(ConfigError::Invalid(self.problems))
        }
    }
}

/// Checks `config` against the manifests of the plugins it uses (keyed by plugin name) and
/// brings its option keys to each plugin's spelling. Reports every problem at once.
///
/// For each tool whose plugin is known, option keys are first matched to the plugin's schema
/// (see `config::options`): a key that differs only in case, or that is another spelling the
/// schema names, is renamed (exact spellings win); a key the schema does not allow is taken out
/// of the options and reported as a warning, or as a problem under `options.strict`. The tool's
/// secret pointers, output references and locations follow. Then the options are checked
/// against the schema (draft 2020-12), and references against the outputs each plugin declares.
///
/// Schema errors at a string that holds an output reference (`${{ }}`) are skipped: its value
/// is only known at run time.
pub fn validate_against_plugins(
    config: &mut Config,
    manifests: &BTreeMap<String, Manifest>,
    options: &CheckOptions,
) -> PluginCheck {
    let mut check = PluginCheck::default();
    let mut validators: HashMap<String, Option<jsonschema::Validator>> = HashMap::new();
    for tool in &mut config.tools {
        let Some(manifest) = manifests.get(&tool.plugin) else {
            check
                .problems
                .push(unknown_plugin(tool, manifests, options));
            continue;
        };
        let normalized = normalize(&mut tool.options, &manifest.options_schema);
        follow(tool, &normalized);
        for ignored in &normalized.ignored {
            let d = ignored_key(tool, ignored, options.strict);
            if options.strict {
                check.problems.push(d);
            } else {
                check.warnings.push(d);
            }
        }
        let validator = validators.entry(tool.plugin.clone()).or_insert_with(|| {
            match jsonschema::draft202012::new(&manifest.options_schema) {
                Ok(v) => Some(v),
                Err(e) => {
                    check.problems.push(Diagnostic {
                        loc: None,
                        key: tool.plugin.clone(),
                        message: format!(
                            "plugin `{}` {} publishes an invalid options schema: {e}",
                            manifest.name, manifest.version
                        ),
                    });
                    None
                }
            }
        });
        if let Some(validator) = validator {
            schema_errors(tool, validator, &mut check.problems);
        }
    }
    output_refs(config, manifests, &mut check.problems);
    sort_in_file_order(config, &mut check.problems);
    sort_in_file_order(config, &mut check.warnings);
    check
}

fn unknown_plugin(
    tool: &Tool,
    manifests: &BTreeMap<String, Manifest>,
    options: &CheckOptions,
) -> Diagnostic {
    let mut known: Vec<&str> = options.known_plugins.iter().map(String::as_str).collect();
    known.extend(manifests.keys().map(String::as_str));
    known.sort_unstable();
    known.dedup();
    let searched = options
        .searched
        .as_ref()
        .map(|s| format!("; {s}"))
        .unwrap_or_default();
    Diagnostic {
        loc: Some(tool.loc.clone()),
        key: tool.key(),
        message: format!(
            "unknown plugin `{}`{}{searched}; run `dtm list plugins` to see what is available",
            tool.plugin,
            hint(&tool.plugin, known.iter().copied())
        ),
    }
}

/// Moves the tool's pointers (secrets, references, locations) where normalizing moved the
/// options' keys, and forgets those under keys taken out.
fn follow(tool: &mut Tool, n: &Normalized) {
    if n.renames.is_empty() && n.ignored.is_empty() {
        return;
    }
    let mut secret_paths = Vec::new();
    let mut secret_sources = Vec::new();
    for (path, mut source) in tool
        .secret_paths
        .drain(..)
        .zip(tool.secret_sources.drain(..))
    {
        if let Some(moved) = n.move_pointer(&path) {
            source.pointer.clone_from(&moved);
            secret_paths.push(moved);
            secret_sources.push(source);
        }
    }
    tool.secret_paths = secret_paths;
    tool.secret_sources = secret_sources;
    tool.refs.retain_mut(|r| match n.move_pointer(&r.pointer) {
        Some(moved) => {
            r.pointer = moved;
            true
        }
        None => false,
    });
    tool.option_locs = std::mem::take(&mut tool.option_locs)
        .into_iter()
        .filter_map(|(p, loc)| n.move_pointer(&p).map(|p| (p, loc)))
        .collect();
    // Keys taken out keep their place: the messages about them point there.
    tool.key_locs = std::mem::take(&mut tool.key_locs)
        .into_iter()
        .map(|(p, loc)| (n.rename_pointer(&p), loc))
        .collect();
}

fn ignored_key(tool: &Tool, ignored: &Ignored, strict: bool) -> Diagnostic {
    let loc = tool
        .key_locs
        .get(&ignored.pointer)
        .cloned()
        .unwrap_or_else(|| option_loc(tool, &ignored.pointer));
    let key = &ignored.key;
    let message = match &ignored.reason {
        Reason::Unknown(expected) => {
            let listing = if expected.is_empty() {
                "it takes no keys".to_owned()
            } else {
                format!("expected one of: {}", expected.join(", "))
            };
            let tail = if strict {
                "; remove it (without --strict or `config.strict`, dtm ignores it with a warning)"
            } else {
                "; ignored, as DevStream ignored it (an error with --strict or `config.strict: true`)"
            };
            format!(
                "unknown option `{key}` for plugin `{}`{}; {listing}{tail}",
                tool.plugin,
                hint(key, expected.iter().map(String::as_str))
            )
        }
        Reason::Duplicate(canonical) if strict => format!(
            "`{key}` is another spelling of `{canonical}`, which is also set; remove one of them"
        ),
        Reason::Duplicate(canonical) => format!(
            "`{key}` is another spelling of `{canonical}`, which is also set; `{canonical}` is \
             used and `{key}` ignored"
        ),
    };
    Diagnostic {
        loc: Some(loc),
        key: format!("{}.options{}", tool.key(), dotted(&ignored.pointer)),
        message,
    }
}

fn schema_errors(tool: &Tool, validator: &jsonschema::Validator, out: &mut Vec<Diagnostic>) {
    let key = tool.key();
    for error in validator.iter_errors(&tool.options) {
        let pointer = error.instance_path().as_str();
        if holds_ref(&tool.options, pointer) {
            continue;
        }
        let secret = tool
            .secret_paths
            .iter()
            .any(|p| p == pointer || p.starts_with(&format!("{pointer}/")));
        let message = if secret {
            error.masked_with("(secret)").to_string()
        } else {
            error.to_string()
        };
        out.push(Diagnostic {
            loc: Some(option_loc(tool, pointer)),
            key: format!("{key}.options{}", dotted(pointer)),
            message,
        });
    }
}

/// References to outputs the referenced tool's plugin does not declare.
fn output_refs(config: &Config, manifests: &BTreeMap<String, Manifest>, out: &mut Vec<Diagnostic>) {
    let plugins_by_tool: HashMap<String, &str> = config
        .tools
        .iter()
        .map(|t| (t.key(), t.plugin.as_str()))
        .collect();
    for tool in &config.tools {
        for r in &tool.refs {
            let Some(plugin) = plugins_by_tool.get(&r.tool) else {
                continue;
            };
            let Some(manifest) = manifests.get(*plugin) else {
                continue;
            };
            // An output named `*` stands for outputs the options decide (the `exec` plugin's).
            if manifest
                .outputs
                .iter()
                .any(|o| o.name == r.key || o.name == "*")
            {
                continue;
            }
            let declared: Vec<&str> = manifest.outputs.iter().map(|o| o.name.as_str()).collect();
            let listing = if declared.is_empty() {
                format!("plugin `{plugin}` declares no outputs")
            } else {
                format!("plugin `{plugin}` declares: {}", declared.join(", "))
            };
            out.push(Diagnostic {
                loc: Some(r.loc.clone()),
                key: format!("{}.options{}", tool.key(), dotted(&r.pointer)),
                message: format!(
                    "`{}` has no output `{}`{}; {listing}",
                    r.tool,
                    r.key,
                    hint(&r.key, declared.iter().copied())
                ),
            });
        }
    }
}

fn sort_in_file_order(config: &Config, diags: &mut [Diagnostic]) {
    let order: HashMap<&std::path::Path, usize> = config
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_path(), i))
        .collect();
    diags.sort_by_key(|d| {
        d.loc.as_ref().map(|l| {
            (
                order.get(l.file.as_path()).copied().unwrap_or(usize::MAX),
                l.line,
                l.col,
            )
        })
    });
}

/// Whether the value at `pointer` is a string with an output reference in it.
fn holds_ref(options: &Value, pointer: &str) -> bool {
    matches!(options.pointer(pointer), Some(Value::String(s)) if !find_refs(s).is_empty())
}

/// Where the value at `pointer` (or its closest ancestor) was written.
fn option_loc(tool: &Tool, pointer: &str) -> Loc {
    let mut p = pointer;
    loop {
        if let Some(loc) = tool.option_locs.get(p) {
            return loc.clone();
        }
        match p.rfind('/') {
            Some(i) => p = &p[..i],
            None => return tool.loc.clone(),
        }
    }
}

/// `/a/b/0` → `.a.b.0` (for messages).
fn dotted(pointer: &str) -> String {
    pointer
        .split('/')
        .skip(1)
        .map(|s| format!(".{}", s.replace("~1", "/").replace("~0", "~")))
        .collect()
}
