#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Echo benchmark: bash tests/bench/io/run.sh BUILD_DIR
# Each server (libvow's coroutine and chain modes, a tuned raw libuv server, Node's net)
# runs in a fresh process per run, alternating (tests/bench/common.sh); echo_bench
# pins it and the load generator to different cores, drives ECHO_CONNS (50) ping-pong
# connections for ECHO_SECONDS (2) and reports the server's CPU per request over the
# first ECHO_COLD_SECONDS (0.5) and over the rest. Table: libuv's (and Node's) CPU per
# request over libvow's (above 1: libvow spends less).
set -uo pipefail
build=${1:?usage: run.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
bench=$build/tests/bench/io
# shellcheck source=../common.sh
. "$here/../common.sh"
secs=${ECHO_SECONDS:-2}
conns=${ECHO_CONNS:-50}
[ -x "$bench/echo_bench" ] || { echo "io: $bench/echo_bench not built" >&2; exit 1; }

for size in 64 10240; do
  bench_add "$bench/echo_bench" vow-coro "$size" "$conns" "$secs" -- "$bench/echo_server_bench"
  bench_add "$bench/echo_bench" vow-chains "$size" "$conns" "$secs" -- "$bench/echo_server_bench" --chains
  [ -x "$bench/uv_echo" ] && bench_add "$bench/echo_bench" libuv "$size" "$conns" "$secs" -- "$bench/uv_echo"
  command -v node >/dev/null &&
    bench_add "$bench/echo_bench" node "$size" "$conns" "$secs" -- node "$here/node_echo.js"
  bench_go
  # Issue 17: the coroutine server spends no more CPU per request than tuned libuv.
  target=""
  [ $size = 64 ] && target="warm:libuv>=1"
  bench_row echo_$size vow-coro "libuv node" "$target" cold_us_per_req warm_us_per_req
  bench_row echo_$size vow-chains "libuv node" "" cold_us_per_req warm_us_per_req
done

bench_table
exit $status
