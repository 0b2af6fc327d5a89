import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type NetworkFlowEvent } from '@outflow/core';
import { createTestContext, createTestHost, receiverConformance, type TestHost } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeIpfix, encodeV5, encodeV9 } from '../src/encoder.js';
import { type NetflowConfigInput, type NetflowReceiver, netflow } from '../src/receiver.js';
import { readCapture, TESTDATA } from './helpers.js';

const flow = { src: '10.0.0.5', dst: '203.0.113.10', srcPort: 40000, dstPort: 443, protocol: 6, bytes: 1500, packets: 3 };

function send(datagram: Uint8Array, port: number, host = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.send(datagram, port, host, (err) => {
      socket.close();
      if (err) reject(err);
      else resolve();
    });
  });
}

/** One sending socket for a whole test, so every datagram comes from the same exporter address and port. */
async function exporterSocket(host = '127.0.0.1'): Promise<{ socket: Socket; port: number; send(d: Uint8Array, to: number): Promise<void> }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((r) => socket.bind(0, host, () => r()));
  return {
    socket,
    port: socket.address().port,
    send: (d, to) => new Promise((resolve, reject) => socket.send(d, to, host, (err) => (err ? reject(err) : resolve()))),
  };
}

const running: { receiver: NetflowReceiver; socket?: Socket }[] = [];

async function startReceiver(config: NetflowConfigInput = {}): Promise<{ receiver: NetflowReceiver; host: TestHost; port: number }> {
  const ctx = createTestContext({ name: 'netflow', type: 'netflow', kind: 'receiver' });
  const receiver = netflow.create(ctx, netflow.validate({ ...config, udp: { port: 0, ...config.udp } }));
  const host = createTestHost({ ctx });
  await receiver.start(host);
  running.push({ receiver });
  const port = receiver.address()?.port;
  if (!port) throw new Error('receiver did not bind');
  return { receiver, host, port };
}

afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.receiver.shutdown();
    r.socket?.close();
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

defineConformanceTests(
  'netflow receiver conformance',
  receiverConformance({
    factory: netflow,
    config: async (env) => ({ udp: { port: await env.freePort() } }),
    sendValid: async (_env, config) => send(encodeV9([flow]), (config as { udp: { port: number } }).udp.port),
    sendInvalid: async (_env, config) => send(new Uint8Array([0, 7, 1, 2, 3]), (config as { udp: { port: number } }).udp.port),
  }),
);

describe('netflow receiver over real UDP on 127.0.0.1', () => {
  it('receives NetFlow v5 and stamps location, receiver and observed time', async () => {
    const { host, port } = await startReceiver();
    const exporter = await exporterSocket();
    running[running.length - 1]!.socket = exporter.socket;
    const before = Date.now();
    await exporter.send(encodeV5([flow], { sequence: 5 }), port);
    const [e] = (await host.waitForEvents(1)) as NetworkFlowEvent[];
    expect(e).toMatchObject({
      kind: 'network_flow',
      source: 'netflow',
      receiver: 'netflow',
      location: `udp://127.0.0.1:${exporter.port}`,
      sourceId: '127.0.0.1/0/5/0',
      src: { address: '10.0.0.5', port: 40000 },
      bytes: 1500,
      direction: 'egress',
    });
    expect(e?.observedTime).toBeGreaterThanOrEqual(before);
  });

  it('receives the softflowd NetFlow v9 and IPFIX captures, templates first', async () => {
    for (const capture of ['v9', 'ipfix']) {
      const { host, port } = await startReceiver();
      for (const d of readCapture(capture)) await send(d, port);
      const events = await host.waitForEvents(46);
      await sleep(50);
      expect(events).toHaveLength(46);
      expect(host.deadLetters).toEqual([]);
      expect(events.filter((e) => (e as NetworkFlowEvent).src.address === '::1')).toHaveLength(16);
    }
  });

  it('holds data that arrives before its template and emits it once the template arrives', async () => {
    const { receiver, host, port } = await startReceiver();
    const exporter = await exporterSocket();
    running[running.length - 1]!.socket = exporter.socket;
    const [templates, data, more] = readCapture('v9') as [Uint8Array, Uint8Array, Uint8Array];
    await exporter.send(data, port);
    const deadline = Date.now() + 5000;
    while (receiver.decoder.pendingSets === 0 && Date.now() < deadline) await sleep(5);
    expect(receiver.decoder.pendingSets).toBe(10);
    expect(host.events).toHaveLength(0);
    const gauges = host.telemetry.readGauges().filter((g) => g.name === 'queue_depth');
    expect(gauges.map((g) => g.value)).toEqual([10]);
    await exporter.send(templates, port);
    await exporter.send(more, port);
    await host.waitForEvents(46);
    expect(receiver.decoder.pendingSets).toBe(0);
    expect(host.deadLetters).toEqual([]);
  });

  it('drops data whose template never comes after the TTL, counted and dead-lettered with its bytes', async () => {
    const { receiver, host, port } = await startReceiver({ pendingTtlMs: 150 });
    const data = encodeV9([flow, { ...flow, src: 'fd00::1', dst: '2001:db8::1' }], { include: 'data' });
    await send(data, port);
    // no other datagram arrives: the receiver's timer does the expiry
    const dead = await host.waitForDeadLetters(2);
    expect(dead.map((d) => d.reason)).toEqual(['template_timeout', 'template_timeout']);
    expect(dead[0]).toMatchObject({ stage: 'decode', rawEncoding: 'base64' });
    const firstSetLength = ((data[22] as number) << 8) | (data[23] as number);
    expect(Buffer.from(dead[0]?.raw ?? '', 'base64')).toEqual(Buffer.from(data.subarray(20, 20 + firstSetLength)));
    expect(host.telemetry.total('dropped', { reason: 'template_timeout' })).toBe(2);
    expect(host.telemetry.total('errors', { reason: 'template_timeout' })).toBe(2);
    expect(receiver.decoder.pendingSets).toBe(0);
    expect(host.events).toEqual([]);
  });

  it('dead-letters malformed datagrams with their reasons and raw bytes, and keeps receiving', async () => {
    const { host, port } = await startReceiver();
    const dir = join(TESTDATA, 'malformed');
    const cases = ['short-1-byte', 'version-7', 'v5-truncated', 'v9-bad-set-length', 'ipfix-length-past-end', 'ipfix-zero-length-field'];
    for (const name of cases) await send(new Uint8Array(readFileSync(join(dir, `${name}.bin`))), port);
    await send(encodeIpfix([flow]), port);
    const dead = await host.waitForDeadLetters(cases.length);
    await sleep(50);
    expect(dead.map((d) => d.reason).sort()).toEqual(
      ['short_datagram', 'unsupported_version', 'truncated', 'bad_set_length', 'message_past_end', 'bad_template'].sort(),
    );
    const version7 = dead.find((d) => d.reason === 'unsupported_version');
    expect(version7?.rawEncoding).toBe('base64');
    expect(Buffer.from(version7?.raw ?? '', 'base64')).toEqual(readFileSync(join(dir, 'version-7.bin')));
    expect(version7?.location).toMatch(/^udp:\/\/127\.0\.0\.1:\d+$/);
    expect(host.telemetry.total('errors')).toBe(cases.length);
    // what the framing allowed still decoded (3 v5 records, 18 IPFIX records before the bad length), and the good datagram too
    const events = host.events as NetworkFlowEvent[];
    expect(events.filter((e) => e.attributes?.['netflow.version'] === 5)).toHaveLength(3);
    expect(events.some((e) => e.src.address === '10.0.0.5')).toBe(true);
  });

  it('counts a datagram refused by a full pipeline (UDP cannot push back)', async () => {
    const { host, port } = await startReceiver();
    host.full = true;
    await send(encodeV5([flow, flow, flow]), port);
    const deadline = Date.now() + 5000;
    while (host.telemetry.total('refused') === 0 && Date.now() < deadline) await sleep(5);
    expect(host.telemetry.total('refused', { reason: 'queue_full' })).toBe(3);
    host.full = false;
    await send(encodeV5([flow]), port);
    await host.waitForEvents(1);
    expect(host.events).toHaveLength(1);
  });

  it('listens on IPv6 loopback', async () => {
    const { host, port } = await startReceiver({ udp: { host: '::1' } });
    await send(encodeV9([{ ...flow, src: 'fd00::5', dst: '2001:db8::7' }]), port, '::1');
    const [e] = (await host.waitForEvents(1)) as NetworkFlowEvent[];
    expect(e?.location).toMatch(/^udp:\/\/\[::1\]:\d+$/);
    expect(e?.sourceId?.startsWith('::1/')).toBe(true);
    expect(e).toMatchObject({ src: { address: 'fd00::5' }, direction: 'egress' });
  });

  it('drops data still waiting at shutdown, each counted with reason shutdown', async () => {
    const { receiver, host, port } = await startReceiver();
    await send(encodeV9([flow], { include: 'data' }), port);
    const deadline = Date.now() + 5000;
    while (receiver.decoder.pendingSets === 0 && Date.now() < deadline) await sleep(5);
    await receiver.shutdown();
    expect(host.deadLetters.map((d) => d.reason)).toEqual(['shutdown']);
    expect(host.telemetry.total('dropped', { reason: 'shutdown' })).toBe(1);
  });
});

describe('netflow config', () => {
  it('has NetFlow defaults and embeds the io UDP schema under `udp`', () => {
    const config = netflow.createDefaultConfig();
    expect(config.udp).toEqual({ host: '127.0.0.1', port: 2055, maxDatagramBytes: 65535 });
    expect(config).toMatchObject({ useFlowDirection: false, applySampling: false, pendingTtlMs: 60_000, pendingMaxBytes: 1 << 20 });
  });

  it('reports every problem with its path', () => {
    let error: unknown;
    try {
      netflow.validate(
        { udp: { port: 70000, extra: 1 }, internalCidrs: ['10.0.0.0/8', '10.0.0.0/33', 'nonsense'], pendingTtlMs: -5, maxExporters: 1.5, bogus: true },
        'receivers[0]',
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(
      [
        'receivers[0]',
        'receivers[0].internalCidrs[1]',
        'receivers[0].internalCidrs[2]',
        'receivers[0].maxExporters',
        'receivers[0].pendingTtlMs',
        'receivers[0].udp',
        'receivers[0].udp.port',
      ].sort(),
    );
  });
});
