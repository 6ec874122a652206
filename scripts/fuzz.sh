#!/usr/bin/env bash
# Runs each fuzz target (fuzz/fuzz_targets: config, vars, state, journal) for a bounded time with
# cargo-fuzz (libFuzzer) and fails if any finds a crash, a leak of memory past the limit below or
# an input that runs too long.
#
# Usage: scripts/fuzz.sh [--seconds N] [TARGET...]
#   --seconds N   time per target (default 60, what CI runs); use hours for a real campaign
#   TARGET...     only these targets (default: all)
#
# Needs cargo-fuzz (installed from crates.io if missing) and a C++ compiler (libFuzzer is built
# from source). cargo-fuzz passes rustc flags that need a nightly compiler; RUSTC_BOOTSTRAP=1
# lets the stable toolchain accept them. The corpus grows in fuzz/corpus/TARGET (not committed),
# seeded from fuzz/seeds/TARGET, the examples and the hostile-input fixtures; a crash is saved in
# fuzz/artifacts/TARGET and reproduced with `cargo fuzz run TARGET fuzz/artifacts/TARGET/FILE`
# (from fuzz/, with the same RUSTC_BOOTSTRAP=1 and --sanitizer none).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#--seconds=}"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=(config vars state journal)
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
# Safe Rust: no sanitizer needed to see panics, and the targets run several times faster without.
# Debug assertions on: integer overflows are crashes too.
flags=(--sanitizer none --debug-assertions)

echo "==> building the fuzz targets"
(cd fuzz && cargo fuzz build "${flags[@]}")

# Memory: a config may take ~200 MB above its own size; libFuzzer itself and its corpus take some
# too. Time: no input may take more than a few seconds.
libfuzzer=(-rss_limit_mb=768 -timeout=10 -print_final_stats=1)

failed=()
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  cp -n fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true
  max_len=4096
  case "$target" in
    config)
      cp -n examples/*.yaml engine/tests/fixtures/hostile/*.yaml "$corpus"/ 2>/dev/null || true
      max_len=65536 ;;
    state|journal) max_len=16384 ;;
  esac
  echo "==> fuzzing $target for ${seconds}s"
  log="fuzz/artifacts/$target/last-run.log"
  if (cd fuzz && cargo fuzz run "${flags[@]}" "$target" "corpus/$target" -- \
      "${libfuzzer[@]}" -max_total_time="$seconds" -max_len="$max_len" \
      -artifact_prefix="artifacts/$target/") >"$log" 2>&1; then
    grep -E "^(Done|stat::number_of_executed_units)" "$log" | tail -2 || true
  else
    failed+=("$target")
    tail -40 "$log"
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target, the log in $log" >&2
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets, ${seconds}s each, no crash"
