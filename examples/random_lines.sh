#!/bin/sh
# SPDX-License-Identifier: MIT
# A child of examples/random_lines: prints a random number (0..65535) at random
# intervals of 0.1 to 0.9 s, forever. The parent stops it by signalling its process
# group, which also reaches the `sleep` it may be waiting for.
while :; do
    n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    echo "$n"
    sleep "0.$((n % 9 + 1))"
done
