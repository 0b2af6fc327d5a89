import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import type { Decoder, NetworkFlowEvent } from '@outflow/core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { damagedLines, fuzzJsonDecoder, jsonPaths, mutatedJson, mutateJson } from '../src/fuzz.js';
import { decodeAs, flowEvent, gaussian, golden, goldenOf, memoryReceiver, normalSamples, post, Random, rng, roundTrip, selfSignedCert } from '../src/index.js';
import { receiverStarter, tempDirs } from '../src/vitest.js';

/** Decodes lines `{"time": n}` into flows; anything else is an error. */
const timeDecoder: Decoder<string> = {
  format: 'times',
  decode(input, sink, meta) {
    for (const line of input.split('\n')) {
      if (line.trim() === '') continue;
      let v: { time?: unknown };
      try {
        v = JSON.parse(line);
      } catch {
        sink.error({ reason: 'invalid_json', message: 'not JSON', raw: line });
        continue;
      }
      if (typeof v.time !== 'number') {
        sink.error({ reason: 'missing_field', message: 'no time', raw: line });
        continue;
      }
      sink.event({ ...flowEvent({ time: v.time, observedTime: meta.observedTime }), sourceId: `t${v.time}`, raw: v } as NetworkFlowEvent);
    }
  },
};

const tempDir = tempDirs('outflow-testkit-');

describe('decoding and golden files', () => {
  it('decodeAs feeds lines with their numbers, or the whole document; goldenOf drops raw events and encodes raw bytes', () => {
    const text = '{"time":1}\nbad\n{"time":2}\n';
    const lines = decodeAs(timeDecoder, text, 'lines', { location: 'f', observedTime: 5 });
    expect(lines.events.map((e) => e.time)).toEqual([1, 2]);
    expect(lines.errors).toEqual([{ line: 2, reason: 'invalid_json', message: 'not JSON', raw: 'bad' }]);
    const doc = decodeAs(timeDecoder, text, 'document', { location: 'f', observedTime: 5 });
    expect(doc.errors[0]?.line).toBeUndefined();
    expect(doc.events[0]?.observedTime).toBe(5);
    const form = goldenOf({ events: doc.events, errors: [{ reason: 'r', message: 'm', raw: Buffer.from([1, 2]) }] }) as {
      events: Record<string, unknown>[];
      errors: { raw: string }[];
    };
    expect(form.events[0]).not.toHaveProperty('raw');
    expect(form.errors[0]?.raw).toBe('AQI=');
    expect(roundTrip({ a: 1, b: undefined })).toEqual({ a: 1 });
  });

  it('golden reads the stored file, and writes it when missing if asked', () => {
    const path = join(tempDir(), 'out.json');
    expect(() => golden(path, { a: 1 })).toThrow();
    expect(golden(path, { a: 1 }, { createMissing: true })).toEqual({ a: 1 });
    expect(readFileSync(path, 'utf8')).toBe('{\n  "a": 1\n}\n');
    writeFileSync(path, '{"a":2}');
    expect(golden(path, { a: 1 }, { createMissing: true })).toEqual({ a: 2 });
  });
});

describe('http', () => {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(201, { 'x-method': req.method ?? '' });
      res.end(`${req.headers['content-type'] ?? '-'} ${Buffer.concat(chunks).toString('utf8')}`);
    });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('post sends the body and headers and reads status, headers and body', async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as { port: number };
    const reply = await post(`http://127.0.0.1:${port}/x`, 'hello', { 'Content-Type': 'text/plain' });
    expect(reply.status).toBe(201);
    expect(reply.headers['x-method']).toBe('POST');
    expect(reply.body.toString()).toBe('text/plain hello');
    const put = await post(`http://127.0.0.1:${port}/x`, new Uint8Array([104, 105]), {}, { method: 'PUT' });
    expect([put.headers['x-method'], put.body.toString()]).toEqual(['PUT', '- hi']);
  });

  it('selfSignedCert writes a certificate and its key', () => {
    const dir = tempDir();
    selfSignedCert(join(dir, 'cert.pem'), join(dir, 'key.pem'));
    expect(readFileSync(join(dir, 'cert.pem'), 'utf8')).toMatch(/BEGIN CERTIFICATE/);
    expect(existsSync(join(dir, 'key.pem'))).toBe(true);
  });
});

describe('seeded numbers', () => {
  it('rng draws what Random draws; gaussian and normalSamples are deterministic', () => {
    const r = rng(7);
    const random = new Random(7);
    expect([r(), r(), r()]).toEqual([random.next(), random.next(), random.next()]);
    const g1 = gaussian(3);
    const g2 = gaussian(3);
    expect([g1(), g1()]).toEqual([g2(), g2()]);
    const sample = normalSamples(5, 1_000, 100, 10);
    const values = Array.from({ length: 1_000 }, (_, i) => sample(i));
    expect(sample(1_000)).toBe(sample(0));
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean).toBeGreaterThan(98);
    expect(mean).toBeLessThan(102);
  });
});

describe('receiverStarter', () => {
  const start = receiverStarter(memoryReceiver);
  it('starts a receiver on a test host named after its type; url is empty without HTTP', async () => {
    const { host, receiver, url } = await start({ channel: 'starter' });
    expect(url).toBe('');
    expect(host.name).toBe('memory');
    expect(typeof receiver.shutdown).toBe('function');
  });
});

describe('fuzz inputs', () => {
  it('jsonPaths lists every value; mutateJson removes, shortens or replaces one', () => {
    expect(jsonPaths({ a: [1, { b: 2 }] })).toEqual([['a', 0], ['a', 1, 'b'], ['a', 1], ['a']]);
    const text = '{"a":"xyz","b":1}';
    expect(mutateJson(text, 1, 0, null)).toBe('{"a":"xyz"}');
    expect(mutateJson(text, 0, 1, null)).toBe('{"a":"xy"}'.replace('}', ',"b":1}'));
    expect(mutateJson(text, 1, 2, [])).toBe('{"a":"xyz","b":[]}');
    expect(mutateJson('not json', 0, 0, null)).toBe('not json');
  });

  it('mutatedJson and damagedLines derive from their seeds', () => {
    const seeds = ['{"time":1}', '{"time":2}'];
    for (const s of fc.sample(mutatedJson(seeds), { numRuns: 200, seed: 1 })) expect(typeof s).toBe('string');
    for (const s of fc.sample(damagedLines(fc.constantFrom(...seeds)), { numRuns: 200, seed: 1 })) expect(s.length).toBeLessThanOrEqual(10);
  });

  it('fuzzJsonDecoder runs the JSON decoder properties', () => {
    const robust: Decoder<string> = {
      format: 'times',
      decode(input, sink, meta) {
        try {
          timeDecoder.decode(input, sink, meta);
        } catch {
          sink.error({ reason: 'x', message: 'x', raw: input });
        }
      },
    };
    const { runs, bad, good } = fuzzJsonDecoder({
      decoder: robust,
      seeds: ['{"time":1}', '{"time":2,"x":[1]}'],
      kind: 'network_flow',
      emptyKeys: [],
      numRuns: 300,
    });
    expect(runs).toBe(300);
    expect(bad).toBeGreaterThan(0);
    expect(good).toBeGreaterThan(0);
  });
});
