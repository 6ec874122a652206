//! The `file` plugin: manages one file's content and permission bits.
//!
//! Options (see `docs/plugins/file.md`): `path`, exactly one of `content`, `template` and
//! `templateFile`, `vars` (for the templates) and `mode`. The status is the live
//! `{sha256, size, mode}` of the file (plus `template_sha256` with `templateFile`), so an edit by
//! hand shows as drift; the outputs are the absolute `path` and the `sha256`.
//!
//! Writes are atomic: the content goes to a temporary file in the same directory, which is then
//! renamed over the target. Parent directories are created as needed.
#![forbid(unsafe_code)]

mod template;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use dtm_plugin_sdk::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Permission bits of a new file when `mode` is not given.
const DEFAULT_MODE: u32 = 0o644;

/// Options of a `file` tool.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Path of the file. A relative path is resolved against the directory of the config file.
    #[schemars(length(min = 1), example = "motd.txt")]
    pub path: String,
    /// The file's exact content. Give exactly one of `content`, `template` and `templateFile`.
    #[serde(default)]
    #[schemars(example = "Managed by dtm.\n")]
    pub content: Option<String>,
    /// The file's content as a template: each `[[ name ]]` is replaced by `vars.name`. dtm
    /// substitutes its own `[[ ]]` variables in the config text first, so placeholders written
    /// here only reach the plugin if they came out of that substitution (see the docs); prefer
    /// `templateFile`.
    #[serde(default)]
    pub template: Option<String>,
    /// A file holding the template, relative to the config's directory. dtm does not read it,
    /// so its `[[ name ]]` placeholders are left for `vars`. A change to it shows as drift.
    #[serde(default, rename = "templateFile")]
    pub template_file: Option<String>,
    /// Values for the placeholders of `template` or `templateFile`. Strings are inserted as they
    /// are, other values as JSON.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// Permission bits as an octal string, e.g. `"0644"` or `"600"`. When absent, an existing
    /// file keeps its bits and a new one gets `0644`.
    #[serde(default)]
    #[schemars(pattern(r"^[0-7]{3,4}$"), example = "0644")]
    pub mode: Option<String>,
}

/// The `file` plugin.
#[derive(Debug, Default)]
pub struct FilePlugin;

/// Where the content comes from.
enum Source<'a> {
    Content(&'a str),
    Template(&'a str),
    TemplateFile(&'a str),
}

impl Options {
    /// Which of `content`, `template` and `templateFile` is given (exactly one must be).
    fn source(&self) -> Result<Source<'_>, Problem> {
        let given = match (&self.content, &self.template, &self.template_file) {
            (Some(c), None, None) => Some(Source::Content(c)),
            (None, Some(t), None) => Some(Source::Template(t)),
            (None, None, Some(f)) => Some(Source::TemplateFile(f)),
            _ => None,
        };
        given.ok_or_else(|| {
            let count = [self.content.is_some(), self.template.is_some(), self.template_file.is_some()]
                .iter()
                .filter(|given| **given)
                .count();
            let message = if count == 0 {
                "missing `content`, `template` or `templateFile`: one of them says what the file holds"
            } else {
                "give only one of `content`, `template` and `templateFile`"
            };
            Problem { path: String::new(), message: message.into() }
        })
    }

    fn mode_bits(&self) -> Result<Option<u32>, Problem> {
        let Some(mode) = &self.mode else {
            return Ok(None);
        };
        let valid =
            (3..=4).contains(&mode.len()) && mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
        match u32::from_str_radix(mode, 8) {
            Ok(bits) if valid => Ok(Some(bits)),
            _ => Err(Problem {
                path: "/mode".into(),
                message: format!("`{mode}` is not an octal mode like \"0644\" (3 or 4 digits 0-7)"),
            }),
        }
    }
}

fn invalid(problem: Problem) -> PluginError {
    PluginError::invalid_options(format!("options at {}: {}", problem.path, problem.message))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The content to write and, for `templateFile`, the hash of the template it came from.
fn content(req: &Req<Options>) -> Result<(String, Option<String>), PluginError> {
    let options = &req.options;
    let rendered = |template: &str, path: &str| {
        template::render(template, &options.vars).map_err(|message| {
            invalid(Problem {
                path: path.into(),
                message,
            })
        })
    };
    match options.source().map_err(invalid)? {
        Source::Content(content) => Ok((content.to_string(), None)),
        Source::Template(template) => Ok((rendered(template, "/template")?, None)),
        Source::TemplateFile(file) => {
            let file = req.resolve(file);
            let template = fs::read_to_string(&file).map_err(|e| {
                PluginError::io(format!("reading the template {}", file.display()), &e)
            })?;
            let content = rendered(&template, "/templateFile").map_err(|e| PluginError {
                message: format!("{} ({})", e.message, file.display()),
                ..e
            })?;
            Ok((content, Some(sha256_hex(template.as_bytes()))))
        }
    }
}

/// The current hash of the `templateFile`, null if it cannot be read.
fn template_sha256(req: &Req<Options>) -> Option<Value> {
    let file = req.options.template_file.as_ref()?;
    Some(fs::read(req.resolve(file)).map_or(Value::Null, |t| Value::String(sha256_hex(&t))))
}

/// The target path, resolved against the request's workdir and made absolute.
fn target(req: &Req<Options>) -> Result<PathBuf, PluginError> {
    let path = req.resolve(&req.options.path);
    std::path::absolute(&path)
        .map_err(|e| PluginError::io(format!("resolving {}", path.display()), &e))
}

/// The path dtm recorded for the file (its `path` output), else the configured one.
fn recorded_or_target(req: &Req<Options>) -> Result<PathBuf, PluginError> {
    match req.outputs.get("path").and_then(Value::as_str) {
        Some(recorded) if !recorded.is_empty() => Ok(PathBuf::from(recorded)),
        _ => target(req),
    }
}

/// The live status of the file at `path`, or `None` if there is no file.
fn live_status(path: &Path) -> Result<Option<Value>, PluginError> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(PluginError::io(
                format!("inspecting {}", path.display()),
                &e,
            ));
        }
    };
    if !meta.is_file() {
        return Err(PluginError::conflict(format!(
            "{} exists but is not a regular file; remove it or choose another path",
            path.display()
        )));
    }
    let bytes =
        fs::read(path).map_err(|e| PluginError::io(format!("reading {}", path.display()), &e))?;
    Ok(Some(json!({
        "sha256": sha256_hex(&bytes),
        "size": bytes.len(),
        "mode": mode_of(&meta).map(|m| format!("{m:04o}")),
    })))
}

#[cfg(unix)]
fn mode_of(meta: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(_meta: &fs::Metadata) -> Option<u32> {
    None
}

#[cfg(unix)]
fn set_mode(file: &fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &fs::File, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Writes `content` to `path` atomically (temporary file in the same directory + rename).
fn write_atomically(path: &Path, content: &[u8], mode: u32) -> Result<(), PluginError> {
    let dir = path.parent().ok_or_else(|| {
        PluginError::invalid_options(format!("{} has no parent directory", path.display()))
    })?;
    fs::create_dir_all(dir)
        .map_err(|e| PluginError::io(format!("creating {}", dir.display()), &e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".dtm-tmp")
        .tempfile_in(dir)
        .map_err(|e| {
            PluginError::io(
                format!("creating a temporary file in {}", dir.display()),
                &e,
            )
        })?;
    let tmp_path = tmp.path().to_path_buf();
    let what = || format!("writing {}", tmp_path.display());
    tmp.write_all(content)
        .map_err(|e| PluginError::io(what(), &e))?;
    set_mode(tmp.as_file(), mode).map_err(|e| PluginError::io(what(), &e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| PluginError::io(what(), &e))?;
    tmp.persist(path)
        .map_err(|e| PluginError::io(format!("renaming into {}", path.display()), &e.error))?;
    Ok(())
}

fn remove(path: &Path) -> Result<bool, PluginError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(PluginError::io(format!("removing {}", path.display()), &e)),
    }
}

fn done(path: &Path, status: Value) -> Done {
    let sha = status["sha256"].clone();
    Done::new(status)
        .output("path", path.display().to_string())
        .output("sha256", sha)
}

impl FilePlugin {
    fn write(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        let (content, template_sha) = content(req)?;
        let explicit_mode = req.options.mode_bits().map_err(invalid)?;
        let path = target(req)?;
        let existing = live_status(&path)?;
        let mode = match (explicit_mode, &existing) {
            (Some(mode), _) => mode,
            (None, Some(status)) => status["mode"]
                .as_str()
                .and_then(|m| u32::from_str_radix(m, 8).ok())
                .unwrap_or(DEFAULT_MODE),
            (None, None) => DEFAULT_MODE,
        };
        ctx.info(format!(
            "writing {} ({} bytes, mode {mode:04o})",
            path.display(),
            content.len()
        ));
        write_atomically(&path, content.as_bytes(), mode)?;
        let mut status = live_status(&path)?.ok_or_else(|| {
            PluginError::internal(format!(
                "{} vanished right after it was written",
                path.display()
            ))
        })?;
        if let (Some(sha), Value::Object(map)) = (template_sha, &mut status) {
            map.insert("template_sha256".into(), Value::String(sha));
        }
        Ok(done(&path, status).into())
    }
}

impl Plugin for FilePlugin {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "file",
            env!("CARGO_PKG_VERSION"),
            "Manages one file: its content and mode",
        )
        .output("path", "absolute path of the file")
        .output("sha256", "SHA-256 of the file's content, lower-case hex")
    }

    fn validate(&self, _ctx: &Ctx, options: &Options) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        if options.path.trim().is_empty() {
            problems.push(Problem {
                path: "/path".into(),
                message: "must not be empty".into(),
            });
        }
        match options.source() {
            Err(p) => problems.push(p),
            Ok(Source::Template(template)) => {
                if let Err(message) = template::render(template, &options.vars) {
                    problems.push(Problem {
                        path: "/template".into(),
                        message,
                    });
                }
            }
            Ok(Source::Content(_)) if !options.vars.is_empty() => problems.push(Problem {
                path: "/vars".into(),
                message: "`vars` only fills the placeholders of a template; there is none".into(),
            }),
            // The template file is read relative to the config's directory, at create/update.
            Ok(_) => {}
        }
        if let Err(p) = options.mode_bits() {
            problems.push(p);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn create(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        self.write(ctx, req)
    }

    fn read(&self, _ctx: &Ctx, req: &Req<Options>) -> Result<Option<Done>, PluginError> {
        // The file is where dtm wrote it: a changed `path` is an update (which moves it), not a
        // file removed outside dtm.
        let path = recorded_or_target(req)?;
        let Some(mut status) = live_status(&path)? else {
            return Ok(None);
        };
        if let (Some(sha), Value::Object(map)) = (template_sha256(req), &mut status) {
            map.insert("template_sha256".into(), sha);
        }
        Ok(Some(done(&path, status)))
    }

    fn update(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        let step = self.write(ctx, req)?;
        // The path itself may have changed: the file dtm wrote before should not stay behind.
        let path = target(req)?;
        if let Some(previous) = req.outputs.get("path").and_then(Value::as_str)
            && Path::new(previous) != path
            && remove(Path::new(previous))?
        {
            ctx.info(format!("removed {previous}, the file's previous path"));
        }
        Ok(step)
    }

    fn delete(&self, ctx: &Ctx, req: &Req<Options>) -> Result<Step, PluginError> {
        let path = recorded_or_target(req)?;
        if remove(&path)? {
            ctx.info(format!("removed {}", path.display()));
        }
        Ok(Done::default().into())
    }
}

dtm_plugin_sdk::export_plugin!(FilePlugin, FilePlugin);

#[cfg(test)]
mod tests;
