#!/usr/bin/env bash
# Installs dtm from this checkout and sets up a signed local plugin registry, so that dtm works
# offline through the same verified path it uses for a remote registry:
#
#   1. builds dtm and every workspace plugin in release mode;
#   2. installs `dtm` into $DTM_INSTALL_DIR, else /usr/local/bin when run as root, else
#      ~/.local/bin;
#   3. creates a signing key in <dtm home>/keys/ if there is none, and trusts it;
#   4. publishes the workspace plugins (not the test fixtures) into <dtm home>/registry;
#   5. makes that registry the default in <dtm home>/config.toml (unless one is set already).
#
# The dtm home is $DTM_HOME, default ~/.dtm. Safe to run again (after changing a plugin, say).
set -euo pipefail
cd "$(dirname "$0")"

DTM_HOME="${DTM_HOME:-$HOME/.dtm}"
export DTM_HOME
if [ -n "${DTM_INSTALL_DIR:-}" ]; then
  bin_dir="$DTM_INSTALL_DIR"
elif [ "$(id -u)" = 0 ]; then
  bin_dir=/usr/local/bin
else
  bin_dir="$HOME/.local/bin"
fi

echo "==> building dtm and the plugins (release)"
cargo build --release --locked --workspace

case "$(uname -s)" in
  Darwin) prefix=lib; suffix=.dylib ;;
  MINGW* | MSYS* | CYGWIN*) prefix=; suffix=.dll ;;
  *) prefix=lib; suffix=.so ;;
esac
exe=target/release/dtm
[ -f "$exe" ] || exe=target/release/dtm.exe

echo "==> installing dtm into $bin_dir"
mkdir -p "$bin_dir"
install -m 0755 "$exe" "$bin_dir/"
dtm="$bin_dir/$(basename "$exe")"

key_stem="$DTM_HOME/keys/signing"
if [ ! -f "$key_stem.key" ]; then
  echo "==> creating a local signing key"
  "$dtm" plugin keygen --out "$key_stem"
fi
mkdir -p "$DTM_HOME/trusted-keys"
cp "$key_stem.pub" "$DTM_HOME/trusted-keys/local-signing.pub"

# Every plugin crate under plugins/ that builds a library, except the test fixtures.
libs=()
for manifest in plugins/*/Cargo.toml; do
  grep -q 'cdylib' "$manifest" || continue
  crate=$(sed -n 's/^name *= *"\(dtm-plugin-[a-z0-9-]*\)".*/\1/p' "$manifest" | head -n 1)
  [ -n "$crate" ] || continue
  lib="target/release/${prefix}$(echo "$crate" | tr - _)${suffix}"
  if [ -f "$lib" ]; then
    libs+=("$lib")
  else
    echo "warning: $crate was not built ($lib missing); skipped" >&2
  fi
done
if [ "${#libs[@]}" -eq 0 ]; then
  echo "error: no plugin libraries found in target/release" >&2
  exit 1
fi

registry="$DTM_HOME/registry"
echo "==> publishing ${#libs[@]} plugins into $registry"
# --force: a rebuild of an unchanged version replaces the local build (the cache keeps what
# existing lock files pin).
"$dtm" plugin publish --registry "$registry" --key "$key_stem.key" --force "${libs[@]}"

config="$DTM_HOME/config.toml"
if [ -f "$config" ] && grep -q '^\[registry\]' "$config"; then
  echo "==> $config already has a [registry] section; left as is"
else
  printf '\n[registry]\n# Default plugin registry for configs without pluginRegistry (see docs/registry.md).\nurl = "file://%s"\n' \
    "$registry" >>"$config"
  echo "==> default registry: file://$registry (in $config)"
fi

echo
echo "Installed $dtm ($("$dtm" version | head -n 1))."
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "Note: $bin_dir is not on your PATH; add it, e.g. export PATH=\"$bin_dir:\$PATH\"" ;;
esac
echo "Try: dtm apply -f examples/minimal.yaml -y"
