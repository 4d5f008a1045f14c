# SPDX-License-Identifier: MIT
# asyncio peer of bench-coro.c: N tasks, each computing (i % 7)^3, yielding once
# (asyncio.sleep(0)) and returning it, gathered; checks the checksum. With a batch
# size B they run B at a time, each batch gathered before the next (coro_batch<B>).
# One event loop runs the cold, warm-up and warm runs (tests/bench/bench.py).
# Usage: python3 coro.py [N] [B]
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bench  # noqa: E402


async def work(i):
    m = i % 7
    v = m * m * m
    await asyncio.sleep(0)
    return v


def main():
    n = bench.arg_n(1, 1000000)
    batch = min(bench.arg_n(2, n), n)
    name = "coro" if batch == n else f"coro_batch{batch}"
    want = sum((i % 7) ** 3 for i in range(n))

    async def coro(n):
        total = 0
        for first in range(0, n, batch):
            k = min(batch, n - first)
            rs = await asyncio.gather(*[work(first + i) for i in range(k)])
            if len(rs) != k:
                return False
            total += sum(rs)
        return total == want

    asyncio.run(bench.run(name, "asyncio", n, coro))


if __name__ == "__main__":
    main()
