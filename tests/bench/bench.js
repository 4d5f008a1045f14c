// SPDX-License-Identifier: MIT
// Shared by the Node peers: times a workload's first run in the process (cold) apart
// from a later one (warm, after BENCH_WARMUPS untimed runs, default 1) and prints the
// line tests/bench/common.sh summarises, as tests/bench/bench.h does for C:
//   workload=W impl=I n=N cold_s=C warm_s=W peak_rss_kib=K bytes_per_op=B
// fn(n) is one whole run (create, run, release) and resolves to true when its result
// is right; a wrong result exits non-zero.
'use strict';

function argN(i, def) {
  const v = parseInt(process.argv[i] || '', 10);
  return v > 0 ? v : def;
}

function fail(workload, what) {
  console.error(`workload=${workload}: FAILED: ${what}`);
  process.exit(1);
}

async function timed(fn, n) {
  const t0 = process.hrtime.bigint();
  const ok = await fn(n);
  return { ok, s: Number(process.hrtime.bigint() - t0) / 1e9 };
}

async function run(workload, impl, n, fn) {
  const w = parseInt(process.env.BENCH_WARMUPS || '1', 10);
  const warmups = w >= 0 ? Math.min(w, 100) : 1;
  const base = process.memoryUsage.rss() / 1024;
  const cold = await timed(fn, n);
  if (!cold.ok) fail(workload, 'wrong result (cold run)');
  const peak = process.resourceUsage().maxRSS;
  for (let i = 0; i < warmups; i++) if (!(await fn(n))) fail(workload, 'wrong result (warm-up)');
  const warm = await timed(fn, n);
  if (!warm.ok) fail(workload, 'wrong result (warm run)');
  const perOp = peak > base ? ((peak - base) * 1024) / n : 0;
  console.log(`workload=${workload} impl=${impl} n=${n} cold_s=${cold.s.toFixed(6)} ` +
              `warm_s=${warm.s.toFixed(6)} peak_rss_kib=${peak} bytes_per_op=${perOp.toFixed(1)}`);
}

module.exports = { argN, fail, run };
