#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian packages, end to end (test.sh --deb; as root on Debian 12, with
# `deps.sh deb`): copies the source tree to WORK, builds it with
# `dpkg-buildpackage -us -uc -b` (nocheck: test.sh's other stages run the suite),
# runs lintian on the result, installs the packages with dpkg -i, builds and runs the
# consumer programs against them with pkg-config (consume.sh system), then purges
# them again. Usage: deb.sh WORK. Prints TAP; exits non-zero on any failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
work=${1:?usage: deb.sh WORK}
n=0
bad=0

ok() {
  n=$((n + 1))
  if [ "$1" -eq 0 ]; then
    echo "ok $n - $2"
  else
    echo "not ok $n - $2"
    bad=$((bad + 1))
    [ -f "$work/last.log" ] && sed 's/^/# /' "$work/last.log" | tail -n 40
  fi
}

finish() {
  echo "1..$n"
  exit $((bad > 0))
}

if [ "$(id -u)" -ne 0 ]; then
  echo "deb.sh: dpkg -i needs root" >&2
  ok 1 "running as root"
  finish
fi
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
rm -rf "$work"
tree=$work/libvow-$version
mkdir -p "$tree"
# The working tree as it is (tracked and new files, not ignored ones: no build dirs).
(cd "$src" && git ls-files -z --cached --others --exclude-standard |
  xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' | tar --null -T - -cf -) |
  tar -xf - -C "$tree"
ok $? "source tree copied to $tree"

(cd "$tree" && DEB_BUILD_OPTIONS="nocheck parallel=${JOBS:-2}" \
  dpkg-buildpackage -us -uc -b) >"$work/last.log" 2>&1
ok $? "dpkg-buildpackage -us -uc -b"
debs=("$work"/*.deb)
changes=("$work"/*.changes)
pkgs=()
for d in "${debs[@]}"; do
  [ -f "$d" ] && pkgs+=("$(dpkg-deb -f "$d" Package)")
done
echo "# built: ${pkgs[*]}"
want=(libvow0 libvow-dev libvow-co0 libvow-uv0 libvow-uv-dev libvow-ev0 libvow-ev-dev
      libvow-event0 libvow-event-dev libvow-glib0 libvow-glib-dev)
missing=""
for p in "${want[@]}"; do
  printf '%s\n' "${pkgs[@]}" | grep -qx "$p" || missing+=" $p"
done
echo "# missing:${missing:- none}" >"$work/last.log"
ok "$([ -z "$missing" ] && echo 0 || echo 1)" "every package built (libvow0, libvow-dev, the adapters)"

# Lintian (as nobody: it refuses to be trusted with root): no error or warning beyond
# the overrides in debian/*.lintian-overrides, each of which says why. Informational
# tags are shown too: no-symbols-control-file is expected while the ABI is not
# declared stable (debian/rules, dh_makeshlibs -V).
runuser -u nobody -- lintian --fail-on error,warning -I "${changes[0]}" >"$work/last.log" 2>&1
ok $? "lintian: no errors or warnings"
sed 's/^/# /' "$work/last.log"

dpkg -i "${debs[@]}" >"$work/last.log" 2>&1
ok $? "dpkg -i of every package"
bash "$here/consume.sh" system >"$work/last.log" 2>&1
ok $? "the consumer programs build with pkg-config against the packages and run"
sed 's/^/# /' "$work/last.log"
dpkg --purge "${pkgs[@]}" >"$work/last.log" 2>&1
ok $? "dpkg --purge of every package"
left=$(dpkg-query -W -f='${Package} ${Status}\n' "${pkgs[@]}" 2>/dev/null | grep -c ' installed$')
[ -z "$(pkg-config --list-all | awk '$1 ~ /^vow(-|$)/')" ] && [ "$left" -eq 0 ]
ok $? "nothing of libvow left on the system"
finish
