#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Promise-layer benchmarks side by side with their peers (Node's native Promise, libuv
# timers): each workload's programs alternate in fresh processes (tests/bench/common.sh),
# then one table row per workload. Usage: run.sh <build dir>
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh <build dir>}
bin="$build/tests/bench/vow"
# shellcheck source=../common.sh
. "$here/../common.sh"

have_node=0
if command -v node >/dev/null; then have_node=1; else echo "vow/run.sh: node not found: no Node peer" >&2; fi
if [ ! -x "$bin/bench-chain" ]; then
  echo "vow/run.sh: $bin/bench-chain is not built (the vow layer is not in this build)" >&2
  exit 1
fi

bench_add "$bin/bench-chain" "$(n 1000000)"
[ $have_node = 1 ] && bench_add node "$here/promise.js" chain_then "$(n 1000000)"
[ $have_node = 1 ] && bench_add node "$here/promise.js" chain_await "$(n 1000000)"
bench_go
# Issue 17: the first run in a fresh process at least 5x Node's then chain, at most 96
# bytes per step; no slower than Node's await loop.
bench_row chain libvow "node_then node_await" \
  "cold:node_then>=5 warm:node_then>=5 warm:node_await>=1 bytes_per_op<=96"

bench_add "$bin/bench-fanout" "$(n 1000000)"
[ $have_node = 1 ] && bench_add node "$here/promise.js" fanout "$(n 1000000)"
bench_go
bench_row fanout libvow node ""

bench_add "$bin/bench-timers" "$(n 200000)"
if [ -x "$bin/bench-uv-timers" ]; then
  bench_add "$bin/bench-uv-timers" "$(n 200000)"
else
  echo "vow/run.sh: libuv peer not built (libuv1-dev missing at configure time)" >&2
fi
[ $have_node = 1 ] && bench_add node "$here/promise.js" timers "$(n 200000)"
bench_go
bench_row timers libvow "libuv node" ""

bench_add "$bin/bench-pending-mem" "$(n 1000000)"
bench_go
# At most 64 bytes per pending vow and 100 MiB peak RSS for a million.
bench_row pending_mem libvow "" "bytes_per_op<=64 peak_rss_kib<=102400"

bench_table
exit $status
