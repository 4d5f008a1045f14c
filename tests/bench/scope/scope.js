// SPDX-License-Identifier: MIT
// Node peer of bench-scope.c: N async functions, each computing (i % 7)^3, yielding
// once (await null) and returning it, gathered with Promise.all; checks the checksum.
// With a batch size B they run B at a time (workload scope_batch<B>). R rounds in one
// process: the first is reported as <workload>_cold, the median of the others as
// <workload>_warm. Usage: node scope.js [N] [R] [B]
'use strict';
const n = Number(process.argv[2]) > 0 ? Number(process.argv[2]) : 20000;
const rounds = Number(process.argv[3]) >= 2 ? Number(process.argv[3]) : 6;
let batch = Number(process.argv[4]) > 0 ? Number(process.argv[4]) : n;
if (batch > n) batch = n;
const name = batch === n ? 'scope' : `scope_batch${batch}`;

async function work(i) {
  const m = i % 7;
  const v = m * m * m;
  await null;
  return v;
}

async function round() {
  let sum = 0;
  for (let first = 0; first < n; first += batch) {
    const k = Math.min(batch, n - first);
    const ps = new Array(k);
    for (let i = 0; i < k; i++) ps[i] = work(first + i);
    const rs = await Promise.all(ps);
    for (let i = 0; i < k; i++) sum += rs[i];
  }
  return sum;
}

function report(workload, s) {
  const rss = process.resourceUsage().maxRSS;
  console.log(`workload=${workload} impl=node n=${n} seconds=${s.toFixed(6)} ` +
              `ops_per_s=${Math.round(n / s)} peak_rss_kb=${rss}`);
}

async function main() {
  let want = 0;
  for (let i = 0; i < n; i++) {
    const m = i % 7;
    want += m * m * m;
  }
  const t = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    const sum = await round();
    t.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (sum !== want) {
      console.error(`workload=${name}: FAILED: wrong checksum`);
      process.exit(1);
    }
  }
  report(`${name}_cold`, t[0]);
  const warm = t.slice(1).sort((a, b) => a - b);
  report(`${name}_warm`, warm[Math.floor((warm.length - 1) / 2)]);
}

main();
