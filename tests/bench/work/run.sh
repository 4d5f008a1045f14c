#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Thread-pool and file benchmarks side by side with libuv (and, for files, plain
# blocking read(2)), then one ratio line per comparison. Builds nothing.
# Usage: run.sh <build dir>. Every program runs BENCH_RUNS times (default 5) as a
# fresh process, libvow and its peers alternating; each line's ns_per_op is the
# MEDIAN over those runs, cold (first use in the process, or after the files' pages
# were dropped) and warm apart, with the fastest and slowest run beside it (the
# spread shows how busy the machine was). BENCH_SCALE divides every size. The files (1,000 of
# 4 KiB and one of 256 MiB) are made in a temporary directory under /tmp and
# deleted afterwards.
set -uo pipefail
build=${1:?usage: run.sh <build dir>}
bin="$build/tests/bench/work"
runs=${BENCH_RUNS:-5}
scale=${BENCH_SCALE:-1}
status=0
n=$((200000 / scale))
nfiles=$((1000 / scale))
big_mib=$((256 / scale))
[ "$nfiles" -ge 1 ] || nfiles=1
[ "$big_mib" -ge 1 ] || big_mib=1

lines=$(mktemp)
tmp=$(mktemp -d /tmp/vow-bench-work-XXXXXX)
trap 'rm -rf "$tmp" "$lines"' EXIT
python3 - "$tmp" "$nfiles" "$big_mib" <<'PY'
import os, sys
d, n, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = bytes(range(256)) * 16
for i in range(n):
    with open(os.path.join(d, "s%04d" % i), "wb") as f:
        f.write(block)
chunk = os.urandom(1 << 20)
with open(os.path.join(d, "big"), "wb") as f:
    for _ in range(mib):
        f.write(chunk)
PY

run() {
  if [ ! -x "$1" ]; then
    echo "work/run.sh: $1 is not built" >&2
    case $1 in */bench-uv-*) ;; *) status=1 ;; esac
    return
  fi
  if ! "$@" >>"$lines"; then
    echo "FAILED: $*" >&2
    status=1
  fi
}

for _ in $(seq "$runs"); do
  run "$bin/bench-work" "$n"
  run "$bin/bench-uv-work" "$n"
  run "$bin/bench-fs" "$tmp" "$nfiles"
  run "$bin/bench-uv-fs" "$tmp" "$nfiles"
done

awk -v runs="$runs" '
  function median(key,    n, i, j, t, x) {
    n = split(vals[key], x, " ")
    for (i = 2; i <= n; i++) { t = x[i] + 0; for (j = i - 1; j >= 1 && x[j] + 0 > t; j--) x[j + 1] = x[j]; x[j + 1] = t }
    lo = x[1]; hi = x[n]
    return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
  }
  /^workload=/ {
    w = m = ph = ""; v = ""
    for (i = 1; i <= NF; i++) {
      split($i, kv, "=")
      if (kv[1] == "workload") w = kv[2]
      if (kv[1] == "impl") m = kv[2]
      if (kv[1] == "phase") ph = kv[2]
      if (kv[1] == "ns_per_op") v = kv[2]
    }
    k = w " " m " " ph
    if (!(k in vals)) order[++nk] = k
    vals[k] = (k in vals) ? vals[k] " " v : v
  }
  function med(w, m, ph,    k) { k = w " " m " " ph; return (k in vals) ? median(k) : "" }
  function ratio(w, ph, a, b, target,    x, y, met) {
    x = med(w, a, ph); y = med(w, b, ph)
    if (x == "" || y == "" || y + 0 <= 0) return
    met = target == "" ? "" : sprintf(" (target <= %s: %s)", target, x / y <= target ? "met" : "missed")
    printf "ratio workload=%s phase=%s time %s/%s=%.2fx%s\n", w, ph, a, b, x / y, met
  }
  END {
    for (i = 1; i <= nk; i++) {
      split(order[i], f, " ")
      m = median(order[i])
      printf "median workload=%s impl=%s phase=%s ns_per_op=%.1f runs=%d min=%.1f max=%.1f\n", f[1], f[2], f[3], m, runs, lo, hi
    }
    ratio("rtt", "warm", "libvow", "libuv", "1.0")
    ratio("rtt", "warm", "libvow", "eventfd", "")
    ratio("rtt", "cold", "libvow", "libuv", "")
    ratio("inflight64", "warm", "libvow", "libuv", "0.5")
    split("small_files big_file", ws, " ")
    for (j = 1; j <= 2; j++) for (p = 0; p < 2; p++) {
      ph = p ? "warm" : "cold"
      ratio(ws[j], ph, "libvow", "libuv", "")
      ratio(ws[j], ph, "libvow", "read", "")
      if (ws[j] == "big_file") { ratio(ws[j], ph, "libvow_whole", "libuv", ""); ratio(ws[j], ph, "libvow_whole", "read", "") }
    }
  }' "$lines"
exit $status
