//! Checks that need the plugins' manifests: plugin names, options against each plugin's JSON
//! Schema, and references to outputs.

use std::collections::{BTreeMap, HashMap};

use dtm_plugin_protocol::Manifest;
use serde_json::Value;

use super::refs::find_refs;
use super::suggest::hint;
use super::{Config, ConfigError, Diagnostic, Loc, Tool};

/// Checks `config` against the manifests of the plugins it uses (keyed by plugin name): unknown
/// plugins, options that break the plugin's JSON Schema (draft 2020-12), and references to
/// outputs the referenced tool's plugin does not declare. Reports every problem at once.
///
/// Schema errors at a string that holds an output reference (`${{ }}`) are skipped: its value
/// is only known at run time.
pub fn validate_against_plugins(
    config: &Config,
    manifests: &BTreeMap<String, Manifest>,
) -> Result<(), ConfigError> {
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut validators: HashMap<&str, Option<jsonschema::Validator>> = HashMap::new();
    let plugins_by_tool: HashMap<String, &str> = config
        .tools
        .iter()
        .map(|t| (t.key(), t.plugin.as_str()))
        .collect();

    for tool in &config.tools {
        let key = tool.key();
        let Some(manifest) = manifests.get(&tool.plugin) else {
            diags.push(Diagnostic {
                loc: Some(tool.loc.clone()),
                key: key.clone(),
                message: format!(
                    "unknown plugin `{}`{}; run `dtm list plugins` to see what is available",
                    tool.plugin,
                    hint(&tool.plugin, manifests.keys().map(String::as_str))
                ),
            });
            continue;
        };
        let validator = validators.entry(tool.plugin.as_str()).or_insert_with(|| {
            match jsonschema::draft202012::new(&manifest.options_schema) {
                Ok(v) => Some(v),
                Err(e) => {
                    diags.push(Diagnostic {
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
                diags.push(Diagnostic {
                    loc: Some(option_loc(tool, pointer)),
                    key: format!("{key}.options{}", dotted(pointer)),
                    message,
                });
            }
        }
    }

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
            diags.push(Diagnostic {
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

    if diags.is_empty() {
        return Ok(());
    }
    let order: HashMap<&std::path::Path, usize> = config
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_path(), i))
        .collect();
    let sort_key = |d: &Diagnostic| {
        d.loc.as_ref().map(|l| {
            (
                order.get(l.file.as_path()).copied().unwrap_or(usize::MAX),
                l.line,
                l.col,
            )
        })
    };
    diags.sort_by_key(sort_key);
    Err(ConfigError::Invalid(diags))
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
