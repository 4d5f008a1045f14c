// SPDX-License-Identifier: MIT
// Node peers of the libvow promise workloads, with native Promise:
//   node promise.js <chain_then|chain_await|fanout|timers> [N]
// Prints the line of tests/bench/bench.js (cold and warm runs) and exits non-zero if
// the result is wrong.
'use strict';
const bench = require('../bench.js');

const workloads = {
  // p = p.then(x => x + 1), N times, from one resolved promise.
  chain_then: ['chain', 'node_then', 1000000, async (n) => {
    let p = Promise.resolve(0);
    for (let i = 0; i < n; i++) p = p.then((x) => x + 1);
    return (await p) === n;
  }],
  // The same chain written as sequential awaits of resolved values.
  chain_await: ['chain', 'node_await', 1000000, async (n) => {
    let x = 0;
    for (let i = 0; i < n; i++) x = await (x + 1);
    return x === n;
  }],
  // Promise.all over N pending promises, each resolved with its index afterwards.
  fanout: ['fanout', 'node', 1000000, async (n) => {
    const resolvers = new Array(n);
    const ps = new Array(n);
    for (let i = 0; i < n; i++) ps[i] = new Promise((resolve) => { resolvers[i] = resolve; });
    const all = Promise.all(ps);
    for (let i = 0; i < n; i++) resolvers[i](i);
    const vals = await all;
    let sum = 0;
    for (const v of vals) sum += v;
    return vals.length === n && sum === (n * (n - 1)) / 2;
  }],
  // setTimeout with 0..10 ms wrapped in promises, all awaited with Promise.all.
  timers: ['timers', 'node', 200000, async (n) => {
    const ps = new Array(n);
    for (let i = 0; i < n; i++) ps[i] = new Promise((resolve) => setTimeout(resolve, i % 11, 1));
    const vals = await Promise.all(ps);
    let count = 0;
    for (const v of vals) count += v;
    return count === n;
  }],
};

const w = workloads[process.argv[2]];
if (!w) {
  console.error(`usage: node promise.js <${Object.keys(workloads).join('|')}> [N]`);
  process.exit(2);
}
bench.run(w[0], w[1], bench.argN(3, w[2]), w[3]);
