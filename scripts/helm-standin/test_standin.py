"""Smoke test of the helm stand-in, end to end against a real cluster.

    KUBECONFIG=/path/to/kubeconfig python3 -m unittest -v test_standin

The cluster tests are skipped when KUBECONFIG is not set; the offline tests
(version, argument errors, package + repo index) only need `helm_python`.
The cluster needs no scheduler: the chart holds ConfigMaps only.
"""

import contextlib
import functools
import http.server
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
HELM = os.path.join(HERE, "helm")
NAMESPACE = os.environ.get("STANDIN_TEST_NAMESPACE", "standin-test")

try:
    importlib.import_module("helm_python")
    HAVE_SDK = True
except Exception:  # the wheel is missing or its library does not load here
    HAVE_SDK = False

CHART_YAML = """apiVersion: v2
name: demo
description: A chart of two ConfigMaps
version: 0.1.0
appVersion: "1.0"
"""
VALUES_YAML = """greeting: hello
extra:
  color: blue
"""
CONFIGMAPS = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-one
data:
  greeting: {{ .Values.greeting | quote }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-two
data:
  color: {{ .Values.extra.color | quote }}
"""
NOTES = "Installed {{ .Release.Name }}.\n"


def write_chart(root, version="0.1.0"):
    path = os.path.join(root, "demo")
    os.makedirs(os.path.join(path, "templates"), exist_ok=True)
    files = {
        "Chart.yaml": CHART_YAML.replace("0.1.0", version),
        "values.yaml": VALUES_YAML,
        "templates/configmaps.yaml": CONFIGMAPS,
        "templates/NOTES.txt": NOTES,
    }
    for name, text in files.items():
        with open(os.path.join(path, name), "w", encoding="utf-8") as fh:
            fh.write(text)
    return path


class Helm:
    """Runs the stand-in with private Helm homes."""

    def __init__(self, home):
        self.env = dict(os.environ)
        for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            self.env[var] = os.path.join(home, var.lower())
        self.env.pop("HELM_NAMESPACE", None)

    def run(self, *args, stdin=None):
        return subprocess.run([sys.executable, HELM, *args], input=stdin, env=self.env,
                              capture_output=True, text=True, timeout=300)

    def ok(self, *args, stdin=None):
        res = self.run(*args, stdin=stdin)
        if res.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({res.returncode}):\n"
                                 f"{res.stdout}{res.stderr}")
        return res.stdout

    def json(self, *args):
        return json.loads(self.ok(*args, "-o", "json"))


@contextlib.contextmanager
def serve_directory(path):
    handler = functools.partial(QuietHandler, directory=path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@unittest.skipUnless(HAVE_SDK, "helm_python (pip install helm-python-sdk) is not importable")
class OfflineTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="standin-offline-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.helm = Helm(self.tmp)

    def test_version(self):
        short = self.helm.ok("version", "--short").strip()
        self.assertRegex(short, r"^v4\.\d+\.\d+$")
        self.assertEqual(self.helm.ok("version", "--template", "{{.Version}}"), short)
        self.assertTrue(self.helm.ok("version").startswith(f'version.BuildInfo{{Version:"{short}"'))

    def test_errors_read_like_helm(self):
        cases = [
            (["frobnicate"], 'Error: unknown command "frobnicate" for "helm"'),
            (["status", "x", "--frob"], "Error: unknown flag: --frob"),
            (["upgrade", "a", "b", "--timeout", "soon"],
             'Error: invalid argument "soon" for "--timeout" flag: time: invalid duration "soon"'),
            (["status", "x", "-o", "xml"],
             'Error: invalid argument "xml" for "-o, --output" flag: invalid format type'),
            (["install", "a", "b", "--wait=forever"],
             'Error: invalid argument "forever" for "--wait" flag: invalid wait input "forever". '
             "Valid inputs are watcher, hookOnly, and legacy"),
        ]
        for args, first_line in cases:
            res = self.helm.run(*args)
            self.assertEqual(res.returncode, 1, args)
            self.assertEqual(res.stderr.splitlines()[0], first_line, args)
            self.assertEqual(res.stdout, "", args)

    def test_package_and_repo_index(self):
        chart = write_chart(self.tmp)
        repo = os.path.join(self.tmp, "repo")
        os.makedirs(repo)
        out = self.helm.ok("package", chart, "-d", repo, "--version", "0.2.0", "--app-version", "2.0")
        archive = os.path.join(repo, "demo-0.2.0.tgz")
        self.assertEqual(out, f"Successfully packaged chart and saved it to: {archive}\n")
        self.assertTrue(os.path.isfile(archive))
        self.assertEqual(self.helm.ok("repo", "index", repo, "--url", "http://example.test/c"), "")
        with open(os.path.join(repo, "index.yaml"), encoding="utf-8") as fh:
            index = fh.read()
        self.assertIn("- http://example.test/c/demo-0.2.0.tgz", index)
        self.assertIn('appVersion: "2.0"', index)


@unittest.skipUnless(HAVE_SDK, "helm_python (pip install helm-python-sdk) is not importable")
@unittest.skipUnless(os.environ.get("KUBECONFIG"), "KUBECONFIG is not set")
class ClusterTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="standin-cluster-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.helm = Helm(self.tmp)
        self.ns = ["-n", NAMESPACE]

    def release_name(self, prefix):
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.addCleanup(self.helm.run, "uninstall", name, *self.ns, "--ignore-not-found")
        return name

    def test_repository_install_upgrade_rollback_uninstall(self):
        helm, ns = self.helm, self.ns
        name = self.release_name("repo")
        repo = os.path.join(self.tmp, "repo")
        os.makedirs(repo)
        helm.ok("package", write_chart(self.tmp), "-d", repo)
        with serve_directory(repo) as url:
            helm.ok("repo", "index", repo, "--url", url)

            rel = helm.json("upgrade", "--install", name, "demo", "--repo", url,
                            "--version", "0.1.0", *ns, "--create-namespace",
                            "--set", "greeting=hi", "--wait", "--timeout", "2m")
        self.assertEqual(rel["name"], name)
        self.assertEqual(rel["namespace"], NAMESPACE)
        self.assertEqual(rel["version"], 1)
        self.assertEqual(rel["info"]["status"], "deployed")
        self.assertEqual(rel["info"]["description"], "Install complete")
        self.assertEqual(rel["info"]["notes"], f"Installed {name}.\n")
        self.assertEqual(rel["chart"]["metadata"]["version"], "0.1.0")
        self.assertEqual(rel["config"], {"greeting": "hi"})

        status = helm.json("status", name, *ns)
        self.assertNotIn("chart", status)  # `helm status` strips it
        self.assertEqual((status["version"], status["info"]["status"]), (1, "deployed"))
        self.assertTrue(status["manifest"].startswith("---\n# Source: demo/templates/configmaps.yaml\n"))
        self.assertIn("first_deployed", status["info"])
        self.assertIn("last_deployed", status["info"])

        table = helm.ok("status", name, *ns).splitlines()
        self.assertEqual(table[0], f"NAME: {name}")
        self.assertIn("STATUS: deployed", table)
        self.assertIn("REVISION: 1", table)

        self.assertEqual(helm.json("get", "values", name, *ns), {"greeting": "hi"})
        computed = helm.json("get", "values", name, *ns, "--all")
        self.assertEqual(computed, {"greeting": "hi", "extra": {"color": "blue"}})
        self.assertEqual(helm.ok("get", "values", name, *ns),
                         "USER-SUPPLIED VALUES:\ngreeting: hi\n")
        manifest = helm.ok("get", "manifest", name, *ns)
        self.assertEqual(manifest, status["manifest"] + "\n")
        self.assertIn(f"name: {name}-one", manifest)
        self.assertIn(f"name: {name}-two", manifest)

        values = os.path.join(self.tmp, "changed.yaml")
        with open(values, "w", encoding="utf-8") as fh:
            fh.write("extra:\n  color: red\n")
        out = helm.ok("upgrade", name, write_chart(self.tmp), *ns, "-f", values,
                      "--set", "greeting=changed", "--description", "second")
        self.assertTrue(out.startswith(f'Release "{name}" has been upgraded. Happy Helming!\n'))
        self.assertIn("REVISION: 2", out.splitlines())
        self.assertIn("DESCRIPTION: second", out.splitlines())
        self.assertEqual(helm.json("get", "values", name, *ns),
                         {"extra": {"color": "red"}, "greeting": "changed"})

        history = helm.json("history", name, *ns)
        self.assertEqual([h["revision"] for h in history], [1, 2])
        self.assertEqual([h["status"] for h in history], ["superseded", "deployed"])
        self.assertEqual(history[0]["chart"], "demo-0.1.0")
        self.assertEqual(history[0]["app_version"], "1.0")
        self.assertEqual(history[0]["description"], "Install complete")
        self.assertEqual(history[1]["description"], "second")

        self.assertEqual(helm.ok("rollback", name, *ns, "--wait", "--timeout", "60s"),
                         "Rollback was a success! Happy Helming!\n")
        history = helm.json("history", name, *ns, "--max", "2")
        self.assertEqual([h["revision"] for h in history], [2, 3])
        self.assertEqual(history[-1]["description"], "Rollback to 1")
        self.assertEqual(helm.json("get", "values", name, *ns), {"greeting": "hi"})
        self.assertEqual(helm.json("get", "values", name, *ns, "--revision", "2")["greeting"],
                         "changed")

        listed = {r["name"]: r for r in helm.json("list", *ns)}
        self.assertEqual(listed[name]["revision"], "3")
        self.assertEqual(listed[name]["status"], "deployed")
        self.assertEqual(listed[name]["chart"], "demo-0.1.0")

        self.assertEqual(helm.ok("uninstall", name, *ns, "--wait"),
                         f'release "{name}" uninstalled\n')
        res = helm.run("status", name, *ns)
        self.assertEqual((res.returncode, res.stderr), (1, "Error: release: not found\n"))
        res = helm.run("history", name, *ns)
        self.assertEqual((res.returncode, res.stderr), (1, "Error: release: not found\n"))
        res = helm.run("uninstall", name, *ns)
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stderr,
                         f"Error: uninstall: Release not loaded: {name}: release: not found\n")
        self.assertEqual(helm.ok("uninstall", name, *ns, "--ignore-not-found"),
                         f'release "{name}" uninstalled\n')

    def test_local_chart_path(self):
        helm, ns = self.helm, self.ns
        name = self.release_name("local")
        chart = write_chart(self.tmp)

        res = helm.run("upgrade", name, chart, *ns)
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stderr, f'Error: UPGRADE FAILED: "{name}" has no deployed releases\n')

        out = helm.ok("install", name, chart, *ns, "--create-namespace", "--wait=watcher",
                      "--timeout", "1m30s", "--server-side=true", "-f", "-",
                      stdin="greeting: from-stdin\n")
        lines = out.splitlines()
        self.assertEqual(lines[0], f"NAME: {name}")
        self.assertIn(f"NAMESPACE: {NAMESPACE}", lines)
        self.assertIn("STATUS: deployed", lines)
        self.assertIn("REVISION: 1", lines)
        self.assertEqual(lines[-2:], ["NOTES:", f"Installed {name}."])
        self.assertEqual(helm.json("get", "values", name, *ns), {"greeting": "from-stdin"})

        res = helm.run("install", name, chart, *ns)
        self.assertEqual(res.returncode, 1)
        self.assertTrue(res.stderr.startswith("Error: INSTALLATION FAILED: "), res.stderr)

        rel = helm.json("upgrade", "-i", name, chart, *ns, "--reuse-values",
                        "--set", "extra.color=green")
        self.assertEqual(rel["version"], 2)
        self.assertEqual(rel["config"], {"extra": {"color": "green"}, "greeting": "from-stdin"})
        self.assertEqual(rel.get("apply_method"), "ssa")

        helm.ok("uninstall", name, *ns, "--keep-history")
        self.assertEqual(helm.json("status", name, *ns)["info"]["status"], "uninstalled")
        out = helm.ok("upgrade", "--install", name, chart, *ns)
        self.assertTrue(out.startswith(f'Release "{name}" does not exist. Installing it now.\n'))
        self.assertEqual(helm.json("status", name, *ns)["version"], 3)


if __name__ == "__main__":
    unittest.main()
