#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every exported function is documented: in the reference and in its header.

Usage: check-docs.py INCLUDE_DIR REFERENCE_DIR LIB.so...

The exported functions are what `nm -D` lists in the shared libraries given (libvow
and each adapter), as the version scripts let them out. For each one (one TAP case):

1. docs/reference/*.md names it (as a whole word);
2. its header declares it (VOW_API) under a doc comment: the comment right above
   it, which a run of declarations may share (no blank line between them), or a
   comment at the end of its line;
3. errors: a function returning int names its error results in that comment (a
   VOW_E* code, -errno or an -E* value) or says it "never fails";
4. results: a function returning a pointer says when it returns NULL (or "never
   NULL"); one returning a vow says whether it is a new reference or borrowed;
5. arguments: a function taking a vow (vow *, vow **; a const vow * is only read)
   says whether it borrows or consumes it.
For 4 and 5 a rule the header states once before its first declaration (such as
"every vow-returning call below returns a new reference") counts for every
function of that header; for 3 it does not: each function states its own errors.
"""
import os
import re
import subprocess
import sys

ERRORS = re.compile(r"VOW_E[A-Z]+|-errno|-E[A-Z]{2,}|never fails")
NULLS = re.compile(r"\bNULL\b")
VOW_RESULT = re.compile(r"new reference|borrowed|borrows", re.I)
VOW_ARG = re.compile(r"borrow|consume", re.I)


def exported(libs):
    names = {}
    for lib in libs:
        out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True,
                             text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TtWi":
                name = parts[2].split("@")[0]
                if name.startswith("vow_"):
                    names.setdefault(name, os.path.basename(lib))
    return names


class Decl:
    def __init__(self, header, name, ret, params, doc, preamble):
        self.header, self.name, self.ret, self.params = header, name, ret, params
        self.doc, self.preamble = doc, preamble


def comment_text(block):
    text = re.sub(r"^\s*/\*+|\*+/\s*$", "", block.strip())
    return " ".join(re.sub(r"^\s*\*\s?", "", l) for l in text.splitlines())


def parse_header(path, rel):
    """Declarations of a header with their doc comments and the header's preamble."""
    lines = open(path).read().split("\n")
    # Items by lines: a comment that starts a line (to its "*/"), a VOW_API
    # declaration (to its ";"), a blank line, or any other line (typedefs, struct
    # members, macros); a comment after code on a line belongs to that line.
    items = []  # [kind, text]
    i = 0
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if s.startswith("/*"):
            j = i
            while "*/" not in lines[j] and j + 1 < len(lines):
                j += 1
            items.append(["comment", "\n".join(lines[i:j + 1])])
            i = j + 1
        elif s.startswith("VOW_API"):
            j = i
            while ";" not in re.sub(r"/\*.*?\*/", "", lines[j]) and j + 1 < len(lines):
                j += 1
            items.append(["decl", "\n".join(lines[i:j + 1])])
            i = j + 1
        else:
            items.append(["blank" if not s else "line", line])
            i += 1
    first_decl = next((k for k, it in enumerate(items) if it[0] == "decl"), len(items))
    preamble = " ".join(comment_text(t) for k, t in items[:first_decl] if k == "comment")
    decls = []
    for k, (kind, text) in enumerate(items):
        if kind != "decl":
            continue
        code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        m = re.match(r"\s*VOW_API\s+(.*?)\b(vow_\w+)\s*\((.*)\)\s*;", code, re.S)
        if not m:
            continue
        ret, name, params = m.group(1).strip(), m.group(2), m.group(3)
        doc = [comment_text(c) for c in re.findall(r"/\*.*?\*/", text, re.S)]
        # Up over declarations and other code (no blank line) to the nearest comment
        # that starts a line: a run of declarations shares the comment above it.
        j = k - 1
        while j >= 0 and items[j][0] in ("decl", "line"):
            j -= 1
        if j >= 0 and items[j][0] == "comment":
            doc.append(comment_text(items[j][1]))
        decls.append(Decl(rel, name, ret, params, " ".join(doc), preamble))
    return decls


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: check-docs.py INCLUDE_DIR REFERENCE_DIR LIB.so...")
    include, reference, libs = sys.argv[1], sys.argv[2], sys.argv[3:]
    names = exported(libs)
    decls = {}
    for root, _, files in os.walk(include):
        for f in sorted(files):
            if f.endswith(".h"):
                path = os.path.join(root, f)
                for d in parse_header(path, os.path.relpath(path, include)):
                    decls.setdefault(d.name, d)
    ref = ""
    for f in sorted(os.listdir(reference)):
        if f.endswith(".md"):
            ref += open(os.path.join(reference, f)).read()
    n = bad = 0
    print("1..%d" % len(names))
    for name in sorted(names):
        n += 1
        problems = []
        if not re.search(r"(?<![\w])" + re.escape(name) + r"(?![\w])", ref):
            problems.append("not named in docs/reference/*.md")
        d = decls.get(name)
        if d is None:
            problems.append("no VOW_API declaration in include/")
        elif not d.doc.strip():
            problems.append("no doc comment in %s" % d.header)
        else:
            ret = re.sub(r"\s+", " ", d.ret)
            both = d.doc + " " + d.preamble
            if re.fullmatch(r"(const )?int", ret) and not ERRORS.search(d.doc):
                problems.append("returns int but its comment names no error (VOW_E*, "
                                "-errno) and does not say it never fails")
            if ret.endswith("*"):
                if not NULLS.search(both):
                    problems.append("returns a pointer but says nothing of NULL")
                if re.fullmatch(r"(const )?vow \*", ret) and not VOW_RESULT.search(both):
                    problems.append("returns a vow without saying new reference or borrowed")
            params = re.sub(r"\s+", " ", d.params)
            if re.search(r"\bvow \*", params.replace("const vow *", "")):
                if not VOW_ARG.search(both):
                    problems.append("takes a vow without saying it borrows or consumes it")
        if problems:
            bad += 1
            print("not ok %d - %s (%s)" % (n, name, names[name]))
            for p in problems:
                print("#   %s" % p)
        else:
            print("ok %d - %s" % (n, name))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
