#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds libvow and runs the whole test suite; ends with one line "N passed, N failed"
# counting every TAP test case (and every non-TAP test program) of the run.
set -uo pipefail
cd "$(dirname "$0")"
bash ./deps.sh test || exit 1
build=${BUILD_DIR:-build-test}
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Dwerror=true >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C "$build" || { echo "0 passed, 1 failed"; exit 1; }
meson test -C "$build" --print-errorlogs --num-processes 2 "$@"
status=$?
python3 - "$build/meson-logs/testlog.json" <<'PY'
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
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
PY
py=$?
[ $status -eq 0 ] && [ $py -eq 0 ]
