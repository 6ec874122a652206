#!/usr/bin/env bash
# The project's test command: formatting, lints, a build of dtm and every plugin, then every test.
# Usage: scripts/test.sh            (from anywhere in the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."

# The state backend tests run against real servers on loopback (moto for S3, kube-apiserver for
# the ConfigMap backend); they fail when the servers are missing. Start them unless the caller
# already points the tests at servers (DTM_TEST_S3_ENDPOINT, DTM_TEST_KUBECONFIG) or skips them
# (DTM_TEST_SKIP_SERVERS=1), and stop what was started on exit.
if [ "${DTM_TEST_SKIP_SERVERS:-}" != 1 ] && [ -z "${DTM_TEST_S3_ENDPOINT:-}" ] && [ -z "${DTM_TEST_KUBECONFIG:-}" ]; then
  echo "==> test servers (scripts/test-servers.sh)"
  trap 'scripts/test-servers.sh stop' EXIT
  scripts/test-servers.sh start
  eval "$(scripts/test-servers.sh env)"
fi

echo "==> cargo fmt --check"
cargo fmt --all --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo check, slim build (no S3 or Kubernetes backend: --no-default-features)"
cargo check -p dtm-cli --no-default-features --locked

echo "==> cargo build (dtm + all plugins; the tests load the plugin libraries)"
cargo build --workspace --locked

echo "==> cargo test"
cargo test --workspace --locked --no-fail-fast

# The helm stand-in the helm-installer tests drive: its own smoke test against the same cluster.
if [ -n "${DTM_TEST_KUBECONFIG:-}" ] && [ -n "${DTM_TEST_HELM:-}" ]; then
  echo "==> helm stand-in smoke test"
  KUBECONFIG="$DTM_TEST_KUBECONFIG" python3 -m unittest scripts/helm-standin/test_standin.py
fi
