#!/usr/bin/env python3
"""Measure how many of DevStream's documented configs `dtm plan` accepts unchanged.

Usage:
    corpus.py DEVSTREAM_TREE --dtm PATH_TO_DTM --plugin-dir DIR [--json] [--only REGEX]
              [--jobs N] [--keep DIR] [--list] [--no-sandbox] [--no-trace] [--include-zh]

DEVSTREAM_TREE is a checkout (or `git archive` extract) of DevStream's repository, e.g. tag
v0.12.1. `--list` only extracts and classifies (no dtm needed).

Requirements: Python 3.8+ and PyYAML (`pip install pyyaml`), used only to decide whether a
candidate is valid YAML the way DevStream's YAML decoder (gopkg.in/yaml.v3) would read it. The
script refuses to run without it rather than guess. Optional: `unshare` (util-linux; cuts the
dtm run off the network, needs root or unprivileged user namespaces) and `strace` (records any
network connection dtm or a plugin attempts). Without them the run still works; the report says
which of the two were used.

Where the configs come from
===========================
- YAML code blocks in `docs/**/*.md`: fenced blocks whose info string is `yaml` or `yml` (also
  indented ones, e.g. inside tabs or lists; the fence's indentation is removed), plus unlabeled
  fenced blocks whose first non-blank line is a DevStream top-level key (`tools:`, `apps:`,
  `config:`, `vars:`, `pipelineTemplates:`) or `- name:`. `*.zh.md` pages duplicate the English
  ones and are skipped; how many pages and YAML blocks that skips is reported. (They are not
  exact duplicates: in v0.12.1 some Chinese pages hold configs the English ones lack;
  `--include-zh` takes them too.) Blocks are numbered
  per page from 1 in order of appearance (`docs/plugins/argocdapp.md#2`).
- A line `--8<-- "FILE"` in a block is a pymdownx.snippets include (DevStream's mkdocs.yml); it is
  replaced by FILE, searched in `docs/` and `internal/pkg/show/config/plugins/` as mkdocs does,
  which is what the published page shows. Such candidates note the included file.
- `examples/*.yaml` and `test/e2e/yaml/*.yaml`, each file one candidate.

Classes
=======
(a) complete config: the candidate's top-level keys (DevStream finds them with the regex
    `^\\w+\\s*:`, ignoring `---` lines, so several `---`-separated documents are one config to it)
    are all among `config`, `vars`, `tools`, `apps`, `pipelineTemplates`, at least one of them is
    `tools` or `apps`, and DevStream v0.12.1's config loader accepts it (emulated, see below).
    DevStream's plugin pages show `tools:` blocks without `config:`; the brief counts those as
    complete configs, so a missing `config:` section is NOT a rejection here (DevStream v0.12.1
    itself insists on `config.state`; such candidates carry the note `no config: section`).
(b) fragment:
    - wrapped fragment: a bare YAML list whose items are mappings with `name` and at least one of
      `instanceID`, `options`, `dependsOn` (a tool entry): it is wrapped as `tools:` + the block,
      unchanged otherwise, then treated like (a), emulation included. Reported separately.
    - options snippet: a mapping whose top-level keys all occur as option keys of some tool of a
      complete config in the corpus, or are app/pipeline keys (`repo`, `repoTemplate`, `spec`,
      `ci`, `cd`, `scm`, `pipeline`, `options`, `vars`), or a `config:`/`vars:`/
      `pipelineTemplates:` section without `tools:`/`apps:`. These are not runnable unchanged
      (no plugin to hand them to) and are counted, not run.
(c) not a config: everything else, with the reason: invalid YAML (before or after variable
    substitution), top-level keys DevStream rejects (`invalid config key`, e.g. Kubernetes
    manifests, GitHub workflows, Chart values, mkdocs settings, state files), shell output, and
    every candidate of shape (a) or wrapped (b) that the emulated DevStream v0.12.1 loader rejects
    (undefined variable, a tool without `instanceID`, an invalid instanceID, a `dependsOn` that
    names a tool not in the config, a duplicate tool, an app without `spec.language`, ...).

The DevStream v0.12.1 loader, as emulated (internal/pkg/configmanager, pkg/util/template)
========================================================================================
1. Split the text into sections at lines matching `^\\w+\\s*:`; a key other than the five above is
   `invalid config key`; `config` twice is an error; sections of the same key are concatenated.
2. `vars`: `[[`/`]]` are masked, the section is decoded as a YAML mapping, then top-level string
   values containing `[[ ... ]]` are rendered (Go text/template, delimiters `[[ ]]`, the
   `[[ name ]]` -> `[[ .name ]]` rewrite only, `missingkey=error`, function `env`) against the
   variables parsed so far, until nothing changes; a variable left over is an error.
3. `tools` and `apps`: rendered with the variables (rewrites `[[ name ]]` -> `[[ .name ]]` and
   `[[ f NAME ]]` -> `[[ f "NAME" ]]`), everywhere in the section text, comments included, as Go
   does. Supported expressions: `.name`, `.a.b`, `env "NAME"`, a quoted string; anything else is
   reported as "template expression not emulated" and classified (c) (none in v0.12.1).
   `env` of an unset or empty variable is an error in DevStream; here every variable a candidate
   names is set to a dummy value, so it never is. Values print as Go's fmt does (`map[k:v]`,
   `[a b]`, `<no value>` for null).
4. The rendered section is decoded as YAML (first document only, as yaml.v3's Unmarshal does):
   `tools` must be a list of mappings, `name`/`instanceID` strings, `dependsOn` a list of
   strings, `options` a mapping; duplicate keys in any mapping are an error (yaml.v3). Keys are
   matched exactly, unknown keys ignored (yaml.v3 into Go structs); options are kept as written
   (DevStream's plugins later decode them with mapstructure, case-insensitively).
5. Apps: `name`, `spec.language`, `spec.framework`, `repo` required; each `ci`/`cd` entry becomes
   a tool of type `jenkins-pipeline`, `github-actions`, `gitlab-ci` or `argocdapp` (any other
   type is rejected), `type: template` takes its type from the named pipeline template (rendered
   with spec + global vars + the entry's `vars`); `repoTemplate` adds a `repo-scaffolding` tool;
   each generated tool is named `<type>.<app name>` and depends on every tool of `tools:`.
6. Validation of all tools: `name` and `instanceID` required, `instanceID` a DNS-1123 subdomain,
   every non-blank `dependsOn` entry an existing `name.instanceID`, no duplicate
   `name.instanceID`.
7. `config`, when present, must decode as a mapping with a `state` mapping.
YAML is decoded with PyYAML restricted to the YAML 1.2 core schema (yaml.v3 reads `yes`, `on`
and dates as strings), with a duplicate-key check.

The run
=======
Each runnable candidate (a, wrapped b) is written unchanged (a wrapped fragment: `tools:\\n` +
the block) as `config.yaml` into a fresh temporary directory; nothing else is written there, so
files a config references are missing. `dtm plan --detailed-exitcode -f config.yaml --plugin-dir
DIR` runs there with a minimal environment: PATH, HOME and DTM_HOME inside the temp dir (so no
kubeconfig or dtm home of the machine is read), NO_COLOR=1, and a dummy value for every
environment variable the candidate names in `[[ env NAME ]]` (`dummy-token` for names containing
TOKEN, `dummy-password` for PASSWORD, `dummy-value` otherwise). With `unshare` it runs in a new
network namespace (no interfaces up); with `strace` every `connect`/`sendto`/`sendmsg` to an
AF_INET/AF_INET6 address (a DNS lookup shows as port 53) is recorded and reported as "tried
network". Exit 0 (nothing to do) and 2 (changes planned) are accepted, anything else rejected
(an exit code other than 0, 1, 2 is flagged as a crash or timeout).

dtm's error output is `error: HEADER` followed by `caused by:` lines, `FILE:LINE:COL: `path`:
message` lines and, under `name.instanceID: invalid options:`, `/pointer: message` lines. The
"first error line" of a rejection is the first of these that says what is wrong (headers such as
`error: cannot load plugins` or `2 problems in config:` are skipped; `header` in the JSON keeps
the first stderr line). Rejections are grouped by (plugin, kind), kind being the message without
positions and instance names: once by each config's first problem (the counts add up to the
rejections) and once over every problem dtm reported (a config counts once per distinct problem).
Note that dtm stops at the first plugin it cannot load, so a missing plugin hides the problems of
the config's other tools.
"""

import argparse
import concurrent.futures
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

try:
    import yaml
    from yaml.composer import Composer
    from yaml.constructor import ConstructorError, SafeConstructor
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.resolver import BaseResolver
    from yaml.scanner import Scanner
except ImportError:  # pragma: no cover
    sys.exit("corpus.py needs PyYAML: pip install pyyaml")

DEVSTREAM_KEYS = ("config", "vars", "tools", "apps", "pipelineTemplates")
TOP_KEY_RE = re.compile(r"(?m)^\w+\s*:")
SNIPPET_BASES = ("docs", "internal/pkg/show/config/plugins")
FENCE_OPEN = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`{]*)(.*)$")
PIPELINE_TYPES = ("jenkins-pipeline", "github-actions", "gitlab-ci", "argocdapp")
APP_KEYS = {"repo", "repoTemplate", "spec", "ci", "cd", "scm", "pipeline", "options", "vars"}
ENV_RE = re.compile(r"\[\[-?\s*env\s+[\"'`]?(\w+)[\"'`]?\s*-?\]\]")


# --------------------------------------------------------------------------------------------
# YAML as yaml.v3 reads it: core schema, duplicate keys rejected.


class CoreResolver(BaseResolver):
    pass


CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|0b[01]+)$"),
    list("-+0123456789"),
)
CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
CoreResolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


class CoreConstructor(SafeConstructor):
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue
                if key in seen:
                    raise ConstructorError(
                        None,
                        None,
                        f'mapping key "{key}" already defined at line {seen[key] + 1}',
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        value = self.construct_scalar(node).replace("_", "")
        sign = -1 if value.startswith("-") else 1
        value = value.lstrip("+-")
        if value.startswith("0o"):
            return sign * int(value[2:], 8)
        if value.startswith("0x"):
            return sign * int(value[2:], 16)
        if value.startswith("0b"):
            return sign * int(value[2:], 2)
        return sign * int(value)


CoreConstructor.add_constructor("tag:yaml.org,2002:int", CoreConstructor.construct_yaml_int)


class CoreLoader(Reader, Scanner, Parser, Composer, CoreConstructor, CoreResolver):
    def __init__(self, stream):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        CoreConstructor.__init__(self)
        CoreResolver.__init__(self)


class YamlError(Exception):
    pass


def load_first(text):
    """The first YAML document of `text` (None when empty), as yaml.v3's Unmarshal reads it."""
    loader = CoreLoader(text)
    try:
        # get_single_node refuses several documents; Unmarshal reads the first one.
        if loader.check_node():
            return loader.construct_document(loader.get_node())
        return None
    except yaml.YAMLError as e:
        raise YamlError(one_line(e)) from None
    finally:
        loader.dispose()


def load_all(text):
    try:
        return list(yaml.load_all(text, Loader=CoreLoader))
    except yaml.YAMLError as e:
        raise YamlError(one_line(e)) from None


def one_line(e):
    return " ".join(str(e).split())


# --------------------------------------------------------------------------------------------
# Go text/template with [[ ]] delimiters, as far as DevStream's configs use it.


class TemplateError(Exception):
    pass


def add_dot(text):
    return re.sub(r"\[\[\s*(\w+)\s*\]\]", r"[[ .\1 ]]", text)


def add_quote(text):
    return re.sub(r"\[\[\s*([^'\"]\w+)\s+([^'\"]\w+)\s*\]\]", r'[[ \1 "\2" ]]', text)


def go_fmt(value):
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_fmt(value[k])}" for k in sorted(value, key=str)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_fmt(v) for v in value) + "]"
    return str(value)


def eval_action(expr, variables, env):
    expr = expr.strip()
    if expr.startswith("-"):
        expr = expr[1:].lstrip()
    if expr.endswith("-"):
        expr = expr[:-1].rstrip()
    if expr.startswith("/*") and expr.endswith("*/"):
        return ""
    m = re.fullmatch(r"env\s+\"([^\"]*)\"", expr)
    if m:
        value = env.get(m.group(1), "")
        if value == "":
            raise TemplateError(
                f"template can't get environment variable {m.group(1)}, "
                "maybe you should set this environment first"
            )
        return value
    m = re.fullmatch(r"\"([^\"]*)\"", expr)
    if m:
        return m.group(1)
    m = re.fullmatch(r"((?:\.\w+)+)", expr)
    if m:
        value = variables
        for part in m.group(1).split(".")[1:]:
            if not isinstance(value, dict):
                raise TemplateError(f"can't evaluate field {part}")
            if part not in value:
                raise TemplateError(f"map has no entry for key {part!r}".replace("'", '"'))
            value = value[part]
        return go_fmt(value)
    raise TemplateError(f"template expression not emulated: [[ {expr} ]]")


def render(text, variables, env, quote=True):
    text = add_dot(text)
    if quote:
        text = add_quote(text)
    out = []
    pos = 0
    while True:
        start = text.find("[[", pos)
        if start < 0:
            out.append(text[pos:])
            return "".join(out)
        end = text.find("]]", start + 2)
        if end < 0:
            raise TemplateError("unclosed action")
        out.append(text[pos:start])
        out.append(eval_action(text[start + 2 : end], variables, env))
        pos = end + 2


# --------------------------------------------------------------------------------------------
# DevStream v0.12.1's config loader, emulated.


class Rejected(Exception):
    pass


DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def split_sections(text):
    matches = list(TOP_KEY_RE.finditer(text))
    sections = {}
    keys = []
    for i, m in enumerate(matches):
        body = text[m.end() : matches[i + 1].start() if i + 1 < len(matches) else len(text)]
        key = m.group(0).rstrip(":").strip()
        keys.append(key)
        sections.setdefault(key, []).append(body)
    return keys, {k: "".join(v) for k, v in sections.items()}, {k: len(v) for k, v in sections.items()}


def devstream_vars(section, env):
    masked = section.replace("[[", "\u3010$\u3010").replace("]]", "\u3011$\u3011")
    try:
        origin = load_first(masked) or {}
    except YamlError as e:
        raise Rejected(f"vars: invalid YAML: {e}") from None
    if not isinstance(origin, dict):
        raise Rejected("vars: not a mapping")
    for k, v in list(origin.items()):
        if isinstance(v, str):
            origin[k] = v.replace("\u3010$\u3010", "[[").replace("\u3011$\u3011", "]]")
    parsed = {}
    unparsed = dict(origin)
    updated = True
    while unparsed and updated:
        updated = False
        for k, v in list(unparsed.items()):
            if not (isinstance(v, str) and "[[" in v and "]]" in v):
                parsed[k] = v
                del unparsed[k]
                updated = True
                continue
            try:
                parsed[k] = render(v, parsed, env, quote=False)
                del unparsed[k]
                updated = True
            except TemplateError:
                pass
    if unparsed:
        raise Rejected(
            "failed to parse var " + ", ".join(f'<"{k}": "{origin[k]}">' for k in unparsed)
        )
    return parsed


def render_section(name, section, variables, env):
    try:
        rendered = render(section, variables, env)
    except TemplateError as e:
        msg = str(e)
        if "map has no entry for key" in msg:
            raise Rejected(
                f"failed to process variables in the {name} section. Missing variable "
                f"definition: {msg.split('map has no entry for key ', 1)[1]}"
            ) from None
        raise Rejected(f"{name}: {msg}") from None
    try:
        return load_first(rendered)
    except YamlError as e:
        raise Rejected(f"{name}: invalid YAML after variable substitution: {e}") from None


def check_str(value, what):
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise Rejected(f"{what}: cannot unmarshal {type(value).__name__} into string")
    return "" if value is None else go_fmt(value) if not isinstance(value, str) else value


def decode_tools(data, origin="tools"):
    if data is None:
        return []
    if not isinstance(data, list):
        raise Rejected(f"{origin}: cannot unmarshal a {type(data).__name__} into a list of tools")
    tools = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise Rejected(f"{origin}[{i}]: a tool must be a mapping")
        depends = item.get("dependsOn")
        if depends is not None and not (
            isinstance(depends, list) and all(isinstance(d, str) for d in depends)
        ):
            raise Rejected(f"{origin}[{i}].dependsOn: cannot unmarshal into []string")
        options = item.get("options")
        if options is not None and not isinstance(options, dict):
            raise Rejected(f"{origin}[{i}].options: cannot unmarshal into a map")
        tools.append(
            {
                "name": check_str(item.get("name"), f"{origin}[{i}].name"),
                "instanceID": check_str(item.get("instanceID"), f"{origin}[{i}].instanceID"),
                "dependsOn": list(depends or []),
                "options": options or {},
            }
        )
    return tools


def pipeline_templates(section):
    quoted = re.sub(
        r"([^:]+:)(\s*)'?((\[\[[^\]]+\]\][^\s\[]*)+)'?[^\s#\n]*",
        r'\1\2"\3"',
        section,
    )
    try:
        data = load_first(quoted) or []
    except YamlError as e:
        raise Rejected(f"pipelineTemplates: invalid YAML: {e}") from None
    if not isinstance(data, list):
        raise Rejected("pipelineTemplates: not a list")
    templates = {}
    for t in data:
        if not isinstance(t, dict):
            raise Rejected("pipelineTemplates: an entry is not a mapping")
        name = check_str(t.get("name"), "pipelineTemplates.name")
        if name in templates:
            raise Rejected(f"pipelineTemplate <{name}> is duplicated")
        templates[name] = t
    return templates


def render_values(value, variables, env):
    if isinstance(value, str):
        return render(value, variables, env)
    if isinstance(value, dict):
        return {k: render_values(v, variables, env) for k, v in value.items()}
    if isinstance(value, list):
        return [render_values(v, variables, env) for v in value]
    return value


def app_tools(apps, variables, templates, env):
    if apps is None:
        return []
    if not isinstance(apps, list):
        raise Rejected("apps: cannot unmarshal into a list of apps")
    tools = []
    for i, a in enumerate(apps):
        if not isinstance(a, dict):
            raise Rejected(f"apps[{i}]: an app must be a mapping")
        name = check_str(a.get("name"), f"apps[{i}].name")
        spec = a.get("spec")
        missing = []
        if not name:
            missing.append("app.Name")
        if not isinstance(spec, dict):
            missing.append("app.Spec")
        else:
            if not spec.get("language"):
                missing.append("app.Spec.Language")
            if not spec.get("framework"):
                missing.append("app.Spec.FrameWork")
        if not a.get("repo"):
            missing.append("app.Repo")
        if missing:
            raise Rejected("; ".join(f"field {m} is required" for m in missing))
        app_vars = dict(variables)
        app_vars.update({"language": spec["language"], "framework": spec["framework"]})
        for entry in list(a.get("ci") or []) + list(a.get("cd") or []):
            if not isinstance(entry, dict):
                raise Rejected(f"app[{name}]: a ci/cd entry must be a mapping")
            kind = check_str(entry.get("type"), "type")
            if kind == "template":
                tname = check_str(entry.get("templateName"), "templateName")
                if not tname:
                    raise Rejected(f"app[{name}] get pipeline tools failed: templateName is required")
                if tname not in templates:
                    raise Rejected(
                        f"app[{name}] get pipeline tools failed: {tname} not found in pipelineTemplates"
                    )
                all_vars = dict(app_vars)
                all_vars.update(entry.get("vars") or {})
                try:
                    t = render_values(templates[tname], all_vars, env)
                except TemplateError as e:
                    raise Rejected(
                        f"app[{name}] get pipeline tools failed: {tname} render pipelineTemplate failed: {e}"
                    ) from None
                kind = check_str(t.get("type"), "type")
            if kind not in PIPELINE_TYPES:
                raise Rejected(
                    f"app[{name}]: field pipelineTemplate.Type must be one of [{' '.join(PIPELINE_TYPES)}]"
                    f" (got {kind!r})"
                )
            tools.append({"name": kind, "instanceID": name, "dependsOn": [], "options": {}})
        if a.get("repoTemplate"):
            tools.append(
                {"name": "repo-scaffolding", "instanceID": name, "dependsOn": [], "options": {}}
            )
    return tools


def devstream_load(text, env):
    """Emulates DevStream v0.12.1's LoadConfig; returns (tools, notes) or raises Rejected."""
    keys, sections, counts = split_sections(text)
    notes = []
    for k in keys:
        if k not in DEVSTREAM_KEYS:
            raise Rejected(f"invalid config key <{k}>")
    if counts.get("config", 0) > 1:
        raise Rejected("<config> key can only be defined once")
    if "tools" not in sections and "apps" not in sections:
        raise Rejected("config not valid; check the [tools and apps] section of your config file")
    variables = devstream_vars(sections.get("vars", ""), env)
    tools = decode_tools(render_section("tools", sections.get("tools", ""), variables, env))
    apps = render_section("apps", sections.get("apps", ""), variables, env)
    templates = pipeline_templates(sections.get("pipelineTemplates", ""))
    generated = app_tools(apps, variables, templates, env)
    for t in generated:
        t["dependsOn"] += [f"{x['name']}.{x['instanceID']}" for x in tools]
    tools += generated
    if "config" in sections:
        try:
            core = load_first(sections["config"])
        except YamlError as e:
            raise Rejected(f"config: invalid YAML: {e}") from None
        if not isinstance(core, dict) or not isinstance(core.get("state"), dict):
            raise Rejected("config.state is not defined")
    else:
        notes.append("no config: section")
    errors = []
    keyset = {f"{t['name']}.{t['instanceID']}" for t in tools}
    seen = set()
    for t in tools:
        if not t["name"]:
            errors.append("field Tool.Name is required")
        if not t["instanceID"]:
            errors.append(f"field Tool.InstanceID is required (tool {t['name'] or '?'})")
        elif len(t["instanceID"]) > 253 or not DNS1123_SUBDOMAIN.match(t["instanceID"]):
            errors.append(
                f"field Tool.InstanceID validation failed on the 'dns1123subdomain' tag "
                f"({t['instanceID']!r})"
            )
        for d in t["dependsOn"]:
            if d.strip() and d not in keyset:
                errors.append(f"tool {t['instanceID']}'s DependsOn {d} doesn't exist")
        key = f"{t['name']}.{t['instanceID']}"
        if key in seen:
            errors.append(f"tool or app <{key}> is duplicated")
        seen.add(key)
    if errors:
        raise Rejected("; ".join(dict.fromkeys(errors)))
    if len([d for d in re.split(r"(?m)^---\s*$", text) if d.strip()]) > 1:
        notes.append("several YAML documents")
    for t in tools:
        for why in plugin_rejections(t):
            notes.append(f"{PLUGIN_REJECTS}: {t['name']}.{t['instanceID']}: {why}")
    return tools, notes


# What DevStream v0.12.1's plugins refuse when they validate their options, at apply time (the
# loader above accepts such configs). Only rules whose source we read are listed.
PLUGIN_REJECTS = "DevStream's plugin rejects it"


def plugin_rejections(tool):
    """Reasons DevStream's own plugin code would refuse `tool`'s options."""
    out = []

    def walk(value, path):
        if isinstance(value, dict):
            if value.get("org") and value.get("owner"):
                # pkg/util/scm/git/repoinfo.go, RepoInfo.checkValid
                out.append(f"{path or 'options'}: git org and owner can't be configured at the same time")
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    options = tool.get("options")
    walk(options, "")
    if tool["name"] == "repo-scaffolding" and isinstance(options, dict) and not options.get("sourceRepo"):
        # internal/pkg/plugin/reposcaffolding/options.go: SourceRepo `validate:"required"`
        out.append("sourceRepo is required")
    return out


# --------------------------------------------------------------------------------------------
# Extraction.


def dummy_env(text):
    env = {}
    for name in sorted(set(ENV_RE.findall(text))):
        upper = name.upper()
        if "TOKEN" in upper:
            env[name] = "dummy-token"
        elif "PASSWORD" in upper:
            env[name] = "dummy-password"
        else:
            env[name] = "dummy-value"
    return env


def fenced_blocks(text):
    """(line number, info string, body) of every fenced code block, fences' indentation removed."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = len(m.group(1)), m.group(2), m.group(3).lower()
        j = i + 1
        while j < len(lines):
            c = re.match(r"^(\s*)(`{3,}|~{3,})\s*$", lines[j])
            if c and c.group(2)[0] == fence[0] and len(c.group(2)) >= len(fence):
                break
            j += 1
        body = []
        for line in lines[i + 1 : j]:
            strip = min(indent, len(line) - len(line.lstrip(" ")))
            body.append(line[strip:])
        yield i + 1, lang, "\n".join(body) + "\n"
        i = j + 1


def resolve_snippets(tree, body):
    included = []

    def repl(m):
        name = m.group(2)
        for base in SNIPPET_BASES:
            p = tree / base / name
            if p.is_file():
                included.append(f"{base}/{name}")
                content = p.read_text(encoding="utf-8")
                return textwrap.indent(content, m.group(1)).rstrip("\n")
        return m.group(0)

    body = re.sub(r'(?m)^([ \t]*)-{1,}8<-{1,}\s*"([^"]+)"\s*$', repl, body)
    return body, included


def extract(tree, include_zh=False):
    candidates = []
    skipped = {"zh_pages": 0, "zh_yaml_blocks": 0, "unlabeled_examined": 0}
    for page in sorted((tree / "docs").rglob("*.md")):
        rel = page.relative_to(tree).as_posix()
        text = page.read_text(encoding="utf-8")
        if page.name.endswith(".zh.md") and not include_zh:
            skipped["zh_pages"] += 1
            skipped["zh_yaml_blocks"] += sum(
                1 for _, lang, _ in fenced_blocks(text) if lang in ("yaml", "yml")
            )
            continue
        index = 0
        for line, lang, body in fenced_blocks(text):
            if lang == "":
                first = next((l for l in body.split("\n") if l.strip()), "")
                if not re.match(r"^(tools|apps|config|vars|pipelineTemplates)\s*:|^- name\s*:", first):
                    continue
                skipped["unlabeled_examined"] += 1
            elif lang not in ("yaml", "yml"):
                continue
            index += 1
            body, included = resolve_snippets(tree, body)
            candidates.append(
                {
                    "id": f"{rel}#{index}",
                    "source": rel,
                    "block": index,
                    "line": line,
                    "included": included,
                    "text": body,
                }
            )
    for pattern in ("examples/*.yaml", "test/e2e/yaml/*.yaml"):
        for p in sorted(tree.glob(pattern)):
            rel = p.relative_to(tree).as_posix()
            candidates.append(
                {
                    "id": rel,
                    "source": rel,
                    "block": None,
                    "line": 1,
                    "included": [],
                    "text": p.read_text(encoding="utf-8"),
                }
            )
    return candidates, skipped


# --------------------------------------------------------------------------------------------
# Classification.


def is_tool_item(item):
    return isinstance(item, dict) and "name" in item and any(
        k in item for k in ("instanceID", "options", "dependsOn")
    )


def classify(candidates):
    """Sets kind (a | b-wrapped | b-snippet | c), reason, run_text, plugins, notes, env."""
    option_keys = set()
    pending = []
    for c in candidates:
        c.update(kind=None, reason="", run_text=None, plugins=[], notes=list(_inc_notes(c)))
        c["env"] = dummy_env(c["text"])
        text = c["text"]
        keys, _, _ = split_sections(text)
        if "tools" in keys or "apps" in keys or (keys and all(k in DEVSTREAM_KEYS for k in keys)):
            if "tools" in keys or "apps" in keys:
                _load(c, text, "a")
                if c["kind"] == "a":
                    try:
                        for doc in load_all(text):
                            for t in (doc or {}).get("tools") or [] if isinstance(doc, dict) else []:
                                if isinstance(t, dict) and isinstance(t.get("options"), dict):
                                    option_keys.update(t["options"].keys())
                    except (YamlError, AttributeError):
                        pass
            else:
                c["kind"] = "b-snippet"
                c["reason"] = "only " + ", ".join(sorted(set(keys))) + ": no tools or apps"
            continue
        try:
            docs = [d for d in load_all(textwrap.dedent(text)) if d is not None]
        except YamlError as e:
            c["kind"] = "c"
            c["reason"] = f"invalid YAML: {e}"
            continue
        if not docs:
            c["kind"] = "c"
            c["reason"] = "empty"
            continue
        if all(isinstance(d, list) and d and all(is_tool_item(i) for i in d) for d in docs):
            _load(c, "tools:\n" + text, "b-wrapped")
            continue
        pending.append((c, keys, docs))
    for c, keys, docs in pending:
        top = set()
        for d in docs:
            if isinstance(d, dict):
                top.update(str(k) for k in d)
            else:
                top.add("<" + type(d).__name__ + ">")
        if top and top <= option_keys | APP_KEYS:
            c["kind"] = "b-snippet"
            c["reason"] = "options snippet (" + ", ".join(sorted(top)) + ")"
        else:
            c["kind"] = "c"
            bad = [k for k in keys if k not in DEVSTREAM_KEYS] or sorted(top - option_keys - APP_KEYS)
            c["reason"] = "not a DevStream config: invalid config key <" + ", ".join(bad[:4]) + ">"
            if "apiVersion" in top and "kind" in top:
                c["reason"] += " (Kubernetes manifest)"
            elif "jobs" in top:
                c["reason"] += " (CI workflow)"
            elif any(re.fullmatch(r"[a-z0-9-]+_[a-z0-9-]+", k) for k in top):
                c["reason"] += " (state file: `name_instanceID` keys)"
    return candidates


def _inc_notes(c):
    for inc in c["included"]:
        yield f"includes {inc}"


def _load(c, text, kind):
    try:
        tools, notes = devstream_load(text, c["env"])
    except Rejected as e:
        c["kind"] = "c"
        c["reason"] = f"DevStream v0.12.1 rejects it: {e}"
        return
    c["kind"] = kind
    c["run_text"] = text
    c["notes"] += notes
    c["plugins"] = sorted({t["name"] for t in tools})


# --------------------------------------------------------------------------------------------
# Running dtm.


def probe(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def problems(stderr, stdout, plugins):
    """dtm's error output as a list of (plugin, kind, line): the lines that say what is wrong.

    dtm prints `error: HEADER` and, below it, `caused by: ...`, `FILE:LINE:COL: `path`: msg` and,
    under `name.instanceID: invalid options:`, `/pointer: msg` lines. Headers that only count or
    introduce problems are skipped. `kind` is the message without file positions and instance
    names, so that the same problem in different configs groups together.
    """
    found = []
    tool = None
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    for line in lines:
        body = re.sub(r"^(error|caused by):\s*", "", line)
        if re.fullmatch(r"(\d+ (problems?|tools?) .*|cannot load plugins|.*:)", body) and not re.match(
            r"^\S+:\d+:\d+: ", body
        ):
            m = re.fullmatch(r"([a-z0-9-]+)\.[a-z0-9.-]+: invalid options:", body)
            if m:
                tool = m.group(1)
            continue
        m = re.search(r"plugin `([^`]+)` not found", body) or re.search(r"unknown plugin `([^`]+)`", body)
        if m:
            found.append((m.group(1), "plugin not found", line))
            continue
        m = re.match(r"^\S+:\d+:\d+: `([a-z0-9-]+)\.[a-z0-9-]+((?:\.[^`]*)?)`: (.*)$", body)
        if m:
            path = m.group(2).lstrip(".")
            found.append((m.group(1), f"schema: `{path}`: {m.group(3)}", line))
            continue
        m = re.match(r"^\S+:\d+:\d+: (.*)$", body)
        if m:
            found.append(("-", f"config: {m.group(1)}", line))
            continue
        if body.startswith("/") and tool:
            found.append((tool, f"plugin validate: {body}", line))
            continue
        found.append((tool or (plugins[0] if len(plugins) == 1 else "-"), body, line))
    if not found:
        first = lines[0] if lines else next((l.strip() for l in stdout.splitlines() if l.strip()), "")
        found.append(("-", first, first))
    return [(p, re.sub(r"\s+", " ", k)[:140], l) for p, k, l in found]


NET_RE = re.compile(r"(connect|sendto|sendmsg)\(\d+, .*sa_family=AF_INET6?\b.*?(sin6?_addr|inet_pton)[^)]*\)")


def run_one(c, args, sandbox, trace):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="dtm-corpus-"))
    try:
        (tmp / "config.yaml").write_text(c["run_text"], encoding="utf-8")
        (tmp / "home").mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp / "home"),
            "DTM_HOME": str(tmp / ".dtm-home"),
            "NO_COLOR": "1",
            "LANG": "C.UTF-8",
        }
        env.update(c["env"])
        cmd = [
            str(args.dtm),
            "plan",
            "--detailed-exitcode",
            "-f",
            "config.yaml",
            "--plugin-dir",
            str(args.plugin_dir),
        ]
        if trace:
            cmd = [
                "strace", "-f", "-qq", "-e", "signal=none", "-o", str(tmp / "net.trace"),
                "-e", "trace=connect,sendto,sendmsg",
            ] + cmd
        if sandbox:
            cmd = ["unshare", "-n"] + cmd
        try:
            p = subprocess.run(
                cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=args.timeout,
                stdin=subprocess.DEVNULL,
            )
            code, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            code, out, err = -9, e.stdout or "", f"timed out after {args.timeout}s"
            out = out.decode() if isinstance(out, bytes) else out
        network = []
        if trace and (tmp / "net.trace").exists():
            for line in (tmp / "net.trace").read_text(errors="replace").splitlines():
                if NET_RE.search(line):
                    m = re.search(r'inet_(?:pton|addr)\((?:AF_INET6?, )?"([^"]+)"', line)
                    port = re.search(r"sin6?_port=htons\((\d+)\)", line)
                    addr = (m.group(1) if m else "?") + (":" + port.group(1) if port else "")
                    if addr not in network:
                        network.append(addr)
        if args.keep:
            dest = pathlib.Path(args.keep) / re.sub(r"[^A-Za-z0-9.#-]+", "_", c["id"])
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(tmp, dest, ignore=shutil.ignore_patterns(".dtm-home", "home"))
            (dest / "stdout.txt").write_text(out)
            (dest / "stderr.txt").write_text(err)
        c.update(
            exit=code,
            error="" if code in (0, 2) else next((l.strip() for l in err.splitlines() if l.strip()), ""),
            accepted=code in (0, 2),
            problems=[] if code in (0, 2) else problems(err, out, c["plugins"]),
            stderr=err,
            network=network,
        )
        c["error"] = c["problems"][0][2] if c["problems"] else ""
        if code not in (0, 1, 2):
            c["notes"].append(f"exit {code}: crash or timeout?")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return c


# --------------------------------------------------------------------------------------------
# Grouping and report.


def summarize(candidates, skipped, tools_used):
    kinds = {}
    for c in candidates:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    ran = [c for c in candidates if "exit" in c]
    accepted = [c for c in ran if c["accepted"]]
    primary = {}
    every = {}
    for c in ran:
        if c["accepted"]:
            continue
        plugin, kind, _ = c["problems"][0]
        primary.setdefault((plugin, kind), []).append(c)
        for plugin, kind, line in dict.fromkeys(c["problems"]):
            every.setdefault((plugin, kind), []).append((c, line))

    def table(groups, example):
        return [
            {
                "plugin": k[0],
                "kind": k[1],
                "count": len(v),
                "example": example(v[0]),
                "configs": list(dict.fromkeys(x["id"] if isinstance(x, dict) else x[0]["id"] for x in v)),
            }
            for k, v in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ]

    return {
        "classes": {
            "a_complete": kinds.get("a", 0),
            "b_wrapped_fragments": kinds.get("b-wrapped", 0),
            "b_options_snippets_not_run": kinds.get("b-snippet", 0),
            "c_not_a_config": kinds.get("c", 0),
            "total_candidates": len(candidates),
        },
        "skipped": skipped,
        "ran": len(ran),
        "accepted": len(accepted),
        "accepted_complete": sum(1 for c in accepted if c["kind"] == "a"),
        "devstream_plugins_accept": sum(
            1 for c in ran if c["kind"] == "a" and not any(n.startswith(PLUGIN_REJECTS) for n in c["notes"])
        ),
        "accepted_where_devstream_plugins_accept": sum(
            1 for c in accepted
            if c["kind"] == "a" and not any(n.startswith(PLUGIN_REJECTS) for n in c["notes"])
        ),
        "ran_complete": sum(1 for c in ran if c["kind"] == "a"),
        "exit_codes": {str(k): sum(1 for c in ran if c["exit"] == k) for k in sorted({c["exit"] for c in ran})},
        "tried_network": [c["id"] for c in ran if c.get("network")],
        "rejections_by_first_problem": table(primary, lambda c: c["error"]),
        "all_problems": table(every, lambda x: x[1]),
        "run_conditions": tools_used,
    }


def print_report(candidates, summary):
    cl = summary["classes"]
    sk = summary["skipped"]
    print("DevStream config corpus")
    print(f"  candidates: {cl['total_candidates']}  ({sk['zh_pages']} *.zh.md pages with "
          f"{sk['zh_yaml_blocks']} YAML blocks skipped; {sk['unlabeled_examined']} unlabeled "
          f"blocks examined)")
    print(f"  (a) complete configs:            {cl['a_complete']}")
    print(f"  (b) wrapped fragments:           {cl['b_wrapped_fragments']}")
    print(f"  (b) options snippets (not run):  {cl['b_options_snippets_not_run']}")
    print(f"  (c) not a config:                {cl['c_not_a_config']}")
    if summary["ran"]:
        print(f"\naccepted by `dtm plan`: {summary['accepted']}/{summary['ran']}"
              f"  (complete configs: {summary['accepted_complete']}/{summary['ran_complete']};"
              f" exit codes: {summary['exit_codes']})")
        print(f"  of the complete configs DevStream's own plugins also accept (see notes): "
              f"{summary['accepted_where_devstream_plugins_accept']}/{summary['devstream_plugins_accept']}")
        print(f"  {summary['run_conditions']}")
        print("  tried the network during plan: " + (", ".join(summary["tried_network"]) or "none"))
        print("\nrejections by first problem (each rejected config once):")
        print("  count | plugin | kind")
        for r in summary["rejections_by_first_problem"]:
            print(f"  {r['count']:5} | {r['plugin']} | {r['kind']}")
            print(f"          e.g. {r['example']}")
            print(f"          in: {', '.join(r['configs'])}")
        print("\nall problems dtm reported (a config counts once per distinct problem):")
        print("  configs | plugin | kind")
        for r in summary["all_problems"]:
            print(f"  {r['count']:7} | {r['plugin']} | {r['kind']}")
    print("\nper candidate:")
    print("  source#block | class | plugins | exit | first error line / reason  [notes]")
    for c in candidates:
        exit_code = c.get("exit", "")
        detail = c.get("error") or c["reason"]
        notes = c["notes"] + ([f"tried network: {', '.join(c['network'])}"] if c.get("network") else [])
        print(f"  {c['id']} | {c['kind']} | {','.join(c['plugins']) or '-'} | {exit_code} | "
              f"{detail}{'  [' + '; '.join(notes) + ']' if notes else ''}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tree", type=pathlib.Path, help="DevStream source tree (e.g. tag v0.12.1)")
    ap.add_argument("--dtm", type=pathlib.Path, help="the dtm binary")
    ap.add_argument("--plugin-dir", type=pathlib.Path, help="directory of libdtm_plugin_*.so")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("--only", help="regex on candidate ids (source#block)")
    ap.add_argument("--list", action="store_true", help="extract and classify only")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 4)
    ap.add_argument("--timeout", type=int, default=120, help="seconds per dtm run")
    ap.add_argument("--keep", help="copy each run's directory and output here")
    ap.add_argument("--no-sandbox", action="store_true", help="do not use unshare -n")
    ap.add_argument("--no-trace", action="store_true", help="do not use strace")
    ap.add_argument("--include-zh", action="store_true",
                    help="also take the YAML blocks of the *.zh.md pages (several hold configs "
                         "the English pages lack)")
    args = ap.parse_args()

    tree = args.tree.resolve()
    if not (tree / "docs").is_dir():
        ap.error(f"{tree} has no docs/: not a DevStream source tree")
    candidates, skipped = extract(tree, args.include_zh)
    classify(candidates)
    if args.only:
        rx = re.compile(args.only)
        candidates = [c for c in candidates if rx.search(c["id"])]

    tools_used = "not run"
    if not args.list:
        if not args.dtm or not args.plugin_dir:
            ap.error("--dtm and --plugin-dir are required (or --list)")
        args.dtm = args.dtm.resolve()
        args.plugin_dir = args.plugin_dir.resolve()
        sandbox = not args.no_sandbox and shutil.which("unshare") and probe(["unshare", "-n", "true"])
        trace = not args.no_trace and shutil.which("strace") and probe(["strace", "-qq", "-o", os.devnull, "true"])
        tools_used = (f"network: {'cut off (unshare -n)' if sandbox else 'NOT cut off'}; "
                      f"connection attempts: {'traced (strace)' if trace else 'NOT traced'}")
        runnable = [c for c in candidates if c["kind"] in ("a", "b-wrapped")]
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            list(pool.map(lambda c: run_one(c, args, bool(sandbox), bool(trace)), runnable))

    summary = summarize(candidates, skipped, tools_used)
    if args.json:
        for c in candidates:
            c.pop("run_text", None)
        json.dump({"summary": summary, "candidates": candidates}, sys.stdout, indent=2)
        print()
    else:
        print_report(candidates, summary)


if __name__ == "__main__":
    main()
