// SPDX-License-Identifier: MIT
// Node peers of the libvow promise workloads, with native Promise:
//   node promise.js <chain_then|chain_await|fanout|timers> [N]
// Prints one line like the C benchmarks and exits non-zero if the result is wrong.
'use strict';

const workloads = {
  // p = p.then(x => x + 1), N times, from one resolved promise.
  async chain_then(n) {
    let p = Promise.resolve(0);
    for (let i = 0; i < n; i++) p = p.then((x) => x + 1);
    return { name: 'chain', impl: 'node_then', ok: (await p) === n };
  },
  // The same chain written as sequential awaits of resolved values.
  async chain_await(n) {
    let x = 0;
    for (let i = 0; i < n; i++) x = await (x + 1);
    return { name: 'chain', impl: 'node_await', ok: x === n };
  },
  // Promise.all over N pending promises, each resolved with its index afterwards.
  async fanout(n) {
    const resolvers = new Array(n);
    const ps = new Array(n);
    for (let i = 0; i < n; i++) ps[i] = new Promise((resolve) => { resolvers[i] = resolve; });
    const all = Promise.all(ps);
    for (let i = 0; i < n; i++) resolvers[i](i);
    const vals = await all;
    let sum = 0;
    for (const v of vals) sum += v;
    return { name: 'fanout', impl: 'node', ok: vals.length === n && sum === (n * (n - 1)) / 2 };
  },
  // setTimeout with 0..10 ms wrapped in promises, all awaited with Promise.all.
  async timers(n) {
    const ps = new Array(n);
    for (let i = 0; i < n; i++) ps[i] = new Promise((resolve) => setTimeout(resolve, i % 11, 1));
    const vals = await Promise.all(ps);
    let count = 0;
    for (const v of vals) count += v;
    return { name: 'timers', impl: 'node', ok: count === n };
  },
};

const defaults = { chain_then: 1000000, chain_await: 1000000, fanout: 1000000, timers: 200000 };

async function main() {
  const which = process.argv[2];
  if (!workloads[which]) {
    console.error(`usage: node promise.js <${Object.keys(workloads).join('|')}> [N]`);
    process.exit(2);
  }
  const arg = parseInt(process.argv[3] || '', 10);
  const n = arg > 0 ? arg : defaults[which];
  const t0 = process.hrtime.bigint();
  const r = await workloads[which](n);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (!r.ok) {
    console.error(`workload=${r.name} impl=${r.impl}: FAILED: wrong result`);
    process.exit(1);
  }
  const rss = process.resourceUsage().maxRSS;
  console.log(`workload=${r.name} impl=${r.impl} n=${n} seconds=${seconds.toFixed(6)} ` +
              `ops_per_s=${Math.round(n / seconds)} peak_rss_kb=${rss}`);
}

main();
