#!/usr/bin/env bash
# Whole-command benchmarks for dtm. Generates configs of N instances of the trivial in-workspace
# plugin `fixture-noop` and measures, with hyperfine and /usr/bin/time -v:
#   - the first apply, a no-op plan, destroy, peak RSS and state file size, for N = 100, 1000,
#     10000 and shapes independent (wide fan-out), chain, dag (random, <= 3 parents each);
#   - a DAG of 200 tools whose plugin sleeps 100 ms per call, with --parallelism 10, against its
#     critical-path bound;
#   - verifying and loading 20 plugins from the plugin cache (C plugins built with `cc`);
#   - startup (`dtm version`).
# Usage: bench/run.sh [--quick] [--profile release|debug] [--only SECTION] [--out FILE]
#   --quick    smoke run (N = 100 only, one run each) for CI, so the script cannot rot.
#   --profile  which build to measure (default release; CI's smoke run reuses the debug build).
#   --only     run one section: scale, sleep, cache or startup (default: all of them).
# Results are printed as a Markdown table and written to FILE (default bench/results.md).
# Needs: a release build (`cargo build --release --workspace`), hyperfine, GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
quick=0
profile=release
out="$root/bench/results.md"
only=all
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --profile) profile="$2"; shift ;;
    --out) out="$2"; shift ;;
    --only) only="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
case "$only" in all|scale|sleep|cache|startup) ;; *) echo "unknown section: $only (scale, sleep, cache, startup)" >&2; exit 2 ;; esac
want() { [ "$only" = all ] || [ "$only" = "$1" ]; }

bin="${CARGO_TARGET_DIR:-$root/target}/$profile"
dtm="$bin/dtm"
[ -x "$dtm" ] || { echo "no $profile build of dtm in $bin: run cargo build --workspace (add --release for the release profile)" >&2; exit 1; }
[ -f "$bin/libdtm_plugin_fixture_noop.so" ] || { echo "fixture-noop plugin not built in $bin (cargo build --workspace, with --release for release)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is missing (apt-get install time)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NO_COLOR=1 DTM_HOME="$work/home"

if [ $quick = 1 ]; then sizes="100"; shapes="independent chain dag"; runs=1; else sizes="100 1000 10000"; shapes="independent chain dag"; runs=5; fi

mean() { python3 -c 'import json,sys; print("%.3f" % json.load(open(sys.argv[1]))["results"][0]["mean"])' "$1"; }
rss_mb() { awk -F: '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$1"; }

: > "$out"
if want scale; then
  echo "| N | shape | first apply (s) | peak RSS apply (MB) | no-op plan (s) | peak RSS plan (MB) | destroy (s) | state size (KB) |" >> "$out"
  echo "|---|---|---|---|---|---|---|---|" >> "$out"
  for n in $sizes; do
    for shape in $shapes; do
      d="$work/$shape-$n"; mkdir -p "$d"; cd "$d"
      python3 "$root/bench/gen.py" "$n" "$shape" > config.yaml
      clean='rm -f devstream.state devstream.state.*'
      # First apply: fresh state before every run.
      hyperfine -N --runs "$runs" --prepare "$clean" --export-json apply.json "$dtm apply -y -o json" >/dev/null 2>&1
      eval "$clean"
      /usr/bin/time -v "$dtm" apply -y -o json >/dev/null 2> apply.time
      size=$(( $(stat -c %s devstream.state) / 1024 ))
      hyperfine -N --warmup 1 --runs "$runs" --export-json plan.json "$dtm plan" >/dev/null 2>&1
      /usr/bin/time -v "$dtm" plan >/dev/null 2> plan.time
      hyperfine -N --runs "$runs" --prepare "$dtm apply -y -o json" --export-json destroy.json "$dtm destroy -y -o json" >/dev/null 2>&1
      printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$shape" "$(mean apply.json)" "$(rss_mb apply.time)" \
        "$(mean plan.json)" "$(rss_mb plan.time)" "$(mean destroy.json)" "$size" | tee -a "$out"
      cd "$root"
    done
  done
fi

# Sleeping DAG: 200 tools, 100 ms per call, 10 workers, against the critical-path bound.
if want sleep; then
  d="$work/sleep"; mkdir -p "$d"; cd "$d"
  for shape in layered dag; do
    python3 "$root/bench/gen.py" 200 "$shape" --sleep-ms 100 > config.yaml
    bound=$(python3 "$root/bench/gen.py" 200 "$shape" --sleep-ms 100 --bound 10)
    hyperfine -N --runs "$runs" --prepare 'rm -f devstream.state devstream.state.*' --export-json sleep.json \
      "$dtm apply -y -o json --parallelism 10" >/dev/null 2>&1
    t=$(mean sleep.json)
    echo "" >> "$out"
    python3 -c 'import sys; t,b=float(sys.argv[1]),float(sys.argv[2]); print("sleeping DAG (%s, 200 x 100 ms, --parallelism 10): %.3f s vs critical-path bound %.3f s: %+.1f%%" % (sys.argv[3], t, b, (t/b-1)*100))' "$t" "$bound" "$shape" | tee -a "$out"
  done
  cd "$root"
fi

# Plugins from the cache: 20 small C plugins (bench/c-plugin), each padded to 6 MiB like a real
# plugin build, published to a signed file:// registry and fetched once with `dtm init`. Every
# later `dtm plan` of a config using all 20 verifies each cached library against the lock file
# (hashing it on the first run after download, which writes its verified stamp, then checking the
# stamp: the warmup runs do the hashing) and loads it; the difference from the plan of an empty
# config is that cost.
if ! want cache; then
  :
elif command -v cc >/dev/null 2>&1; then
  d="$work/cache"; mkdir -p "$d/libs"; cd "$d"
  "$dtm" plugin keygen --out "$d/key" --trust >/dev/null
  printf 'tools:\n' > plugins.yaml
  for i in $(seq -w 1 20); do
    cc -shared -fPIC -O2 -DPLUGIN_NAME="\"bench-p$i\"" -o "$d/libs/libdtm_plugin_bench_p$i.so" "$root/bench/c-plugin/bench_plugin.c"
    printf -- '- name: bench-p%s\n  instanceID: x\n  options: {}\n' "$i" >> plugins.yaml
  done
  "$dtm" plugin publish --registry "$d/registry" --key "$d/key.key" "$d"/libs/*.so >/dev/null
  printf 'tools: []\n' > empty.yaml
  export DTM_REGISTRY="file://$d/registry"
  "$dtm" init -f plugins.yaml >/dev/null 2>&1
  hyperfine -N --warmup 2 --runs $(( runs * 4 )) --export-json cache.json \
    "$dtm plan -f empty.yaml" "$dtm plan -f plugins.yaml" >/dev/null 2>&1
  unset DTM_REGISTRY
  echo "" >> "$out"
  python3 - cache.json <<'PY' | tee -a "$out"
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base, full = r[0]["mean"], r[1]["mean"]
print("20 plugins from the cache (6 MiB each), verified and loaded by dtm plan: %.1f ms over an empty plan (%.1f ms), %.2f ms per plugin"
      % ((full - base) * 1000, base * 1000, (full - base) * 1000 / 20))
PY
  cd "$root"
else
  echo "no C compiler: skipping the plugin cache benchmark" | tee -a "$out"
fi

if want startup; then
  hyperfine -N --warmup 3 --runs $(( runs * 10 )) --export-json "$work/version.json" "$dtm version" >/dev/null 2>&1
  echo "" >> "$out"
  echo "startup (dtm version): $(python3 -c 'import json,sys; print("%.2f ms" % (json.load(open(sys.argv[1]))["results"][0]["mean"]*1000))' "$work/version.json")" | tee -a "$out"
fi
echo "results written to $out"
