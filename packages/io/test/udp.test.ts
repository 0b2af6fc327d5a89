import { createSocket } from 'node:dgram';
import { Telemetry } from '@outflow/core';
import { describe, expect, it } from 'vitest';
import { type TransportError, UdpListener, udpSchema } from '../src/index.js';
import { waitUntil } from './helpers.js';

function sendFrom(port: number, payloads: (string | Buffer)[], host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.bind(0, host, () => {
      const local = socket.address().port;
      let left = payloads.length;
      for (const p of payloads) {
        socket.send(p, port, host, (err) => {
          if (err) reject(err);
          if (--left === 0) {
            socket.close();
            resolve(local);
          }
        });
      }
    });
  });
}

describe('UdpListener', () => {
  it('hands each real datagram to onDatagram with its peer; counts oversize and failing ones and reports them', async () => {
    const got: { msg: string; peer: { address: string; port: number } }[] = [];
    const errors: TransportError[] = [];
    const telemetry = new Telemetry();
    const listener = new UdpListener(
      udpSchema.parse({ maxDatagramBytes: 1000, receiveBufferBytes: 1 << 20 }),
      (msg, peer) => {
        if (msg.toString() === 'fail') throw new Error('cannot decode');
        got.push({ msg: msg.toString(), peer });
      },
      { metrics: telemetry.forComponent('udp'), onError: (e) => errors.push(e) },
    );
    const { port } = await listener.start();
    expect(listener.address()).toEqual({ port });
    try {
      const from = await sendFrom(port, ['one', 'two', Buffer.alloc(1001, 'x'), 'fail', Buffer.alloc(1000, 'y')]);
      await waitUntil(() => got.length === 3 && errors.length === 2);
      expect(got.map((g) => g.msg.slice(0, 3))).toEqual(['one', 'two', 'yyy']);
      expect(got[0]?.peer).toEqual({ address: '127.0.0.1', port: from });
      expect(errors.map((e) => [e.reason, (e.raw as Uint8Array).length, e.location])).toEqual([
        ['datagram_too_large', 1000, `udp://127.0.0.1:${from}`],
        ['handler_exception', 4, `udp://127.0.0.1:${from}`],
      ]);
      expect(telemetry.total('received', { component: 'udp' })).toBe(3);
      expect(telemetry.total('dropped', { reason: 'datagram_too_large' })).toBe(1);
      expect(telemetry.total('dropped', { reason: 'handler_exception' })).toBe(1);
    } finally {
      await Promise.all([listener.stop(), listener.stop()]);
    }
  });

  it('listens on IPv6 loopback', async () => {
    const got: string[] = [];
    const listener = new UdpListener(udpSchema.parse({ host: '::1' }), (msg, peer) => got.push(`${peer.address}:${msg}`));
    let port: number;
    try {
      ({ port } = await listener.start());
    } catch {
      return; // no IPv6 on this machine
    }
    try {
      await sendFrom(port, ['v6'], '::1');
      await waitUntil(() => got.length === 1);
      expect(got).toEqual(['::1:v6']);
    } finally {
      await listener.stop();
    }
  });

  it('start rejects when the port is taken; stop is idempotent and safe before start', async () => {
    const first = new UdpListener(udpSchema.parse({}), () => {});
    const { port } = await first.start();
    const second = new UdpListener(udpSchema.parse({ port }), () => {});
    await expect(second.start()).rejects.toThrow(/EADDRINUSE/);
    await second.stop();
    await first.stop();
    const never = new UdpListener(udpSchema.parse({}), () => {});
    await never.stop();
    await never.stop();
  });

  it('schema defaults and limits', () => {
    expect(udpSchema.parse({})).toEqual({ host: '127.0.0.1', port: 0, maxDatagramBytes: 65535 });
    const bad = udpSchema.safeParse({ port: -1, maxDatagramBytes: 70000, extra: true });
    expect(bad.error?.issues.map((i) => i.path.join('.') || '(root)').sort()).toEqual(['(root)', 'maxDatagramBytes', 'port']);
  });
});
