#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Before and after: the same benchmark programs from two release builds of libvow (A,
# e.g. main, and B, a branch), alternating with their peers in fresh processes
# (tests/bench/common.sh: medians over BENCH_RUNS, cold and warm apart), then one table
# with B's ratios against A and the peers, and A's against the peers.
#   usage: bash tests/bench/ab.sh BUILD_A BUILD_B [WORKLOAD...]
# Workloads: chain fanout timers pending_mem echo_64 echo_10240 (default: all but
# echo_10240). AB_NAMES="main b17ch" names A and B in the table (default "a b").
# Both builds are configured like build-bench (release, -Db_ndebug=true); peers come
# from B's build (libuv programs) and tests/bench (Node).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
a=${1:?usage: ab.sh BUILD_A BUILD_B [WORKLOAD...]}
b=${2:?usage: ab.sh BUILD_A BUILD_B [WORKLOAD...]}
shift 2
workloads=${*:-chain fanout timers pending_mem echo_64}
read -r na nb <<<"${AB_NAMES:-a b}"
# shellcheck source=common.sh
. "$here/common.sh"
have_node=0
command -v node >/dev/null && have_node=1
secs=${ECHO_SECONDS:-2}
conns=${ECHO_CONNS:-50}

# ab_add NAME BUILD PROGRAM ARGS...: a libvow program of BUILD, its impl renamed NAME.
ab_add() {
  local name=$1 build=$2 prog=$3
  shift 3
  bench_add bash -c 'set -o pipefail; n=$1; shift; "$@" | sed "s/ impl=libvow / impl=$n /"' \
    _ "$name" "$build/tests/bench/vow/$prog" "$@"
}

for w in $workloads; do
  case $w in
    chain)
      ab_add "$na" "$a" bench-chain "$(n 1000000)"
      ab_add "$nb" "$b" bench-chain "$(n 1000000)"
      [ $have_node = 1 ] && bench_add node "$here/vow/promise.js" chain_then "$(n 1000000)"
      [ $have_node = 1 ] && bench_add node "$here/vow/promise.js" chain_await "$(n 1000000)"
      bench_go
      bench_row chain "$nb" "$na node_then node_await" \
        "cold:node_then>=5 warm:node_then>=5 warm:node_await>=1 bytes_per_op<=96"
      bench_row chain "$na" "node_then node_await" "bytes_per_op<=96"
      ;;
    fanout)
      ab_add "$na" "$a" bench-fanout "$(n 1000000)"
      ab_add "$nb" "$b" bench-fanout "$(n 1000000)"
      [ $have_node = 1 ] && bench_add node "$here/vow/promise.js" fanout "$(n 1000000)"
      bench_go
      bench_row fanout "$nb" "$na node" ""
      bench_row fanout "$na" "node" ""
      ;;
    timers)
      ab_add "$na" "$a" bench-timers "$(n 200000)"
      ab_add "$nb" "$b" bench-timers "$(n 200000)"
      [ -x "$b/tests/bench/vow/bench-uv-timers" ] &&
        bench_add "$b/tests/bench/vow/bench-uv-timers" "$(n 200000)"
      [ $have_node = 1 ] && bench_add node "$here/vow/promise.js" timers "$(n 200000)"
      bench_go
      bench_row timers "$nb" "$na libuv node" ""
      bench_row timers "$na" "libuv node" ""
      ;;
    pending_mem)
      ab_add "$na" "$a" bench-pending-mem "$(n 1000000)"
      ab_add "$nb" "$b" bench-pending-mem "$(n 1000000)"
      bench_go
      bench_row pending_mem "$nb" "$na" "bytes_per_op<=64 peak_rss_kib<=102400"
      bench_row pending_mem "$na" "" "bytes_per_op<=64 peak_rss_kib<=102400"
      ;;
    echo_*)
      size=${w#echo_}
      io=tests/bench/io
      for mode in coro chains; do
        flag=()
        [ $mode = chains ] && flag=(--chains)
        bench_add "$b/$io/echo_bench" "$na-$mode" "$size" "$conns" "$secs" -- \
          "$a/$io/echo_server_bench" "${flag[@]}"
        bench_add "$b/$io/echo_bench" "$nb-$mode" "$size" "$conns" "$secs" -- \
          "$b/$io/echo_server_bench" "${flag[@]}"
      done
      [ -x "$b/$io/uv_echo" ] &&
        bench_add "$b/$io/echo_bench" libuv "$size" "$conns" "$secs" -- "$b/$io/uv_echo"
      bench_go
      for mode in coro chains; do
        bench_row "$w" "$nb-$mode" "$na-$mode libuv" "warm:libuv>=1" cold_us_per_req \
          warm_us_per_req
        bench_row "$w" "$na-$mode" "libuv" "warm:libuv>=1" cold_us_per_req warm_us_per_req
      done
      ;;
    *)
      echo "ab.sh: unknown workload $w" >&2
      status=1
      ;;
  esac
done

echo
echo "== A/B: A=$na ($a), B=$nb ($b), BENCH_RUNS=$runs fresh processes per impl (median)"
echo "   a ratio is the peer's median cost over the row's (above 1: the row's impl is faster)"
bench_table_header
cat "$rows"
echo "load average at end: $(cat /proc/loadavg)"
exit $status
