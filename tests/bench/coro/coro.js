// SPDX-License-Identifier: MIT
// Node peer of bench-coro.c: N async functions, each computing (i % 7)^3, yielding
// once (await null: one trip through the microtask queue) and returning it, gathered
// with Promise.all; checks the checksum. With a batch size B, they run B at a time,
// each batch gathered before the next starts (workload coro_batch<B>).
// Usage: node coro.js [N] [B]
'use strict';
const bench = require('../bench.js');

// Also the peer of bench-scope.c (scope.js calls it with the workload name "scope").
function main(prefix, defaultN) {
  const n = bench.argN(2, defaultN);
  const batch = Math.min(bench.argN(3, n), n);
  const name = batch === n ? prefix : `${prefix}_batch${batch}`;
  let want = 0;
  for (let i = 0; i < n; i++) {
    const m = i % 7;
    want += m * m * m;
  }

  async function work(i) {
    const m = i % 7;
    const v = m * m * m;
    await null;
    return v;
  }

  async function gather(n) {
    let sum = 0;
    for (let first = 0; first < n; first += batch) {
      const k = Math.min(batch, n - first);
      const ps = new Array(k);
      for (let i = 0; i < k; i++) ps[i] = work(first + i);
      const rs = await Promise.all(ps);
      for (let i = 0; i < k; i++) sum += rs[i];
    }
    return sum === want;
  }

  bench.run(name, 'node', n, gather);
}

module.exports = main;
if (require.main === module) main('coro', 1000000);
