#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# libvow as a user takes it: installed, or as a meson subproject. Usage:
#   consume.sh install WORK    meson setup/install (--destdir) into WORK, then every
#                              installed pkg-config file builds its consumer program
#                              against the installed tree, which runs
#   consume.sh system          the same consumers against the system's libvow
#                              (the Debian packages, test.sh --deb)
#   consume.sh subproject WORK a project of its own with libvow as a subproject
# The consumers: tests/install/consumer/core.c (vow), co.c (vow-co) and the hosts'
# examples/<host>_hello.c (vow-<host>). Prints TAP; exits non-zero on any failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
mode=${1:?usage: consume.sh install|system|subproject [WORK]}
work=${2:-}
CC=${CC:-cc}
n=0
bad=0

ok() {
  n=$((n + 1))
  if [ "$1" -eq 0 ]; then
    echo "ok $n - $2"
  else
    echo "not ok $n - $2"
    bad=$((bad + 1))
    [ -f "$work/last.log" ] && sed 's/^/# /' "$work/last.log" | tail -n 30
  fi
}

# The consumer program of a pkg-config module.
consumer_of() {
  case "$1" in
    vow) echo "$here/consumer/core.c" ;;
    vow-co) echo "$here/consumer/co.c" ;;
    vow-*) echo "$src/examples/${1#vow-}_hello.c" ;;
  esac
}

# build_run MODULE [static]: compiles MODULE's consumer with exactly what pkg-config
# says, then runs it. "static" links libvow.a instead of libvow.so, with the flags of
# pkg-config --static (Libs.private, Requires.private).
build_run() {
  local m=$1 how=${2:-} c exe libs
  c=$(consumer_of "$m")
  exe=$work/consumer-$m${how:+-$how}
  if [ "$how" = static ]; then
    libs=$(pkg-config --static --libs "$m" | sed 's/-lvow\b/-l:libvow.a/')
  else
    libs=$(pkg-config --libs "$m")
  fi
  # shellcheck disable=SC2046,SC2086
  if $CC -std=c11 -Wall -Wextra -Werror -pedantic -D_GNU_SOURCE $(pkg-config --cflags "$m") \
      -o "$exe" "$c" $libs >"$work/last.log" 2>&1; then
    "$exe" >"$work/last.log" 2>&1
  else
    return 1
  fi
}

# The installed libvow.so.0 (and libvow-co.so.0) loaded from Python with ctypes.
ctypes_test() {
  local d
  d=$(pkg-config --variable=libdir vow)
  python3 "$here/test-ctypes.py" "$d/libvow.so.0" "$d/libvow-co.so.0" >"$work/last.log" 2>&1
  ok $? "the installed libvow.so.0 and libvow-co.so.0 load in Python with ctypes and run"
}

case "$mode" in
install)
  [ -n "$work" ] || { echo "consume.sh install: WORK missing" >&2; exit 2; }
  rm -rf "$work"
  mkdir -p "$work"
  build=$work/build
  dest=$work/dest
  # Relocatable pkg-config files: the installed tree works from the destdir.
  meson setup "$build" "$src" --prefix=/usr -Dtests=false -Dexamples=false -Dbench=false \
    -Dpkgconfig.relocatable=true >"$work/last.log" 2>&1 &&
    ninja -C "$build" -j "${JOBS:-2}" >"$work/last.log" 2>&1
  ok $? "meson setup and build (libraries only)"
  meson install -C "$build" --destdir "$dest" --quiet >"$work/last.log" 2>&1
  ok $? "meson install --destdir"
  libdir=$(cd "$dest" && ls -d usr/lib/*/pkgconfig usr/lib/pkgconfig 2>/dev/null | head -n 1)
  libdir=$dest/${libdir%/pkgconfig}
  export PKG_CONFIG_PATH=$libdir/pkgconfig
  export LD_LIBRARY_PATH=$libdir
  # Every installed shared library has its pkg-config file, every public header is
  # installed.
  miss=""
  for so in "$libdir"/libvow*.so; do
    m=$(basename "$so" .so)
    m=${m#lib}
    [ -f "$libdir/pkgconfig/$m.pc" ] || miss+=" $m.pc"
  done
  for h in "$src"/include/vow.h "$src"/include/vow/*.h; do
    rel=${h#"$src"/include/}
    case "$rel" in vow/uv.h|vow/ev.h|vow/event.h|vow/glib.h)
      [ -f "$libdir/libvow-$(basename "$rel" .h).so" ] || continue ;;
    esac
    [ -f "$dest/usr/include/$rel" ] || miss+=" $rel"
  done
  echo "# missing:${miss:- nothing}" >"$work/last.log"
  ok "$([ -z "$miss" ] && echo 0 || echo 1)" "a pkg-config file for each library, every header installed"
  for pc in "$libdir"/pkgconfig/vow*.pc; do
    m=$(basename "$pc" .pc)
    build_run "$m"
    ok $? "$m: built with pkg-config against the installed tree, runs"
  done
  # The static library with pkg-config --static (Libs.private, Requires.private).
  build_run vow static
  ok $? "vow: linked statically with pkg-config --static, runs"
  ctypes_test
  ;;
system)
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  for m in $(pkg-config --list-all | awk '$1 ~ /^vow(-|$)/ { print $1 }' | sort); do
    build_run "$m"
    ok $? "$m: built with pkg-config against the system's libvow, runs"
  done
  [ $n -gt 0 ]
  ok $? "pkg-config knows libvow"
  ctypes_test
  ;;
subproject)
  [ -n "$work" ] || { echo "consume.sh subproject: WORK missing" >&2; exit 2; }
  rm -rf "$work"
  mkdir -p "$work/proj/subprojects"
  cp "$here/subproject/meson.build" "$here/consumer/core.c" "$here/consumer/co.c" \
    "$src"/examples/*_hello.c "$work/proj/"
  ln -s "$src" "$work/proj/subprojects/libvow"
  # force-fallback: the subproject even where libvow is installed on the system.
  meson setup "$work/build" "$work/proj" \
    --force-fallback-for=vow,vow-co,vow-uv,vow-ev,vow-event,vow-glib >"$work/last.log" 2>&1 &&
    ninja -C "$work/build" -j "${JOBS:-2}" >"$work/last.log" 2>&1
  ok $? "a project with libvow as a subproject configures and builds"
  meson test -C "$work/build" --no-rebuild >"$work/last.log" 2>&1
  ok $? "its programs run ($(grep -cE '^ *[0-9]+/[0-9]+ .* OK ' "$work/last.log") passed)"
  ;;
*)
  echo "consume.sh: unknown mode '$mode'" >&2
  exit 2
  ;;
esac
echo "1..$n"
exit $((bad > 0))
