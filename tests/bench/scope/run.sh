#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Scopes side by side: N coroutines spawned into a scope and joined (libvow_scope),
# the same with bare vow_co_spawn + vow_all (libvow_all), and Node's Promise.all over
# N async functions (node); all N alive at once (workload scope) and 1,000 at a time
# (scope_batch1000: pooled stacks, the steady state). Each runs in BENCH_PROCS fresh
# processes (default 5), interleaved so that load changes hit all three alike; every
# process reports its first round (_cold) and the median of its later rounds (_warm).
# Printed: each median over the processes, then the ratios of the medians.
# Usage: run.sh <build dir>   (BENCH_SCALE divides N)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh <build dir>}
bin="$build/tests/bench/scope/bench-scope"
procs=${BENCH_PROCS:-5}
scale=${BENCH_SCALE:-1}
n=$(( 20000 / scale > 0 ? 20000 / scale : 1 ))
rounds=6
status=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

if [ ! -x "$bin" ]; then
  echo "scope/run.sh: $bin is not built (the coro adapter is not in this build)" >&2
  exit 1
fi
have_node=0
command -v node >/dev/null && have_node=1 ||
  echo "scope/run.sh: node not found: no Node peer" >&2

echo "# load before: $(uptime)"
for batch in 0 1000; do
  for _ in $(seq "$procs"); do
    "$bin" scope "$n" "$rounds" "$batch" >>"$out" || status=1
    "$bin" all "$n" "$rounds" "$batch" >>"$out" || status=1
    [ $have_node -eq 1 ] && { node "$here/scope.js" "$n" "$rounds" "$batch" >>"$out" || status=1; }
  done
done
echo "# load after: $(uptime)"

awk -v procs="$procs" '
  function field(name,   i, kv) {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
    return ""
  }
  function median(k,   m, i, j, t, a) {
    m = cnt[k]
    for (i = 1; i <= m; i++) a[i] = s[k, i]
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  /^workload=/ {
    k = field("workload") SUBSEP field("impl")
    s[k, ++cnt[k]] = field("seconds") + 0
    n = field("n")
    if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
  }
  END {
    for (i = 1; i <= nk; i++) {
      split(order[i], wk, SUBSEP)
      med[order[i]] = median(order[i])
      printf "workload=%s impl=%s n=%s procs=%d median_seconds=%.6f median_ns_per_coroutine=%.0f\n",
        wk[1], wk[2], n, cnt[order[i]], med[order[i]], med[order[i]] * 1e9 / n
    }
    split("scope_cold scope_warm scope_batch1000_cold scope_batch1000_warm", ws, " ")
    for (w = 1; w <= 4; w++) {
      a = med[ws[w], "libvow_scope"]; b = med[ws[w], "libvow_all"]; c = med[ws[w], "node"]
      if (a > 0 && b > 0)
        printf "ratio workload=%s libvow_scope/libvow_all=%.2fx of the time (target <= 1.2x: %s)\n",
          ws[w], a / b, (a / b <= 1.2 ? "met" : "missed")
      if (a > 0 && c > 0)
        printf "ratio workload=%s node/libvow_scope=%.2fx (libvow_scope is %.2fx as fast as Node)\n",
          ws[w], c / a, c / a
    }
  }' "$out"
exit $status
