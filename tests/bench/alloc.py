#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the allocator choice costs: the vow benchmarks (chain, fanout, timers,
pending_mem) under several allocator set-ups, side by side, as medians of fresh
processes.

Usage: python3 tests/bench/alloc.py LABEL=BUILD[+preload] ...

Each argument names a build directory with the vow benchmarks built; "+preload" runs
its programs with LD_PRELOAD=libjemalloc.so.2 (jemalloc replacing malloc in the whole
process, as when the executable links it). Runs are interleaved (one of each set-up
in turn, ALLOC_RUNS rounds, default 9) so a busy machine slows every set-up alike.
Measures per run: the program's own cold and warm times (wall clock over the timed
runs, tests/bench/bench.h) and the CPU time (user + system) of the whole process from
wait4(), which a shared machine disturbs much less. The first set-up is the reference of the ratios;
ALLOC_SCALE divides every N.
"""
import os
import statistics
import subprocess
import sys

WORKLOADS = [("chain", 1000000), ("fanout", 1000000), ("timers", 200000),
             ("pending-mem", 1000000)]


def jemalloc_path():
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "libjemalloc.so.2 " in line:
            return line.split()[-1]
    return None


def run_one(argv, env):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
    out = p.stdout.read().decode()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        return None
    fields = dict(kv.split("=", 1) for kv in out.split())
    fields["cpu_s"] = ru.ru_utime + ru.ru_stime
    return fields


def main():
    setups = []
    for arg in sys.argv[1:]:
        label, _, build = arg.partition("=")
        preload = build.endswith("+preload")
        build = build[: -len("+preload")] if preload else build
        if not os.access(os.path.join(build, "tests/bench/vow/bench-chain"), os.X_OK):
            sys.exit("alloc.py: %s/tests/bench/vow/bench-chain is not built" % build)
        setups.append((label, build, preload))
    if len(setups) < 2:
        sys.exit("usage: alloc.py LABEL=BUILD[+preload] LABEL=BUILD[+preload] ...")
    runs = int(os.environ.get("ALLOC_RUNS", "9"))
    scale = int(os.environ.get("ALLOC_SCALE", "1"))
    je = jemalloc_path()
    rows = {}
    failed = 0
    for _ in range(runs):
        for name, n in WORKLOADS:
            for label, build, preload in setups:
                env = dict(os.environ)
                if preload:
                    if not je:
                        sys.exit("alloc.py: libjemalloc.so.2 not found")
                    env["LD_PRELOAD"] = je
                argv = [os.path.join(build, "tests/bench/vow/bench-" + name), str(max(n // scale, 1))]
                f = run_one(argv, env)
                if f is None:
                    print("alloc.py: FAILED: %s %s" % (label, name), file=sys.stderr)
                    failed += 1
                    continue
                rows.setdefault((f["workload"], label), []).append(f)
    # Medians per workload and set-up: the program's cold and warm times (tests/bench/
    # bench.h), its bytes per op (pending_mem), and the whole process's CPU time; each
    # as a ratio to the first set-up's (below 1: cheaper).
    for name, _ in WORKLOADS:
        w = name.replace("-", "_")
        keys = ["cold_s", "warm_s"] if w != "pending_mem" else ["bytes_per_op"]
        ref = {}
        for label, _, _ in setups:
            r = rows.get((w, label))
            if not r:
                continue
            med = {k: statistics.median(float(x[k]) for x in r if k in x) for k in keys}
            med["cpu_s"] = statistics.median(x["cpu_s"] for x in r)
            rss = statistics.median(float(x["peak_rss_kib"]) for x in r)
            ref = ref or med
            cols = " ".join("median_%s=%.4g %s_vs_%s=%.3f" % (k, v, k, setups[0][0],
                                                              v / ref[k] if ref[k] else 0)
                            for k, v in med.items())
            print("workload=%s setup=%s runs=%d %s median_peak_rss_kib=%.0f"
                  % (w, label, len(r), cols, rss))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
