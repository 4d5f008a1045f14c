#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds libvow and runs the flagship demo, examples/random_lines (extra arguments are
# passed to it, e.g. `bash demo.sh --style coro --seconds 10`).
set -euo pipefail
cd "$(dirname "$0")"
bash ./deps.sh build
build=${BUILD_DIR:-build-demo}
[ -f "$build/build.ninja" ] || meson setup "$build" -Dtests=false -Dbench=false >/dev/null
ninja -C "$build" >/dev/null
exec "$build/examples/random_lines" "$@"
