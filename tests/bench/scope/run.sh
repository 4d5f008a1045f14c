#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Scopes side by side; each workload's programs alternate in fresh processes
# (tests/bench/common.sh), then one table row per workload. Usage: run.sh <build dir>
#   scope:           N coroutines (yield once, return) spawned into one scope and joined
#                    (libvow_scope), vs the same spawned bare and gathered with vow_all
#                    (libvow_all), vs Node async functions + Promise.all; all at once;
#   scope_batch1000: the same 1,000 at a time, a scope (or vow_all) per batch: pooled
#                    stacks, the steady state.
# Target (issue 13): the scope costs at most 1.2x bare spawn + vow_all, i.e. it runs at
# least 0.83x as fast. BENCH_SCALE divides N.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh <build dir>}
bin="$build/tests/bench/scope/bench-scope"
# shellcheck source=../common.sh
. "$here/../common.sh"

if [ ! -x "$bin" ]; then
  echo "scope/run.sh: $bin is not built (the coro adapter is not in this build)" >&2
  exit 1
fi
have_node=0
if command -v node >/dev/null; then have_node=1; else echo "scope/run.sh: node not found: no Node peer" >&2; fi

for batch in 0 1000; do
  w=scope nn=$(n 20000)
  [ $batch = 0 ] || { w=scope_batch$batch; nn=$(n 100000); }
  bench_add "$bin" scope "$nn" $batch
  bench_add "$bin" all "$nn" $batch
  [ $have_node = 1 ] && bench_add node "$here/scope.js" "$nn" $batch
  bench_go
  bench_row $w libvow_scope "libvow_all node" "cold:libvow_all>=0.83 warm:libvow_all>=0.83"
done
bench_table
exit $status
