#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Loop-group benchmarks, on the shared harness (tests/bench/common.sh: each workload's
# programs alternate in BENCH_RUNS fresh processes, medians, cold and warm apart), then
# one table row per comparison with issue 16's targets. Usage: run.sh <build dir>
#   tonio:       1M coroutines that each yield once, 1,000 at a time per loop, driven by
#                a coroutine vow_group_spawn placed on each loop: a group of 2 loops vs
#                1 (target >= 1.7x) and vs a plain loop without a group;
#   tonio_copy:  the same, each loop's share at once in copy-stack mode;
#   echo_work20: examples/echo_group whose handler spends 20 us of CPU per message,
#                50 connections from a client process (echo_load): 2 loops vs 1
#                (target >= 1.6x requests per second; the cost compared is seconds
#                per request). The machine may have 2 cores: the client then shares
#                them with the server (client_cpu_us is its CPU per request);
#   post_awake:  posting to an awake loop, vow_group_post vs vow_loop_post (libuv's
#                uv_async_send and libev's ev_async_send are in the reactor area).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh <build dir>}
bin="$build/tests/bench/group"
# shellcheck source=../common.sh
. "$here/../common.sh"
secs=${BENCH_ECHO_SECONDS:-4}
# With autogroup scheduling the kernel shares the CPUs between sessions, not threads:
# while other sessions are busy, a second loop gets this process no more CPU, and
# only the *_cpu rows (work done per CPU second) say anything about the second loop.
if [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ]; then
  echo "# group: autogroup scheduling is on; load now $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs"
fi

if [ -x "$bin/bench-tonio" ]; then
  for impl in 1 2 loop; do
    bench_add "$bin/bench-tonio" "$(n 1000000)" $impl
  done
  bench_go
  bench_row tonio group2 "group1 loop" "cold:group1>=1.7 warm:group1>=1.7"
  bench_row tonio group1 "loop" ""
  # CPU time of the same runs (every thread): 1.0 means the second loop adds no work.
  bench_row tonio_cpu group2 "group1" ""
  for impl in 1 2; do
    bench_add "$bin/bench-tonio" "$(n 1000000)" $impl 0
  done
  bench_go
  bench_row tonio_copy group2 "group1" ""
  bench_row tonio_copy_cpu group2 "group1" ""
else
  echo "group/run.sh: bench-tonio is not built (needs the coroutine adapter)" >&2
fi

if [ -x "$bin/echo_group_bench" ]; then
  for loops in 1 2; do
    bench_add "$bin/echo_load" echo_work20 group$loops 64 50 "$secs" -- \
      "$bin/echo_group_bench" --threads $loops --work-us 20 0
  done
  bench_go
  bench_row echo_work20 group2 "group1" "warm:group1>=1.6"
fi

for how in group loop; do
  bench_add "$bin/bench-post" "$(n 2000000)" $how
done
bench_go
bench_row post_awake vow_group_post "vow_loop_post" ""

bench_table
exit $status
