#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Coordination benchmarks side by side with their peers. Usage: run.sh <build dir>
#   pingpong  two coroutines bounce one value through two rendezvous channels, vs the
#             floor of two raw context switches per round trip, in the same process;
#   prodcons  a producer and a consumer coroutine through a channel of capacity 64,
#             vs Python asyncio.Queue(maxsize=64) and a Node async queue on promises
#             (prodcons.py, prodcons.js: same N, same work);
#   cross     the same between two loops on two threads, vs a mutex+condvar queue.
# libvow runs in two idioms (impl=libvow awaits every operation, impl=libvow_try tries
# first and awaits only when it would wait), Node likewise (node_await, node_try);
# asyncio's own put/get never suspend when they need not, like the try idiom.
# Every program runs BENCH_RUNS times (default 5) as a fresh process; each run
# reports its first (cold) measurement and the median of 5 more (warm). The lines
# printed are the medians over the runs, per phase; ratios compare medians.
# BENCH_SCALE divides every N. asyncio runs a tenth of N (ratios compare rates).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh <build dir>}
bin="$build/tests/bench/sync/bench-sync"
runs=${BENCH_RUNS:-5}
scale=${BENCH_SCALE:-1}
status=0
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT

n() { echo $(( $1 / scale > 0 ? $1 / scale : 1 )); }
fresh() {
  for _ in $(seq "$runs"); do
    if ! "$@" >>"$lines"; then
      echo "FAILED: $*" >&2
      status=1
      return
    fi
  done
}

echo "# load before: $(uptime)"
if [ -x "$bin" ]; then
  fresh "$bin" pingpong "$(n 1000000)"
  fresh "$bin" prodcons "$(n 2000000)"
  fresh "$bin" cross "$(n 2000000)"
else
  echo "sync/run.sh: $bin is not built (needs the coroutine adapter's assembly switch)" >&2
  status=1
fi
if command -v node >/dev/null; then
  fresh node "$here/prodcons.js" "$(n 2000000)"
else
  echo "sync/run.sh: node not found: no Node peer" >&2
fi
if command -v python3 >/dev/null; then
  fresh python3 "$here/prodcons.py" "$(n 200000)"
else
  echo "sync/run.sh: python3 not found: no asyncio peer" >&2
fi
echo "# load after: $(uptime)"

awk '
  function field(name,   i, kv) {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
    return ""
  }
  function median(k,   m, i, j, t, a) {
    m = cnt[k]
    for (i = 1; i <= m; i++) a[i] = v[k, i]
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  /^workload=/ {
    k = field("workload") SUBSEP field("impl") SUBSEP field("phase")
    if (!(k in cnt)) order[++nk] = k
    v[k, ++cnt[k]] = field("ops_per_s") + 0
    rss[k] = field("peak_rss_kb")
  }
  function ops(w, i, p,   k) { k = w SUBSEP i SUBSEP p; return (k in cnt) ? median(k) : "" }
  function ratio(w, a, b, p, target, kind,   x, y, r) {
    x = ops(w, a, p); y = ops(w, b, p)
    if (x == "" || y == "" || y == 0) return
    r = x / y
    if (kind == "time")
      printf "ratio workload=%s phase=%s time %s/%s=%.1fx (%.1f ns vs %.1f ns per round trip)\n",
        w, p, a, b, y / x, 1e9 / x, 1e9 / y
    else
      printf "ratio workload=%s phase=%s %s/%s=%.2fx%s\n", w, p, a, b, r,
        target == "" ? "" : sprintf(" (target >= %sx: %s)", target, r >= target ? "met" : "missed")
  }
  END {
    for (i = 1; i <= nk; i++) {
      split(order[i], f, SUBSEP)
      m = median(order[i])
      printf "median workload=%s impl=%s phase=%s runs=%d ops_per_s=%.0f ns_per_op=%.1f peak_rss_kb=%s\n",
        f[1], f[2], f[3], cnt[order[i]], m, 1e9 / m, rss[order[i]]
    }
    split("cold warm", phases, " ")
    for (q = 1; q <= 2; q++) {
      p = phases[q]
      ratio("pingpong", "libvow", "floor_2switch", p, "", "time")
      ratio("pingpong", "libvow_try", "floor_2switch", p, "", "time")
      ratio("prodcons", "libvow", "asyncio", p, 20)
      ratio("prodcons", "libvow_try", "asyncio", p, 20)
      ratio("prodcons", "libvow", "node_await", p, 3)
      ratio("prodcons", "libvow_try", "node_try", p, 3)
      ratio("cross", "libvow", "condvar", p, 1)
      ratio("cross", "libvow_try", "condvar", p, 1)
    }
  }' "$lines"
exit $status
