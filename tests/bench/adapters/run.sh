#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the adapter chain benchmark for every host that was built. Usage: run.sh BUILD_DIR
set -eu
build=${1:?usage: run.sh BUILD_DIR}
status=0
for exe in "$build"/tests/bench/adapters/bench-adapters-chain-*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  "$exe" "${2:-1000000}" || status=1
done
exit $status
