#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Reactor benchmarks side by side with libuv: each workload's two programs alternate in
# fresh processes (tests/bench/common.sh), then one table row per workload. Builds
# nothing. Usage: run.sh <build dir>
set -uo pipefail
build=${1:?usage: run.sh <build dir>}
bin="$build/tests/bench/reactor"
# shellcheck source=../common.sh
. "$(cd "$(dirname "$0")" && pwd)/../common.sh"

for w in turn pingpong; do
  case $w in turn) size=500000 ;; pingpong) size=200000 ;; esac
  for prog in "bench-$w" "bench-uv-$w"; do
    if [ -x "$bin/$prog" ]; then
      bench_add "$bin/$prog" "$(n $size)"
    else
      echo "reactor/run.sh: $bin/$prog is not built" >&2
      [ "$prog" = "bench-$w" ] && status=1
    fi
  done
  bench_go
  # At least as fast as libuv.
  bench_row $w libvow libuv "cold:libuv>=1 warm:libuv>=1"
done

bench_table
exit $status
