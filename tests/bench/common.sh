# SPDX-License-Identifier: MIT
# The harness shared by tests/bench/<area>/run.sh (sourced, not run).
#
# An area queues the commands of one workload with bench_add (libvow's program and
# each peer's), then bench_go runs them BENCH_RUNS times (default 5), each time in a
# fresh process and alternating (A B C A B C ...), so load that drifts during the run
# hits every impl alike. Every program prints
#   workload=W impl=I n=N cold_s=C warm_s=W peak_rss_kib=K bytes_per_op=B
# (cold: its first run in the process; warm: a later run after BENCH_WARMUPS untimed
# ones, default 1; see bench.h, bench.js, bench.py), and exits non-zero when its
# result is wrong, which fails the area. bench_go then prints, per workload and impl,
# the median of every numeric field over the fresh processes with its min and max,
# and the 1-minute load average at the start and end of the group:
#   summary workload=W impl=I runs=5 load=1.02-1.35 cold_s=0.341 [0.300 0.420] ...
# bench_row turns the summaries into ratios against named peers and checks targets;
# rows go to $BENCH_TABLE when tests/bench/run.sh set it (one table for every area),
# else bench_table prints them when the area ends.
# BENCH_SCALE=k divides every N (quick smoke runs: the ratios then mean little).
runs=${BENCH_RUNS:-5}
scale=${BENCH_SCALE:-1}
export BENCH_WARMUPS=${BENCH_WARMUPS:-1}
status=0
bench_tmp=$(mktemp -d)
trap 'rm -rf "$bench_tmp"' EXIT
lines=$bench_tmp/lines      # every run's line, tagged run=R
summary=$bench_tmp/summary  # one summary line per workload and impl
rows=${BENCH_TABLE:-$bench_tmp/rows}
raw=${BENCH_RAW:-/dev/null} # every run's line is appended here too
: >"$lines"
: >"$summary"
bench_cmds=()

n() { echo $(($1 / scale > 0 ? $1 / scale : 1)); }

load1() { cut -d' ' -f1 /proc/loadavg; }

# bench_add CMD ARGS...: one impl of the current group.
bench_add() { bench_cmds+=("$(printf '%q ' "$@")"); }

# Runs the queued commands, alternating, BENCH_RUNS times each, then summarises.
bench_go() {
  local l0 l1 r c out group
  local -A failed=()
  group=$bench_tmp/group
  : >"$group"
  l0=$(load1)
  for ((r = 1; r <= runs; r++)); do
    for c in "${bench_cmds[@]}"; do
      [ -n "${failed[$c]-}" ] && continue
      if out=$(eval "$c"); then
        printf '%s\n' "$out" | grep '^workload=' | sed "s/\$/ run=$r/" | tee -a "$raw" >>"$group"
      else
        echo "FAILED (exit status, run $r): $c" >&2
        failed[$c]=1
        status=1
      fi
    done
  done
  l1=$(load1)
  bench_cmds=()
  cat "$group" >>"$lines"
  awk -v load="$l0-$l1" '
    function median(s,   a, k, t, i, j) {
      k = split(s, a, " ")
      for (i = 2; i <= k; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
    }
    function lo(s,   a, k, i, m) { k = split(s, a, " "); m = a[1] + 0; for (i = 2; i <= k; i++) if (a[i] + 0 < m) m = a[i] + 0; return m }
    function hi(s,   a, k, i, m) { k = split(s, a, " "); m = a[1] + 0; for (i = 2; i <= k; i++) if (a[i] + 0 > m) m = a[i] + 0; return m }
    function fmt(x) { return x == int(x) ? sprintf("%d", x) : sprintf("%.6g", x) }
    function num(x) { return x ~ /^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$/ }
    {
      delete f
      for (i = 1; i <= NF; i++) { p = index($i, "="); f[substr($i, 1, p - 1)] = substr($i, p + 1) }
      k = f["workload"] SUBSEP f["impl"]
      if (!(k in cnt)) { order[++nk] = k; nfields[k] = 0 }
      cnt[k]++
      for (i = 1; i <= NF; i++) {
        p = index($i, "="); name = substr($i, 1, p - 1); v = f[name]
        if (name == "workload" || name == "impl" || name == "run" || !num(v)) continue
        if (!((k, name) in vals)) fields[k, ++nfields[k]] = name
        vals[k, name] = vals[k, name] " " v
      }
    }
    END {
      for (o = 1; o <= nk; o++) {
        k = order[o]; split(k, wi, SUBSEP)
        line = sprintf("summary workload=%s impl=%s runs=%d load=%s", wi[1], wi[2], cnt[k], load)
        for (j = 1; j <= nfields[k]; j++) {
          name = fields[k, j]; s = vals[k, name]
          if (name == "n") { line = line sprintf(" n=%s", median(s)); continue }
          line = line sprintf(" %s=%s [%s %s]", name, fmt(median(s)), fmt(lo(s)), fmt(hi(s)))
        }
        print line
      }
    }' "$group" | tee -a "$summary"
}

# bench_row WORKLOAD IMPL "PEER..." "TARGET..." [COLD_FIELD WARM_FIELD]
# One table row: IMPL's median cost over each peer's (cold and warm fields, default
# cold_s and warm_s; each a cost, lower is better), so a ratio above 1 means libvow is
# that many times as fast or as cheap. Targets, space-separated:
#   cold:PEER>=X  warm:PEER>=X   a ratio against PEER
#   FIELD<=X                     IMPL's own median of FIELD (bytes_per_op, peak_rss_kib)
bench_row() {
  awk -v w="$1" -v impl="$2" -v peers="$3" -v targets="$4" -v cf="${5:-cold_s}" \
    -v wf="${6:-warm_s}" '
    /^summary / {
      delete f
      for (i = 2; i <= NF; i++) { p = index($i, "="); if (p) f[substr($i, 1, p - 1)] = substr($i, p + 1) }
      if (f["workload"] != w) next
      im = f["impl"]; have[im] = 1; load[im] = f["load"]
      for (name in f) med[im, name] = f[name]
    }
    function ratio(kind, peer,   a, b) {
      a = med[impl, kind == "cold" ? cf : wf]; b = med[peer, kind == "cold" ? cf : wf]
      return (a + 0 > 0 && b != "") ? b / a : -1
    }
    END {
      if (!(impl in have)) { printf "%-15s %-12s not measured\n", w, impl; exit }
      cells = ""
      np = split(peers, pl, " ")
      for (i = 1; i <= np; i++) {
        if (!(pl[i] in have)) { cells = cells sprintf("%s -  ", pl[i]); continue }
        cells = cells sprintf("%s %.2f/%.2f  ", pl[i], ratio("cold", pl[i]), ratio("warm", pl[i]))
      }
      mem = sprintf("%.0f MiB", med[impl, "peak_rss_kib"] / 1024)
      if (med[impl, "bytes_per_op"] != "") mem = mem sprintf(", %.0f B/op", med[impl, "bytes_per_op"])
      tl = ""
      nt = split(targets, tt, " ")
      for (i = 1; i <= nt; i++) {
        t = tt[i]
        if (t ~ /^(cold|warm):/) {
          split(t, a, ":"); split(a[2], b, ">=")
          r = ratio(a[1], b[1])
          ok = r < 0 ? "n/a" : r >= b[2] + 0 ? "met" : "missed"
          tl = tl sprintf("%s %s (%.2f); ", t, ok, r)
        } else {
          split(t, b, "<="); v = med[impl, b[1]]
          ok = v == "" ? "n/a" : v + 0 <= b[2] + 0 ? "met" : "missed"
          tl = tl sprintf("%s %s (%s); ", t, ok, v)
        }
      }
      sub(/; $/, "", tl)
      printf "%-15s %-12s %-46s %-20s %-10s %s\n", w, impl, cells, mem, load[impl], tl
    }' "$summary" >>"$rows"
}

bench_table_header() {
  printf '%-15s %-12s %-46s %-20s %-10s %s\n' workload impl \
    "vs peer: cold/warm (x as fast)" "memory (median)" "load" "targets (value)"
}

# Prints this area's rows, unless tests/bench/run.sh collects them for its table.
bench_table() {
  [ -n "${BENCH_TABLE:-}" ] && return
  [ -s "$rows" ] || return
  echo
  bench_table_header
  cat "$rows"
}
