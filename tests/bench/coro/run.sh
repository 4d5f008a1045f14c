#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Coroutine benchmarks side by side with their peers; each workload's programs
# alternate in fresh processes (tests/bench/common.sh), then one table row per
# workload and libvow mode. Usage: run.sh <build dir>
#   switch: N suspend/resume round trips: libvow's assembly switch vs Boost.Context's
#           jump_fcontext vs glibc's swapcontext, one impl per process;
#   coro:   TonIO's benchmark: 1M coroutines that each spawn, yield once, return, and
#           are joined (vow_all), all at once (1M parked coroutines), with separate
#           stacks (impl=libvow) and in copy-stack mode (impl=libvow_copy), vs Node
#           (async fn + await + Promise.all) and asyncio (tasks + gather);
#   coro_batch1000: the same in batches of 1,000 (pooled stacks reused);
#   allocs: allocator calls per coroutine life and per chain step (bench-allocs).
# Every impl runs the same N. BENCH_SCALE divides it (the asyncio runs are the long
# ones: about 15 s per 1M-coroutine run here).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh <build dir>}
bin="$build/tests/bench/coro"
# shellcheck source=../common.sh
. "$here/../common.sh"

if [ -x "$bin/bench-switch" ]; then
  for impl in libvow boost_fcontext swapcontext; do
    bench_add "$bin/bench-switch" $impl "$(n 5000000)"
  done
  bench_go
  # Within 1.2x of Boost's jump_fcontext per round trip.
  bench_row switch libvow "boost_fcontext swapcontext" "warm:boost_fcontext>=0.83"
else
  echo "coro/run.sh: bench-switch not built (needs the asm switch and libboost-context-dev)" >&2
fi

if [ ! -x "$bin/bench-coro" ]; then
  echo "coro/run.sh: $bin/bench-coro is not built (the coro adapter is not in this build)" >&2
  exit 1
fi
have_node=0 have_py=0
if command -v node >/dev/null; then have_node=1; else echo "coro/run.sh: node not found: no Node peer" >&2; fi
if command -v python3 >/dev/null; then have_py=1; else echo "coro/run.sh: python3 not found: no asyncio peer" >&2; fi

for batch in 0 1000; do
  w=coro
  [ $batch = 0 ] || w=coro_batch$batch
  bench_add "$bin/bench-coro" "$(n 1000000)" $batch
  bench_add "$bin/bench-coro" "$(n 1000000)" $batch copy
  [ $have_node = 1 ] && bench_add node "$here/coro.js" "$(n 1000000)" $batch
  [ $have_py = 1 ] && bench_add python3 "$here/coro.py" "$(n 1000000)" $batch
  bench_go
  # Issue 17's targets: all at once, separate stacks >= 0.8x Node and <= 4.2 KiB per
  # parked coroutine; copy-stack >= 5x Node, >= 50x asyncio, <= 400 MiB; in batches
  # of 1,000 with separate stacks >= 5x Node.
  if [ $batch = 0 ]; then
    bench_row $w libvow "node asyncio" "cold:node>=0.8 bytes_per_op<=4300"
    bench_row $w libvow_copy "node asyncio" "cold:node>=5 cold:asyncio>=50 peak_rss_kib<=409600"
  else
    bench_row $w libvow "node asyncio" "cold:node>=5"
    bench_row $w libvow_copy "node asyncio" ""
  fi
done

# Allocator calls per coroutine life and per chain step: counts, not times, the same
# in every process, so one run is enough.
if [ -x "$bin/bench-allocs" ]; then
  "$bin/bench-allocs" "$(n 100000)" | tee -a "$raw" || status=1
fi

bench_table
exit $status
