#!/usr/bin/env bash
# Benchmarks `helm-installer` side by side with the helm command it drives, on the same small
# chart (two ConfigMaps and a Service) against a real API server, with hyperfine:
#   install    dtm apply (empty state)          vs  helm upgrade --install
#   no-op      dtm plan (in sync: status, history and a GET per object)  vs  helm status
#   upgrade    dtm apply (a changed value)      vs  helm upgrade (a changed value)
#   uninstall  dtm destroy (waits until gone)   vs  helm uninstall
# and prints a Markdown table with the ratio dtm / helm. dtm drives the same helm program, so
# the ratio is dtm's own cost on top of helm (process start, plugin load, the readiness and
# drift reads helm does not do).
# Usage: KUBECONFIG=... HELM=path/to/helm bench/helm.sh [--profile release|debug] [--runs N] [--out FILE]
# With the repository's test servers: scripts/test-servers.sh start && eval "$(scripts/test-servers.sh env)"
#   && bench/helm.sh   (KUBECONFIG and HELM default to DTM_TEST_KUBECONFIG and DTM_TEST_HELM)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
profile=release
runs=5
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift ;;
    --runs) runs="$2"; shift ;;
    --out) out="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
kubeconfig="${KUBECONFIG:-${DTM_TEST_KUBECONFIG:-}}"
helm="${HELM:-${DTM_TEST_HELM:-$(command -v helm || true)}}"
[ -n "$kubeconfig" ] || { echo "set KUBECONFIG (or DTM_TEST_KUBECONFIG) to the cluster to measure against" >&2; exit 1; }
[ -n "$helm" ] && [ -x "$helm" ] || { echo "set HELM (or DTM_TEST_HELM) to a helm program" >&2; exit 1; }
bin="${CARGO_TARGET_DIR:-$root/target}/$profile"
dtm="$bin/dtm"
[ -x "$dtm" ] && [ -f "$bin/libdtm_plugin_helm_installer.so" ] || { echo "no $profile build of dtm and helm-installer in $bin" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }

work=$(mktemp -d)
ns="dtm-bench-helm-$$"
h() { "$helm" --kubeconfig "$kubeconfig" "$@"; }
cleanup() {
  h uninstall by-helm -n "$ns" >/dev/null 2>&1 || true
  (cd "$work/dtm" 2>/dev/null && "$dtm" destroy -y -f dtm.yaml >/dev/null 2>&1) || true
  rm -rf "$work"
}
trap cleanup EXIT
export NO_COLOR=1 DTM_HOME="$work/home" DTM_PLUGIN_DIR="$bin"
export HELM_CACHE_HOME="$work/helm/cache" HELM_CONFIG_HOME="$work/helm/config" HELM_DATA_HOME="$work/helm/data"

chart="$work/chart"
mkdir -p "$chart/templates" "$work/dtm"
printf 'apiVersion: v2\nname: bench\nversion: 0.1.0\nappVersion: "1.0"\n' >"$chart/Chart.yaml"
printf 'greeting: hello\n' >"$chart/values.yaml"
for i in 1 2; do
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-%s\ndata:\n  greeting: {{ .Values.greeting | quote }}\n' "$i" >"$chart/templates/cm-$i.yaml"
done
printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  ports: [{port: 80, protocol: TCP}]\n' >"$chart/templates/svc.yaml"
config() {
  printf 'tools:\n- name: helm-installer\n  instanceID: bench\n  options:\n    kubeconfig: %s\n    helm: %s\n    chart: {chartPath: %s, releaseName: by-dtm, namespace: %s}\n    values: {greeting: "%s"}\n' \
    "$kubeconfig" "$helm" "$chart" "$ns" "$1" >"$work/dtm/dtm.yaml"
}
# A helper for --prepare: flip the greeting so that every upgrade changes a value.
flip="$work/flip.sh"
cat >"$flip" <<EOF
#!/usr/bin/env bash
set -e
n=\$(cat "$work/n" 2>/dev/null || echo 0); n=\$((n + 1)); echo \$n >"$work/n"
$(declare -f config)
work="$work"; kubeconfig="$kubeconfig"; helm="$helm"; chart="$chart"; ns="$ns"
config "v\$n"
EOF
chmod +x "$flip"
config hello
h upgrade --install warmup "$chart" -n "$ns" --create-namespace >/dev/null
h uninstall warmup -n "$ns" >/dev/null

md="$work/md"
mkdir -p "$md"
measure() { # NAME PREPARE COMMAND
  hyperfine --shell bash --runs "$runs" --warmup 1 --export-json "$md/$1.json" --prepare "$2" "$3" >&2
}
cd "$work/dtm"
measure dtm-install "$dtm destroy -y -f dtm.yaml >/dev/null 2>&1 || true" "$dtm apply -y -f dtm.yaml"
measure helm-install "$helm --kubeconfig $kubeconfig uninstall by-helm -n $ns >/dev/null 2>&1 || true" \
  "$helm --kubeconfig $kubeconfig upgrade --install by-helm $chart -n $ns"
measure dtm-noop "true" "$dtm plan -f dtm.yaml"
measure helm-noop "true" "$helm --kubeconfig $kubeconfig status by-helm -n $ns"
measure dtm-upgrade "$flip" "$dtm apply -y -f dtm.yaml"
measure helm-upgrade "true" "$helm --kubeconfig $kubeconfig upgrade by-helm $chart -n $ns --set greeting=\$RANDOM"
measure dtm-uninstall "$dtm apply -y -f dtm.yaml >/dev/null" "$dtm destroy -y -f dtm.yaml"
measure helm-uninstall "$helm --kubeconfig $kubeconfig upgrade --install by-helm $chart -n $ns >/dev/null" \
  "$helm --kubeconfig $kubeconfig uninstall by-helm -n $ns"
cd "$root"

mean() { python3 -c 'import json,sys; print("%.3f" % json.load(open(sys.argv[1]))["results"][0]["mean"])' "$1"; }
table=$(
  echo "| operation | dtm (s) | helm (s) | dtm / helm |"
  echo "|---|---|---|---|"
  for op in install noop upgrade uninstall; do
    d=$(mean "$md/dtm-$op.json"); k=$(mean "$md/helm-$op.json")
    echo "| $op | $d | $k | $(python3 -c "print('%.2f' % ($d / $k))") |"
  done
)
echo "helm: $("$helm" version --short) ($helm); $runs runs each; $profile build"
echo "$table"
[ -z "$out" ] || echo "$table" >"$out"
