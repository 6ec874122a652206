//! Template files: the built-in templates, reading a template repository, rendering.
//!
//! A file whose name ends in `.tpl` loses that suffix. Text files (UTF-8) have their
//! `[[ name ]]` placeholders filled, paths too; other files are copied as they are.

use std::collections::BTreeMap;
use std::path::Path;

use dtm_git_support::render::render;
use dtm_plugin_sdk::prelude::*;
use serde_json::Value;

/// One file of a template, or of its rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Path relative to the repository root, with `/` separators.
    pub path: String,
    /// Content.
    pub bytes: Vec<u8>,
    /// Whether the executable bit is set.
    pub executable: bool,
}

/// Names of the built-in templates.
pub const BUILTIN_NAMES: &[&str] = &["rust", "go", "python"];

macro_rules! files {
    ($dir:literal: $($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../templates/", $dir, "/", $path)))),*]
    };
}

const RUST: &[(&str, &str)] = files!("rust":
    "Cargo.toml.tpl", "src/main.rs", "Dockerfile", "README.md", ".gitignore");
const GO: &[(&str, &str)] = files!("go":
    "go.mod", "main.go", "main_test.go", "Dockerfile", "README.md");
const PYTHON: &[(&str, &str)] = files!("python":
    "app.py", "tests/__init__.py", "tests/test_app.py", "requirements.txt", "Dockerfile",
    "README.md", ".gitignore");

/// The canonical built-in template for a language or framework name.
pub(crate) fn builtin_name(name: &str) -> Option<&'static str> {
    match name.trim().to_ascii_lowercase().as_str() {
        "rust" | "axum" | "actix" | "actix-web" => Some("rust"),
        "go" | "golang" | "gin" => Some("go"),
        "python" | "python3" | "flask" | "django" | "fastapi" => Some("python"),
        _ => None,
    }
}

/// The files of a built-in template.
pub(crate) fn builtin(name: &str) -> Vec<File> {
    let files = match name {
        "rust" => RUST,
        "go" => GO,
        _ => PYTHON,
    };
    files
        .iter()
        .map(|(path, text)| File {
            path: (*path).to_string(),
            bytes: text.as_bytes().to_vec(),
            executable: false,
        })
        .collect()
}

/// Every file under `root` (not `.git`), sorted by path.
pub(crate) fn read_dir(root: &Path) -> Result<Vec<File>, PluginError> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| PluginError::io(format!("reading {}", dir.display()), &e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| PluginError::io(format!("reading {}", dir.display()), &e))?;
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(|e| PluginError::io(format!("inspecting {}", path.display()), &e))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .map_err(|_| PluginError::internal("a template file outside its directory"))?
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                let bytes = std::fs::read(&path)
                    .map_err(|e| PluginError::io(format!("reading {}", path.display()), &e))?;
                files.push(File {
                    path: rel,
                    bytes,
                    executable: is_executable(&entry),
                });
            }
            // Symlinks are not followed: a template must not reach outside itself.
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

#[cfg(unix)]
fn is_executable(entry: &std::fs::DirEntry) -> bool {
    use std::os::unix::fs::PermissionsExt;
    entry
        .metadata()
        .map(|m| m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(_entry: &std::fs::DirEntry) -> bool {
    false
}

/// Renders every file's path and (text) content with `vars`.
pub(crate) fn render_all(
    files: Vec<File>,
    vars: &BTreeMap<String, Value>,
) -> Result<Vec<File>, PluginError> {
    let mut out: Vec<File> = Vec::with_capacity(files.len());
    for file in files {
        let mut path = render(&file.path, vars);
        // DevStream's template repositories name directories `_app_name_`.
        if let Some(app) = vars.get("appName").and_then(Value::as_str) {
            path = path.replace("_app_name_", app);
        }
        if let Some(stripped) = path.strip_suffix(".tpl") {
            path = stripped.to_string();
        }
        dtm_git_support::git::check_relative(&path).map_err(|m| {
            PluginError::invalid_options(format!("template file `{}`: {m}", file.path))
        })?;
        let bytes = match String::from_utf8(file.bytes) {
            Ok(text) => render(&text, vars).into_bytes(),
            Err(e) => e.into_bytes(),
        };
        if out.iter().any(|f| f.path == path) {
            return Err(PluginError::invalid_options(format!(
                "two template files render to the same path `{path}`"
            )));
        }
        out.push(File {
            path,
            bytes,
            executable: file.executable,
        });
    }
    Ok(out)
}
