#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Workload "post-awake": posting to an awake loop from another thread, side by side
# in one run: libvow now, libvow as it was before the lock-free queue (BASE_REV, built
# from git in <build dir>/post-base), libuv's uv_async_send (bare, and with the mutex
# FIFO a payload needs) and libev's ev_async_send. Each program runs POST_REPEAT
# times (default 5) as a fresh process and the MEDIAN of each figure is reported, the
# cold phase (first 10,000 posts of the process) apart from the warm one. ns_per_op
# is wall time on the posting thread, cpu_ns_per_op that thread's CPU time (what a
# post costs its caller when the machine is shared). Then `strace -f -c` counts the
# write(2) calls of one run of each libvow build: none are needed while the loop is
# awake. Usage: post.sh <build dir>
set -uo pipefail
build=${1:?usage: post.sh <build dir>}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
bin="$build/tests/bench/reactor"
repeat=${POST_REPEAT:-5}
n=${POST_N:-2000000}
# The last commit with the mutex-guarded post queue.
base_rev=${BASE_REV:-89e81c3}
status=0

# The baseline: the same bench-post.c, compiled against libvow at base_rev.
base_bin=""
base_dir="$build/post-base"
if git -C "$root" cat-file -e "$base_rev^{commit}" 2>/dev/null; then
  if [ ! -x "$base_dir/bench-post" ]; then
    rm -rf "$base_dir" && mkdir -p "$base_dir/src"
    git -C "$root" archive "$base_rev" | tar -x -C "$base_dir/src"
    if meson setup "$base_dir/build" "$base_dir/src" --buildtype=release -Dtests=false \
        -Dexamples=false -Dbench=false >"$base_dir/setup.log" 2>&1 &&
       ninja -C "$base_dir/build" >"$base_dir/build.log" 2>&1; then
      cc -O2 -DIMPL='"libvow-base"' -I"$base_dir/src/include" "$here/bench-post.c" \
        -o "$base_dir/bench-post" -L"$base_dir/build/src" -lvow -lpthread \
        -Wl,-rpath,"$base_dir/build/src" || status=1
    else
      echo "post.sh: could not build libvow at $base_rev (see $base_dir)" >&2
      status=1
    fi
  fi
  [ -x "$base_dir/bench-post" ] && base_bin="$base_dir/bench-post"
else
  echo "post.sh: no commit $base_rev here: the baseline is skipped" >&2
fi

runs=()
[ -x "$bin/bench-post" ] && runs+=("$bin/bench-post $n") || { echo "post.sh: bench-post not built" >&2; status=1; }
[ -n "$base_bin" ] && runs+=("$base_bin $n")
[ -x "$bin/bench-uv-post" ] && runs+=("$bin/bench-uv-post $n" "$bin/bench-uv-post $n queue")
[ -x "$bin/bench-ev-post" ] && runs+=("$bin/bench-ev-post $n")

all=$(mktemp)
trap 'rm -f "$all"' EXIT
# Interleaved rounds, so a burst of load on the machine hits every program alike.
for _ in $(seq "$repeat"); do
  for r in "${runs[@]}"; do
    # shellcheck disable=SC2086
    $r >>"$all" || { echo "FAILED: $r" >&2; status=1; }
  done
done

echo "post-awake: medians of $repeat fresh processes each, load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$all" <<'PY'
import sys, statistics
rows = {}
order = []
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
    key = (kv["workload"], kv["impl"])
    if key not in rows:
        rows[key] = []
        order.append(key)
    rows[key].append(kv)
med = {}
for key in order:
    m = {f: statistics.median(float(r[f]) for r in rows[key])
         for f in ("ops_per_s", "ns_per_op", "cpu_ns_per_op")}
    med[key] = m
    print("workload=%s impl=%s runs=%d median_ops_per_s=%.0f median_ns_per_op=%.1f "
          "median_cpu_ns_per_op=%.1f" % (key[0], key[1], len(rows[key]), m["ops_per_s"],
                                          m["ns_per_op"], m["cpu_ns_per_op"]))
for w in ("post-awake-cold", "post-awake"):
    me = med.get((w, "libvow"))
    if not me:
        continue
    for peer in ("libvow-base", "libuv", "libuv+queue", "libev"):
        p = med.get((w, peer))
        if p:
            print("ratio workload=%s libvow/%s ops_per_s=%.2fx cpu_ns_per_op=%.2fx" % (
                w, peer, me["ops_per_s"] / p["ops_per_s"], me["cpu_ns_per_op"] / p["cpu_ns_per_op"]))
    target = "met" if me["cpu_ns_per_op"] < 50 else "missed"
    if w == "post-awake":
        print("target workload=post-awake cpu_ns_per_op=%.1f < 50: %s (wall ns_per_op=%.1f)" % (
            me["cpu_ns_per_op"], target, me["ns_per_op"]))
PY

# Syscalls: eventfd writes while posting to the awake loop.
if command -v strace >/dev/null; then
  for pair in "libvow:$bin/bench-post" ${base_bin:+"libvow-base:$base_bin"}; do
    b=${pair#*:}
    [ -x "$b" ] || continue
    out=$(mktemp)
    strace -f -qq -c -e trace=write -o "$out" "$b" 200000 >/dev/null 2>&1
    calls=$(awk '$NF == "write" { print $4 }' "$out")
    echo "syscalls workload=post-awake impl=${pair%%:*} posts=230000 write_calls=${calls:-0}"
    rm -f "$out"
  done
fi
exit $status
