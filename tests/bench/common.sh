# SPDX-License-Identifier: MIT
# Shared by tests/bench/<area>/run.sh (sourced, not run): the repeat/scale settings,
# best_of and n. Each program runs BENCH_REPEAT times (default 3) and, per workload
# and impl, its best run is kept (highest ops_per_s, or smallest bytes_per_vow),
# since the machine may be shared; BENCH_SCALE divides every N. Kept lines are also
# appended to $lines for the caller's ratio step; a failed run sets status=1.
repeat=${BENCH_REPEAT:-3}
scale=${BENCH_SCALE:-1}
status=0
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT

best_of() {
  local out all=""
  for _ in $(seq "$repeat"); do
    if ! out=$("$@"); then
      echo "FAILED: $*" >&2
      status=1
      return
    fi
    all+="$out"$'\n'
  done
  printf '%s' "$all" | awk '
    /^workload=/ {
      w = ""; m = ""; score = 0
      for (i = 1; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == "workload") w = kv[2]
        if (kv[1] == "impl") m = kv[2]
        if (kv[1] == "ops_per_s") score = kv[2] + 0
        if (kv[1] == "bytes_per_vow") score = -(kv[2] + 0)
      }
      k = w SUBSEP m
      if (!(k in best) || score > best[k]) { best[k] = score; line[k] = $0 }
      if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
    }
    /^ratio / { r = $0 }
    END { for (i = 1; i <= nk; i++) print line[order[i]]; if (r != "") print r }' |
    tee -a "$lines"
}

n() { echo $(( $1 / scale > 0 ? $1 / scale : 1 )); }
