#!/usr/bin/env bash
# Benchmarks the Kubernetes plugin against a real API server: one `k8s-manifest` tool holding N
# ConfigMaps (one object per manifest document), and N `k8s-manifest` tools of one ConfigMap each
# (the engine's parallelism at work). Measures, with hyperfine: the first apply, a no-op plan
# (one read per tool: a GET per object), and destroy (waits until the objects are gone).
# Usage: KUBECONFIG=... bench/kube.sh [--n N] [--profile release|debug]
# With scripts/test-servers.sh: scripts/test-servers.sh start && eval "$(scripts/test-servers.sh env)"
#   && KUBECONFIG=$DTM_TEST_KUBECONFIG bench/kube.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=100
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --n) n="$2"; shift ;;
    --profile) profile="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
kubeconfig="${KUBECONFIG:-${DTM_TEST_KUBECONFIG:-}}"
[ -n "$kubeconfig" ] || { echo "set KUBECONFIG (or DTM_TEST_KUBECONFIG) to the cluster to measure against" >&2; exit 1; }
bin="${CARGO_TARGET_DIR:-$root/target}/$profile"
dtm="$bin/dtm"
[ -x "$dtm" ] && [ -f "$bin/libdtm_plugin_k8s_manifest.so" ] || { echo "no $profile build of dtm and k8s-manifest in $bin" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NO_COLOR=1 DTM_HOME="$work/home" DTM_PLUGIN_DIR="$bin"
ns="dtm-bench-$$"

one_tool() {
  printf 'tools:\n- name: k8s-manifest\n  instanceID: many\n  options:\n    kubeconfig: %s\n    namespace: %s\n    content: |\n' "$kubeconfig" "$ns"
  for i in $(seq 1 "$n"); do
    printf '      ---\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: cm-%d}\n      data: {index: "%d"}\n' "$i" "$i"
  done
}
many_tools() {
  printf 'tools:\n'
  for i in $(seq 1 "$n"); do
    printf -- '- name: k8s-manifest\n  instanceID: cm-%d\n  options:\n    kubeconfig: %s\n    namespace: %s\n    manifests: [{apiVersion: v1, kind: ConfigMap, metadata: {name: tool-%d}, data: {index: "%d"}}]\n' "$i" "$kubeconfig" "$ns" "$i" "$i"
  done
}

# The namespace, made once (deleting it between runs would measure the namespace controller).
mkdir -p "$work/ns"
printf 'tools:\n- name: k8s-manifest\n  instanceID: ns\n  options:\n    kubeconfig: %s\n    manifests: [{apiVersion: v1, kind: Namespace, metadata: {name: %s}}]\n' "$kubeconfig" "$ns" >"$work/ns/dtm.yaml"
(cd "$work/ns" && "$dtm" apply -y -f dtm.yaml >/dev/null)

for shape in one_tool many_tools; do
  dir="$work/$shape"
  mkdir -p "$dir"
  "$shape" >"$dir/dtm.yaml"
  cd "$dir"
  echo "== $shape, N=$n ($profile)"
  hyperfine --runs 5 --export-markdown "$work/$shape-apply.md" \
    --prepare "$dtm destroy -y -f dtm.yaml >/dev/null" \
    "$dtm apply -y -f dtm.yaml"
  hyperfine --runs 10 --export-markdown "$work/$shape-plan.md" \
    "$dtm plan -f dtm.yaml"
  hyperfine --runs 5 --export-markdown "$work/$shape-destroy.md" \
    --prepare "$dtm apply -y -f dtm.yaml >/dev/null" \
    "$dtm destroy -y -f dtm.yaml"
  cd "$root"
done
(cd "$work/ns" && "$dtm" destroy -y -f dtm.yaml >/dev/null)
