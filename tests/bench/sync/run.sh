#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Coordination benchmarks side by side with their peers; each workload's programs
# alternate in fresh processes (tests/bench/common.sh), then one table row per
# workload and libvow idiom. Usage: run.sh <build dir>
#   pingpong: two coroutines bounce one value through two rendezvous channels, vs the
#             floor of two raw context switches per round trip (impl=floor_2switch);
#   prodcons: a producer and a consumer coroutine through a channel of capacity 64,
#             vs Python asyncio.Queue(maxsize=64) and a Node async queue on promises
#             (prodcons.py, prodcons.js: same N, same work);
#   cross:    the same between two loops on two threads, vs a mutex+condvar queue.
# libvow runs in two idioms (impl=libvow awaits every operation, impl=libvow_try tries
# first and awaits only when it would wait), Node likewise (node_await, node_try);
# asyncio's own put/get never suspend when they need not, like the try idiom.
# Every impl runs the same N; BENCH_SCALE divides it.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh <build dir>}
bin="$build/tests/bench/sync/bench-sync"
# shellcheck source=../common.sh
. "$here/../common.sh"

if [ ! -x "$bin" ]; then
  echo "sync/run.sh: $bin is not built (needs the coroutine adapter's assembly switch)" >&2
  exit 1
fi
have_node=0 have_py=0
if command -v node >/dev/null; then have_node=1; else echo "sync/run.sh: node not found: no Node peer" >&2; fi
if command -v python3 >/dev/null; then have_py=1; else echo "sync/run.sh: python3 not found: no asyncio peer" >&2; fi

for impl in floor_2switch libvow libvow_try; do
  bench_add "$bin" pingpong $impl "$(n 1000000)"
done
bench_go
# No target: the row shows how far a round trip is from its two raw switches.
bench_row pingpong libvow "floor_2switch" ""
bench_row pingpong libvow_try "floor_2switch" ""

bench_add "$bin" prodcons libvow "$(n 1000000)"
bench_add "$bin" prodcons libvow_try "$(n 1000000)"
if [ $have_node = 1 ]; then
  bench_add node "$here/prodcons.js" node_await "$(n 1000000)"
  bench_add node "$here/prodcons.js" node_try "$(n 1000000)"
fi
[ $have_py = 1 ] && bench_add python3 "$here/prodcons.py" "$(n 1000000)"
bench_go
# Issue 15's targets: >= 20x asyncio and >= 3x Node, each idiom against Node's same idiom.
bench_row prodcons libvow "asyncio node_await" "cold:asyncio>=20 warm:asyncio>=20 cold:node_await>=3 warm:node_await>=3"
bench_row prodcons libvow_try "asyncio node_try" "cold:asyncio>=20 warm:asyncio>=20 cold:node_try>=3 warm:node_try>=3"

for impl in condvar libvow libvow_try; do
  bench_add "$bin" cross $impl "$(n 1000000)"
done
bench_go
bench_row cross libvow "condvar" "cold:condvar>=1 warm:condvar>=1"
bench_row cross libvow_try "condvar" "cold:condvar>=1 warm:condvar>=1"

bench_table
exit $status
