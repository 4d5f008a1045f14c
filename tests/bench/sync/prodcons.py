# SPDX-License-Identifier: MIT
# asyncio peer of bench-sync.c's prodcons: a producer task puts N numbers into an
# asyncio.Queue(maxsize=64), a consumer task gets and sums them (a None sentinel ends
# it: asyncio.Queue has no close before Python 3.13); checks the sum. asyncio's
# put/get never suspend when they need not, like libvow's try idiom. One event loop
# runs the cold, warm-up and warm runs (tests/bench/bench.py).
# Usage: python3 prodcons.py [N]
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bench  # noqa: E402

CAP = 64


async def producer(q, n):
    for i in range(n):
        await q.put(i)
    await q.put(None)


async def consumer(q):
    s = 0
    while True:
        v = await q.get()
        if v is None:
            return s
        s += v


async def once(n):
    q = asyncio.Queue(maxsize=CAP)
    c = asyncio.ensure_future(consumer(q))
    await producer(q, n)
    return await c == n * (n - 1) // 2


if __name__ == "__main__":
    asyncio.run(bench.run("prodcons", "asyncio", bench.arg_n(1, 1000000), once))
