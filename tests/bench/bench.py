# SPDX-License-Identifier: MIT
# Shared by the Python peers: times a workload's first run in the process (cold) apart
# from a later one (warm, after BENCH_WARMUPS untimed runs, default 1) and prints the
# line tests/bench/common.sh summarises, as tests/bench/bench.h does for C:
#   workload=W impl=I n=N cold_s=C warm_s=W peak_rss_kib=K bytes_per_op=B
# fn(n) is a coroutine function doing one whole run (create, run, release) that
# returns True when its result is right; a wrong result exits non-zero.
import os
import resource
import sys
import time


def arg_n(i, default):
    try:
        v = int(sys.argv[i])
    except (IndexError, ValueError):
        return default
    return v if v > 0 else default


def fail(workload, what):
    print(f"workload={workload}: FAILED: {what}", file=sys.stderr, flush=True)
    sys.exit(1)


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE") // 1024


async def run(workload, impl, n, fn):
    try:
        warmups = max(0, min(100, int(os.environ.get("BENCH_WARMUPS", "1"))))
    except ValueError:
        warmups = 1
    base = rss_kib()
    t0 = time.perf_counter()
    ok = await fn(n)
    cold = time.perf_counter() - t0
    if not ok:
        fail(workload, "wrong result (cold run)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(warmups):
        if not await fn(n):
            fail(workload, "wrong result (warm-up)")
    t0 = time.perf_counter()
    ok = await fn(n)
    warm = time.perf_counter() - t0
    if not ok:
        fail(workload, "wrong result (warm run)")
    per_op = (peak - base) * 1024 / n if peak > base else 0
    print(f"workload={workload} impl={impl} n={n} cold_s={cold:.6f} warm_s={warm:.6f} "
          f"peak_rss_kib={peak} bytes_per_op={per_op:.1f}", flush=True)
