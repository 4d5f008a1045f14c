#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Where the cold time goes (issue 17): bash tests/bench/profile/profile.sh [build dir]
# Run on a release build (tests/bench/run.sh makes build-bench). Prints, with the load
# average next to each part:
#   1. the machine: transparent huge page settings, free page reporting, compaction
#      counters (/proc/vmstat);
#   2. fault-cost: one 4 KiB fault, one 2 MiB huge-page fault, zeroing, munmap and a
#      guard install, measured here;
#   3. the cold 1M chain (first run in a fresh process, BENCH_COLD_ONLY) in four
#      conditions, alternating, PROFILE_ROUNDS (5) times: after PROFILE_IDLE (6) idle
#      seconds or right after another process freed 1 GiB, each with the slab chunks'
#      huge pages (as built) and without (nothp: prctl PR_SET_THP_DISABLE); medians of
#      wall and system time, minor faults, and the compaction stalls and huge-page
#      faults seen meanwhile. CHAIN_ALT=path adds the same for another bench-chain
#      (for example one built with a library patch);
#   4. PROFILE_CORO (300000) coroutines all at once, cold: page faults, system calls
#      and allocations per coroutine, and (with perf) where the time goes.
# Uses perf and strace where installed (Debian: linux-perf, strace); sleeps on purpose.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
build=${1:-$root/build-bench}
bin=$build/tests/bench
rounds=${PROFILE_ROUNDS:-5}
idle=${PROFILE_IDLE:-6}
ncoro=${PROFILE_CORO:-300000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for p in vow/bench-chain coro/bench-coro coro/bench-allocs profile/fault-cost profile/nothp; do
  [ -x "$bin/$p" ] || { echo "profile.sh: $bin/$p is not built" >&2; exit 1; }
done
load() { cut -d' ' -f1-3 /proc/loadavg; }
vm() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }

echo "== 1. machine (load $(load))"
for f in enabled defrag khugepaged/defrag; do
  printf 'thp %-18s %s\n' "$f" "$(cat /sys/kernel/mm/transparent_hugepage/$f 2>/dev/null)"
done
grep -o 'page_reporting[^ ]*' /proc/cmdline || echo "free page reporting: not on the kernel command line"
ls /sys/bus/virtio/drivers/virtio_balloon/virtio* >/dev/null 2>&1 && echo "virtio_balloon: bound (a guest whose free memory may go back to the host)"
for k in compact_stall compact_fail compact_success thp_fault_alloc thp_fault_fallback; do
  echo "vmstat $k $(vm $k)"
done

echo "== 2. fault-cost (load $(load))"
"$bin/profile/fault-cost"
"$bin/profile/fault-cost" reuse 128 0 | sed 's/^/  /'

# One cold chain: prints cold_s, sys_s, minflt, compaction stalls and THP faults.
chain() {
  local c0 t0 out times
  c0=$(vm compact_stall)
  t0=$(vm thp_fault_alloc)
  out=$( { TIMEFORMAT='%R %S'; time BENCH_COLD_ONLY=1 "$@" >"$tmp/line"; } 2>&1 )
  read -r _ times <<<"x $out"
  awk -v t="$times" -v cs="$(($(vm compact_stall) - c0))" -v th="$(($(vm thp_fault_alloc) - t0))" '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
    END { split(t, a, " "); printf "cold_s=%s sys_s=%s compact_stall=%d thp_faults=%d\n", f["cold_s"], a[2], cs, th }' "$tmp/line"
}
echo "== 3. cold 1M chain, $rounds rounds (load $(load))"
conds=("idle thp" "idle nothp" "freed thp" "freed nothp")
[ -n "${CHAIN_ALT:-}" ] && conds+=("idle alt" "freed alt")
: >"$tmp/chain"
for ((r = 1; r <= rounds; r++)); do
  for c in "${conds[@]}"; do
    set -- $c
    if [ "$1" = idle ]; then sleep "$idle"; else "$bin/profile/fault-cost" reuse 1024 0 >/dev/null; fi
    case $2 in
      thp) line=$(chain "$bin/vow/bench-chain") ;;
      nothp) line=$(chain "$bin/profile/nothp" "$bin/vow/bench-chain") ;;
      alt) line=$(chain "$CHAIN_ALT") ;;
    esac
    echo "cond=$1_$2 $line" | tee -a "$tmp/chain" | sed 's/^/  /'
  done
done
awk '
  function median(s,   a, k, t, i, j) {
    k = split(s, a, " ")
    for (i = 2; i <= k; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    c = f["cond"]; if (!(c in seen)) { seen[c] = 1; order[++n] = c }
    cold[c] = cold[c] " " f["cold_s"]; sys[c] = sys[c] " " f["sys_s"]
    stall[c] += f["compact_stall"]; thp[c] += f["thp_faults"]; cnt[c]++ }
  END { for (i = 1; i <= n; i++) { c = order[i]
    printf "median cond=%s runs=%d cold_s=%.3f sys_s=%.3f compact_stalls=%d thp_faults_per_run=%.0f\n",
      c, cnt[c], median(cold[c]), median(sys[c]), stall[c], thp[c] / cnt[c] } }' "$tmp/chain"

echo "== 4. $ncoro coroutines at once, cold (load $(load))"
if command -v perf >/dev/null; then
  BENCH_COLD_ONLY=1 perf stat -x, -e page-faults -o "$tmp/stat1" "$bin/coro/bench-coro" 1 >/dev/null
  BENCH_COLD_ONLY=1 perf stat -x, -e page-faults -o "$tmp/statn" "$bin/coro/bench-coro" "$ncoro"
  awk -F, -v n="$ncoro" 'FNR == 1 { f++ } /page-faults/ { v[f] = $1 }
    END { printf "page_faults_per_coroutine=%.3f\n", (v[2] - v[1]) / (n - 1) }' "$tmp/stat1" "$tmp/statn"
fi
if command -v strace >/dev/null; then
  BENCH_COLD_ONLY=1 strace -c -o "$tmp/strace" "$bin/coro/bench-coro" "$ncoro" >/dev/null
  awk -v n="$ncoro" '$NF ~ /^(madvise|mmap|munmap|mprotect)$/ {
    printf "syscalls_per_coroutine %s=%.4f\n", $NF, $4 / n }' "$tmp/strace"
fi
"$bin/coro/bench-allocs" "$ncoro"
if command -v perf >/dev/null; then
  BENCH_COLD_ONLY=1 perf record -q -o "$tmp/perf.data" -F 5000 -e cpu-clock -g \
    "$bin/coro/bench-coro" "$ncoro" >/dev/null 2>&1
  echo "where the time goes (perf, cpu-clock; share of samples including callees):"
  perf report -i "$tmp/perf.data" --children --sort sym --stdio 2>/dev/null |
    grep -E '^ +[0-9]' |
    grep -E '\] (asm_exc_page_fault|clear_page_erms|__x64_sys_madvise|__x64_sys_munmap|__x64_sys_mmap|vow_co_spawn|co_start|vow__co_jump|vow__slab_grow)$' |
    sed 's/^/  /'
fi
echo "load at the end: $(load)"
