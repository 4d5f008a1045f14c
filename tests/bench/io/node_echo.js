// SPDX-License-Identifier: MIT
// The Node peer of the echo benchmark: net echo server on 127.0.0.1, port 0; prints
// "port=N" and runs until killed. pipe() gives it the same backpressure as the others.
'use strict';
const net = require('net');
const server = net.createServer((s) => {
  s.setNoDelay(true);
  s.on('error', () => s.destroy());
  s.pipe(s);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`port=${server.address().port}\n`);
});
