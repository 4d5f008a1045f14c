#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The one benchmark command: bash tests/bench/run.sh [build dir]
# Configures the build dir (default build-bench, buildtype=release) if it is missing,
# builds it, then runs every tests/bench/<area>/run.sh with it and prints their output.
# As root it first installs the peers (Node, libuv) with apt-get if they are missing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-bench}

missing=()
installed=0
command -v node >/dev/null || missing+=(nodejs)
dpkg-query -W -f='${Status}' libuv1-dev 2>/dev/null | grep -q "install ok installed" ||
  missing+=(libuv1-dev)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bench: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null && installed=1
  else
    echo "bench: missing ${missing[*]} (run as root to install them); those peers are skipped" >&2
  fi
fi

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" --buildtype=release >/dev/null || exit 1
elif [ $installed -eq 1 ]; then
  # A peer installed just now is only found by a fresh configure.
  meson setup --reconfigure "$build" "$root" >/dev/null || exit 1
fi
status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Others may be mid-edit in a shared tree: a failed build still runs what was built.
if ! ninja -C "$build" >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "bench: the build failed; running the benchmarks that were built" >&2
  status=1
fi
for area in "$here"/*/run.sh; do
  [ -f "$area" ] || continue
  echo "== $(basename "$(dirname "$area")")"
  bash "$area" "$build" || status=1
done
exit $status
