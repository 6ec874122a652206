#!/usr/bin/env bash
# The project's test command: formatting, lints, a build of dtm and every plugin, then every test.
# Usage: scripts/test.sh            (from anywhere in the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo fmt --check"
cargo fmt --all --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo build (dtm + all plugins; the tests load the plugin libraries)"
cargo build --workspace --locked

echo "==> cargo test"
cargo test --workspace --locked --no-fail-fast
