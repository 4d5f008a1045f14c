// SPDX-License-Identifier: MIT
// Node peer of bench-scope.c: the same program as coro.js (N async functions, each
// computing (i % 7)^3, yielding once and returning it, gathered with Promise.all,
// checksum checked; with a batch size B, B at a time: workload scope_batch<B>).
// Usage: node scope.js [N] [B]
'use strict';
require('../coro/coro.js')('scope', 20000);
