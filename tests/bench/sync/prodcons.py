# SPDX-License-Identifier: MIT
# asyncio peer of bench-sync.c's prodcons: a producer task puts N numbers into an
# asyncio.Queue(maxsize=64), a consumer task gets and sums them (a None sentinel ends
# it: asyncio.Queue has no close before Python 3.13); checks the sum. Runs once cold,
# then WARM times; the warm line is the median.
# Usage: python3 prodcons.py [N] [WARM]
import asyncio
import resource
import statistics
import sys
import time

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
    t0 = time.monotonic()
    c = asyncio.ensure_future(consumer(q))
    await producer(q, n)
    s = await c
    t1 = time.monotonic()
    if s != n * (n - 1) // 2:
        print("workload=prodcons: FAILED: wrong sum", file=sys.stderr)
        sys.exit(1)
    return t1 - t0


def report(phase, n, s):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"workload=prodcons impl=asyncio phase={phase} n={n} seconds={s:.6f} "
          f"ops_per_s={n / s:.0f} ns_per_op={s / n * 1e9:.1f} peak_rss_kb={rss}", flush=True)


async def main(n, warm):
    report("cold", n, await once(n))
    ts = [await once(n) for _ in range(warm)]
    if ts:
        report("warm", n, statistics.median_low(ts))


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 and int(sys.argv[1]) > 0 else 200000
    warm = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    asyncio.run(main(n, warm))
