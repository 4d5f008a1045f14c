#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the libFuzzer harness fuzz-vow for FUZZ_SECONDS (default 60), starting from the
# seed corpus and the regression inputs; builds it (clang, ASan+UBSan, in build-fuzz)
# unless FUZZ_BIN names a binary. New inputs go to FUZZ_WORK, never into the source
# tree. A crash leaves its input in FUZZ_WORK/crash-* and makes this script fail.
#   FUZZ_SECONDS=600 bash tests/fuzz/run.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${FUZZ_SECONDS:-60}
bin=${FUZZ_BIN:-}
if [ -z "$bin" ]; then
  dir=$root/build-fuzz
  if [ ! -f "$dir/build.ninja" ]; then
    CC=clang meson setup "$dir" "$root" -Db_sanitize=address,undefined -Db_lundef=false \
      -Dbench=false -Dexamples=false >/dev/null || exit 1
  fi
  ninja -C "$dir" tests/fuzz/fuzz-vow >/dev/null || exit 1
  bin=$dir/tests/fuzz/fuzz-vow
fi
work=${FUZZ_WORK:-$(dirname "$bin")/fuzz-work}
mkdir -p "$work/corpus"
log=$work/fuzz.log

# Invariant failures abort; leaks and UB are errors too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# The regression inputs are replayed one by one by test.sh; here they only seed.
t0=$SECONDS
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$work/" \
  "$work/corpus" "$here/corpus" "$here/regress" >"$log" 2>&1
rc=$?
elapsed=$((SECONDS - t0))
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
echo "fuzz-vow: ${runs:-0} executions in ${elapsed}s of ${seconds}s (${speed:-0} exec/s)," \
  "corpus $(ls "$work/corpus" | wc -l) inputs"
if [ $rc -ne 0 ]; then
  grep -E "fuzz-vow:|ERROR:|SUMMARY:|Test unit written" "$log" | head -n 20 >&2
  echo "fuzz-vow: FAILED (exit $rc); minimise with: $bin -minimize_crash=1 -runs=100000 <crash file>," \
    "then add it to tests/fuzz/regress/" >&2
fi
exit $rc
