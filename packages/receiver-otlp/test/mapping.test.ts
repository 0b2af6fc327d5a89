import { decodeAll } from '@outflow/core';
import { describe, expect, it } from 'vitest';
import { bodyText, collectMapping, formats, nanosToMs, OtlpJsonDecoder, OtlpLogsMapper, plainValue, resourceWorkload, sniffOtlpJson } from '../src/index.js';
import { testFormats } from './test-formats.js';

const kv = (key: string, stringValue: string) => ({ key, value: { stringValue } });
const FLOW = 'flow 2024-06-12T09:14:02.551Z 10.42.3.18 198.51.100.77 10';

describe('otlp mapping helpers', () => {
  it('nanosToMs reads decimal strings and numbers, and refuses zero, garbage and negatives', () => {
    expect(nanosToMs('1718183642551200410')).toBe(1718183642551);
    // a JSON number of nanoseconds is not exact in a double; milliseconds survive
    expect(nanosToMs(1718183642551200000)).toBe(1718183642551);
    expect(nanosToMs('0')).toBeUndefined();
    expect(nanosToMs('17181836425x1200410')).toBeUndefined();
    expect(nanosToMs('-1718183642551200410')).toBeUndefined();
    expect(nanosToMs(undefined)).toBeUndefined();
  });

  it('plainValue turns AnyValue into plain JSON (int64 as number when exact, else string)', () => {
    expect(
      plainValue({
        kvlistValue: {
          values: [
            { key: 'a', value: { intValue: '42' } },
            { key: 'b', value: { intValue: '9223372036854775807' } },
            { key: 'c', value: { arrayValue: { values: [{ boolValue: true }, { doubleValue: 1.5 }, {}] } } },
            { key: 'd', value: { bytesValue: 'AAE=' } },
          ],
        },
      }),
    ).toEqual({ a: 42, b: '9223372036854775807', c: [true, 1.5, null], d: 'AAE=' });
    expect(bodyText({ stringValue: 'x' })).toBe('x');
    expect(bodyText({ kvlistValue: { values: [kv('k', 'v')] } })).toBe('{"k":"v"}');
    expect(bodyText({ intValue: '3' })).toBeUndefined();
  });

  it('resourceWorkload reads k8s.*, container.* and cloud.* attributes and prefers the top-level owner', () => {
    expect(
      resourceWorkload([
        kv('k8s.replicaset.name', 'web-7c9f8d6b5'),
        kv('k8s.deployment.name', 'web'),
        kv('k8s.namespace.name', 'shop'),
        kv('container.image.name', 'registry.example.com:5000/shop/web'),
        { key: 'container.image.tags', value: { arrayValue: { values: [{ stringValue: '1.4.2' }] } } },
        { key: 'container.image.repo_digests', value: { arrayValue: { values: [{ stringValue: 'registry.example.com:5000/shop/web@sha256:abc' }] } } },
        kv('k8s.pod.label.app', 'web'),
        kv('service.name', 'ignored'),
      ]),
    ).toEqual({
      workloadName: 'web',
      workloadKind: 'Deployment',
      namespace: 'shop',
      image: 'registry.example.com:5000/shop/web:1.4.2',
      imageDigest: 'sha256:abc',
      labels: { app: 'web' },
    });
    expect(resourceWorkload([kv('service.name', 'x')])).toBeUndefined();
  });
});

describe('OtlpLogsMapper', () => {
  const request = (records: unknown[], resource: unknown[] = []) => ({
    resourceLogs: [{ resource: { attributes: resource }, scopeLogs: [{ logRecords: records }] }],
  });

  it('matches a body rule (equals / prefix on the body text) before sniffing', () => {
    const mapper = new OtlpLogsMapper({ formats: testFormats, rules: [{ match: { prefix: 'flow 2024' }, format: 'test_alert' }] });
    const out = collectMapping();
    const result = mapper.map(
      request([{ body: { stringValue: FLOW } }, { body: { stringValue: 'flow 2025-01-01T00:00:00Z a b 1' } }]),
      { observedTime: 0 },
      out,
    );
    // the first goes to test_alert by the rule (and fails there); the second is sniffed as test_flow
    expect(out.errors.map((e) => [e.reason, e.location])).toEqual([['invalid_json', 'resourceLogs[0].scopeLogs[0].logRecords[0]']]);
    expect(out.events.map((e) => e.source)).toEqual(['test_flow']);
    expect(result).toMatchObject({ records: 2, rejected: 1, failed: 1, unmapped: 0 });
  });

  it('fills the workload from the resource only when the inner record has none, and copies it per event', () => {
    const mapper = new OtlpLogsMapper({ formats: testFormats });
    const out = collectMapping();
    mapper.map(
      request(
        [
          { body: { stringValue: FLOW } },
          { body: { stringValue: FLOW } },
          { body: { stringValue: '{"alert":"a","time":"2024-06-12T09:00:00Z","pod":"own"}' } },
        ],
        [kv('k8s.pod.name', 'from-resource')],
      ),
      { observedTime: 0 },
      out,
    );
    expect(out.events.map((e) => e.workload?.pod)).toEqual(['from-resource', 'from-resource', 'own']);
    expect(out.events[0]?.workload).not.toBe(out.events[1]?.workload);
  });

  it('turns an event without any usable time into a missing_time error', () => {
    const mapper = new OtlpLogsMapper({ formats: testFormats });
    const out = collectMapping();
    const result = mapper.map(request([{ body: { stringValue: '{"alert":"a"}' } }]), { observedTime: 0 }, out);
    expect(out.events).toEqual([]);
    expect(out.errors[0]?.reason).toBe('missing_time');
    expect(result.rejected).toBe(1);
  });

  it('counts records a format decodes to nothing as empty, not rejected', () => {
    const silent = { name: 'silent', description: '', framing: 'lines' as const, sniff: () => 1, decoder: { format: 'silent', decode: () => {} } };
    const out = collectMapping();
    const result = new OtlpLogsMapper({ formats: [silent] }).map(request([{ body: { stringValue: 'x' } }]), { observedTime: 0 }, out);
    expect(out.emptyRecords).toBe(1);
    expect(result.rejected).toBe(0);
  });

  it('refuses rules that name unknown formats', () => {
    expect(() => new OtlpLogsMapper({ formats: testFormats, rules: [{ match: { prefix: 'x' }, format: 'nope' }] })).toThrow(/nope/);
  });
});

describe('otlp_json format', () => {
  it('decodes a pretty-printed document file like its one-line form', () => {
    const doc = { resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: FLOW } }] }] }] };
    const decoder = new OtlpJsonDecoder({ formats: testFormats });
    const pretty = decodeAll(decoder, JSON.stringify(doc, null, 2), { observedTime: 0, location: 'f.json' });
    const line = decodeAll(decoder, JSON.stringify(doc), { observedTime: 0, location: 'f.json' });
    expect(pretty.events).toHaveLength(1);
    expect(pretty).toEqual(line);
  });

  it('the exported default format has no inner formats: every record is skipped as unmapped', () => {
    const out = decodeAll(
      formats[0]?.decoder as OtlpJsonDecoder,
      JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: FLOW } }] }] }] }),
      {
        observedTime: 0,
      },
    );
    expect(out).toEqual({ events: [], errors: [] });
  });

  it('sniffs OTLP/JSON logs and not traces, metrics or other formats', () => {
    expect(sniffOtlpJson('{"resourceLogs":[{"scopeLogs":[{"logRecords":[]}]}]}')).toBeGreaterThan(0.9);
    expect(sniffOtlpJson('{"resourceSpans":[]}')).toBe(0);
    expect(sniffOtlpJson('{"resourceMetrics":[]}')).toBe(0);
    expect(sniffOtlpJson('{"output":"x","priority":"Notice","rule":"r","time":"2024-06-12T09:00:00Z"}')).toBe(0);
    expect(sniffOtlpJson('{"process_exec":{"process":{"binary":"/bin/sh"}}}')).toBe(0);
    expect(sniffOtlpJson('version account-id interface-id')).toBe(0);
  });
});
