#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Coroutine benchmarks side by side with their peers, then one ratio line per
# comparison. Usage: run.sh <build dir>
#   switch: libvow's assembly switch vs Boost.Context jump_fcontext vs swapcontext
#           (one program, which prints its own ratio line);
#   coro:   N coroutines that each yield once, gathered (libvow, Node, asyncio), all
#           at once (N live coroutines) and in batches of 1,000 (pooled stacks), each
#           with separate stacks (impl=libvow) and in copy-stack mode (impl=libvow_copy).
# The load average is printed before and after: the machine may be shared.
# Each program runs BENCH_REPEAT times (default 3), keeping its fastest run, since the
# machine may be shared; BENCH_SCALE divides every N. asyncio runs a tenth of N (it
# would take minutes); ratios compare rates (ops_per_s), so N only needs to be large.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh <build dir>}
bin="$build/tests/bench/coro"
# shellcheck source=../common.sh
. "$(cd "$(dirname "$0")" && pwd)/../common.sh"

echo "# load before: $(uptime)"

if [ -x "$bin/bench-switch" ]; then
  best_of "$bin/bench-switch" "$(n 20000000)"
else
  echo "coro/run.sh: bench-switch not built (needs the asm switch and libboost-context-dev)" >&2
fi
if [ -x "$bin/bench-coro" ]; then
  best_of "$bin/bench-coro" "$(n 1000000)"
  best_of "$bin/bench-coro" "$(n 1000000)" 0 copy
  best_of "$bin/bench-coro" "$(n 1000000)" 1000
  best_of "$bin/bench-coro" "$(n 1000000)" 1000 copy
else
  echo "coro/run.sh: $bin/bench-coro is not built (the coro adapter is not in this build)" >&2
  status=1
fi
if command -v node >/dev/null; then
  best_of node "$here/coro.js" "$(n 1000000)"
  best_of node "$here/coro.js" "$(n 1000000)" 1000
else
  echo "coro/run.sh: node not found: no Node peer" >&2
fi
if command -v python3 >/dev/null; then
  best_of python3 "$here/coro.py" "$(n 100000)"
  best_of python3 "$here/coro.py" "$(n 100000)" 1000
else
  echo "coro/run.sh: python3 not found: no asyncio peer" >&2
fi

echo "# load after: $(uptime)"
awk '
  function field(name,   i, kv) {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
    return ""
  }
  /^workload=/ {
    ops[field("workload"), field("impl")] = field("ops_per_s")
    rss[field("workload"), field("impl")] = field("peak_rss_kb")
  }
  function ratio(w, impl, peer, target,   a, b, ra, rb) {
    a = ops[w, impl]; b = ops[w, peer]
    if (a == "" || b == "" || b + 0 == 0) return
    ra = rss[w, impl]; rb = rss[w, peer]
    printf "ratio workload=%s %s/%s=%.2fx (target >= %sx: %s) peak_rss %d MiB vs %d MiB\n",
      w, impl, peer, a / b, target, (a / b >= target ? "met" : "missed"), ra / 1024, rb / 1024
  }
  END {
    split("libvow libvow_copy", impls, " ")
    for (i = 1; i <= 2; i++) {
      ratio("coro", impls[i], "node", 10)
      ratio("coro", impls[i], "asyncio", 100)
      ratio("coro_batch1000", impls[i], "node", 10)
      ratio("coro_batch1000", impls[i], "asyncio", 100)
    }
  }' "$lines"
exit $status
