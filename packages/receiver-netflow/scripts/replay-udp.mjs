#!/usr/bin/env node
// Send datagram files (one datagram per file, e.g. testdata/softflowd/v9/*.bin) to host:port over UDP.
// Usage: node scripts/replay-udp.mjs <host:port> <file>... ; defaults to 127.0.0.1 when only a port is given.
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';

const [target, ...files] = process.argv.slice(2);
if (!target || files.length === 0) {
  console.error('usage: replay-udp.mjs <[host:]port> <file>...');
  process.exitCode = 2;
} else {
  const i = target.lastIndexOf(':');
  const host = i > 0 ? target.slice(0, i).replace(/^\[|\]$/g, '') : '127.0.0.1';
  const port = Number(i > 0 ? target.slice(i + 1) : target);
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  for (const file of files) {
    await new Promise((resolve, reject) => socket.send(readFileSync(file), port, host, (err) => (err ? reject(err) : resolve(undefined))));
    await new Promise((r) => setTimeout(r, 20));
  }
  socket.close();
  console.log(`sent ${files.length} datagrams to ${host}:${port}`);
}
