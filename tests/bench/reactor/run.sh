#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Reactor benchmarks side by side with libuv, then one ratio line per workload
# (libvow/libuv ops per second, higher is better). Builds nothing.
# Usage: run.sh <build dir>. Each program runs BENCH_REPEAT times (default 3) and its
# fastest run is kept, since the machine may be shared; BENCH_SCALE divides every N.
set -uo pipefail
build=${1:?usage: run.sh <build dir>}
bin="$build/tests/bench/reactor"
# shellcheck source=../common.sh
. "$(cd "$(dirname "$0")" && pwd)/../common.sh"

for w in turn pingpong; do
  case $w in turn) size=500000 ;; pingpong) size=200000 ;; esac
  for prog in "bench-$w" "bench-uv-$w"; do
    if [ -x "$bin/$prog" ]; then
      best_of "$bin/$prog" "$(n $size)"
    else
      echo "reactor/run.sh: $bin/$prog is not built" >&2
      [ "$prog" = "bench-$w" ] && status=1
    fi
  done
done

# post-awake has its own script: medians of fresh processes, more peers, a baseline.
bash "$(dirname "$0")/post.sh" "$build" || status=1

awk '
  { w = ""; m = ""; o = ""
    for (i = 1; i <= NF; i++) {
      split($i, kv, "=")
      if (kv[1] == "workload") w = kv[2]
      if (kv[1] == "impl") m = kv[2]
      if (kv[1] == "ops_per_s") o = kv[2]
    }
    ops[w, m] = o; seen[w] = 1 }
  END {
    for (w in seen) {
      a = ops[w, "libvow"]; b = ops[w, "libuv"]
      if (a != "" && b != "" && b + 0 > 0) {
        met = (a / b >= 1) ? "met" : "missed"
        printf "ratio workload=%s libvow/libuv=%.2fx (target >= 1: %s)\n", w, a / b, met
      }
    }
  }' "$lines"
exit $status
