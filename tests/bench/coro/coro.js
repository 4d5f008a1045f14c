// SPDX-License-Identifier: MIT
// Node peer of bench-coro.c: N async functions, each computing (i % 7)^3, yielding
// once (await null: one trip through the microtask queue) and returning it, gathered
// with Promise.all; checks the checksum. With a batch size B, they run B at a time,
// each batch gathered before the next starts (workload coro_batch<B>).
// Usage: node coro.js [N] [B]
'use strict';
const n = Number(process.argv[2]) > 0 ? Number(process.argv[2]) : 1000000;
let batch = Number(process.argv[3]) > 0 ? Number(process.argv[3]) : n;
if (batch > n) batch = n;
const name = batch === n ? 'coro' : `coro_batch${batch}`;

async function work(i) {
  const m = i % 7;
  const v = m * m * m;
  await null;
  return v;
}

async function main() {
  const t0 = process.hrtime.bigint();
  let sum = 0;
  for (let first = 0; first < n; first += batch) {
    const k = Math.min(batch, n - first);
    const ps = new Array(k);
    for (let i = 0; i < k; i++) ps[i] = work(first + i);
    const rs = await Promise.all(ps);
    for (let i = 0; i < k; i++) sum += rs[i];
  }
  const t1 = process.hrtime.bigint();
  let want = 0;
  for (let i = 0; i < n; i++) {
    const m = i % 7;
    want += m * m * m;
  }
  if (sum !== want) {
    console.error(`workload=${name}: FAILED: wrong checksum`);
    process.exit(1);
  }
  const s = Number(t1 - t0) / 1e9;
  const rss = process.resourceUsage().maxRSS;
  console.log(`workload=${name} impl=node n=${n} seconds=${s.toFixed(6)} ` +
              `ops_per_s=${Math.round(n / s)} peak_rss_kb=${rss}`);
}

main();
