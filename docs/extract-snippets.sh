#!/bin/sh
# SPDX-License-Identifier: MIT
# Guide snippets are quoted verbatim from marked regions of an example:
#   /* guide:NAME-begin */ ... /* guide:NAME-end */
#   extract-snippets.sh SOURCE NAME        prints region NAME of SOURCE
#   extract-snippets.sh --check GUIDE SOURCE...
#     every "<!-- snippet: NAME -->" line in GUIDE must be followed by a ```c block
#     identical to region NAME of the first SOURCE that has it; prints TAP, exits 1
#     on any difference.
set -eu

region() {
    awk -v name="$2" '
        $0 ~ "/\\* guide:" name "-end \\*/" { inside = 0; found = 1 }
        inside { print }
        $0 ~ "/\\* guide:" name "-begin \\*/" { inside = 1 }
        END { if (!found) exit 3 }
    ' "$1"
}

block() {
    awk -v name="$2" '
        want && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }
        $0 == "<!-- snippet: " name " -->" { want = 1 }
    ' "$1"
}

if [ "${1:-}" != "--check" ]; then
    region "$1" "$2"
    exit $?
fi
guide=$2
shift 2
names=$(sed -n 's/^<!-- snippet: \([a-z0-9-]*\) -->$/\1/p' "$guide")
count=$(printf '%s\n' "$names" | grep -c . || true)
echo "1..$count"
i=0
fail=0
tmp=${TMPDIR:-/tmp}/extract-snippets.$$
trap 'rm -f "$tmp".a "$tmp".b' EXIT
for n in $names; do
    i=$((i + 1))
    source=
    for s in "$@"; do
        if region "$s" "$n" >"$tmp.a"; then
            source=$s
            break
        fi
    done
    if [ -n "$source" ] && block "$guide" "$n" >"$tmp.b" &&
        [ -s "$tmp.a" ] && cmp -s "$tmp.a" "$tmp.b"; then
        echo "ok $i - snippet $n"
    else
        echo "not ok $i - snippet $n differs from ${source:-every source}"
        diff "$tmp.a" "$tmp.b" | sed 's/^/# /' || true
        fail=1
    fi
done
[ "$count" -gt 0 ] || { echo "not ok 1 - no snippets found"; exit 1; }
exit $fail
