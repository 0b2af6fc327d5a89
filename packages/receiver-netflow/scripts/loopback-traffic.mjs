#!/usr/bin/env node
// Generate a little loopback traffic for softflowd to observe: HTTP over IPv4 and
// IPv6, UDP datagrams to bound ports, and UDP to a closed port (the kernel answers
// with ICMP port unreachable). Everything stays on 127.0.0.1 / ::1.
// Usage: node scripts/loopback-traffic.mjs [httpPort=18080] [rounds=12]
import { createSocket } from 'node:dgram';
import { createServer, get } from 'node:http';

const httpPort = Number(process.argv[2] ?? 18080);
const rounds = Number(process.argv[3] ?? 12);
const server = createServer((req, res) => {
  const n = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('n') ?? 100);
  res.end('x'.repeat(n));
});
await new Promise((resolve) => server.listen(httpPort, '::', () => resolve(undefined)));
const fetchOnce = (host, n) =>
  new Promise((resolve, reject) => {
    get(`http://${host}:${httpPort}/?n=${n}`, { agent: false }, (res) => {
      res.resume();
      res.on('end', resolve);
    }).on('error', reject);
  });
for (let i = 0; i < rounds; i++) {
  await fetchOnce('127.0.0.1', 200 + i * 250);
  if (i % 2 === 0) await fetchOnce('[::1]', 1000 + i * 500);
}
const send = (family, address, port, size) =>
  new Promise((resolve) => {
    const s = createSocket(family);
    s.on('error', () => {});
    s.send(Buffer.alloc(size), port, address, () => setTimeout(() => s.close(() => resolve(undefined)), 20));
  });
const sink4 = createSocket('udp4');
const sink6 = createSocket('udp6');
await new Promise((r) => sink4.bind(15353, '127.0.0.1', () => r(undefined)));
await new Promise((r) => sink6.bind(15354, '::1', () => r(undefined)));
for (let i = 0; i < 4; i++) await send('udp4', '127.0.0.1', 15353, 100 + i);
for (let i = 0; i < 2; i++) await send('udp6', '::1', 15354, 64);
await send('udp4', '127.0.0.1', 9, 32); // closed port: ICMP port unreachable
await send('udp6', '::1', 9, 32); // closed port: ICMPv6 port unreachable
sink4.close();
sink6.close();
server.close();
