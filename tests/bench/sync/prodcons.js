// SPDX-License-Identifier: MIT
// Node peer of bench-sync.c's prodcons: a bounded async queue on promises (capacity
// 64, FIFO waiters, close), a producer async function sending N numbers and a
// consumer summing them; checks the sum. Two idioms, like the C side:
//   node_await  every put/get is awaited (async methods);
//   node_try    tryPut/tryGet first, awaiting a promise only when it would wait.
// One impl per process; tests/bench/bench.js times the cold run apart from a warm one.
// Usage: node prodcons.js node_await|node_try [N]
'use strict';
const bench = require('../bench.js');
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
  return (await consumer) === (n * (n - 1)) / 2;
}

async function runTry(n) {
  const q = new AsyncQueue(CAP);
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
  return (await consumer) === (n * (n - 1)) / 2;
}

const impls = { node_await: runAwait, node_try: runTry };
const impl = process.argv[2];
if (!impls[impl]) {
  console.error('usage: node prodcons.js node_await|node_try [N]');
  process.exit(2);
}
bench.run('prodcons', impl, bench.argN(3, 1000000), impls[impl]);
