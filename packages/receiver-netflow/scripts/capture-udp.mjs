#!/usr/bin/env node
// Capture UDP datagrams sent to 127.0.0.1:<port> into <dir>/NNN.bin, one file per datagram.
// Used to record the softflowd fixtures under testdata/ (see testdata/NOTICE).
// Usage: node scripts/capture-udp.mjs <port> <dir> [idleMs=3000]
import { createSocket } from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [portArg, dir, idleArg] = process.argv.slice(2);
if (!portArg || !dir) {
  console.error('usage: capture-udp.mjs <port> <dir> [idleMs]');
  process.exitCode = 2;
} else {
  mkdirSync(dir, { recursive: true });
  const idleMs = Number(idleArg ?? 3000);
  const socket = createSocket('udp4');
  let n = 0;
  let timer;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => socket.close(() => console.log(`captured ${n} datagrams into ${dir}`)), idleMs);
  };
  socket.on('message', (msg, peer) => {
    writeFileSync(join(dir, `${String(n).padStart(3, '0')}.bin`), msg);
    console.log(`#${n} ${msg.length} bytes from ${peer.address}:${peer.port}`);
    n++;
    arm();
  });
  socket.bind(Number(portArg), '127.0.0.1', () => {
    console.log(`listening on 127.0.0.1:${socket.address().port}`);
    arm();
  });
}
