#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Echo benchmark, all servers in one run: bash tests/bench/io/run.sh BUILD_DIR
# Server and load generator are pinned to different cores (echo_bench does it with
# sched_setaffinity; taskset is not needed). Prints one workload= line per run, then
# throughput and server-CPU ratios against the raw libuv server.
set -uo pipefail
build=${1:?usage: run.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
bench=$build/tests/bench/io
secs=${ECHO_SECONDS:-3}
conns=${ECHO_CONNS:-50}
[ -x "$bench/echo_bench" ] || { echo "io: $bench/echo_bench not built" >&2; exit 1; }

declare -A cmd
cmd[vow-coro]="$bench/echo_server_bench"
cmd[vow-chains]="$bench/echo_server_bench --chains"
[ -x "$bench/uv_echo" ] && cmd[libuv]="$bench/uv_echo"
command -v node >/dev/null && cmd[node]="node $here/node_echo.js"
order=(vow-coro vow-chains libuv node)

status=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for size in 64 10240; do
  for impl in "${order[@]}"; do
    [ -n "${cmd[$impl]:-}" ] || continue
    # shellcheck disable=SC2086
    if ! "$bench/echo_bench" "$impl" "$size" "$conns" "$secs" -- ${cmd[$impl]} | tee -a "$out"; then
      echo "io: echo $size $impl failed" >&2
      status=1
    fi
  done
done

# Ratios: requests/s and server CPU per request, relative to libuv (>1 = more work done
# per second / more CPU per request than libuv).
awk '
  { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    w = f["workload"]; im = f["impl"]; ops[w, im] = f["ops_per_s"]; cpu[w, im] = f["server_cpu_us_per_req"]
    if (!(w in seen)) { seen[w] = 1; ws[++nw] = w }
    if (!(im in iseen)) { iseen[im] = 1; is[++ni] = im } }
  END {
    for (a = 1; a <= nw; a++) {
      w = ws[a]
      if (!((w, "libuv") in ops)) continue
      for (b = 1; b <= ni; b++) {
        im = is[b]
        if (im == "libuv" || !((w, im) in ops)) continue
        printf "ratio workload=%s impl=%s vs=libuv ops_per_s=%.2f server_cpu_per_req=%.2f\n",
          w, im, ops[w, im] / ops[w, "libuv"], (cpu[w, "libuv"] > 0 ? cpu[w, im] / cpu[w, "libuv"] : 0)
      }
    }
  }' "$out"
exit $status
