//! [`load`]: read the files, substitute `[[ ]]`, parse, decode, expand apps, check.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::decode::Raw;
use super::limits::{
    Budget, MAX_CONFIG_BYTES, MAX_EXPANSIONS, MAX_SUGGESTION_WORK, MAX_TOOLS, bytes_text,
    count_text,
};
use super::suggest::WorkLimit;
use super::template::{self, ExprKind, Section};
use super::vars::{LateExpr, Secrets, VarDef};
use super::yaml::{self, Pos};
use super::{Config, ConfigError, Diagnostic, Loc, StateConfig};

/// Problems found so far, each with the position it is about.
#[derive(Debug, Default)]
pub(crate) struct Diags {
    pub files: Vec<PathBuf>,
    list: Vec<(Option<Pos>, Diagnostic)>,
}

impl Diags {
    pub(super) fn loc(&self, pos: Pos) -> Loc {
        Loc {
            file: self
                .files
                .get(pos.file as usize)
                .cloned()
                .unwrap_or_default(),
            line: pos.line as usize,
            col: pos.col as usize,
        }
    }

    pub(super) fn push(
        &mut self,
        pos: Option<Pos>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        let diagnostic = Diagnostic {
            loc: pos.map(|p| self.loc(p)),
            key: key.into(),
            message: message.into(),
        };
        self.list.push((pos, diagnostic));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// All problems in file order (files in merge order), each once.
    pub(super) fn finish(mut self) -> Vec<Diagnostic> {
        self.list
            .sort_by(|a, b| (a.0, &a.1.key, &a.1.message).cmp(&(b.0, &b.1.key, &b.1.message)));
        self.list.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        self.list.into_iter().map(|(_, d)| d).collect()
    }
}

/// Everything loading needs while it goes: diagnostics, environment, secrets, variables.
pub(crate) struct Loader<'e> {
    pub diags: Diags,
    pub env: &'e dyn Fn(&str) -> Option<String>,
    pub secrets: Secrets,
    pub late: Vec<LateExpr>,
    pub vars: HashMap<String, VarDef>,
    pub var_order: Vec<String>,
    /// The variables each variable uses (those that are defined), found by `check_vars`.
    pub var_deps: HashMap<String, Vec<String>>,
    /// What substitution, aliases and templates may still spend (see `limits`).
    pub budget: Budget,
}

impl std::fmt::Debug for Loader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("files", &self.diags.files)
            .finish_non_exhaustive()
    }
}

/// One file on its way through loading.
struct Source {
    text: String,
    exprs: Vec<template::Expr>,
    sections: Vec<Section>,
    /// Late token index of each expression inside `vars:` or `pipelineTemplates:`.
    late: Vec<Option<usize>>,
    /// Line ranges of `vars:` sections whose own parse failed (the full parse would repeat the
    /// error).
    broken_vars: Vec<(u32, u32)>,
}

/// Loads a config from a file or a directory (every `*.yaml`/`*.yml` in it, by name).
///
/// `env` looks up environment variables for `[[ env "NAME" ]]`; the CLI passes
/// `|name| std::env::var(name).ok()`. Every problem that needs no plugin is reported at once as
/// [`ConfigError::Invalid`].
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let (files, dir) = collect_files(path)?;
    let mut sources = read_sources(&files)?;

    let _suggestions = WorkLimit::new(MAX_SUGGESTION_WORK);
    let mut loader = Loader {
        diags: Diags {
            files: files.clone(),
            ..Diags::default()
        },
        env,
        secrets: Secrets::default(),
        late: Vec::new(),
        vars: HashMap::new(),
        var_order: Vec::new(),
        var_deps: HashMap::new(),
        budget: Budget::default(),
    };

    // Variables first: every file's `vars:`, so that any file may use any variable.
    for (index, source) in sources.iter_mut().enumerate() {
        loader.register_late(index, source);
        loader.read_vars(index, source);
    }
    loader.check_vars();

    let mut raw = loader.decode_sources(&sources);

    let mut tools = std::mem::take(&mut raw.tools);
    let app_tools = loader.expand_apps(&raw);
    tools.extend(app_tools);
    if let Some(past) = tools.get(MAX_TOOLS) {
        loader.diags.push(
            Some(past.pos),
            String::new(),
            format!(
                "more than {} tools in this config (the limit, counting those from `apps:`); \
                 split the tools into several configs, each with its own state",
                count_text(MAX_TOOLS)
            ),
        );
        return Err(ConfigError::Invalid(loader.diags.finish()));
    }
    loader.check_graph(&mut tools);

    if !loader.diags.is_empty() {
        return Err(ConfigError::Invalid(loader.diags.finish()));
    }

    let state = raw.state.unwrap_or_else(|| StateConfig {
        backend: "local".into(),
        options: serde_json::Map::new(),
        loc: None,
    });
    let plugin_dir = raw.plugin_dir.map(|p| {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { dir.join(p) }
    });
    Ok(Config {
        files,
        dir,
        state,
        plugin_dir,
        plugin_registry: raw.plugin_registry,
        plugin_registry_key: raw.plugin_registry_key,
        strict: raw.strict.unwrap_or(false),
        tools: tools.into_iter().map(|t| t.tool).collect(),
    })
}

impl Loader<'_> {
    /// Renders and parses each file with the variables, and decodes its documents into `Raw`
    /// (documents merge as files do).
    fn decode_sources(&mut self, sources: &[Source]) -> Raw {
        let mut raw = Raw::default();
        for (index, source) in sources.iter().enumerate() {
            let file = file_index(index);
            let (text, map) = self.render_main(file, source);
            match yaml::parse(&text, file, &map, &mut self.budget.nodes) {
                Ok(parsed) => {
                    for (pos, message) in parsed.problems {
                        self.diags.push(Some(pos), String::new(), message);
                    }
                    // Documents (`---`) merge as files do.
                    let has_vars_section = source.sections.iter().any(|s| s.key == "vars");
                    for root in &parsed.docs {
                        self.decode_root(root, has_vars_section, &mut raw);
                    }
                }
                Err((pos, message)) => {
                    let repeated = source
                        .broken_vars
                        .iter()
                        .any(|&(from, to)| (from..to).contains(&pos.line));
                    if !repeated {
                        self.diags.push(Some(pos), String::new(), message);
                    }
                }
            }
        }
        raw
    }
}

/// Reads every config file (within [`MAX_CONFIG_BYTES`] together) and finds its `[[ ]]`
/// expressions (at most [`MAX_EXPANSIONS`] in all) and top-level sections.
fn read_sources(files: &[PathBuf]) -> Result<Vec<Source>, ConfigError> {
    let mut sources = Vec::with_capacity(files.len());
    let mut size = 0;
    let mut expressions = 0;
    for (index, file) in files.iter().enumerate() {
        let text = read_limited(file, MAX_CONFIG_BYTES - size)?;
        size += text.len();
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_owned(),
            None => text,
        };
        let allowed = MAX_EXPANSIONS - expressions;
        let exprs = template::scan(&text, allowed);
        if let Some(past) = exprs.get(allowed) {
            return Err(too_many_expressions(files, index, past));
        }
        expressions += exprs.len();
        let sections = template::sections(&text);
        sources.push(Source {
            late: vec![None; exprs.len()],
            text,
            exprs,
            sections,
            broken_vars: Vec::new(),
        });
    }

    Ok(sources)
}

/// Reads a config file, refusing one of more than `limit` bytes (what is left of
/// [`MAX_CONFIG_BYTES`] for the config's files together) before reading all of it: `-f` may name
/// anything, `/dev/zero` included.
fn read_limited(file: &Path, limit: usize) -> Result<String, ConfigError> {
    use std::io::Read;
    let read_error = |source| ConfigError::Read {
        path: file.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut bytes))
        .map_err(read_error)?;
    if bytes.len() > limit {
        return Err(ConfigError::Invalid(vec![Diagnostic {
            loc: None,
            key: String::new(),
            message: format!(
                "{} is too large: a config (all its files together) may have at most {} of \
                 text; split the tools into several configs, each with its own state",
                file.display(),
                bytes_text(MAX_CONFIG_BYTES)
            ),
        }]));
    }
    String::from_utf8(bytes).map_err(|e| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("stream did not contain valid UTF-8: {}", e.utf8_error()),
        ))
    })
}

/// The error for a config with more than [`MAX_EXPANSIONS`] `[[ ]]` expressions, at the first
/// one past the limit.
fn too_many_expressions(files: &[PathBuf], index: usize, past: &template::Expr) -> ConfigError {
    ConfigError::Invalid(vec![Diagnostic {
        loc: Some(Loc {
            file: files.get(index).cloned().unwrap_or_default(),
            line: past.line as usize,
            col: past.col0 as usize + 1,
        }),
        key: String::new(),
        message: format!(
            "more than {} `[[ ]]` expressions in this config (the limit); put a repeated value \
             into one variable, or split the tools into several configs",
            count_text(MAX_EXPANSIONS)
        ),
    }])
}

fn file_index(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// The files to read and the directory relative paths are resolved against.
fn collect_files(path: &Path) -> Result<(Vec<PathBuf>, PathBuf), ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_dir() {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        return Ok((vec![path.to_path_buf()], dir));
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        if !yaml || name.starts_with('.') {
            continue;
        }
        let file = entry.path();
        if std::fs::metadata(&file).is_ok_and(|m| m.is_file()) {
            files.push(file);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if files.is_empty() {
        return Err(ConfigError::Invalid(vec![Diagnostic {
            loc: None,
            key: String::new(),
            message: format!(
                "no config files in directory {}: expected at least one *.yaml or *.yml file",
                path.display()
            ),
        }]));
    }
    Ok((files, path.to_path_buf()))
}

fn is_late_section(key: &str) -> bool {
    key == "vars" || key == "pipelineTemplates"
}

impl Loader<'_> {
    fn expr_pos(file: u32, expr: &template::Expr) -> Pos {
        Pos {
            file,
            line: expr.line,
            col: expr.col0 + 1,
        }
    }

    /// Gives every expression inside `vars:` and `pipelineTemplates:` a late token.
    fn register_late(&mut self, index: usize, source: &mut Source) {
        let file = file_index(index);
        let late_ranges: Vec<std::ops::Range<usize>> = source
            .sections
            .iter()
            .filter(|s| is_late_section(&s.key))
            .map(|s| s.range.clone())
            .collect();
        if late_ranges.is_empty() {
            return;
        }
        for (i, expr) in source.exprs.iter().enumerate() {
            if late_ranges.iter().any(|r| r.contains(&expr.range.start)) {
                let fallback = fallback_text(&expr.kind);
                let pos = Self::expr_pos(file, expr);
                self.late_token(expr.kind.clone(), pos, fallback);
                source.late[i] = Some(self.late.len() - 1);
            }
        }
    }

    fn late_text(&self, index: usize) -> String {
        format!("{}{index}{}", template::LATE_OPEN, template::LATE_CLOSE)
    }

    /// Parses each of the file's `vars:` sections (one per document) on its own (the rest of
    /// the file may not be YAML until substituted) and defines their variables.
    fn read_vars(&mut self, index: usize, source: &mut Source) {
        let sections: Vec<Section> = source
            .sections
            .iter()
            .filter(|s| s.key == "vars")
            .cloned()
            .collect();
        for section in &sections {
            self.read_vars_section(index, source, section);
        }
    }

    fn read_vars_section(&mut self, index: usize, source: &mut Source, section: &Section) {
        let file = file_index(index);
        let (text, map) = template::render(
            &source.text,
            section.range.clone(),
            section.line,
            &source.exprs,
            |i, _| source.late[i].map(|l| self.late_text(l)),
        );
        let parsed = match yaml::parse(&text, file, &map, &mut self.budget.nodes) {
            Ok(parsed) => parsed,
            Err((pos, message)) => {
                let lines = source.text[section.range.clone()].lines().count();
                let end = section.line + u32::try_from(lines).unwrap_or(u32::MAX);
                source.broken_vars.push((section.line, end));
                self.diags.push(Some(pos), "vars", message);
                return;
            }
        };
        // Problems inside `vars:` show up again in the full parse; report them there.
        let Some(vars) = parsed.docs.first().and_then(|r| r.get("vars")) else {
            return;
        };
        if vars.is_null() {
            return;
        }
        let Some(entries) = vars.as_map() else {
            self.diags.push(
                Some(vars.pos),
                "vars",
                format!(
                    "expected a mapping of variable names to values, found {}",
                    vars.type_name()
                ),
            );
            return;
        };
        for (key, value) in entries {
            match key.as_scalar() {
                Some(name) if template::is_var_name(name) => {
                    self.define_var(name, value.clone(), key.pos);
                }
                _ => self.diags.push(
                    Some(key.pos),
                    "vars",
                    format!(
                        "invalid variable name `{}`: use letters, digits, `_` and `-`, starting \
                         with a letter or `_`",
                        key.as_scalar().unwrap_or("?")
                    ),
                ),
            }
        }
    }

    /// Substitutes the file's text: variables as text, secrets as tokens, late tokens inside
    /// `vars:` and `pipelineTemplates:`.
    fn render_main(&mut self, file: u32, source: &Source) -> (String, template::SourceMap) {
        let mut replacements: Vec<Option<String>> = Vec::with_capacity(source.exprs.len());
        for (i, expr) in source.exprs.iter().enumerate() {
            let replacement = if let Some(l) = source.late[i] {
                Some(self.late_text(l))
            } else {
                let pos = Self::expr_pos(file, expr);
                let report = !expr.in_comment;
                let substituted = match &expr.kind {
                    ExprKind::Var(path) => self
                        .lookup(path, pos, None, report)
                        .map(|v| super::vars::value_text(&v))
                        .filter(|text| self.spend(text.len(), 0, pos, &expr.kind)),
                    ExprKind::Env(name) => self
                        .env_token(name, pos, report)
                        .filter(|_| self.spend_env(name, pos, &expr.kind)),
                    ExprKind::Invalid(message) => {
                        if report {
                            self.diags.push(Some(pos), String::new(), message.clone());
                        }
                        None
                    }
                };
                match substituted {
                    Some(text) => Some(text),
                    // Already reported; a plain word keeps the parse going without follow-up
                    // errors. In a comment, leave the text alone.
                    None if expr.in_comment => None,
                    None => Some(fallback_text(&expr.kind)),
                }
            };
            replacements.push(replacement);
        }
        template::render(
            &source.text,
            0..source.text.len(),
            1,
            &source.exprs,
            |i, _| replacements[i].take(),
        )
    }
}

/// What stands in for an expression that could not be substituted.
fn fallback_text(kind: &ExprKind) -> String {
    match kind {
        ExprKind::Var(path) => path.join("."),
        ExprKind::Env(name) => name.clone(),
        ExprKind::Invalid(_) => "invalid-expression".into(),
    }
}
