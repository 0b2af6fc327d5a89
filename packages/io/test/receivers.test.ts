import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createPipeline, defineComponent, type MemoryDeadLetter, type NetworkFlowEvent, type Receiver, type ReceiverHost } from '@outflow/core';
import { createTestContext, createTestHost, flowEvent, receiverConformance } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  combineReceivers,
  createFileHttpReceiver,
  createFileReceiver,
  createHttpReceiver,
  createUdpReceiver,
  decodeHttpBody,
  fileSourceSchema,
  type HttpServerConfig,
  httpServerSchema,
  type IngestRequest,
  udpSchema,
} from '../src/index.js';
import { tempDir, waitUntil } from './helpers.js';
import { send } from './http-client.js';
import { flowLine, testFlowDecoder } from './test-decoder.js';

const T = Date.UTC(2024, 0, 1);

// ---------------------------------------------------------------- components under conformance

const testFileReceiver = defineComponent({
  type: 'test_file',
  kind: 'receiver',
  stability: 'development',
  description: 'JSON flow lines from files (io test)',
  schema: fileSourceSchema,
  create: (ctx, config) => createFileReceiver(ctx, config, { name: 'test_flow', framing: 'lines', decoder: testFlowDecoder }),
});

const testHttpReceiver = defineComponent({
  type: 'test_http',
  kind: 'receiver',
  stability: 'development',
  description: 'JSON flow lines POSTed to /ingest (io test)',
  schema: httpServerSchema,
  create: (ctx, config) => createHttpReceiver(ctx, config, { '/ingest': (req, host) => decodeHttpBody(req, host, testFlowDecoder, config) }),
});

const testUdpReceiver = defineComponent({
  type: 'test_udp',
  kind: 'receiver',
  stability: 'development',
  description: 'One JSON flow per datagram (io test)',
  schema: udpSchema,
  create: (ctx, config) =>
    createUdpReceiver(ctx, config, (msg, peer, host) => {
      const events: NetworkFlowEvent[] = [];
      testFlowDecoder.decode(
        msg.toString('utf8'),
        {
          event: (e) => events.push(e as NetworkFlowEvent),
          error: (e) => host.deadLetter({ stage: 'decode', reason: e.reason, message: e.message, raw: msg, location: `udp://${peer.address}:${peer.port}` }),
        },
        { observedTime: host.now(), location: `udp://${peer.address}:${peer.port}`, receiver: host.name },
      );
      if (events.length > 0 && !host.tryEmit(events)) host.metrics.add('dropped', events.length, 'queue_full');
    }),
});

let fileCounter = 0;
defineConformanceTests(
  'createFileReceiver conformance',
  receiverConformance({
    factory: testFileReceiver,
    config: (env) => ({ paths: [env.dir], follow: true, pollIntervalMs: 20 }),
    sendValid: async (env) => writeFileSync(join(env.dir, `valid-${++fileCounter}.log`), `${flowLine(T, '203.0.113.1')}\n`),
    sendInvalid: async (env) => writeFileSync(join(env.dir, `invalid-${++fileCounter}.log`), '{not json\n'),
    defaultConfigRequiresInput: true,
  }),
);

defineConformanceTests(
  'createHttpReceiver conformance',
  receiverConformance({
    factory: testHttpReceiver,
    config: async (env) => ({ port: await env.freePort() }),
    sendValid: async (_env, config) => {
      const res = await send(`http://127.0.0.1:${(config as HttpServerConfig).port}`, { path: '/ingest', body: flowLine(T, '203.0.113.2') });
      if (res.status !== 200) throw new Error(`status ${res.status}`);
    },
    sendInvalid: async (_env, config) => {
      const res = await send(`http://127.0.0.1:${(config as HttpServerConfig).port}`, { path: '/ingest', body: '{not json' });
      if (res.status !== 400) throw new Error(`status ${res.status}`);
    },
  }),
);

function datagram(port: number, payload: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.send(payload, port, '127.0.0.1', (err) => {
      socket.close();
      if (err) reject(err);
      else resolve();
    });
  });
}

defineConformanceTests(
  'createUdpReceiver conformance',
  receiverConformance({
    factory: testUdpReceiver,
    config: async (env) => ({ port: await env.freePort() }),
    sendValid: (_env, config) => datagram((config as { port: number }).port, flowLine(T, '203.0.113.3')),
    sendInvalid: (_env, config) => datagram((config as { port: number }).port, '{not json'),
  }),
);

// ---------------------------------------------------------------- behaviour

describe('createFileReceiver', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
  });
  afterEach(() => cleanup());

  it('decodes each record with meta (location path:line, firstLine, receiver), dead-letters bad lines, completes when done', async () => {
    const path = join(dir, 'flows.log');
    writeFileSync(path, ['#header', flowLine(T, '198.51.100.1'), '', '{bad', flowLine(T + 1, '198.51.100.2')].join('\n'));
    const ctx = createTestContext({ name: 'files' });
    const receiver = createFileReceiver(ctx, fileSourceSchema.parse({ paths: [path] }), { name: 'test_flow', framing: 'lines', decoder: testFlowDecoder });
    const host = createTestHost({ ctx });
    await receiver.start(host);
    await host.waitForComplete();
    expect(host.events.map((e) => [e.location, (e as NetworkFlowEvent).dst.address, e.receiver, e.attributes?.['test.first_line']])).toEqual([
      [`${path}:2`, '198.51.100.1', 'files', '#header'],
      [`${path}:5`, '198.51.100.2', 'files', '#header'],
    ]);
    expect(host.deadLetters.map((d) => [d.stage, d.reason, d.location, d.raw])).toEqual([
      ['decode', 'invalid_json', `${path}:1`, '#header'],
      ['decode', 'invalid_json', `${path}:4`, '{bad'],
    ]);
    expect(host.telemetry.total('errors', { reason: 'invalid_json' })).toBe(2);
    await receiver.shutdown();
    await receiver.shutdown();
  });

  it('dead-letters transport errors (oversize records) at stage receive, and a throwing decoder per record', async () => {
    const path = join(dir, 'x.log');
    writeFileSync(path, `${'y'.repeat(500)}\nthrow\n${flowLine(T, '192.0.2.1')}\n`);
    const ctx = createTestContext({ name: 'files' });
    const throwing = {
      format: 'throwing',
      decode: (input: string, sink: Parameters<typeof testFlowDecoder.decode>[1], meta: Parameters<typeof testFlowDecoder.decode>[2]) => {
        if (input === 'throw') throw new Error('decoder bug');
        testFlowDecoder.decode(input, sink, meta);
      },
    };
    const receiver = createFileReceiver(ctx, fileSourceSchema.parse({ paths: [path], maxRecordBytes: 100 }), {
      name: 't',
      framing: 'lines',
      decoder: throwing,
    });
    const host = createTestHost({ ctx });
    await receiver.start(host);
    await host.waitForComplete();
    expect(host.deadLetters.map((d) => [d.stage, d.reason, d.location])).toEqual([
      ['receive', 'record_too_large', `${path}:1`],
      ['decode', 'decoder_exception', `${path}:2`],
    ]);
    expect(host.events).toHaveLength(1);
    await receiver.shutdown();
  });

  it('document framing over gzip files: one decode per file', async () => {
    writeFileSync(join(dir, 'a.json.gz'), gzipSync([flowLine(T, '192.0.2.1'), flowLine(T, '192.0.2.2')].join('\n')));
    const ctx = createTestContext({ name: 'docs' });
    const receiver = createFileReceiver(ctx, fileSourceSchema.parse({ paths: [dir] }), { name: 'test_flow', framing: 'document', decoder: testFlowDecoder });
    const host = createTestHost({ ctx });
    await receiver.start(host);
    await host.waitForComplete();
    expect(host.batches).toHaveLength(1);
    expect(host.events.map((e) => e.location)).toEqual([`${join(dir, 'a.json.gz')}:1`, `${join(dir, 'a.json.gz')}:1`]);
    await receiver.shutdown();
  });

  it('shutdown before start is safe and start after shutdown does nothing', async () => {
    const receiver = createFileReceiver(createTestContext(), fileSourceSchema.parse({ paths: [dir] }), {
      name: 't',
      framing: 'lines',
      decoder: testFlowDecoder,
    });
    await receiver.shutdown();
    const host = createTestHost();
    writeFileSync(join(dir, 'a.log'), `${flowLine(T, '192.0.2.1')}\n`);
    await receiver.start(host);
    await new Promise((r) => setTimeout(r, 50));
    expect(host.events).toHaveLength(0);
  });

  it('runs inside a real pipeline: every event arrives, the pipeline finishes when the files are read', async () => {
    const n = 5000;
    writeFileSync(join(dir, 'a.log'), Array.from({ length: n }, (_, i) => flowLine(T + i, `198.51.100.${i % 250}`)).join('\n'));
    writeFileSync(join(dir, 'b.log'), '{broken\n');
    const pipeline = createPipeline({
      receivers: [testFileReceiver({ paths: [dir], batchSize: 256 })],
      queue: { capacity: 1000, policy: 'block' },
    });
    await pipeline.start();
    await pipeline.done;
    await pipeline.shutdown();
    expect(pipeline.telemetry.total('emitted', { component: 'pipeline' })).toBe(n);
    expect(pipeline.telemetry.total('received', { component: 'test_file' })).toBe(n);
    expect((pipeline.deadLetter as MemoryDeadLetter).entries().map((e) => [e.reason, e.location])).toEqual([['invalid_json', `${join(dir, 'b.log')}:1`]]);
  });
});

describe('decodeHttpBody and createHttpReceiver', () => {
  const request = (body: string, remoteAddress = '127.0.0.1'): IngestRequest => ({
    method: 'POST',
    path: '/ingest',
    headers: {},
    body: Buffer.from(body),
    remoteAddress,
  });

  it('accepts the good events of a partly bad body (200) and dead-letters the bad records with location http://<remote>', () => {
    const host = createTestHost();
    const res = decodeHttpBody(request([flowLine(T, '192.0.2.1'), '{bad', flowLine(T, '192.0.2.2')].join('\n'), '::1'), host, testFlowDecoder);
    expect(res.status).toBe(200);
    expect(host.events).toHaveLength(2);
    expect(host.deadLetters.map((d) => [d.reason, d.location, d.raw])).toEqual([['invalid_json', 'http://[::1]#line 2', '{bad']]);
  });

  it('400 with the reason when nothing decoded; 200 for an empty body; busy response when the pipeline is full', () => {
    const host = createTestHost();
    const bad = decodeHttpBody(request('{bad'), host, testFlowDecoder);
    expect(bad.status).toBe(400);
    expect(String(bad.body)).toContain('invalid_json');
    expect(decodeHttpBody(request(''), host, testFlowDecoder).status).toBe(200);
    host.full = true;
    expect(decodeHttpBody(request(flowLine(T, '192.0.2.1')), host, testFlowDecoder, { busyStatus: 503, retryAfterSeconds: 5 })).toEqual({
      status: 503,
      headers: { 'Retry-After': '5' },
    });
    expect(decodeHttpBody(request(flowLine(T, '192.0.2.1')), host, testFlowDecoder)).toEqual({ status: 429, headers: { 'Retry-After': '1' } });
    expect(host.events).toHaveLength(0);
    expect(host.telemetry.total('refused', { reason: 'queue_full' })).toBe(2);
  });

  it('over a real socket: busy answers 429 + Retry-After; a throwing route answers 500, its body is dead-lettered, the server keeps serving', async () => {
    const ctx = createTestContext({ name: 'http' });
    const config = httpServerSchema.parse({});
    const receiver = createHttpReceiver(ctx, config, {
      '/ingest': (req, host) => decodeHttpBody(req, host, testFlowDecoder, config),
      '/boom': () => {
        throw new Error('route bug');
      },
    });
    const host = createTestHost({ ctx });
    expect(receiver.address()).toBeUndefined();
    await receiver.start(host);
    try {
      const url = receiver.address()?.url as string;
      host.full = true;
      const busy = await send(url, { path: '/ingest', body: flowLine(T, '192.0.2.1') });
      expect(busy.status).toBe(429);
      expect(busy.headers['retry-after']).toBe('1');
      host.full = false;
      expect((await send(url, { path: '/boom', body: 'payload' })).status).toBe(500);
      expect(host.deadLetters.map((d) => [d.reason, d.raw, d.location])).toEqual([['handler_exception', 'payload', 'http://127.0.0.1']]);
      expect((await send(url, { path: '/ingest', body: gzipSync(flowLine(T, '192.0.2.9')), headers: { 'Content-Encoding': 'gzip' } })).status).toBe(200);
      expect(host.events.map((e) => (e as NetworkFlowEvent).dst.address)).toEqual(['192.0.2.9']);
      // Requests and events are not mixed in one counter: received counts events (from the host), refusals count the refused batch once.
      expect(host.telemetry.total('received')).toBe(1);
      expect(host.telemetry.total('refused')).toBe(1);
    } finally {
      await receiver.shutdown();
    }
  });
});

describe('combineReceivers and createFileHttpReceiver', () => {
  /** A transport that records its calls and completes when told to. */
  function part(name: string, calls: string[], options: { fail?: boolean } = {}): Receiver & { host?: ReceiverHost } {
    const r: Receiver & { host?: ReceiverHost } = {
      async start(host) {
        calls.push(`start ${name}`);
        r.host = host;
        if (options.fail) throw new Error(`${name} failed`);
      },
      async shutdown() {
        calls.push(`shutdown ${name}`);
      },
    };
    return r;
  }

  it('starts the parts in order and completes only when every part has; a single part gets the host itself', async () => {
    const calls: string[] = [];
    const a = part('a', calls);
    const b = part('b', calls);
    const host = createTestHost();
    const both = combineReceivers([a, b]);
    await both.start(host);
    expect(calls).toEqual(['start a', 'start b']);
    // Batches go to the host with their options.
    const emit = vi.spyOn(host, 'emit');
    const options = { onProcessed: () => {} };
    const batch = [flowEvent()];
    await a.host?.emit(batch, options);
    expect(emit).toHaveBeenCalledWith(batch, options);
    a.host?.complete();
    expect(host.completed).toBe(false);
    b.host?.complete();
    expect(host.completed).toBe(true);
    expect(both.address()).toBeUndefined();
    await Promise.all([both.shutdown(), both.shutdown()]);
    expect(calls.slice(2).sort()).toEqual(['shutdown a', 'shutdown b']);
    const only = part('only', []);
    await combineReceivers([only]).start(host);
    expect(only.host).toBe(host);
  });

  it('shuts the started parts down again when one fails to start', async () => {
    const calls: string[] = [];
    const combined = combineReceivers([part('a', calls), part('b', calls, { fail: true }), part('c', calls)]);
    await expect(combined.start(createTestHost())).rejects.toThrow(/b failed/);
    expect(calls).toEqual(['start a', 'start b', 'shutdown a', 'shutdown b']);
  });

  it('reads files and serves POSTs on the given paths as one receiver, which does not complete while the server runs', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'a.log'), `${flowLine(T, '192.0.2.1')}\n`);
      const ctx = createTestContext({ name: 'file_http' });
      const receiver = createFileHttpReceiver(ctx, {
        file: fileSourceSchema.parse({ paths: [dir] }),
        http: httpServerSchema.parse({}),
        paths: ['/a', '/b'],
        format: { name: 'test_flow', framing: 'lines', decoder: testFlowDecoder },
      });
      const host = createTestHost({ ctx });
      await receiver.start(host);
      try {
        await host.waitForEvents(1);
        const url = receiver.address()?.url as string;
        expect((await send(url, { path: '/a', body: flowLine(T, '192.0.2.2') })).status).toBe(200);
        expect((await send(url, { path: '/b', body: '{bad' })).status).toBe(400);
        expect((await send(url, { path: '/c', body: flowLine(T, '192.0.2.3') })).status).toBe(404);
        expect(host.events.map((e) => (e as NetworkFlowEvent).dst.address)).toEqual(['192.0.2.1', '192.0.2.2']);
        expect(host.deadLetters.map((d) => d.reason)).toEqual(['invalid_json']);
        await new Promise((r) => setTimeout(r, 50));
        expect(host.completed).toBe(false);
      } finally {
        await receiver.shutdown();
      }
      const fileOnly = createFileHttpReceiver(ctx, {
        file: fileSourceSchema.parse({ paths: [dir] }),
        paths: ['/a'],
        format: { name: 'test_flow', framing: 'lines', decoder: testFlowDecoder },
      });
      const fileHost = createTestHost({ ctx });
      await fileOnly.start(fileHost);
      await fileHost.waitForComplete();
      expect(fileHost.events).toHaveLength(1);
      expect(fileOnly.address()).toBeUndefined();
      await fileOnly.shutdown();
    } finally {
      cleanup();
    }
  });
});

describe('createUdpReceiver', () => {
  it('dead-letters oversize datagrams with a prefix and datagrams whose handler throws; the socket keeps receiving', async () => {
    const ctx = createTestContext({ name: 'udp' });
    const receiver = createUdpReceiver(ctx, udpSchema.parse({ maxDatagramBytes: 100 }), (msg, peer, host) => {
      if (msg.toString() === 'throw') throw new Error('handler bug');
      host.tryEmit([
        {
          kind: 'network_flow',
          time: T,
          observedTime: T,
          source: 'udp',
          src: { address: peer.address, port: peer.port },
          dst: { address: msg.toString() },
          direction: 'unknown',
        },
      ]);
    });
    const host = createTestHost({ ctx });
    await receiver.start(host);
    try {
      const port = receiver.address()?.port as number;
      await datagram(port, Buffer.alloc(500, 'x'));
      await datagram(port, 'throw');
      await datagram(port, '192.0.2.1');
      await waitUntil(() => host.events.length === 1 && host.deadLetters.length === 2);
      expect(host.deadLetters.map((d) => [d.stage, d.reason, d.raw?.length])).toEqual([
        ['receive', 'datagram_too_large', 100],
        ['decode', 'handler_exception', 5],
      ]);
      expect(host.deadLetters[0]?.location).toMatch(/^udp:\/\/127\.0\.0\.1:\d+$/);
      expect((host.events[0] as NetworkFlowEvent).src.address).toBe('127.0.0.1');
    } finally {
      await receiver.shutdown();
      await receiver.shutdown();
    }
  });
});
