import { createSocket } from 'node:dgram';
import { ConfigError, type NetworkFlowEvent } from '@outflow/core';
import { encodeIpfix } from '@outflow/receiver-netflow';
import { createTestContext, createTestHost, receiverConformance } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { describe, expect, it } from 'vitest';
import { type LabFlowReceiver, labNetflow } from '../src/flows.js';

function send(datagram: Uint8Array, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.send(datagram, port, '127.0.0.1', (err) => {
      socket.close();
      if (err) reject(err);
      else resolve();
    });
  });
}

const port = (config: unknown) => (config as { netflow: { udp: { port: number } } }).netflow.udp.port;
const flow = { src: '10.244.0.13', dst: '203.0.113.66', srcPort: 40000, dstPort: 4444, protocol: 6, bytes: 24_000_000, packets: 900 };

defineConformanceTests(
  'lab_netflow receiver conformance',
  receiverConformance({
    factory: labNetflow,
    config: async (env) => ({ netflow: { udp: { port: await env.freePort() } } }),
    sendValid: async (_env, config) => send(encodeIpfix([flow]), port(config)),
    sendInvalid: async (_env, config) => send(new Uint8Array([0, 10, 0, 3, 1]), port(config)),
  }),
);

async function start(config: unknown) {
  const ctx = createTestContext({ name: 'netflow', type: 'lab_netflow', kind: 'receiver' });
  const receiver = labNetflow.create(ctx, labNetflow.validate(config)) as LabFlowReceiver;
  const host = createTestHost({ ctx });
  await receiver.start(host);
  return { receiver, host, port: receiver.address()?.port as number };
}

describe('lab_netflow over real UDP', () => {
  it('maps flow times to compressed event time with the run clock', async () => {
    const wallOrigin = Date.UTC(2025, 0, 1, 12, 0, 0);
    const eventOrigin = Date.UTC(2025, 0, 1, 6, 0, 0);
    const { receiver, host, port } = await start({ netflow: { udp: { port: 0 } }, timeWarp: { wallOrigin, eventOrigin, speed: 120 } });
    try {
      // a flow from 10 s to 12.5 s of wall time after the origin: 20 and 25 event minutes after the event origin
      await send(encodeIpfix([{ ...flow, start: wallOrigin + 10_000, end: wallOrigin + 12_500 }], { exportTime: wallOrigin + 13_000 }), port);
      const [e] = (await host.waitForEvents(1)) as NetworkFlowEvent[];
      expect(e?.start).toBe(eventOrigin + 20 * 60_000);
      expect(e?.end).toBe(eventOrigin + 25 * 60_000);
      expect(e?.time).toBe(eventOrigin + 25 * 60_000);
      expect(e?.bytes).toBe(24_000_000);
      expect(receiver.flowCount).toBe(1);
    } finally {
      await receiver.shutdown();
    }
  });

  it('takes the heartbeat flows out, counts them, and releases barrier waiters by port', async () => {
    const { receiver, host, port } = await start({ netflow: { udp: { port: 0 } }, heartbeatAddress: '198.18.0.250' });
    try {
      const waiting = receiver.waitForHeartbeat(20_007, 5_000);
      const never = receiver.waitForHeartbeat(20_008, 200);
      const beat = { src: '198.18.0.250', dst: '198.18.0.251', srcPort: 50000, dstPort: 20_007, protocol: 17, bytes: 4000, packets: 4000 };
      await send(encodeIpfix([beat, flow]), port);
      expect(await waiting).toBe(true);
      expect(await never).toBe(false);
      expect(receiver.hasHeartbeat(20_007)).toBe(true);
      const events = (await host.waitForEvents(1)) as NetworkFlowEvent[];
      expect(events.map((e) => e.dst.address)).toEqual(['203.0.113.66']);
      expect(host.telemetry.total('dropped', { reason: 'lab_heartbeat' })).toBe(1);
      // a barrier on a port already seen resolves at once
      expect(await receiver.waitForHeartbeat(20_007, 1)).toBe(true);
    } finally {
      await receiver.shutdown();
    }
  });

  it('reports every config problem with its path', () => {
    let error: unknown;
    try {
      labNetflow.validate({ timeWarp: { wallOrigin: 'x', eventOrigin: 1, speed: -1 }, netflow: { udp: { port: 70000 } }, extra: 1 }, 'receivers[0]');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path).sort()).toEqual(
      ['receivers[0]', 'receivers[0].netflow.udp.port', 'receivers[0].timeWarp.speed', 'receivers[0].timeWarp.wallOrigin'].sort(),
    );
  });
});
