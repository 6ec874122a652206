//! The file a CI tool keeps in its repository: `pipeline.configLocation` or the built-in
//! pipeline.

use std::collections::BTreeMap;

use dtm_plugin_sdk::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Flavor;
use super::options::Ci;
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

/// The SHA-256 of a local `configLocation` file (`null` for a URL, the built-in pipeline or an
/// unreadable file), so that an edit of that file shows as drift and is committed by the next
/// apply. URLs are not fetched on every read.
pub(super) fn source_sha256<O>(req: &Req<O>, ci: &Ci) -> Value {
    match ci.config_location().filter(|l| !is_url(l)) {
        Some(location) => std::fs::read(req.resolve(location))
            .map_or(Value::Null, |b| Value::String(sha256_hex(&b))),
        None => Value::Null,
    }
}
