#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The chain workload inside each host loop that was built, against the built-in loop:
# per host, its program's two impls (builtin and the host) alternate in fresh
# processes (tests/bench/common.sh). Usage: run.sh <build dir> [N]
set -uo pipefail
build=${1:?usage: run.sh <build dir> [N]}
# shellcheck source=../common.sh
. "$(cd "$(dirname "$0")" && pwd)/../common.sh"
size=$(n "${2:-1000000}")

found=0
for exe in "$build"/tests/bench/adapters/bench-adapters-chain-*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  found=1
  host=${exe##*-}
  bench_add "$exe" builtin "$size"
  bench_add "$exe" "$host" "$size"
  bench_go
  # A host loop costs at most 1.25x the built-in loop (>= 0.8x its speed).
  bench_row adapter_chain "$host" "builtin_$host" "cold:builtin_$host>=0.8 warm:builtin_$host>=0.8"
done
[ $found = 1 ] || echo "adapters/run.sh: no adapter benchmark built" >&2

bench_table
exit $status
