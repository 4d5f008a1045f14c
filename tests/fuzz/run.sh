#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs one libFuzzer harness (default fuzz-vow; also fuzz-seams, ...) for FUZZ_SECONDS
# (default 60), starting from its seed corpus; builds it (clang, ASan+UBSan, in
# build-fuzz) unless FUZZ_BIN names a binary. A target fuzz-NAME keeps its seeds in
# tests/fuzz/corpus-NAME/ and its regression inputs in tests/fuzz/regress-NAME/
# (fuzz-vow, the first one, in corpus/ and regress/). New inputs go to FUZZ_WORK,
# never into the source tree. A crash leaves its input in FUZZ_WORK/crash-* and makes
# this script fail.
#   FUZZ_SECONDS=600 bash tests/fuzz/run.sh fuzz-seams
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${1:-fuzz-vow}
name=${target#fuzz-}
# The harness's own environment prefix: FUZZ_VOW_TRACE, FUZZ_SEAMS_TRACE, ...
envp=FUZZ_$(tr 'a-z-' 'A-Z_' <<<"$name")
seeds=$here/corpus-$name
regress=$here/regress-$name
if [ "$target" = fuzz-vow ]; then
  seeds=$here/corpus
  regress=$here/regress
fi
seconds=${FUZZ_SECONDS:-60}
bin=${FUZZ_BIN:-}
if [ -z "$bin" ]; then
  dir=$root/build-fuzz
  if [ ! -f "$dir/build.ninja" ]; then
    CC=clang meson setup "$dir" "$root" -Db_sanitize=address,undefined -Db_lundef=false \
      -Dbench=false -Dexamples=false >/dev/null || exit 1
  fi
  ninja -C "$dir" "tests/fuzz/$target" >/dev/null || exit 1
  bin=$dir/tests/fuzz/$target
fi
work=${FUZZ_WORK:-$(dirname "$bin")/fuzz-work-$name}
mkdir -p "$work/corpus"
log=$work/fuzz.log

# Invariant failures abort; leaks and UB are errors too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# Fork mode with crashes ignored keeps fuzzing for the whole time after a finding, so
# one known bug does not hide the next; every crash or hang input is kept and makes
# the run fail. Regression inputs are not seeds: test.sh replays them one by one.
old=$work/previous
mkdir -p "$old"
mv "$work"/crash-* "$work"/timeout-* "$work"/leak-* "$old"/ 2>/dev/null
dirs=("$work/corpus")
[ -d "$seeds" ] && dirs+=("$seeds")
t0=$SECONDS
"$bin" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -max_total_time="$seconds" \
  -timeout=10 -rss_limit_mb=2048 -max_len=4096 -artifact_prefix="$work/" \
  "${dirs[@]}" >"$log" 2>&1
rc=$?
elapsed=$((SECONDS - t0))
runs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
found=$(ls "$work" | grep -cE '^(crash|timeout|leak)-')
echo "$target: ${runs:-0} executions in ${elapsed}s ($(( ${runs:-0} / (elapsed > 0 ? elapsed : 1) )) exec/s)," \
  "corpus $(ls "$work/corpus" | wc -l) inputs, $found failing inputs"
if [ "$found" -gt 0 ] || [ $rc -ne 0 ]; then
  shown=0
  for f in "$work"/crash-* "$work"/timeout-* "$work"/leak-*; do
    [ -f "$f" ] && [ $shown -lt 5 ] || continue
    shown=$((shown + 1))
    echo "$target: failing input $f:" >&2
    env "${envp}_TRACE=1" timeout 20 "$bin" "$f" 2>&1 | grep -E "$target:|SUMMARY" | head -n 3 >&2
  done
  echo "$target: FAILED; minimise with: $bin -minimize_crash=1 -runs=100000 <input>," \
    "then add it to ${regress#$root/}/ (${envp}_TRACE=1 prints its steps)" >&2
  exit 1
fi
exit 0
