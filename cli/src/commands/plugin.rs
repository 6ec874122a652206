//! `dtm plugin ...`: the plugin cache and lock, registries, keys, publishing and mirrors.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use dtm_engine::registry::{
    self, Cache, CachedBuild, LockEntry, LockFile, LockMode, Platform, Resolver, wants_for,
};
use dtm_engine::text::count;
use serde_json::json;

use crate::args::{ConfigArgs, Output, PluginCommand, RegistryArgs};
use crate::exit::Exit;
use crate::render;
use crate::settings::PluginSettings;

pub(super) fn run(command: PluginCommand, settings: &PluginSettings) -> Result<Exit> {
    match command {
        PluginCommand::List { file, output } => list(file.as_deref(), output, settings),
        PluginCommand::Search { term, registry } => search(term.as_deref(), &registry, settings),
        PluginCommand::Info { name, registry } => info(&name, &registry, settings),
        PluginCommand::Keygen { out, trust } => keygen(out, trust, settings),
        PluginCommand::Publish {
            registry,
            key,
            platform,
            force,
            libraries,
        } => publish(&registry, &key, platform.as_deref(), force, &libraries),
        PluginCommand::Mirror { to, config } => mirror(&to, &config, settings),
    }
}

fn list(file: Option<&Path>, output: Output, settings: &PluginSettings) -> Result<Exit> {
    let cache = Cache::new(settings.require_home()?.join("plugins"));
    let builds = cache.list();
    let lock_dir = match file {
        Some(f) if f.is_dir() => Some(f.to_path_buf()),
        Some(f) => Some(
            f.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf(),
        ),
        None => Some(PathBuf::from(".")),
    };
    let lock = match lock_dir {
        Some(d) => Some(LockFile::load(&d)?).filter(|l| l.existed),
        None => None,
    };
    let platform = Platform::current().to_string();
    // The lock pins a build by its hash: of several cached builds of one version (republished
    // with other bytes), only that one is the locked one.
    let locked_here = |b: &CachedBuild| {
        lock.as_ref()
            .and_then(|l| l.plugins.get(&b.name))
            .is_some_and(|e| {
                e.version == b.version
                    && e.sha256
                        .get(&b.platform)
                        .is_some_and(|h| h.eq_ignore_ascii_case(&b.sha256))
            })
    };
    let installed = |name: &str, e: &LockEntry| {
        builds.iter().any(|b| {
            b.name == name
                && b.version == e.version
                && b.platform == platform
                && e.sha256
                    .get(&platform)
                    .is_some_and(|h| h.eq_ignore_ascii_case(&b.sha256))
        })
    };
    match output {
        Output::Json => render::json_out(&json!({
            "cache": cache.root(),
            "installed": builds.iter().map(|b| json!({
                "name": b.name, "version": b.version, "platform": b.platform,
                "sha256": b.sha256, "path": b.path, "locked": locked_here(b),
            })).collect::<Vec<_>>(),
            "lock_file": lock.as_ref().map(|l| &l.path),
            "locked": lock.as_ref().map(|l| l.plugins.iter().map(|(n, e)| json!({
                "name": n, "version": e.version, "abi": e.abi, "sha256": e.sha256,
                "installed": installed(n, e),
            })).collect::<Vec<_>>()),
        }))?,
        Output::Text => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "Installed in {}:", cache.root().display())?;
            if builds.is_empty() {
                writeln!(out, "  (none)")?;
            }
            for b in &builds {
                writeln!(
                    out,
                    "  {:<20} {:<10} {:<16} {}{}",
                    b.name,
                    b.version,
                    b.platform,
                    short_hash(&b.sha256),
                    if locked_here(b) { "  locked" } else { "" }
                )?;
            }
            if let Some(l) = &lock {
                writeln!(out, "Locked in {}:", l.path.display())?;
                for (n, e) in &l.plugins {
                    writeln!(
                        out,
                        "  {:<20} {:<10} {:<16} {}",
                        n,
                        e.version,
                        e.sha256.get(&platform).map_or("-", |h| short_hash(h)),
                        if installed(n, e) {
                            "installed"
                        } else {
                            "not installed (run `dtm init`)"
                        }
                    )?;
                }
            }
        }
    }
    Ok(Exit::Ok)
}

/// The first 12 hex digits of a SHA-256: enough to tell builds apart in a listing.
fn short_hash(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

fn resolver_for(args: &RegistryArgs, settings: &PluginSettings) -> Result<Resolver> {
    let resolver = settings
        .standalone_resolver(&args.source)?
        .context("no dtm home: set DTM_HOME or HOME")?;
    if resolver.registry().is_none() {
        bail!(
            "no registry: pass --registry URL, set DTM_REGISTRY, or set `url` under [registry] in <dtm home>/config.toml"
        );
    }
    Ok(resolver)
}

fn search(term: Option<&str>, args: &RegistryArgs, settings: &PluginSettings) -> Result<Exit> {
    let resolver = resolver_for(args, settings)?;
    let index = resolver.index()?;
    let term = term.map(str::to_lowercase);
    let hits: Vec<_> = index
        .plugins
        .iter()
        .filter(|(n, p)| {
            term.as_ref().is_none_or(|t| {
                n.to_lowercase().contains(t) || p.description.to_lowercase().contains(t)
            })
        })
        .map(|(n, p)| {
            let newest = index.versions(n).first().map(|(v, _)| v.to_string());
            (n, p, newest)
        })
        .collect();
    match args.output {
        Output::Json => render::json_out(&json!({
            "registry": resolver.registry().map(|r| r.display()),
            "plugins": hits.iter().map(|(n, p, v)| json!({
                "name": n, "latest": v, "description": p.description,
            })).collect::<Vec<_>>(),
        }))?,
        Output::Text => {
            let mut out = std::io::stdout().lock();
            if hits.is_empty() {
                writeln!(out, "No plugins found.")?;
            }
            for (n, p, v) in hits {
                writeln!(
                    out,
                    "{:<20} {:<10} {}",
                    n,
                    v.as_deref().unwrap_or("-"),
                    p.description
                )?;
            }
        }
    }
    Ok(Exit::Ok)
}

fn info(name: &str, args: &RegistryArgs, settings: &PluginSettings) -> Result<Exit> {
    let resolver = resolver_for(args, settings)?;
    let index = resolver.index()?;
    let Some(plugin) = index.plugins.get(name) else {
        bail!(
            "plugin `{name}` is not published in {}; `dtm plugin search` lists what is",
            resolver.registry().map(|r| r.display()).unwrap_or_default()
        );
    };
    let versions = index.versions(name);
    match args.output {
        Output::Json => render::json_out(&json!({
            "name": name,
            "description": plugin.description,
            "versions": versions.iter().map(|(v, iv)| json!({
                "version": v.to_string(), "abi": iv.abi, "builds": iv.builds,
            })).collect::<Vec<_>>(),
        }))?,
        Output::Text => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{name}: {}", plugin.description)?;
            for (v, iv) in versions {
                writeln!(
                    out,
                    "  {:<10} ABI {:<5} {}",
                    v.to_string(),
                    iv.abi,
                    iv.builds.keys().cloned().collect::<Vec<_>>().join(", ")
                )?;
            }
        }
    }
    Ok(Exit::Ok)
}

fn keygen(out: Option<PathBuf>, trust: bool, settings: &PluginSettings) -> Result<Exit> {
    let home = settings.require_home()?;
    let stem = out.unwrap_or_else(|| home.join("keys").join("signing"));
    let files = registry::keygen(&stem)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "Created signing key {}:\n  secret: {} (keep it private)\n  public: {}",
        files.id,
        files.secret.display(),
        files.public.display()
    )?;
    if trust {
        let dir = home.join("trusted-keys");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let dest = dir.join(format!("{}.pub", files.id));
        std::fs::copy(&files.public, &dest)
            .with_context(|| format!("cannot write {}", dest.display()))?;
        writeln!(stdout, "  trusted: {}", dest.display())?;
    }
    Ok(Exit::Ok)
}

fn publish(
    dir: &Path,
    key: &Path,
    platform: Option<&str>,
    force: bool,
    libraries: &[PathBuf],
) -> Result<Exit> {
    let platform = match platform {
        Some(p) => Platform::parse(p)
            .with_context(|| format!("`{p}` is not a platform like linux-x86_64"))?,
        None => Platform::current(),
    };
    let (sk, pk) = registry::read_secret_key(key)?;
    let report = registry::publish(dir, &sk, &pk, libraries, &platform, force)?;
    let mut out = std::io::stdout().lock();
    for (name, version, platform, sha) in &report.published {
        writeln!(
            out,
            "published {name} {version} for {platform} (sha256 {sha})"
        )?;
    }
    writeln!(
        out,
        "Registry {} now has {}, signed with key {}.",
        dir.display(),
        count(report.published.len(), "new build", "new builds"),
        registry::trust_key_id(&pk)
    )?;
    Ok(Exit::Ok)
}

fn mirror(to: &Path, args: &ConfigArgs, settings: &PluginSettings) -> Result<Exit> {
    let config = settings.load_config(args)?;
    let resolver = Resolver::new(
        settings.registry_settings(LockMode::Auto)?,
        &config.dir,
        config.plugin_registry.as_deref(),
        config.plugin_registry_key.as_deref(),
    )?
    .context("no dtm home: set DTM_HOME or HOME")?;
    let wants = wants_for(
        config
            .tools
            .iter()
            .map(|t| (t.plugin.as_str(), t.key(), t.version.as_ref())),
        std::iter::empty(),
    );
    let lock = LockFile::load(&config.dir)?;
    let report = registry::mirror(&resolver, &wants, &lock, to)?;
    let mut out = std::io::stdout().lock();
    for (name, version, builds) in &report.copied {
        writeln!(
            out,
            "mirrored {name} {version} ({})",
            count(*builds, "build", "builds")
        )?;
    }
    let abs = std::fs::canonicalize(to).unwrap_or_else(|_| to.to_path_buf());
    writeln!(
        out,
        "Mirror ready: {} ({} bytes). Use it offline with `pluginRegistry: file://{}` or DTM_REGISTRY=file://{}.",
        abs.display(),
        report.bytes,
        abs.display(),
        abs.display()
    )?;
    Ok(Exit::Ok)
}
