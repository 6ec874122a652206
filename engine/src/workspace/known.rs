//! Which plugins dtm could load, and where it looks: what the message about an unknown plugin
//! says.

use std::collections::BTreeSet;
use std::path::Path;

use super::Workspace;
use crate::registry::{LockFile, Resolver};

impl Workspace {
    /// A resolver for this config's registry and cache, if there is a dtm home; None also when
    /// the registry settings are unusable (resolving reports that).
    pub(super) fn resolver(&self) -> Option<Resolver> {
        Resolver::new(
            self.settings.registry.clone(),
            &self.config.dir,
            self.config.plugin_registry.as_deref(),
            self.config.plugin_registry_key.as_deref(),
        )
        .ok()
        .flatten()
    }

    /// Every plugin name dtm could load for this config: libraries in the plugin directories,
    /// builds in the plugin cache, entries of the lock file and plugins the registry publishes
    /// (when its index can be read).
    pub fn known_plugin_names(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.plugins.keys().cloned().collect();
        for dir in self.plugin_dirs() {
            names.extend(library_names(&dir));
        }
        if let Ok(lock) = LockFile::load(&self.config.dir) {
            names.extend(lock.plugins.into_keys());
        }
        if let Some(resolver) = self.resolver() {
            names.extend(resolver.cache().list().into_iter().map(|b| b.name));
            if resolver.registry().is_some()
                && let Ok(index) = resolver.index()
            {
                names.extend(index.plugins.keys().cloned());
            }
        }
        names.into_iter().collect()
    }

    /// Where plugins are looked for, as a message says it: `looked in the plugin directories A,
    /// B, the plugin cache C and registry R`.
    pub fn searched_places(&self) -> String {
        let mut places = Vec::new();
        let mut dirs: Vec<String> = Vec::new();
        for dir in self.plugin_dirs() {
            let dir = dir.display().to_string();
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        if !dirs.is_empty() {
            places.push(format!("the plugin directories {}", dirs.join(", ")));
        }
        if let Some(resolver) = self.resolver() {
            places.push(format!(
                "the plugin cache {}",
                resolver.cache().root().display()
            ));
            if let Some(url) = resolver.registry() {
                places.push(format!("registry {}", url.display()));
            }
        }
        match places.split_last() {
            None => "no plugin directory, cache or registry to look in".to_owned(),
            Some((last, [])) => format!("looked in {last}"),
            Some((last, rest)) => format!("looked in {} and {last}", rest.join(", ")),
        }
    }
}

/// Plugin names of the libraries in `dir` (`libdtm_plugin_gitlab_ci.so` is `gitlab-ci`).
fn library_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|file| {
            let stem = file
                .strip_suffix(".so")
                .or_else(|| file.strip_suffix(".dylib"))
                .or_else(|| file.strip_suffix(".dll"))?;
            let name = stem
                .strip_prefix("libdtm_plugin_")
                .or_else(|| stem.strip_prefix("dtm_plugin_"))?;
            Some(name.replace('_', "-"))
        })
        .collect()
}
