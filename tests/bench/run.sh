#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The one benchmark command: bash tests/bench/run.sh [build dir]
# Configures the build dir (default build-bench: buildtype=release, b_ndebug=true) if it
# is missing, builds it, runs every tests/bench/<area>/run.sh with it (or only the
# areas named in BENCH_AREAS, e.g. BENCH_AREAS="vow coro"), and ends with one table:
# each workload's ratios against its peers (medians over BENCH_RUNS fresh processes,
# cold and warm apart), its memory, the targets and the load average of the run.
# As root it first installs the missing peers (deps.sh bench: Node, libuv, Boost.Context,
# Python); as another user the missing ones are skipped, with a message.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-bench}

installed=0
if [ "$(id -u)" -eq 0 ]; then
  out=$(bash "$root/deps.sh" bench 2>&1) || echo "$out" >&2
  case $out in *installing*) installed=1 ;; esac
fi
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" --buildtype=release -Db_ndebug=true >/dev/null || exit 1
elif [ $installed -eq 1 ]; then
  # A peer installed just now is only found by a fresh configure.
  meson setup --reconfigure "$build" "$root" >/dev/null || exit 1
fi
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Others may be mid-edit in a shared tree: a failed build still runs what was built.
if ! ninja -C "$build" >"$tmp/log" 2>&1; then
  tail -n 20 "$tmp/log" >&2
  echo "bench: the build failed; running the benchmarks that were built" >&2
  status=1
fi
export BENCH_TABLE=$tmp/table
export BENCH_RAW=$build/bench-raw.txt
: >"$BENCH_TABLE"
: >"$BENCH_RAW"
load0=$(cat /proc/loadavg)
start=$(date +%s)
for area in "$here"/*/run.sh; do
  [ -f "$area" ] || continue
  name=$(basename "$(dirname "$area")")
  if [ -n "${BENCH_AREAS:-}" ] && [[ " $BENCH_AREAS " != *" $name "* ]]; then continue; fi
  echo "== $name"
  bash "$area" "$build" || status=1
done
load1=$(cat /proc/loadavg)

# shellcheck source=common.sh
. "$here/common.sh"
echo
echo "== table: $(nproc) CPUs, BENCH_RUNS=$runs fresh processes per impl (median), BENCH_WARMUPS=$BENCH_WARMUPS, $(($(date +%s) - start)) s"
echo "   a ratio is the peer's median cost over libvow's (time, or server CPU per request):"
echo "   above 1 = libvow is that many times as fast; cold = first run in a process"
bench_table_header
cat "$BENCH_TABLE"
echo "load average at start: $load0"
echo "load average at end:   $load1"
echo "every run's line: $BENCH_RAW"
exit $status
