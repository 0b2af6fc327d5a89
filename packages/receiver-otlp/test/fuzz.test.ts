import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import type { DecodeError, OutflowEvent } from '@outflow/core';
import { createTestContext, createTestHost } from '@outflow/testkit';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { OtlpJsonDecoder, type OtlpLogsReceiver, otlpLogs } from '../src/index.js';
import { sdkLogRecords } from './sdk.js';
import { testFormats } from './test-formats.js';

const testdata = join(import.meta.dirname, '..', 'testdata');
const validDocs = readFileSync(join(testdata, 'logs.jsonl'), 'utf8')
  .split('\n')
  .slice(0, 3)
  .map((l) => JSON.parse(l) as Record<string, unknown>);

let validProtobuf: Uint8Array[] = [];
beforeAll(async () => {
  const records = await sdkLogRecords(
    ['flow 2024-06-12T09:14:02.551Z 10.0.0.1 198.51.100.7 100', { alert: 'A', time: '2024-06-12T09:00:00Z', n: 2 ** 60 }, 'flow bad', 'unmapped text'],
    { 'k8s.pod.name': 'p', 'k8s.namespace.name': 'ns' },
  );
  validProtobuf = [ProtobufLogsSerializer.serializeRequest(records) as Uint8Array, ProtobufLogsSerializer.serializeRequest(records.slice(1, 2)) as Uint8Array];
});

describe('otlp receiver fuzz (protobuf and JSON bodies through the request handler)', () => {
  it('answers 10,000 random and mutated bodies with 200 or 400, never throws, and dead-letters every 400', () => {
    const ctx = createTestContext({ name: 'otlp' });
    const receiver = otlpLogs.create(ctx, otlpLogs.validate({ formats: testFormats })) as OtlpLogsReceiver;
    const host = createTestHost({ ctx });
    const statuses = new Map<number, number>();
    const mutatedPb = fc
      .tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'truncate', 'insert'))
      .map(([which, pos, byte, op]) => {
        const base = validProtobuf[which % validProtobuf.length] as Uint8Array;
        const i = pos % base.length;
        if (op === 'truncate') return base.subarray(0, i);
        const out = Uint8Array.from(op === 'insert' ? [...base.subarray(0, i), byte, ...base.subarray(i)] : base);
        if (op === 'flip') out[i] = byte;
        return out;
      });
    const body = fc.oneof(
      mutatedPb.map((b) => ({ pb: true, b })),
      mutatedPb.map((b) => ({ pb: true, b })),
      fc.uint8Array({ maxLength: 300 }).map((b) => ({ pb: true, b })),
      fc.jsonValue().map((v) => ({ pb: false, b: Buffer.from(JSON.stringify(v)) })),
      fc.string().map((s) => ({ pb: false, b: Buffer.from(s) })),
    );
    fc.assert(
      fc.property(body, ({ pb, b }) => {
        const before = host.deadLetters.length;
        const eventsBefore = host.events.length;
        const reply = receiver.handle(
          {
            method: 'POST',
            path: '/v1/logs',
            headers: { 'content-type': pb ? 'application/x-protobuf' : 'application/json' },
            body: Buffer.from(b),
            remoteAddress: '127.0.0.1',
          },
          host,
        );
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        if (reply.status === 400) return host.deadLetters.length === before + 1 && host.events.length === eventsBefore;
        if (reply.status !== 200) return false;
        for (const e of host.events.slice(eventsBefore)) if (!Number.isFinite(e.time)) return false;
        return true;
      }),
      { numRuns: 10_000, seed: 1537 },
    );
    expect(statuses.get(400) ?? 0).toBeGreaterThan(1_000);
    expect(statuses.get(200) ?? 0).toBeGreaterThan(1_000);
    expect(host.events.length).toBeGreaterThan(100);
  });
});

describe('otlp_json decoder fuzz', () => {
  it('never throws on 10,000 mutated documents; undecodable documents are reported through sink.error', () => {
    const weird = fc.oneof(fc.jsonValue(), fc.constantFrom(null, [], {}, '', '9'.repeat(300), 1e308, { stringValue: 5 }, { kvlistValue: { values: 3 } }));
    const paths: (string | number)[][] = [
      ['resourceLogs'],
      ['resourceLogs', 0],
      ['resourceLogs', 0, 'resource'],
      ['resourceLogs', 0, 'resource', 'attributes'],
      ['resourceLogs', 0, 'resource', 'attributes', 0, 'value'],
      ['resourceLogs', 0, 'scopeLogs'],
      ['resourceLogs', 0, 'scopeLogs', 0, 'logRecords'],
      ['resourceLogs', 0, 'scopeLogs', 0, 'logRecords', 0],
      ['resourceLogs', 0, 'scopeLogs', 0, 'logRecords', 0, 'body'],
      ['resourceLogs', 0, 'scopeLogs', 0, 'logRecords', 0, 'body', 'stringValue'],
      ['resourceLogs', 0, 'scopeLogs', 0, 'logRecords', 0, 'timeUnixNano'],
      ['resourceLogs', 0, 'scopeLogs', 0, 'logRecords', 1, 'body', 'kvlistValue'],
      ['resourceLogs', 0, 'scopeLogs', 0, 'logRecords', 0, 'attributes'],
    ];
    const doc = fc.tuple(fc.constantFrom(...validDocs), fc.constantFrom(...paths), fc.boolean(), weird).map(([d, path, del, value]) => {
      const copy = structuredClone(d);
      let node: unknown = copy;
      for (const k of path.slice(0, -1)) {
        node = (node as Record<string | number, unknown> | undefined)?.[k];
        if (typeof node !== 'object' || node === null) return JSON.stringify(copy);
      }
      const last = path[path.length - 1] as string | number;
      if (del) delete (node as Record<string | number, unknown>)[last];
      else (node as Record<string | number, unknown>)[last] = value;
      return JSON.stringify(copy);
    });
    const damaged = fc.tuple(fc.constantFrom(...validDocs.map((d) => JSON.stringify(d))), fc.nat()).map(([s, n]) => s.slice(0, n % s.length));
    const decoder = new OtlpJsonDecoder({ formats: testFormats, unmapped: 'dead_letter' });
    let errorsSeen = 0;
    fc.assert(
      fc.property(fc.oneof(doc, doc, damaged, fc.string()), (text) => {
        const single = text.replace(/\n/g, ' ');
        const events: OutflowEvent[] = [];
        const errors: DecodeError[] = [];
        decoder.decode(single, { event: (e) => events.push(e), error: (e) => errors.push(e) }, { observedTime: 0, location: 'f', line: 1 });
        errorsSeen += errors.length;
        if (single.trim() === '') return events.length + errors.length === 0;
        let parsed: unknown;
        try {
          parsed = JSON.parse(single);
        } catch {
          return errors.length === 1 && errors[0]?.reason === 'invalid_json' && events.length === 0;
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return errors.length === 1 && errors[0]?.reason === 'invalid_request';
        return errors.every((e) => typeof e.reason === 'string' && e.raw !== undefined) && events.every((e) => Number.isFinite(e.time));
      }),
      { numRuns: 10_000, seed: 99 },
    );
    expect(errorsSeen).toBeGreaterThan(1_000);
  });
});
