#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# The shared library exports exactly the functions its headers declare with VOW_API:
# nothing missing, nothing leaked. Usage: check-symbols.py LIB.so HEADER...
import re
import subprocess
import sys

lib, headers = sys.argv[1], sys.argv[2:]
declared = set()
for h in headers:
    text = open(h).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    for m in re.finditer(r"\bVOW_API\b([^;{]*?)\b(vow_\w+)\s*\(", text):
        declared.add(m.group(2))
out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                     check=True).stdout
exported = set()
for line in out.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in "TtDdBbRrWwVvi":
        exported.add(parts[2].split("@")[0])
exported = {s for s in exported if not s.startswith("_") or s.startswith("vow")}
missing = sorted(declared - exported)
leaked = sorted(exported - declared)
print("1..2")
print(("ok" if not missing else "not ok") + " 1 - every declared function is exported")
for s in missing:
    print("#   missing: " + s)
print(("ok" if not leaked else "not ok") + " 2 - nothing else is exported")
for s in leaked:
    print("#   leaked: " + s)
sys.exit(1 if missing or leaked else 0)
