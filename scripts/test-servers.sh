#!/usr/bin/env bash
# Real servers for the state backend tests, on loopback only:
#   - an S3-compatible store: moto's server (PyPI `moto[server]`, installed if missing);
#   - a Kubernetes API server: the genuine kube-apiserver v1.20.2 built from Debian's source
#     package by ../shared/tools/kube-apiserver/ (beside the checkout; cached per machine), with
#     its controller-manager, plus a second one running the workload controllers;
#   - Helm: the Helm v4 SDK from the PyPI wheel `helm-python-sdk` (installed if missing), driven
#     by scripts/helm-standin/helm, a helm-compatible command for the helm-installer tests;
#   - Docker: Debian's dockerd (package docker.io, with docker-compose and busybox-static for the
#     test images; installed if missing, as root) on a private socket and data root, for the
#     gitlab-ce-docker and harbor-docker tests. It never touches /var/run/docker.sock.
#
# Usage (from anywhere in the checkout):
#   scripts/test-servers.sh start    # install/build what is missing, start both, write the env file
#   scripts/test-servers.sh env      # print `export ...` lines for the tests: eval "$(... env)"
#   scripts/test-servers.sh stop     # stop what `start` started
#
# The tests find the servers through DTM_TEST_S3_ENDPOINT, DTM_TEST_KUBECONFIG and
# DTM_TEST_DOCKER_HOST and fail, saying
# to run this script, when those are not set (DTM_TEST_SKIP_SERVERS=1 skips them instead).
# Overrides: DTM_TEST_S3_PORT (default: a free port), DTM_KUBE_TOOLS (the kube-apiserver scripts),
# KUBE_DIR, APISERVER_PORT and the other variables of those scripts.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE_DIR="$ROOT/target/test-servers"
ENV_FILE="$STATE_DIR/env"
KUBE_TOOLS="${DTM_KUBE_TOOLS:-$ROOT/../shared/tools/kube-apiserver}"

log() { echo "test-servers: $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_moto() {
  if ! python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1; then
    log "installing moto[server] from PyPI"
    # Debian's own Python refuses system-wide installs (PEP 668) unless told otherwise.
    python3 -m pip install --quiet 'moto[server]' >&2 ||
      python3 -m pip install --quiet --break-system-packages 'moto[server]' >&2
  fi
  local port="${DTM_TEST_S3_PORT:-$(free_port)}"
  # As a module: works wherever pip put the package, whether or not its scripts are on PATH.
  setsid nohup python3 -m moto.server -H 127.0.0.1 -p "$port" >"$STATE_DIR/moto.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/moto.pid"
  local deadline=$(($(date +%s) + 60))
  until python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/', timeout=1)" 2>/dev/null; do
    if ! kill -0 "$(cat "$STATE_DIR/moto.pid")" 2>/dev/null; then
      tail -20 "$STATE_DIR/moto.log" >&2
      log "moto server exited; see $STATE_DIR/moto.log"
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "moto server not ready after 60 s; see $STATE_DIR/moto.log"
      return 1
    fi
    sleep 0.2
  done
  local version
  version="$(python3 -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || echo unknown)"
  log "moto $version on http://127.0.0.1:$port"
  {
    echo "export DTM_TEST_S3_ENDPOINT=http://127.0.0.1:$port"
    echo "export DTM_TEST_S3_SERVER='moto $version'"
  } >>"$ENV_FILE.tmp"
}

# The helm-installer tests drive scripts/helm-standin/helm, which needs the Helm SDK wheel.
prepare_helm() {
  if ! python3 -c 'import helm_python' >/dev/null 2>&1; then
    log "installing helm-python-sdk (the Helm v4 SDK) from PyPI"
    python3 -m pip install --quiet 'helm-python-sdk==0.2.2' >&2 ||
      python3 -m pip install --quiet --break-system-packages 'helm-python-sdk==0.2.2' >&2
  fi
  local helm="$ROOT/scripts/helm-standin/helm" version
  if ! version="$("$helm" version --short 2>&1)"; then
    log "the helm stand-in does not run: $version"
    return 1
  fi
  log "helm stand-in over the Helm SDK $version"
  {
    echo "export DTM_TEST_HELM=$helm"
    echo "export DTM_TEST_HELM_VERSION='$version (Helm SDK through scripts/helm-standin)'"
  } >>"$ENV_FILE.tmp"
}

# build.sh ends with `etcd --version | head -1` under pipefail, which can fail with SIGPIPE
# after everything was built. Accept the build when every binary is there and runs.
kube_binaries_ok() {
  local dir="$1"
  if [ -x "$dir/bin/etcd" ] && [ -x "$dir/bin/kube-controller-manager" ] \
    && "$dir/bin/kube-apiserver" --version 2>/dev/null | grep -q 'v1.20.2'; then
    log "build.sh exited non-zero, but kube-apiserver, kube-controller-manager and etcd are built; going on"
    return 0
  fi
  return 1
}

start_kube() {
  if [ ! -x "$KUBE_TOOLS/build.sh" ]; then
    log "cannot find the kube-apiserver scripts at $KUBE_TOOLS (expected ../shared/tools/kube-apiserver beside the checkout; set DTM_KUBE_TOOLS)"
    return 1
  fi
  local t0
  t0=$(date +%s)
  log "building kube-apiserver if needed (cached per machine; 5-9 min the first time)"
  local kube_dir="${KUBE_DIR:-$HOME/.cache/dtm-kube-apiserver}"
  if ! "$KUBE_TOOLS/build.sh" >"$STATE_DIR/kube-build.log" 2>&1 && ! kube_binaries_ok "$kube_dir"; then
    tail -30 "$STATE_DIR/kube-build.log" >&2
    log "building the kube-apiserver failed; full log: $STATE_DIR/kube-build.log"
    log "the Kubernetes backend tests need it; set DTM_TEST_SKIP_SERVERS=1 to run everything else"
    return 1
  fi
  log "kube-apiserver build ready after $(($(date +%s) - t0)) s"
  local kubeconfig
  if ! kubeconfig="$("$KUBE_TOOLS/start.sh" --fresh 2>"$STATE_DIR/kube-start.log")"; then
    tail -30 "$STATE_DIR/kube-start.log" >&2
    log "starting kube-apiserver failed; see $STATE_DIR/kube-start.log"
    return 1
  fi
  touch "$STATE_DIR/kube.started"
  log "kube-apiserver v1.20.2 ready, kubeconfig $kubeconfig"
  start_workload_controllers "$kube_dir" || return 1
  {
    echo "export DTM_TEST_KUBECONFIG=$kubeconfig"
    echo "export DTM_TEST_KUBE_SERVER='kube-apiserver v1.20.2'"
  } >>"$ENV_FILE.tmp"
}

# The shared start.sh runs only the namespace and garbage-collector controllers. The workload
# controllers (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job) run in a second, genuine
# kube-controller-manager, so that readiness is judged on the status real controllers write. There
# is still no scheduler or kubelet: Pods never run. (The service-account controllers stay off:
# the tests create what they need.)
start_workload_controllers() {
  local kube_dir="$1"
  local kcm="$kube_dir/bin/kube-controller-manager" kcfg="$kube_dir/run/kcm.kubeconfig"
  if [ ! -x "$kcm" ] || [ ! -f "$kcfg" ]; then
    log "no kube-controller-manager or its kubeconfig in $kube_dir; workload controllers not started"
    return 1
  fi
  local port
  port="$(free_port)"
  mkdir -p "$STATE_DIR/kcm-workloads-certs"
  setsid nohup "$kcm" --kubeconfig="$kcfg" \
    --authentication-kubeconfig="$kcfg" --authorization-kubeconfig="$kcfg" \
    --bind-address=127.0.0.1 --secure-port="$port" --port=0 \
    --cert-dir="$STATE_DIR/kcm-workloads-certs" \
    --controllers=deployment,replicaset,statefulset,daemonset,job \
    --leader-elect=false >"$STATE_DIR/kcm-workloads.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/kcm-workloads.pid"
  sleep 1
  if ! kill -0 "$(cat "$STATE_DIR/kcm-workloads.pid")" 2>/dev/null; then
    tail -20 "$STATE_DIR/kcm-workloads.log" >&2
    log "the workload controllers exited; see $STATE_DIR/kcm-workloads.log"
    return 1
  fi
  log "workload controllers (deployment, replicaset, statefulset, daemonset, job) running"
}

# The container plugins' tests need a real Docker engine. Debian's dockerd runs here as root
# (overlay2, or whatever storage driver works), on its own socket, data root and exec root; no
# iptables rules, no IP forwarding: published ports go through docker-proxy on the host.
start_docker() {
  local missing=""
  command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
  command -v docker-compose >/dev/null 2>&1 || missing="$missing docker-compose"
  [ -x /bin/busybox ] || missing="$missing busybox-static"
  if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
      log "the Docker tests need Debian's$missing; install them as root (apt-get install$missing)"
      return 1
    fi
    log "installing$missing from Debian"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
  fi
  # containerd's socket lives under the exec root: keep its path short.
  local exec_root
  exec_root="$(mktemp -d /tmp/dtm-docker.XXXXXX)"
  echo "$exec_root" >"$STATE_DIR/docker.exec-root"
  local sock="unix://$exec_root/docker.sock"
  # runc-bounded: runc, minus the capabilities this machine cannot grant (see the script), so
  # that privileged containers (Harbor's prepare step) start in a sandboxed VM too.
  setsid nohup dockerd --data-root "$STATE_DIR/docker-data" --exec-root "$exec_root" \
    --pidfile "$exec_root/dockerd.pid" -H "$sock" \
    --iptables=false --ip-forward=false --ip-masq=false \
    --add-runtime "runc-bounded=$ROOT/scripts/docker-test/runc-bounded" \
    --default-runtime runc-bounded >"$STATE_DIR/dockerd.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/dockerd.pid"
  local deadline=$(($(date +%s) + 60))
  until DOCKER_HOST="$sock" docker version >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$STATE_DIR/dockerd.pid")" 2>/dev/null; then
      tail -20 "$STATE_DIR/dockerd.log" >&2
      log "dockerd exited; see $STATE_DIR/dockerd.log"
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "dockerd not ready after 60 s; see $STATE_DIR/dockerd.log"
      return 1
    fi
    sleep 0.5
  done
  local version
  version="$(DOCKER_HOST="$sock" docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown)"
  log "dockerd $version on $sock"
  {
    echo "export DTM_TEST_DOCKER_HOST=$sock"
    echo "export DTM_TEST_DOCKER_SERVER='dockerd $version'"
  } >>"$ENV_FILE.tmp"
}

stop_docker() {
  if [ -f "$STATE_DIR/dockerd.pid" ]; then
    local pid
    pid="$(cat "$STATE_DIR/dockerd.pid")"
    # Only our dockerd: its command line names our data root.
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$STATE_DIR/docker-data"; then
      kill -TERM "$pid" 2>/dev/null || true
      local deadline=$(($(date +%s) + 30))
      while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.5; done
      log "dockerd stopped (pid $pid)"
    fi
    rm -f "$STATE_DIR/dockerd.pid"
  fi
  if [ -f "$STATE_DIR/docker.exec-root" ]; then
    rm -rf "$(cat "$STATE_DIR/docker.exec-root")" 2>/dev/null || true
    rm -f "$STATE_DIR/docker.exec-root"
  fi
}

stop() {
  stop_docker
  if [ -f "$STATE_DIR/kcm-workloads.pid" ]; then
    local kpid
    kpid="$(cat "$STATE_DIR/kcm-workloads.pid")"
    if [ -n "$kpid" ] && tr '\0' ' ' <"/proc/$kpid/cmdline" 2>/dev/null | grep -q kube-controller-manager; then
      kill -TERM "$kpid" 2>/dev/null || true
      log "workload controllers stopped (pid $kpid)"
    fi
    rm -f "$STATE_DIR/kcm-workloads.pid"
  fi
  if [ -f "$STATE_DIR/moto.pid" ]; then
    local pid
    pid="$(cat "$STATE_DIR/moto.pid")"
    # Only our moto server: its command line names it.
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q moto.server; then
      kill -TERM "$pid" 2>/dev/null || true
      log "moto server stopped (pid $pid)"
    fi
    rm -f "$STATE_DIR/moto.pid"
  fi
  if [ -f "$STATE_DIR/kube.started" ]; then
    "$KUBE_TOOLS/stop.sh" >&2 || true
    rm -f "$STATE_DIR/kube.started"
  fi
  rm -f "$ENV_FILE"
}

case "${1:-}" in
  start)
    mkdir -p "$STATE_DIR"
    stop
    : >"$ENV_FILE.tmp"
    {
      # moto accepts any credentials; these keep the AWS SDK from looking for real ones.
      echo "export AWS_ACCESS_KEY_ID=dtm-test"
      echo "export AWS_SECRET_ACCESS_KEY=dtm-test"
      echo "export AWS_REGION=us-east-1"
      echo "export AWS_EC2_METADATA_DISABLED=true"
    } >>"$ENV_FILE.tmp"
    if ! start_moto || ! start_kube || ! prepare_helm || ! start_docker; then
      stop
      rm -f "$ENV_FILE.tmp"
      exit 1
    fi
    mv "$ENV_FILE.tmp" "$ENV_FILE"
    ;;
  env)
    if [ ! -f "$ENV_FILE" ]; then
      log "no servers running; run scripts/test-servers.sh start first"
      exit 1
    fi
    cat "$ENV_FILE"
    ;;
  stop)
    stop
    ;;
  *)
    echo "usage: $0 start|env|stop" >&2
    exit 2
    ;;
esac
