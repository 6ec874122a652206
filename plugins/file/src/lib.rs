//! The `file` plugin: manages one file's content and permission bits.
//!
//! Options (see `docs/plugins/file.md`): `path`, exactly one of `content` and `template`,
//! `vars` (for `template`) and `mode`. The status is the live `{sha256, size, mode}` of the file,
//! so an edit by hand shows as drift; the outputs are the absolute `path` and the `sha256`.
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
    #[schemars(length(min = 1))]
    pub path: String,
    /// The file's exact content. Give exactly one of `content` and `template`.
    #[serde(default)]
    pub content: Option<String>,
    /// The file's content as a template: each `[[ name ]]` is replaced by `vars.name`. Config
    /// variables were already substituted by dtm; this is for values local to this file.
    #[serde(default)]
    pub template: Option<String>,
    /// Values for the placeholders of `template`. Strings are inserted as they are, other values
    /// as JSON.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// Permission bits as an octal string, e.g. `"0644"` or `"600"`. When absent, an existing
    /// file keeps its bits and a new one gets `0644`.
    #[serde(default)]
    #[schemars(pattern(r"^[0-7]{3,4}$"))]
    pub mode: Option<String>,
}

/// The `file` plugin.
#[derive(Debug, Default)]
pub struct FilePlugin;

impl Options {
    /// The content to write.
    fn render(&self) -> Result<String, Problem> {
        match (&self.content, &self.template) {
            (Some(content), None) => Ok(content.clone()),
            (None, Some(template)) => {
                template::render(template, &self.vars).map_err(|message| Problem {
                    path: "/template".into(),
                    message,
                })
            }
            (Some(_), Some(_)) => Err(Problem {
                path: String::new(),
                message: "give either `content` or `template`, not both".into(),
            }),
            (None, None) => Err(Problem {
                path: String::new(),
                message: "missing `content` or `template`: one of them says what the file holds"
                    .into(),
            }),
        }
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

/// The target path, resolved against the request's workdir and made absolute.
fn target(req: &Req<Options>) -> Result<PathBuf, PluginError> {
    let path = req.resolve(&req.options.path);
    std::path::absolute(&path)
        .map_err(|e| PluginError::io(format!("resolving {}", path.display()), &e))
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
        "sha256": hex::encode(Sha256::digest(&bytes)),
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
        let to_error = |p: Problem| {
            PluginError::invalid_options(format!("options at {}: {}", p.path, p.message))
        };
        let content = req.options.render().map_err(to_error)?;
        let explicit_mode = req.options.mode_bits().map_err(to_error)?;
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
        let status = live_status(&path)?.ok_or_else(|| {
            PluginError::internal(format!(
                "{} vanished right after it was written",
                path.display()
            ))
        })?;
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
        if let Err(p) = options.render() {
            problems.push(p);
        }
        if options.template.is_none() && !options.vars.is_empty() {
            problems.push(Problem {
                path: "/vars".into(),
                message: "`vars` only fills the placeholders of `template`; there is no template"
                    .into(),
            });
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
        let path = target(req)?;
        Ok(live_status(&path)?.map(|status| done(&path, status)))
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
        let path = target(req)?;
        if remove(&path)? {
            ctx.info(format!("removed {}", path.display()));
        }
        Ok(Done::default().into())
    }
}

dtm_plugin_sdk::export_plugin!(FilePlugin, FilePlugin);

#[cfg(test)]
mod tests;
