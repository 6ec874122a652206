//! `apps:` and `pipelineTemplates:` (DevStream's app-centric format), expanded into tools.
//!
//! Per app (instanceID = app name):
//! - `repoTemplate` → `repo-scaffolding` with `destinationRepo` (the app's `repo`),
//!   `sourceRepo` (the template repo) and `vars` (the app's `spec` plus `repoTemplate.vars`);
//! - each `ci` entry → a tool of its plugin type, depending on the scaffolding tool;
//! - each `cd` entry → a tool of its plugin type, depending on the scaffolding and CI tools.
//!
//! See docs/config.md for the options each generated tool gets.

mod nodes;
mod repo;

use serde_json::{Map, Value};

use super::decode::{INSTANCE_ID_RULE, Raw, ToolParts, ToolSrc, join_path};
use super::load::Loader;
use super::suggest::hint;
use super::vars::node_value;
use super::yaml::{Kind, Node, Pos};
use crate::names::is_dns1123_subdomain;
use nodes::{get, get_mut, key_node, map_node, merge, remove, set, set_default, str_node};
use repo::{clone_url, default_name, normalize_repo};

const APP_KEYS: &[&str] = &["name", "spec", "repo", "repoTemplate", "ci", "cd"];
const STAGE_KEYS: &[&str] = &["type", "templateName", "vars", "options"];
/// CI plugins whose options DevStream shapes as `{pipeline: ..., scm: ...}`.
const PIPELINE_PLUGINS: &[&str] = &[
    "github-actions",
    "gitlab-ci",
    "jenkins-pipeline",
    "ci-generic",
];
/// The keys of a CI pipeline's `imageRepo` that `argocdapp` is given.
const IMAGE_KEYS: &[&str] = &["url", "user", "tag", "initialTag", "initalTag"];
/// Options DevStream lifts out of a CI entry's pipeline options to the tool's top level.
const LIFTED: &[(&str, &str)] = &[("gitlab-ci", "runner"), ("jenkins-pipeline", "jenkins")];
const ARGOCD: &str = "argocdapp";
const SCAFFOLDING: &str = "repo-scaffolding";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ci,
    Cd,
}

/// What every tool generated for one app shares.
#[derive(Debug)]
struct App<'a> {
    name: String,
    name_pos: Pos,
    repo: Node,
    spec: Map<String, Value>,
    spec_node: Option<&'a Node>,
    /// The `imageRepo` of the app's last CI pipeline that has one; `argocdapp` gets it.
    image_repo: Option<Node>,
}

impl Loader<'_> {
    /// Expands every app into tools, in app order.
    pub(super) fn expand_apps(&mut self, raw: &Raw) -> Vec<ToolSrc> {
        let mut out = Vec::new();
        for (node, i) in &raw.apps {
            self.expand_app(node, &format!("apps[{i}]"), raw, &mut out);
        }
        out
    }

    fn expand_app(&mut self, node: &Node, path: &str, raw: &Raw, out: &mut Vec<ToolSrc>) {
        let Some(entries) = self.entries(node, path) else {
            return;
        };
        let mut name = None;
        let mut spec_node = None;
        let mut repo = None;
        let mut repo_template = None;
        let mut ci: &[Node] = &[];
        let mut cd: &[Node] = &[];
        for (key, value) in self.check_keys(entries, APP_KEYS, path) {
            let key_path = join_path(path, key);
            match key {
                "name" => name = self.string(value, &key_path).map(|s| (s, value.pos)),
                "spec" if self.entries(value, &key_path).is_some() => spec_node = Some(value),
                "repo" if self.entries(value, &key_path).is_some() => repo = Some(value),
                "repoTemplate" if self.entries(value, &key_path).is_some() && !value.is_null() => {
                    repo_template = Some(value);
                }
                "ci" => ci = self.items(value, &key_path, "CI pipelines").unwrap_or(&[]),
                "cd" => cd = self.items(value, &key_path, "CD pipelines").unwrap_or(&[]),
                _ => {}
            }
        }
        let Some((name, name_pos)) = name else {
            self.diags.push(
                Some(node.pos),
                join_path(path, "name"),
                "app is missing `name` (it becomes the instanceID of the app's tools)",
            );
            return;
        };
        if !is_dns1123_subdomain(&name) {
            self.diags.push(
                Some(name_pos),
                join_path(path, "name"),
                format!(
                    "invalid app name `{name}`: it becomes an instanceID, so it {INSTANCE_ID_RULE}"
                ),
            );
            return;
        }
        let empty = map_node(Vec::new(), node.pos);
        let repo = match repo.filter(|r| !r.is_null()) {
            Some(repo) => repo,
            None => {
                // Reported, then the app's pipelines are still checked.
                self.diags.push(
                    Some(node.pos),
                    join_path(path, "repo"),
                    format!("app `{name}` is missing `repo` (where the app's code lives)"),
                );
                &empty
            }
        };
        let spec = match spec_node.map(node_value) {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let mut repo = normalize_repo(repo);
        default_name(&mut repo, &name);
        let mut app = App {
            name,
            name_pos,
            repo,
            spec,
            spec_node,
            image_repo: None,
        };

        self.app_tools(
            &mut app,
            repo_template,
            (ci, cd),
            (node.pos, path),
            raw,
            out,
        );
    }

    /// The tools of one app, in dependency order: its scaffolding (from `repoTemplate`), then
    /// each CI entry (after the scaffolding), then each CD entry (after both).
    fn app_tools(
        &mut self,
        app: &mut App<'_>,
        repo_template: Option<&Node>,
        (ci, cd): (&[Node], &[Node]),
        (pos, path): (Pos, &str),
        raw: &Raw,
        out: &mut Vec<ToolSrc>,
    ) {
        let mut scaffolding_key = None;
        if let Some(template) = repo_template
            && let Some(tool) = self.scaffolding_tool(app, template, pos, path)
        {
            scaffolding_key = Some(tool.tool.key());
            out.push(tool);
        }
        let mut ci_keys = Vec::new();
        for (j, entry) in ci.iter().enumerate() {
            let deps: Vec<(String, Pos)> = scaffolding_key
                .iter()
                .map(|k| (k.clone(), entry.pos))
                .collect();
            let entry_path = format!("{path}.ci[{j}]");
            if let Some(tool) = self.stage_tool(app, entry, &entry_path, Stage::Ci, deps, raw) {
                ci_keys.push(tool.tool.key());
                out.push(tool);
            }
        }
        for (j, entry) in cd.iter().enumerate() {
            let deps: Vec<(String, Pos)> = scaffolding_key
                .iter()
                .chain(&ci_keys)
                .map(|k| (k.clone(), entry.pos))
                .collect();
            let entry_path = format!("{path}.cd[{j}]");
            if let Some(tool) = self.stage_tool(app, entry, &entry_path, Stage::Cd, deps, raw) {
                out.push(tool);
            }
        }
    }

    fn scaffolding_tool(
        &mut self,
        app: &App<'_>,
        template: &Node,
        app_pos: Pos,
        path: &str,
    ) -> Option<ToolSrc> {
        let pos = template.pos;
        let mut source = template.clone();
        let mut template_vars = None;
        if let Kind::Map(entries) = &mut source.kind
            && let Some(i) = entries
                .iter()
                .position(|(k, _)| k.as_scalar() == Some("vars"))
        {
            template_vars = Some(entries.remove(i).1);
        }
        let source = normalize_repo(&source);
        // The template repo sees the app's spec plus its own vars (which win).
        let mut vars: Vec<(Node, Node)> = Vec::new();
        if let Some(spec) = app.spec_node.and_then(Node::as_map) {
            vars.extend(spec.iter().cloned());
        }
        if let Some(tv) = template_vars {
            match tv.kind {
                Kind::Map(entries) => {
                    for (k, v) in entries {
                        set(&mut vars, k, v);
                    }
                }
                _ if tv.is_null() => {}
                _ => self.diags.push(
                    Some(tv.pos),
                    join_path(path, "repoTemplate.vars"),
                    format!("expected a mapping, found {}", tv.type_name()),
                ),
            }
        }
        let mut options = vec![
            (key_node("destinationRepo", pos), app.repo.clone()),
            (key_node("sourceRepo", pos), source),
        ];
        if !vars.is_empty() {
            options.push((key_node("vars", pos), map_node(vars, pos)));
        }
        let options = map_node(options, pos);
        self.build_tool(ToolParts {
            plugin: SCAFFOLDING.into(),
            plugin_pos: pos,
            instance_id: app.name.clone(),
            id_pos: app.name_pos,
            deps: Vec::new(),
            version: None,
            timeout: None,
            options: Some(&options),
            pos: app_pos,
            path: join_path(path, "repoTemplate"),
        })
    }

    fn stage_tool(
        &mut self,
        app: &mut App<'_>,
        entry: &Node,
        path: &str,
        stage: Stage,
        deps: Vec<(String, Pos)>,
        raw: &Raw,
    ) -> Option<ToolSrc> {
        if !self.spend_copies(&app.repo, &app.spec, entry.pos) {
            return None;
        }
        let entries = self.entries(entry, path)?;
        let mut kind = None;
        let mut template_name = None;
        let mut vars = None;
        let mut options = None;
        for (key, value) in self.check_keys(entries, STAGE_KEYS, path) {
            let key_path = join_path(path, key);
            match key {
                "type" => kind = self.string(value, &key_path).map(|s| (s, value.pos)),
                "templateName" => {
                    template_name = self.string(value, &key_path).map(|s| (s, value.pos));
                }
                "vars" if self.entries(value, &key_path).is_some() => vars = Some(value),
                "options" if self.entries(value, &key_path).is_some() && !value.is_null() => {
                    options = Some(value.clone());
                }
                _ => {}
            }
        }
        let what = match stage {
            Stage::Ci => "CI",
            Stage::Cd => "CD",
        };
        let Some((kind, kind_pos)) = kind else {
            self.diags.push(
                Some(entry.pos),
                join_path(path, "type"),
                format!(
                    "{what} entry is missing `type`: a plugin such as github-actions or \
                     argocdapp, or `template` with `templateName`"
                ),
            );
            return None;
        };

        let (plugin, plugin_pos, base) = if kind == "template" {
            let Some((template_name, tn_pos)) = template_name else {
                self.diags.push(
                    Some(kind_pos),
                    join_path(path, "templateName"),
                    "`type: template` needs `templateName`, the name of one of `pipelineTemplates`",
                );
                return None;
            };
            let (plugin, base) =
                self.bind_template(app, &template_name, tn_pos, vars, path, raw)?;
            (plugin, tn_pos, base)
        } else {
            if let Some((_, pos)) = template_name {
                self.diags.push(
                    Some(pos),
                    join_path(path, "templateName"),
                    "`templateName` only applies with `type: template`",
                );
            }
            if let Some(v) = vars {
                self.diags.push(
                    Some(v.pos),
                    join_path(path, "vars"),
                    "`vars` only applies with `type: template`; set the options directly",
                );
            }
            (kind, kind_pos, None)
        };

        let merged = match (base, options) {
            (Some(b), Some(o)) => merge(b, o),
            (Some(b), None) => b,
            (None, Some(o)) => o,
            (None, None) => map_node(Vec::new(), entry.pos),
        };
        let options = shape_options(merged, &plugin, stage, app);
        self.build_tool(ToolParts {
            plugin,
            plugin_pos,
            instance_id: app.name.clone(),
            id_pos: app.name_pos,
            deps,
            version: None,
            timeout: None,
            options: Some(&options),
            pos: entry.pos,
            path: path.to_owned(),
        })
    }

    /// The plugin and options of pipeline template `name`, bound for this app: the template
    /// sees `appName`, the app's spec and the entry's `vars` (which win), then the global
    /// `vars:`.
    fn bind_template(
        &mut self,
        app: &App<'_>,
        name: &str,
        name_pos: Pos,
        vars: Option<&Node>,
        path: &str,
        raw: &Raw,
    ) -> Option<(String, Option<Node>)> {
        let Some(template) = raw.templates.get(name) else {
            self.diags.push(
                Some(name_pos),
                join_path(path, "templateName"),
                format!(
                    "unknown pipeline template `{name}`{}",
                    hint(name, raw.template_names.iter().map(String::as_str))
                ),
            );
            return None;
        };
        let mut extra = Map::new();
        extra.insert("appName".into(), Value::String(app.name.clone()));
        extra.extend(app.spec.clone());
        if let Some(Value::Object(entry_vars)) = vars.map(node_value) {
            extra.extend(entry_vars);
        }
        let base = template
            .options
            .as_ref()
            .filter(|o| !o.is_null())
            .map(|o| self.instantiate(o, Some(&extra)));
        if let Some(base) = &base
            && base.as_map().is_none()
        {
            self.diags.push(
                Some(base.pos),
                format!("pipelineTemplates.{name}.options"),
                format!("expected a mapping, found {}", base.type_name()),
            );
            return None;
        }
        Some((template.plugin.clone(), base))
    }
}

/// A CI/CD tool's options, shaped for its plugin as DevStream shapes them. A CI entry's image
/// is remembered for the app's `argocdapp`.
fn shape_options(merged: Node, plugin: &str, stage: Stage, app: &mut App<'_>) -> Node {
    if stage == Stage::Ci
        && let Some(image_repo) = ci_image_repo(&merged)
    {
        app.image_repo = Some(image_repo);
    }
    if plugin == ARGOCD {
        argocd_options(merged, app)
    } else if PIPELINE_PLUGINS.contains(&plugin) {
        pipeline_options(merged, plugin, app)
    } else {
        merged
    }
}

/// The `imageRepo` of a CI entry's options (as written, or under `pipeline` in full options),
/// with only the keys that say where the image is: `argocdapp` needs no registry password, and
/// a secret should not spread to a tool that does not use it.
fn ci_image_repo(options: &Node) -> Option<Node> {
    let image_repo = get(options, "imageRepo")
        .or_else(|| get(options, "pipeline").and_then(|p| get(p, "imageRepo")))?;
    let entries: Vec<(Node, Node)> = image_repo
        .as_map()?
        .iter()
        .filter(|(k, _)| {
            k.as_scalar()
                .is_some_and(|k| IMAGE_KEYS.iter().any(|i| i.eq_ignore_ascii_case(k)))
        })
        .cloned()
        .collect();
    (!entries.is_empty()).then(|| map_node(entries, image_repo.pos))
}

/// CI plugins take `{pipeline: <options>, scm: <app repo>}`, with `pipeline.language` from the
/// app's spec; what DevStream lifts out of the pipeline options (gitlab-ci's `runner`) goes to
/// the top level. Options that already have a `pipeline` key are taken as the full options.
fn pipeline_options(merged: Node, plugin: &str, app: &App<'_>) -> Node {
    let pos = merged.pos;
    let mut options = if get(&merged, "pipeline").is_some() {
        merged
    } else {
        let mut pipeline = merged;
        let mut entries = Vec::new();
        for (_, key) in LIFTED.iter().filter(|(p, _)| *p == plugin) {
            entries.extend(remove(&mut pipeline, key));
        }
        entries.insert(0, (key_node("pipeline", pos), pipeline));
        map_node(entries, pos)
    };
    set_default(&mut options, "scm", app.repo.clone());
    if let Some(language) = app.spec.get("language") {
        let spec_pos = app.spec_node.map_or(pos, |n| n.pos);
        let mut lang = vec![(
            key_node("name", spec_pos),
            Node::from_value(language, spec_pos),
        )];
        if let Some(framework) = app.spec.get("framework") {
            lang.push((
                key_node("framework", spec_pos),
                Node::from_value(framework, spec_pos),
            ));
        }
        if let Some(pipeline) = get_mut(&mut options, "pipeline") {
            set_default(pipeline, "language", map_node(lang, spec_pos));
        }
    }
    options
}

/// argocdapp defaults as DevStream sets them: the app (in Argo CD's namespace, the only one Argo CD
/// watches by default), the in-cluster destination, a Helm chart under `helm/<app>` in the
/// app's repo, and the image of the app's CI pipeline.
fn argocd_options(mut options: Node, app: &App<'_>) -> Node {
    let pos = options.pos;
    let entry = |k: &str, v: &str| (key_node(k, pos), str_node(v, pos));
    // Defaults fill in key by key: `app: {namespace: x}` still gets the app's name.
    for (key, defaults) in [
        (
            "app",
            vec![entry("name", &app.name), entry("namespace", "argocd")],
        ),
        (
            "destination",
            vec![
                entry("server", "https://kubernetes.default.svc"),
                entry("namespace", "default"),
            ],
        ),
    ] {
        match get_mut(&mut options, key) {
            Some(given) if given.as_map().is_some() => {
                for (k, v) in defaults {
                    if let Some(name) = k.as_scalar().map(str::to_owned) {
                        set_default(given, &name, v);
                    }
                }
            }
            Some(_) => {}
            None => set_default(&mut options, key, map_node(defaults, pos)),
        }
    }
    let repo_url = clone_url(&app.repo);
    match get_mut(&mut options, "source") {
        Some(source) => {
            if let Some(url) = &repo_url {
                set_default(source, "repoURL", str_node(url, pos));
            }
        }
        None => {
            let mut source = vec![
                entry("valuefile", "values.yaml"),
                entry("path", &format!("helm/{}", app.name)),
            ];
            if let Some(url) = &repo_url {
                source.push(entry("repoURL", url));
            }
            set_default(&mut options, "source", map_node(source, pos));
        }
    }
    if let Some(image_repo) = &app.image_repo {
        set_default(&mut options, "imageRepo", image_repo.clone());
    }
    options
}
