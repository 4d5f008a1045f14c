# SPDX-License-Identifier: MIT
# asyncio peer of bench-coro.c: N tasks, each computing (i % 7)^3, yielding once
# (asyncio.sleep(0)) and returning it, gathered; checks the checksum. With a batch
# size B they run B at a time, each batch gathered before the next (coro_batch<B>).
# Usage: python3 coro.py [N] [B]
import asyncio
import resource
import sys
import time


async def work(i):
    m = i % 7
    v = m * m * m
    await asyncio.sleep(0)
    return v


async def main(n, batch):
    name = "coro" if batch == n else f"coro_batch{batch}"
    t0 = time.monotonic()
    total = 0
    for first in range(0, n, batch):
        k = min(batch, n - first)
        rs = await asyncio.gather(*[work(first + i) for i in range(k)])
        if len(rs) != k:
            print(f"workload={name}: FAILED: wrong length", file=sys.stderr)
            sys.exit(1)
        total += sum(rs)
    t1 = time.monotonic()
    want = sum((i % 7) ** 3 for i in range(n))
    if total != want:
        print(f"workload={name}: FAILED: wrong checksum", file=sys.stderr)
        sys.exit(1)
    s = t1 - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"workload={name} impl=asyncio n={n} seconds={s:.6f} "
          f"ops_per_s={n / s:.0f} peak_rss_kb={rss}", flush=True)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 and int(sys.argv[1]) > 0 else 200000
    b = int(sys.argv[2]) if len(sys.argv) > 2 and int(sys.argv[2]) > 0 else n
    asyncio.run(main(n, min(b, n)))
