#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs (as root, with apt-get) the Debian 12 packages that libvow's build, tests,
# benchmarks and the Debian packaging need, skipping those already present.
# Usage: deps.sh [build|test|bench|deb]
set -euo pipefail
what=${1:-test}
pkgs=(meson ninja-build pkg-config gcc libjemalloc-dev libcmocka-dev
      libuv1-dev libev-dev libevent-dev libglib2.0-dev)
case "$what" in
  # libclang-rt-14-dev holds clang 14's sanitizer and libFuzzer runtimes on Debian 12.
  test)  pkgs+=(clang libclang-rt-14-dev valgrind lcov python3) ;;
  bench) pkgs+=(libboost-context-dev nodejs python3 valgrind) ;;
  # test.sh --deb: dpkg-buildpackage, debhelper's dh with the meson build system, lintian.
  deb)   pkgs+=(dpkg-dev debhelper fakeroot lintian python3) ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "deps.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
