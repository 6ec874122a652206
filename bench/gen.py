#!/usr/bin/env python3
"""Generates a dtm config of N tool instances of the trivial `fixture-noop` plugin.

Usage: gen.py N SHAPE [--sleep-ms MS] [--seed S] > config.yaml
SHAPE: independent | chain | fan (one root, N-1 leaves) | dag (random DAG, <=3 parents each,
       parents drawn from earlier tools) | layered (L layers of width W; see --width)
"""
import argparse
import random


def main():
    p = argparse.ArgumentParser()
    p.add_argument("n", type=int)
    p.add_argument("shape", choices=["independent", "chain", "fan", "dag", "layered"])
    p.add_argument("--sleep-ms", type=int, default=0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--width", type=int, default=10)
    p.add_argument("--bound", type=int, metavar="WORKERS",
                   help="print the critical-path bound (seconds) for WORKERS workers instead of the config")
    a = p.parse_args()
    rnd = random.Random(a.seed)
    out = ["tools:"]
    all_deps = []
    for i in range(a.n):
        deps = []
        if a.shape == "chain" and i > 0:
            deps = [i - 1]
        elif a.shape == "fan" and i > 0:
            deps = [0]
        elif a.shape == "dag" and i > 0:
            deps = sorted(set(rnd.randrange(0, i) for _ in range(rnd.randint(0, min(3, i)))))
        elif a.shape == "layered" and i >= a.width:
            layer = i // a.width
            prev = range((layer - 1) * a.width, layer * a.width)
            deps = sorted(set(rnd.choice(prev) for _ in range(rnd.randint(1, 2))))
        all_deps.append(deps)
        out.append("- name: fixture-noop")
        out.append(f"  instanceID: t{i}")
        if deps:
            out.append("  dependsOn: [" + ", ".join(f'"fixture-noop.t{d}"' for d in deps) + "]")
        opts = f"value: {i}"
        if a.sleep_ms:
            opts += f", sleep_ms: {a.sleep_ms}"
        out.append(f"  options: {{{opts}}}")
    if a.bound:
        # Lower bound on wall time with WORKERS workers and equal step times: the longest
        # dependency chain, or the total work divided among the workers, whichever is larger.
        depth = []
        for deps in all_deps:
            depth.append(1 + max((depth[d] for d in deps), default=0))
        step = a.sleep_ms / 1000.0
        print("%.3f" % max(max(depth) * step, -(-a.n // a.bound) * step))
        return
    print("\n".join(out))


if __name__ == "__main__":
    main()
