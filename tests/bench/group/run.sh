#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Loop-group benchmarks, in one run: each configuration runs BENCH_RUNS times
# (default 5), each time in a fresh process, the configurations alternating (A B A B
# ...) so that load drifting during the run hits them alike. Per workload and impl
# it prints the median of every field over the processes, with the fastest and the
# slowest run beside it, then the ratios against the targets of issue 16:
#   tonio        1M coroutines that each yield once (batches of 1,000): group of 2
#                loops vs 1, >= 1.7x (warm and cold apart); also all at once in
#                copy-stack mode, and a plain loop without a group (the group's cost);
#   echo_work20  an echo server whose handler spends 20 us of CPU per message, 50
#                connections from a client process (echo_load): 2 loops vs 1,
#                >= 1.6x requests/s; the client's CPU per request is printed (on 2
#                cores it competes with the server's loops);
#   post_awake   posting to a loop that is awake: vow_group_post vs vow_loop_post
#                (the uv_async_send and ev_async_send peers are in b12's
#                tests/bench/reactor/post.sh).
# BENCH_SCALE=k divides N (smoke runs). Usage: run.sh <build dir>
set -uo pipefail
build=${1:?usage: run.sh <build dir>}
bin="$build/tests/bench/group"
runs=${BENCH_RUNS:-5}
scale=${BENCH_SCALE:-1}
secs=${BENCH_ECHO_SECONDS:-4}
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n() { echo $(($1 / scale > 0 ? $1 / scale : 1)); }

# go CMD...: every command once per round, BENCH_RUNS rounds.
go() {
  local r c
  for ((r = 1; r <= runs; r++)); do
    for c in "$@"; do
      if ! eval "$c" 2>>"$tmp/stderr" | grep '^workload=' >>"$tmp/lines"; then
        echo "FAILED: $c" >&2
        status=1
      fi
    done
  done
}

echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
N=$(n 1000000)
go "$bin/bench-tonio $N 1" "$bin/bench-tonio $N 2" "$bin/bench-tonio $N loop"
go "$bin/bench-tonio $N 1 0" "$bin/bench-tonio $N 2 0"
srv="$bin/echo_group_bench --work-us 20 0"
go "$bin/echo_load echo_work20 group1 64 50 $secs -- $srv --threads 1" \
   "$bin/echo_load echo_work20 group2 64 50 $secs -- $srv --threads 2"
P=$(n 2000000)
go "$bin/bench-post $P group" "$bin/bench-post $P loop"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"

awk '
  function median(s,   a, k, t, i, j) {
    k = split(s, a, " ")
    for (i = 2; i <= k; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  function lo(s,   a, k, i, m) { k = split(s, a, " "); m = a[1] + 0; for (i = 2; i <= k; i++) if (a[i] + 0 < m) m = a[i] + 0; return m }
  function hi(s,   a, k, i, m) { k = split(s, a, " "); m = a[1] + 0; for (i = 2; i <= k; i++) if (a[i] + 0 > m) m = a[i] + 0; return m }
  {
    delete f
    for (i = 1; i <= NF; i++) { p = index($i, "="); f[substr($i, 1, p - 1)] = substr($i, p + 1) }
    k = f["workload"] SUBSEP f["impl"]
    if (!(k in cnt)) order[++nk] = k
    cnt[k]++
    for (i = 1; i <= NF; i++) {
      p = index($i, "="); name = substr($i, 1, p - 1)
      if (name == "workload" || name == "impl") continue
      if (!((k, name) in vals)) names[k] = names[k] " " name
      vals[k, name] = vals[k, name] " " f[name]
    }
  }
  function med(w, impl, name,   key) {
    key = w SUBSEP impl SUBSEP name
    if (key in vals) return median(vals[key])
    return ""
  }
  # ratio of a cost (time: b/a) or of a rate (a/b), against a target
  function row(w, a, b, field, kind, target,   x, y, r) {
    x = med(w, a, field); y = med(w, b, field)
    if (x == "" || y == "" || x + 0 == 0 || y + 0 == 0) { printf "ratio workload=%s %s/%s %s: not measured\n", w, a, b, field; return }
    if (kind == "cost") r = y / x; else r = x / y
    printf "ratio workload=%s %s/%s %s=%.2fx", w, a, b, field, r
    if (target != "") printf " (target >= %sx: %s)", target, (r >= target + 0) ? "met" : "missed"
    printf "\n"
  }
  END {
    for (o = 1; o <= nk; o++) {
      k = order[o]; split(k, wi, SUBSEP)
      line = sprintf("median workload=%s impl=%s runs=%d", wi[1], wi[2], cnt[k])
      m = split(names[k], ns, " ")
      for (j = 1; j <= m; j++) {
        s = vals[k, ns[j]]
        line = line sprintf(" %s=%.6g [%.6g %.6g]", ns[j], median(s), lo(s), hi(s))
      }
      print line
    }
    row("tonio", "group2", "group1", "cold_s", "cost", 1.7)
    row("tonio", "group2", "group1", "warm_s", "cost", 1.7)
    row("tonio", "group1", "loop", "warm_s", "cost", "")
    row("tonio_copy", "group2", "group1", "cold_s", "cost", "")
    row("tonio_copy", "group2", "group1", "warm_s", "cost", "")
    row("echo_work20", "group2", "group1", "cold_rps", "rate", "")
    row("echo_work20", "group2", "group1", "warm_rps", "rate", 1.6)
    row("post_awake", "vow_group_post", "vow_loop_post", "cold_ns", "cost", "")
    row("post_awake", "vow_group_post", "vow_loop_post", "warm_ns", "cost", "")
  }' "$tmp/lines"
exit $status
