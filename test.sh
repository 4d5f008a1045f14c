#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The quality gates: gcc -Werror, clang ASan+UBSan, Valgrind memcheck, TSan on the
# threaded tests, a coverage floor and a bounded libFuzzer run, each in its own build
# dir, then libvow installed and consumed as a user would. Ends with one line
# "N passed, N failed" counting every TAP test case of every stage; exits non-zero if
# anything failed. `--quick` runs only the first stage; `--deb` adds a last stage that
# builds, installs, uses and removes the Debian packages (root, Debian 12). `--stress`
# runs only the stress suite (tests/stress) at full scale instead: in the gcc release
# build, then the threaded programs under ThreadSanitizer and the rest under
# AddressSanitizer (the default run has a short smoke of each). `--debug` adds a stage
# that runs the whole suite against a -Dvow_debug=true library (misuse checks,
# creation sites, causal reports everywhere).
set -uo pipefail
cd "$(dirname "$0")"
src=$PWD

quick=0
deb=0
debug=0
stress=0
usage="usage: bash test.sh [--quick] [--deb] [--debug] | --stress"
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --deb) deb=1 ;;
    --debug) debug=1 ;;
    --stress) stress=1 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "test.sh: unknown argument '$arg' ($usage)" >&2; exit 2 ;;
  esac
done

# Everything the stages need comes from deps.sh; a missing tool is installed, never
# a reason to skip a stage.
bash ./deps.sh test || { echo "0 passed, 1 failed"; exit 1; }
if [ $deb -eq 1 ]; then
  bash ./deps.sh deb || { echo "0 passed, 1 failed"; exit 1; }
fi

prefix=${BUILD_PREFIX:-build-test}
jobs=${JOBS:-$(nproc)}
cov_line_floor=90
cov_branch_floor=75
fuzz_seconds=${FUZZ_SECONDS:-60}

passed=0
failed=0
timings=()

# Adds a count pair "P F" to the totals.
add_counts() {
  passed=$((passed + $1))
  failed=$((failed + $2))
}

# One check that is not a TAP test (a build, the coverage floor, the fuzz run).
check() {
  local what=$1 ok=$2
  if [ "$ok" -eq 0 ]; then
    add_counts 1 0
  else
    echo "test.sh: FAILED: $what" >&2
    add_counts 0 1
  fi
}

# Counts the test cases of one meson test log: each TAP "ok"/"not ok" line is one
# case; a program whose result is bad without a "not ok" line (crash, timeout,
# sanitizer or valgrind exit status) counts one more failure; a program without
# TAP output counts as one case.
count_log() {
  python3 - "$1" <<'PY'
import json, re, sys
passed = failed = 0
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
for line in lines:
    t = json.loads(line)
    out = t.get("stdout") or ""
    ok = len(re.findall(r"^ok\b", out, re.M))
    bad = len(re.findall(r"^not ok\b", out, re.M))
    good = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
    if ok or bad:
        passed += ok
        failed += bad + (0 if good or bad else 1)
    elif good:
        passed += 1
    else:
        failed += 1
if not lines:
    failed += 1
print(passed, failed)
PY
}

# setup_build DIR [meson options...]: configures DIR (again, if it exists) and builds
# it. The compiler comes from CC. Returns non-zero if either step failed.
setup_build() {
  local dir=$1
  shift
  local log=$dir/test-sh-setup.log
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >"$log" 2>&1
  else
    rm -rf "$dir" && mkdir -p "$dir" && meson setup "$dir" "$@" >"$log" 2>&1
  fi || { cat "$log" >&2; return 1; }
  ninja -C "$dir" -j "$jobs" >"$dir/test-sh-build.log" 2>&1 ||
    { tail -n 60 "$dir/test-sh-build.log" >&2; return 1; }
}

# run_suite DIR LOGBASE [meson test args...]: runs meson test and adds its counts.
run_suite() {
  local dir=$1 logbase=$2
  shift 2
  rm -f "$dir/meson-logs/$logbase".json "$dir/meson-logs/$logbase"-*.json
  meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes "$jobs" \
    --logbase "$logbase" "$@"
  # With --setup, meson names the log <logbase>-<setup>.json.
  local counts log
  log=$(ls "$dir/meson-logs/$logbase".json "$dir/meson-logs/$logbase"-*.json 2>/dev/null | head -n 1)
  counts=$(count_log "${log:-/nonexistent}")
  echo "test.sh: $logbase: ${counts% *} passed, ${counts#* } failed" >&2
  add_counts $counts
}

# stage NAME FUNCTION: runs one stage and records its wall time.
stage() {
  local name=$1 fn=$2 t0=$SECONDS
  echo "=== test.sh: stage $name ===" >&2
  "$fn"
  timings+=("$name $((SECONDS - t0))s")
}

stage_gcc() {
  local dir=$prefix-gcc
  if CC=gcc setup_build "$dir" -Dwerror=true -Dbuildtype=release; then
    check "gcc -Werror build" 0
    run_suite "$dir" gcc
  else
    check "gcc -Werror build" 1
  fi
}

stage_debug() {
  local dir=$prefix-debug
  if CC=gcc setup_build "$dir" -Dwerror=true -Dvow_debug=true -Dbench=false; then
    check "gcc -Dvow_debug=true build" 0
    run_suite "$dir" debug
  else
    check "gcc -Dvow_debug=true build" 1
  fi
}

stage_asan() {
  local dir=$prefix-asan
  if CC=clang setup_build "$dir" -Dwerror=true -Db_sanitize=address,undefined \
      -Db_lundef=false -Dbench=false; then
    check "clang ASan+UBSan build" 0
    ASAN_OPTIONS=abort_on_error=1:halt_on_error=1:detect_leaks=1:strict_string_checks=1 \
    UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
      run_suite "$dir" asan
  else
    check "clang ASan+UBSan build" 1
  fi
}

# jemalloc is off: Valgrind only sees the system malloc.
stage_valgrind() {
  local dir=$prefix-valgrind
  if CC=gcc setup_build "$dir" -Djemalloc=disabled -Dbench=false; then
    check "valgrind build" 0
    run_suite "$dir" valgrind --setup valgrind
  else
    check "valgrind build" 1
  fi
}

# The programs that use threads: remote settling, cross-thread post, signals (which
# other threads may receive), the quality sweep that posts from threads, coroutines
# on several threads (one loop each), the thread pool (not its fork tests: TSan
# cannot start threads in a child of a threaded process), channels between loops,
# scope children settled from threads, and the stress programs with threads.
tsan_tests=(remote post-epoll post-poll signal-epoll signal-poll sweep-thread co-threads-asm
            co-threads-ucontext work-pool-epoll work-pool-poll work-fs-epoll work-fs-poll
            work-dns-epoll work-dns-poll work-co-asm work-env-3 sync-cross-epoll sync-cross-poll
            scope-asm-epoll stress-xthread stress-signals stress-conns stress-soak
            group-group-epoll group-group-poll group-accept-epoll group-accept-poll
            group-cross-asm-epoll group-cross-asm-poll group-cross-ucontext-epoll
            group-one-asm-epoll group-shutdown-asm-epoll group-shutdown-asm-poll
            group-shutdown-ucontext-epoll sweep-group)
stage_tsan() {
  local dir=$prefix-tsan
  if CC=clang setup_build "$dir" -Db_sanitize=thread -Db_lundef=false -Djemalloc=disabled \
      -Dbench=false -Dexamples=false; then
    check "clang TSan build" 0
    local have sel=()
    have=$(meson test -C "$dir" --no-rebuild --list 2>/dev/null)
    for t in "${tsan_tests[@]}"; do
      if grep -Eq "(^|[ /])$t\$" <<<"$have"; then
        sel+=("$t")
      fi
    done
    # remote and post must exist: without them this stage would check nothing.
    if grep -Eq "(^|[ /])remote\$" <<<"$have" && grep -Eq "(^|[ /])post-epoll\$" <<<"$have"; then
      check "TSan test selection" 0
    else
      check "TSan test selection (remote, post-epoll not found)" 1
    fi
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run_suite "$dir" tsan "${sel[@]}"
  else
    check "clang TSan build" 1
  fi
}

# gcc without optimisation so lines map one to one; the floor counts src/ and
# adapters/ only (tests/, examples/ and generated files are not the library).
stage_coverage() {
  local dir=$prefix-coverage
  if ! CC=gcc setup_build "$dir" -Db_coverage=true -Dbuildtype=debug -Djemalloc=disabled \
      -Dbench=false; then
    check "coverage build" 1
    return
  fi
  check "coverage build" 0
  find "$dir" -name '*.gcda' -delete
  run_suite "$dir" coverage
  local rc=(--config-file "$src/.lcovrc" --rc lcov_branch_coverage=1 --rc geninfo_all_blocks=1)
  local all=$dir/coverage-all.info lib=$dir/coverage-lib.info
  # No --no-external: meson compiles ../src/x.c from the build dir, which lcov would
  # call external; the --extract below keeps exactly the library's files.
  if ! lcov "${rc[@]}" --quiet --capture --directory "$dir" --output-file "$all" ||
     ! lcov "${rc[@]}" --quiet --extract "$all" "$src/src/*" "$src/adapters/*" \
        --output-file "$lib"; then
    check "coverage capture (lcov)" 1
    return
  fi
  lcov "${rc[@]}" --list "$lib" >"$dir/coverage-list.txt" 2>&1
  python3 - "$lib" "$cov_line_floor" "$cov_branch_floor" "$src" <<'PY'
import sys
info, line_floor, branch_floor, root = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
files = {}
cur = None
for raw in open(info):
    raw = raw.strip()
    if raw.startswith("SF:"):
        cur = files.setdefault(raw[3:], {"lh": 0, "lf": 0, "bh": 0, "bf": 0})
    elif cur is not None:
        key, _, val = raw.partition(":")
        if key in ("LH", "LF", "BRH", "BRF"):
            cur[{"LH": "lh", "LF": "lf", "BRH": "bh", "BRF": "bf"}[key]] += int(val)
tot = {k: sum(f[k] for f in files.values()) for k in ("lh", "lf", "bh", "bf")}
pct = lambda h, f: 100.0 * h / f if f else 100.0
line = pct(tot["lh"], tot["lf"])
branch = pct(tot["bh"], tot["bf"])
print("coverage: weakest files (line%, branch%):")
rows = sorted(files.items(), key=lambda kv: pct(kv[1]["lh"], kv[1]["lf"]))
for name, f in rows[:8]:
    print("  %-32s %6.1f%% %6.1f%%  (%d/%d lines, %d/%d branches)" % (
        name.replace(root + "/", ""), pct(f["lh"], f["lf"]), pct(f["bh"], f["bf"]),
        f["lh"], f["lf"], f["bh"], f["bf"]))
print("coverage: lines %.1f%% (%d of %d), branches %.1f%% (%d of %d) in %d files"
      % (line, tot["lh"], tot["lf"], branch, tot["bh"], tot["bf"], len(files)))
ok = line >= line_floor and branch >= branch_floor and files
print("coverage: floor lines %.0f%%, branches %.0f%%: %s"
      % (line_floor, branch_floor, "met" if ok else "MISSED"))
sys.exit(0 if ok else 1)
PY
  check "coverage floor (lines >= $cov_line_floor%, branches >= $cov_branch_floor%)" $?
}

# A bounded libFuzzer run of every harness in tests/fuzz (fuzz-vow, fuzz-seams, ...: the
# fuzz-* binaries the build made), FUZZ_SECONDS split evenly between them, plus a
# replay of every saved regression input of each; its own clang build with ASan+UBSan.
stage_fuzz() {
  local dir=$prefix-fuzz
  if ! CC=clang setup_build "$dir" -Db_sanitize=address,undefined -Db_lundef=false \
      -Dbench=false -Dexamples=false; then
    check "fuzz build" 1
    return
  fi
  local bin targets=()
  for bin in "$dir"/tests/fuzz/fuzz-*; do
    [ -f "$bin" ] && [ -x "$bin" ] && targets+=("$(basename "$bin")")
  done
  if [ ! -x "$dir/tests/fuzz/fuzz-vow" ]; then
    check "fuzz harness built (clang -fsanitize=fuzzer)" 1
    return
  fi
  check "fuzz build" 0
  local share=$((fuzz_seconds / ${#targets[@]}))
  [ "$share" -gt 0 ] || share=1
  local t f n bad regress
  for t in "${targets[@]}"; do
    FUZZ_SECONDS=$share FUZZ_BIN=$dir/tests/fuzz/$t FUZZ_WORK=$dir/fuzz-work-${t#fuzz-} \
      bash tests/fuzz/run.sh "$t"
    check "$t run (${share}s)" $?
    regress=tests/fuzz/regress-${t#fuzz-}
    [ "$t" = fuzz-vow ] && regress=tests/fuzz/regress
    n=0
    bad=0
    for f in "$regress"/*; do
      [ -f "$f" ] || continue
      n=$((n + 1))
      # One input runs in milliseconds; a hang is a failure, not a stalled CI.
      if ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
          timeout 60 "$dir/tests/fuzz/$t" -timeout=20 "$f" >"$dir/replay.log" 2>&1; then
        add_counts 1 0
      else
        echo "test.sh: FAILED: $t regression input $f" >&2
        tail -n 40 "$dir/replay.log" >&2
        add_counts 0 1
        bad=$((bad + 1))
      fi
    done
    echo "test.sh: $t: replayed $n regression inputs, $bad failed" >&2
  done
}

# Adds the counts of a TAP stream (a script's output, echoed to stderr as it goes).
run_tap() {
  local out counts
  out=$("$@" 2>&1)
  local rc=$?
  printf '%s\n' "$out" >&2
  counts=$(printf '%s\n' "$out" | awk '/^ok /{p++} /^not ok /{f++} END {print p+0, f+0}')
  # A script that failed without a "not ok" line (it died) still counts one failure.
  if [ $rc -ne 0 ] && [ "${counts#* }" -eq 0 ]; then
    counts="${counts% *} 1"
  fi
  echo "test.sh: ${2##*/} ${3:-}: ${counts% *} passed, ${counts#* } failed" >&2
  add_counts $counts
}

# libvow as users take it (tests/install/consume.sh): installed with meson install
# --destdir, each pkg-config file's consumer program built against the installed tree
# and run; then a project of its own that uses libvow as a meson subproject.
stage_install() {
  JOBS=$jobs run_tap bash tests/install/consume.sh install "$src/$prefix-install"
  JOBS=$jobs run_tap bash tests/install/consume.sh subproject "$src/$prefix-subproject"
}

# The Debian packages (tests/install/deb.sh): dpkg-buildpackage, lintian, dpkg -i, the
# consumer programs against the packages, dpkg --purge.
stage_deb() {
  JOBS=$jobs run_tap bash tests/install/deb.sh "$src/$prefix-deb"
}

# --stress: the stress suite at full scale (VOW_STRESS=full). The timeouts in
# tests/stress/meson.build are for the smoke run, hence the multiplier. The soak
# runs VOW_STRESS_SECONDS (300 in the release build, 60 under a sanitizer); under the
# sanitizers the other sizes are a tenth (VOW_STRESS_DIV).
stress_run() {
  local dir=$1 logbase=$2 secs=$3 div=$4
  shift 4
  VOW_STRESS=full VOW_STRESS_SECONDS=$secs VOW_STRESS_DIV=$div run_suite "$dir" "$logbase" \
    --timeout-multiplier 20 "$@"
}
stage_stress() {
  if CC=gcc setup_build "$prefix-gcc" -Dwerror=true -Dbuildtype=release; then
    check "gcc -Werror build" 0
    stress_run "$prefix-gcc" stress-gcc 300 1 --suite stress
  else
    check "gcc -Werror build" 1
  fi
  if CC=clang setup_build "$prefix-tsan" -Db_sanitize=thread -Db_lundef=false \
      -Djemalloc=disabled -Dbench=false -Dexamples=false; then
    check "clang TSan build" 0
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
      stress_run "$prefix-tsan" stress-tsan 60 10 stress-xthread stress-signals
  else
    check "clang TSan build" 1
  fi
  if CC=clang setup_build "$prefix-asan" -Dwerror=true -Db_sanitize=address,undefined \
      -Db_lundef=false -Dbench=false; then
    check "clang ASan+UBSan build" 0
    ASAN_OPTIONS=abort_on_error=1:halt_on_error=1:detect_leaks=1 \
    UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
      stress_run "$prefix-asan" stress-asan 60 10 stress-starve stress-signals stress-conns \
        stress-oom stress-cancel stress-fdlimit stress-soak
  else
    check "clang ASan+UBSan build" 1
  fi
}

t_start=$SECONDS
if [ $stress -eq 1 ]; then
  stage stress stage_stress
  echo "test.sh: stage times: ${timings[*]}; total $((SECONDS - t_start))s" >&2
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
fi
stage gcc stage_gcc
if [ $quick -eq 0 ]; then
  stage asan+ubsan stage_asan
  stage valgrind stage_valgrind
  stage tsan stage_tsan
  stage coverage stage_coverage
  stage fuzz stage_fuzz
  stage install stage_install
fi
if [ $debug -eq 1 ]; then
  stage debug stage_debug
fi
if [ $deb -eq 1 ]; then
  stage deb stage_deb
fi
echo "test.sh: stage times: ${timings[*]}; total $((SECONDS - t_start))s" >&2
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
