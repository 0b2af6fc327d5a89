import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAll, type RuntimeAlertEvent } from '@outflow/core';
import { parseRfc3339, shortHash, splitArgs } from '@outflow/core/codec';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { falcoDecoder, formats, sniffFalco } from '../src/index.js';

const lines = readFileSync(join(import.meta.dirname, '..', 'testdata', 'alerts.jsonl'), 'utf8').split('\n');
const decode = (input: string, meta = {}) => decodeAll(falcoDecoder, input, { observedTime: 1, ...meta });

describe('falco decoder', () => {
  it('decodes a pretty-printed alert, an array and JSON lines the same way', () => {
    const alert = JSON.parse(lines[1] as string);
    const one = decode(lines[1] as string).events;
    const pretty = decode(JSON.stringify(alert, null, 2)).events;
    const array = decode(`[${lines[0]},${lines[1]}]`).events;
    const jsonl = decode(`${lines[0]}\r\n\r\n${lines[1]}\n`).events;
    expect(one).toHaveLength(1);
    const strip = (e: RuntimeAlertEvent) => ({ ...e, location: undefined });
    expect(pretty.map(strip)).toEqual(one.map(strip));
    expect(array[1] && strip(array[1])).toEqual(strip(one[0] as RuntimeAlertEvent));
    expect(jsonl[1] && strip(jsonl[1])).toEqual(strip(one[0] as RuntimeAlertEvent));
  });

  it('locates records: path:line for file lines, #line n and #[i] inside bodies; errors carry the relative part', () => {
    expect(decode(lines[0] as string, { location: 'a.json', line: 7 }).events[0]?.location).toBe('a.json:7');
    expect(decode(`${lines[0]}\nnope`, { location: 'http://10.0.0.1' })).toMatchObject({
      events: [{ location: 'http://10.0.0.1#line 1' }],
      errors: [{ location: 'line 2', reason: 'invalid_json', raw: 'nope' }],
    });
    expect(decode(`[${lines[0]}, 5]`, { location: 'http://10.0.0.1' })).toMatchObject({
      events: [{ location: 'http://10.0.0.1#[0]' }],
      errors: [{ location: '[1]', reason: 'invalid_record', raw: '5' }],
    });
  });

  it('uses uuid as sourceId, else a hash of time, rule, hostname and output that is stable across replays and transports', () => {
    const a = decode(lines[0] as string, { location: 'x.json', line: 1 }).events[0];
    const b = decode(lines[0] as string, { location: 'http://127.0.0.1' }).events[0];
    const c = decode(lines[1] as string).events[0];
    expect(a?.sourceId).toMatch(/^falco-[0-9a-f]{16}$/);
    expect(b?.sourceId).toBe(a?.sourceId);
    expect(c?.sourceId).not.toBe(a?.sourceId);
    expect(decode(lines[3] as string).events[0]?.sourceId).toBe('6c8b5f0e-8d0a-4a55-9d3c-52a3f1b7c9e1');
  });

  it('maps network fields to destination/source attributes, from fd.sip/fd.cip or parsed from fd.name', () => {
    const base = { rule: 'r', priority: 'Notice', output: 'o', time: '2024-06-12T09:00:00Z' };
    const fromName = decode(JSON.stringify({ ...base, output_fields: { 'fd.name': '[::ffff:10.0.0.5]:40000->[2001:db8::1]:443', 'fd.type': 'ipv6' } }))
      .events[0];
    expect(fromName?.attributes).toMatchObject({
      'destination.address': '2001:db8::1',
      'destination.port': 443,
      'source.address': '10.0.0.5',
      'source.port': 40000,
    });
    const remote = decode(JSON.stringify({ ...base, output_fields: { 'fd.rip': '203.0.113.1', 'fd.rport': '8443', 'fd.lip': '10.0.0.2' } })).events[0];
    expect(remote?.attributes).toMatchObject({ 'destination.address': '203.0.113.1', 'destination.port': 8443, 'source.address': '10.0.0.2' });
    const file = decode(JSON.stringify({ ...base, output_fields: { 'fd.name': '/etc/shadow' } })).events[0];
    expect(file?.attributes).toEqual({ 'file.path': '/etc/shadow' });
  });

  it('treats <NA> and null as absent and builds process args from proc.args when there is no cmdline', () => {
    const e = decode(
      JSON.stringify({
        rule: 'r',
        priority: 'Notice',
        output: 'o',
        time: '2024-06-12T09:00:00.5+02:00',
        output_fields: { 'proc.name': 'nc', 'proc.args': '-l 4444', 'proc.pname': '<NA>', 'user.name': '<NA>', 'container.id': null },
      }),
    ).events[0];
    expect(e?.time).toBe(Date.UTC(2024, 5, 12, 7, 0, 0, 500));
    expect(e?.process).toEqual({ executable: 'nc', args: ['nc', '-l', '4444'] });
    expect(e?.workload).toBeUndefined();
  });

  it('reports an empty rule or priority as invalid_field and skips blank input', () => {
    expect(decode(JSON.stringify({ rule: '', priority: 'x', output: '', time: '2024-06-12T09:00:00Z' })).errors[0]?.reason).toBe('invalid_field');
    expect(decode('   ')).toEqual({ events: [], errors: [] });
    expect(decode('')).toEqual({ events: [], errors: [] });
  });
});

describe('helpers', () => {
  it('splitArgs honours simple quotes and escapes', () => {
    expect(splitArgs(`curl -H "X-A: b c" -d 'x y' a\\ b ""`)).toEqual(['curl', '-H', 'X-A: b c', '-d', 'x y', 'a b', '']);
    expect(splitArgs('  bash   -il ')).toEqual(['bash', '-il']);
    expect(splitArgs('sh -c "unterminated')).toEqual(['sh', '-c', 'unterminated']);
    expect(splitArgs('a\\')).toEqual(['a\\']);
  });

  it('splitArgs round-trips plain tokens, and tokens quoted with double quotes', () => {
    const token = fc.string({ minLength: 1, maxLength: 12 }).filter((t) => !/[\s"'\\]/.test(t));
    fc.assert(
      fc.property(
        fc.array(token, { maxLength: 8 }),
        fc.array(
          fc.string({ maxLength: 8 }).filter((t) => !/["\\]/.test(t)),
          { maxLength: 4 },
        ),
        (plain, quoted) => {
          expect(splitArgs(plain.join('  '))).toEqual(plain);
          expect(splitArgs(quoted.map((q) => `"${q}"`).join(' '))).toEqual(quoted);
        },
      ),
      { numRuns: 500, seed: 3 },
    );
  });

  it('parseRfc3339 keeps milliseconds of nanosecond timestamps and rejects zone-less ones', () => {
    expect(parseRfc3339('2019-01-09T08:58:36.335246440Z')).toBe(Date.UTC(2019, 0, 9, 8, 58, 36, 335));
    expect(parseRfc3339('2019-01-09 08:58:36Z')).toBe(Date.UTC(2019, 0, 9, 8, 58, 36));
    expect(parseRfc3339('2019-01-09T08:58:36')).toBeUndefined();
    expect(parseRfc3339('2019-13-09T08:58:36Z')).toBeUndefined();
    expect(parseRfc3339(1547024316)).toBeUndefined();
  });

  it('shortHash is deterministic, 16 hex digits, and differs for near-identical inputs', () => {
    expect(shortHash('abc')).toBe(shortHash('abc'));
    expect(shortHash('abc')).toMatch(/^[0-9a-f]{16}$/);
    const hashes = new Set(Array.from({ length: 10_000 }, (_, i) => shortHash(`2024-06-12T09:00:00Z\nrule\nhost\noutput ${i}`)));
    expect(hashes.size).toBe(10_000);
  });
});

describe('falco sniff', () => {
  const others: Record<string, string> = {
    tetragon: '{"process_exec":{"process":{"exec_id":"eA==","pid":1,"binary":"/bin/sh"}},"node_name":"n","time":"2024-06-12T09:00:00Z"}',
    otlp_json: '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}',
    k8s_audit: '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","verb":"get"}',
    cloudtrail: '{"Records":[{"eventVersion":"1.08","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances"}]}',
    vpc_flow:
      'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1 2 ACCEPT OK',
    tracee: '{"timestamp":1657291777566819000,"processName":"cat","eventName":"security_file_open","args":[{"name":"pathname","value":"/etc/shadow"}]}',
  };

  it('is confident on Falco output (lines, arrays, pretty-printed) and scores other formats 0', () => {
    expect(sniffFalco(lines.join('\n'))).toBeGreaterThanOrEqual(0.95);
    expect(sniffFalco(`[${lines[0]}]`)).toBeGreaterThanOrEqual(0.7);
    expect(sniffFalco(JSON.stringify(JSON.parse(lines[0] as string), null, 2))).toBeGreaterThanOrEqual(0.7);
    for (const [name, head] of Object.entries(others)) expect(sniffFalco(head), name).toBe(0);
    expect(formats.map((f) => [f.name, f.framing])).toEqual([['falco', 'lines']]);
  });
});
