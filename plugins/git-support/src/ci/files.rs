//! The files a CI tool keeps in its repository: one pipeline file (`pipeline.configLocation` or
//! the built-in pipeline), or DevStream's `ci:` block (`configContents`, or a `configLocation`
//! file or directory, placed by `ci.type`).

use std::collections::BTreeMap;
use std::path::Path;

use dtm_plugin_sdk::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Flavor;
use super::options::{Ci, CiFiles, Layout};
use crate::pipelines;
use crate::render::{Vars, render};
use crate::scm::Repo;

/// One file in the repository.
#[derive(Debug, Clone)]
pub(super) struct CiFile {
    /// Path in the repository.
    pub path: String,
    /// Content; empty when only the paths were asked for.
    pub bytes: Vec<u8>,
}

/// Whether to read the files' content or only work out where they go (reads and deletes do
/// not download anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    Content,
    Paths,
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn is_url(location: &str) -> bool {
    location.starts_with("https://") || location.starts_with("http://")
}

/// The file name at the end of a path or URL.
fn file_name(location: &str) -> Option<&str> {
    location
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
}

/// Values for `[[ name ]]` in pipeline files: the repository's, then `extra` (which win).
fn vars(repo: &Repo, ci: &Ci, extra: &BTreeMap<String, Value>) -> Vars {
    let app = repo.name.clone();
    let image = pipelines::image_name(ci.pipeline.image_repo.as_ref(), &app);
    let mut vars: Vars = BTreeMap::new();
    for (k, v) in [
        ("appName", app.clone()),
        ("AppName", app.clone()),
        ("repo", app),
        ("owner", repo.owner.clone()),
        ("branch", repo.branch.clone()),
        ("imageRepo", image.clone()),
        ("ImageRepo", image),
        ("repoURL", repo.url.clone()),
    ] {
        vars.insert(k.into(), Value::String(v));
    }
    vars.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    vars
}

/// A template file rendered with `vars` (bytes that are not UTF-8 are kept as they are).
fn rendered(bytes: Vec<u8>, vars: &Vars) -> Vec<u8> {
    match String::from_utf8(bytes) {
        Ok(text) => render(&text, vars).into_bytes(),
        Err(e) => e.into_bytes(),
    }
}

/// Reads a URL or a local file (relative to the config's directory).
fn fetch<O>(ctx: &Ctx, req: &Req<O>, location: &str) -> Result<Vec<u8>, PluginError> {
    if is_url(location) {
        return crate::http::download(ctx, location);
    }
    let path = req.resolve(location);
    if path.is_dir() {
        return Err(PluginError::invalid_options(format!(
            "configLocation {} is a directory; name the pipeline file",
            path.display()
        )));
    }
    std::fs::read(&path)
        .map_err(|e| PluginError::io(format!("reading configLocation {}", path.display()), &e))
}

/// The files of a CI tool of flavor `F`.
pub(super) fn files<F: Flavor, O>(
    ctx: &Ctx,
    req: &Req<O>,
    ci: &Ci,
    repo: &Repo,
    want: Want,
) -> Result<Vec<CiFile>, PluginError> {
    if let Some(block) = &ci.files {
        return block_files(ctx, req, ci, block, repo, want);
    }
    let path = single_path::<F>(ci);
    if want == Want::Paths {
        return Ok(vec![CiFile {
            path,
            bytes: Vec::new(),
        }]);
    }
    let bytes = match ci.config_location() {
        Some(location) => rendered(
            fetch(ctx, req, location)?,
            &vars(repo, ci, &ci.pipeline.vars),
        ),
        None => {
            let language = ci
                .language()
                .map_err(PluginError::invalid_options)?
                .ok_or_else(|| {
                    PluginError::invalid_options(
                        "without `pipeline.configLocation`, `pipeline.language` says which built-in pipeline to use",
                    )
                })?;
            let spec = pipelines::Spec::new(
                language,
                repo,
                ci.pipeline.image_repo.as_ref(),
                ci.pipeline.test.as_ref(),
                &req.instance,
            );
            F::builtin(&spec).into_bytes()
        }
    };
    Ok(vec![CiFile { path, bytes }])
}

/// Where the one pipeline file goes: `path`, else (for flavors that do so) the file name of
/// `configLocation`, else the flavor's usual place.
fn single_path<F: Flavor>(ci: &Ci) -> String {
    if let Some(path) = ci.given_path() {
        return path;
    }
    if F::PATH_FROM_LOCATION
        && let Some(name) = ci.config_location().and_then(file_name)
    {
        return name.to_string();
    }
    F::DEFAULT_PATH.to_string()
}

/// DevStream's `ci:` block: `configContents` (which wins), else the `configLocation` URL, file
/// or directory; each file placed as `ci.type` says (one file goes to `path` when given).
fn block_files<O>(
    ctx: &Ctx,
    req: &Req<O>,
    ci: &Ci,
    block: &CiFiles,
    repo: &Repo,
    want: Want,
) -> Result<Vec<CiFile>, PluginError> {
    let mut named: Vec<(String, Vec<u8>)> = Vec::new();
    if !block.contents.is_empty() {
        for (name, text) in &block.contents {
            named.push((name.clone(), text.clone().into_bytes()));
        }
    } else if let Some(location) = block.location.as_deref().map(str::trim) {
        let local = req.resolve(location);
        if !is_url(location) && local.is_dir() {
            named = directory_files(&local, block.layout, want)?;
        } else {
            let name = file_name(location).unwrap_or(location).to_string();
            let bytes = match want {
                Want::Content => fetch(ctx, req, location)?,
                Want::Paths => Vec::new(),
            };
            named.push((name, bytes));
        }
    }
    let given = ci.given_path().filter(|_| named.len() == 1);
    let vars = vars(repo, ci, &block.vars);
    let mut out: Vec<CiFile> = Vec::new();
    for (name, bytes) in named {
        let path = match (&given, block.layout) {
            (Some(path), _) => path.clone(),
            (None, Some(layout)) => layout.path_of(&name),
            (None, None) => name.clone(),
        };
        if let Some(other) = out.iter().find(|f| f.path == path) {
            return Err(PluginError::invalid_options(format!(
                "two pipeline files would both go to `{path}` (`{name}` and another one, `{}`); \
                 give one file, or `ci.type: github` for several workflows",
                other.path
            )));
        }
        let bytes = match want {
            Want::Content => rendered(bytes, &vars),
            Want::Paths => Vec::new(),
        };
        out.push(CiFile { path, bytes });
    }
    if out.is_empty() {
        return Err(PluginError::invalid_options(
            "the `ci` block gives no pipeline file: set `ci.configContents` or `ci.configLocation`",
        ));
    }
    Ok(out)
}

/// The files of a `configLocation` directory (and its subdirectories) that `layout` selects,
/// named by their path inside it, sorted.
fn directory_files(
    dir: &Path,
    layout: Option<Layout>,
    want: Want,
) -> Result<Vec<(String, Vec<u8>)>, PluginError> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| PluginError::io(format!("reading directory {}", d.display()), &e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| PluginError::io(format!("reading {}", d.display()), &e))?;
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(rel) = path.strip_prefix(dir) else {
                continue;
            };
            let name = rel.to_string_lossy().replace('\\', "/");
            if layout.is_none_or(|l| l.selects(&name)) {
                found.push((name, path));
            }
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(PluginError::invalid_options(format!(
            "configLocation {} holds no pipeline file{}",
            dir.display(),
            match layout {
                Some(Layout::GitHub) => " (`ci.type: github` takes its .yml and .yaml files)",
                Some(Layout::GitLab) => " (`ci.type: gitlab` takes a .gitlab-ci.yml)",
                Some(Layout::Jenkins) => " (`ci.type: jenkins` takes a Jenkinsfile)",
                None => "",
            }
        )));
    }
    found
        .into_iter()
        .map(|(name, path)| {
            let bytes = match want {
                Want::Content => std::fs::read(&path)
                    .map_err(|e| PluginError::io(format!("reading {}", path.display()), &e))?,
                Want::Paths => Vec::new(),
            };
            Ok((name, bytes))
        })
        .collect()
}

/// The SHA-256 of the local pipeline source (a `configLocation` file, or a directory's files
/// and names), so that an edit of it shows as drift and is committed by the next apply. `null`
/// for a URL (not fetched on every read), inline contents (they are in the options) and the
/// built-in pipeline.
pub(super) fn source_sha256<O>(req: &Req<O>, ci: &Ci) -> Value {
    let location = match &ci.files {
        Some(block) if block.contents.is_empty() => block.location.as_deref().map(str::trim),
        Some(_) => None,
        None => ci.config_location(),
    };
    let Some(location) = location.filter(|l| !is_url(l)) else {
        return Value::Null;
    };
    let path = req.resolve(location);
    if !path.is_dir() {
        return std::fs::read(&path).map_or(Value::Null, |b| Value::String(sha256_hex(&b)));
    }
    let layout = ci.files.as_ref().and_then(|b| b.layout);
    match directory_files(&path, layout, Want::Content) {
        Ok(files) => {
            let listing: String = files
                .iter()
                .map(|(name, bytes)| format!("{name}\0{}\n", sha256_hex(bytes)))
                .collect();
            Value::String(sha256_hex(listing.as_bytes()))
        }
        Err(_) => Value::Null,
    }
}
