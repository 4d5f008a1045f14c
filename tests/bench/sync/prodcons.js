// SPDX-License-Identifier: MIT
// Node peer of bench-sync.c's prodcons: a bounded async queue on promises (capacity
// 64, FIFO waiters, close), a producer async function sending N numbers and a
// consumer summing them; checks the sum. Two idioms, like the C side:
//   node_await  every put/get is awaited (async methods);
//   node_try    tryPut/tryGet first, awaiting a promise only when it would wait.
// Runs each once cold, then WARM times; the warm line is the median.
// Usage: node prodcons.js [N] [WARM]
'use strict';
const CAP = 64;
const EMPTY = Symbol('empty');
const CLOSED = Symbol('closed');

class AsyncQueue {
  constructor(cap) {
    this.cap = cap;
    this.buf = new Array(cap);
    this.head = 0;
    this.len = 0;
    this.closed = false;
    this.getters = []; // resolve functions of waiting gets
    this.putters = []; // resolve functions of waiting puts
  }
  tryPut(v) {
    if (this.closed) throw new Error('closed');
    if (this.getters.length) {
      this.getters.shift()(v);
      return true;
    }
    if (this.len === this.cap) return false;
    this.buf[(this.head + this.len) % this.cap] = v;
    this.len++;
    return true;
  }
  tryGet() {
    if (this.len) {
      const v = this.buf[this.head];
      this.head = (this.head + 1) % this.cap;
      this.len--;
      if (this.putters.length) this.putters.shift()();
      return v;
    }
    return this.closed ? CLOSED : EMPTY;
  }
  async put(v) {
    while (!this.tryPut(v)) await new Promise((r) => this.putters.push(r));
  }
  async get() {
    for (;;) {
      const v = this.tryGet();
      if (v !== EMPTY) return v;
      const got = await new Promise((r) => this.getters.push(r));
      if (got !== EMPTY) return got;
    }
  }
  close() {
    this.closed = true;
    for (const g of this.getters.splice(0)) g(EMPTY);
  }
}

async function runAwait(n) {
  const q = new AsyncQueue(CAP);
  const t0 = process.hrtime.bigint();
  const consumer = (async () => {
    let s = 0;
    for (;;) {
      const v = await q.get();
      if (v === CLOSED) return s;
      s += v;
    }
  })();
  for (let i = 0; i < n; i++) await q.put(i);
  q.close();
  const s = await consumer;
  const t1 = process.hrtime.bigint();
  check(s, n);
  return Number(t1 - t0) / 1e9;
}

async function runTry(n) {
  const q = new AsyncQueue(CAP);
  const t0 = process.hrtime.bigint();
  const consumer = (async () => {
    let s = 0;
    for (;;) {
      let v = q.tryGet();
      if (v === EMPTY) v = await q.get();
      if (v === CLOSED) return s;
      s += v;
    }
  })();
  for (let i = 0; i < n; i++) if (!q.tryPut(i)) await q.put(i);
  q.close();
  const s = await consumer;
  const t1 = process.hrtime.bigint();
  check(s, n);
  return Number(t1 - t0) / 1e9;
}

function check(s, n) {
  if (s !== (n * (n - 1)) / 2) {
    console.error('workload=prodcons: FAILED: wrong sum');
    process.exit(1);
  }
}

function report(impl, phase, n, s) {
  const rss = process.resourceUsage().maxRSS;
  console.log(`workload=prodcons impl=${impl} phase=${phase} n=${n} seconds=${s.toFixed(6)} ` +
              `ops_per_s=${Math.round(n / s)} ns_per_op=${(s / n * 1e9).toFixed(1)} peak_rss_kb=${rss}`);
}

async function measure(impl, fn, n, warm) {
  report(impl, 'cold', n, await fn(n));
  const ts = [];
  for (let i = 0; i < warm; i++) ts.push(await fn(n));
  ts.sort((a, b) => a - b);
  if (ts.length) report(impl, 'warm', n, ts[Math.floor(ts.length / 2)]);
}

async function main() {
  const n = Number(process.argv[2]) > 0 ? Number(process.argv[2]) : 2000000;
  const warm = process.argv[3] !== undefined ? Number(process.argv[3]) : 5;
  await measure('node_await', runAwait, n, warm);
  await measure('node_try', runTry, n, warm);
}

main();
