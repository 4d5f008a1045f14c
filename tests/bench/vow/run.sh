#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Promise-layer benchmarks side by side with their peers (Node's native Promise, libuv
# timers), then one ratio line per comparison. Usage: run.sh <build dir>
# Each program runs BENCH_REPEAT times (default 3) and its fastest run is kept, since
# the machine may be shared; BENCH_SCALE divides every N (quick smoke runs).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh <build dir>}
bin="$build/tests/bench/vow"
# shellcheck source=../common.sh
. "$(cd "$(dirname "$0")" && pwd)/../common.sh"

if [ -x "$bin/bench-chain" ]; then
  best_of "$bin/bench-chain" "$(n 1000000)"
  best_of "$bin/bench-fanout" "$(n 1000000)"
  best_of "$bin/bench-timers" "$(n 200000)"
  best_of "$bin/bench-pending-mem" "$(n 1000000)"
else
  echo "vow/run.sh: $bin/bench-chain is not built (the vow layer is not in this build)" >&2
  status=1
fi
if command -v node >/dev/null; then
  best_of node "$here/promise.js" chain_then "$(n 1000000)"
  best_of node "$here/promise.js" chain_await "$(n 1000000)"
  best_of node "$here/promise.js" fanout "$(n 1000000)"
  best_of node "$here/promise.js" timers "$(n 200000)"
else
  echo "vow/run.sh: node not found: no Node peer" >&2
fi
if [ -x "$bin/bench-uv-timers" ]; then
  best_of "$bin/bench-uv-timers" "$(n 200000)"
else
  echo "vow/run.sh: libuv peer not built (libuv1-dev missing at configure time)" >&2
fi

# Ratios of ops_per_s (higher is better for libvow), and the memory targets.
awk '
  function field(name,   i, kv) {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
    return ""
  }
  { w = field("workload"); m = field("impl")
    ops[w, m] = field("ops_per_s"); bpv[w, m] = field("bytes_per_vow"); rss[w, m] = field("peak_rss_kb") }
  function ratio(w, peer, target,   a, b, t) {
    a = ops[w, "libvow"]; b = ops[w, peer]
    if (a == "" || b == "" || b + 0 == 0) return
    t = target == "" ? "" : sprintf(" (target >= %sx: %s)", target, a / b >= target ? "met" : "missed")
    printf "ratio workload=%s libvow/%s=%.2fx%s\n", w, peer, a / b, t
  }
  END {
    ratio("chain", "node_then", 5)
    ratio("chain", "node_await", 1)
    ratio("fanout", "node", "")
    ratio("timers", "node", "")
    ratio("timers", "libuv", "")
    b = bpv["pending_mem", "libvow"]; k = rss["pending_mem", "libvow"]
    if (b != "") {
      printf "target workload=pending_mem bytes_per_vow=%s (target <= 64: %s) peak_rss_kb=%s (target <= 102400: %s)\n",
        b, b + 0 <= 64 ? "met" : "missed", k, k + 0 <= 102400 ? "met" : "missed"
    }
  }' "$lines"
exit $status
