import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DecodeError, decodeAll } from '@outflow/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DecodeSummary, NetflowDecoder } from '../src/decoder.js';
import { encodeIpfix, encodeIpfixMessage, encodeV5, encodeV9, type FlowSpec, type TemplateSpec } from '../src/encoder.js';
import { NetflowHexLineDecoder, parseHexPayload } from '../src/format.js';
import { TESTDATA } from './helpers.js';

// 10 000 random and mutated datagrams through one long-lived decoder (so template and buffer state is exercised
// too): decode never throws, never hits its internal-exception guard, accounts for every datagram, and reports
// every input that is bad by construction through sink.error with a reason and raw bytes.

const captures = ['v5', 'v9', 'v9-sampled', 'ipfix', 'ipfix-milli', 'ipfix-biflow'].flatMap((name) => {
  const dir = join(TESTDATA, 'softflowd', name);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort()
    .map((f) => new Uint8Array(readFileSync(join(dir, f))));
});

const flows: FlowSpec[] = [
  {
    src: '10.0.0.1',
    dst: '198.51.100.7',
    srcPort: 1234,
    dstPort: 443,
    protocol: 6,
    bytes: 1000,
    packets: 3,
    start: Date.UTC(2024, 0, 1) - 900,
    end: Date.UTC(2024, 0, 1) - 100,
  },
  { src: 'fd00::1', dst: '2001:db8::9', srcPort: 53, dstPort: 5353, protocol: 17, bytes: 80, packets: 1 },
];
const varlen: TemplateSpec = {
  id: 700,
  fields: [
    { id: 82, length: 65535 },
    { id: 8, length: 4 },
    { id: 12, length: 4 },
    { id: 5, length: 65535, pen: 9 },
    { id: 1, length: 8, pen: 29305 },
  ],
};
const options: TemplateSpec = {
  id: 701,
  scopeCount: 1,
  fields: [
    { id: 143, length: 4 },
    { id: 160, length: 8 },
    { id: 34, length: 4 },
  ],
};
const encoded: Uint8Array[] = [
  encodeV5(flows.slice(0, 1)),
  encodeV9(flows),
  encodeV9(flows, { include: 'data' }),
  encodeIpfix(flows),
  encodeIpfix(flows, { include: 'data', templateIds: { ipv4: 900, ipv6: 901 } }),
  encodeIpfixMessage({}, [
    { type: 'templates', templates: [varlen] },
    { type: 'options_templates', templates: [options] },
    { type: 'data', template: options, records: [[1, Date.UTC(2023, 11, 1), 10]] },
    { type: 'data', template: varlen, records: [['eth0', '10.1.1.1', '192.0.2.1', 'x'.repeat(300), 5]] },
  ]),
  encodeIpfixMessage({}, [{ type: 'withdraw', templateIds: [700] }]),
];
const corpus = [...captures, ...encoded];

type Mutation = 'truncate' | 'flip' | 'flips' | 'length_zero' | 'length_huge' | 'version';

/** Offsets of 16-bit length/count fields: the header's, every set's, and the first template record's count and field lengths. */
function lengthFields(d: Uint8Array): number[] {
  const version = ((d[0] as number) << 8) | (d[1] as number);
  const out = [2];
  if (version !== 9 && version !== 10) return out;
  const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
  let pos = version === 9 ? 20 : 16;
  while (pos + 4 <= d.length) {
    const id = view.getUint16(pos);
    const length = view.getUint16(pos + 2);
    out.push(pos + 2);
    if ((id === 0 || id === 2) && pos + 8 <= d.length) {
      out.push(pos + 6);
      for (let f = pos + 8; f + 4 <= Math.min(d.length, pos + length) && f < pos + 40; f += 4) out.push(f + 2);
    }
    if (length < 4) break;
    pos += length;
  }
  return out;
}

function mutate(base: Uint8Array, kind: Mutation, a: number, b: number): { bytes: Uint8Array; certainlyBad: boolean } {
  const d = base.slice();
  const version = ((d[0] as number) << 8) | (d[1] as number);
  switch (kind) {
    case 'truncate': {
      const cut = a % d.length;
      // v5 and IPFIX carry the total length (count, message length): any cut is detectable. v9 cut at a set boundary is not.
      return { bytes: d.subarray(0, cut), certainlyBad: version !== 9 || cut < 20 };
    }
    case 'flip':
      d[a % d.length] = ((d[a % d.length] as number) ^ (1 + (b % 255))) & 255;
      return { bytes: d, certainlyBad: false };
    case 'flips':
      for (let i = 0; i < 1 + (b % 8); i++) d[(a + i * 7919) % d.length] = (b * (i + 1)) & 255;
      return { bytes: d, certainlyBad: false };
    case 'length_zero':
    case 'length_huge': {
      const fields = lengthFields(d);
      const at = fields[a % fields.length] as number;
      const value = kind === 'length_zero' ? 0 : 0xfff0 + (b % 16);
      d[at] = value >> 8;
      d[at + 1] = value & 255;
      // the header length (IPFIX) or count (v5) and set lengths are framing: zero or huge is always detectable
      const framing = at === 2 ? version !== 9 : at !== 2 && isSetLength(d, at, version);
      return { bytes: d, certainlyBad: framing };
    }
    case 'version': {
      const v = [0, 1, 6, 7, 8, 11, 0xffff][a % 7] as number;
      d[0] = v >> 8;
      d[1] = v & 255;
      return { bytes: d, certainlyBad: true };
    }
  }
}

function isSetLength(d: Uint8Array, at: number, version: number): boolean {
  const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
  let pos = version === 9 ? 20 : 16;
  while (pos + 4 <= d.length) {
    if (pos + 2 === at) return true;
    const length = view.getUint16(pos + 2);
    if (length < 4) return false;
    pos += length;
  }
  return false;
}

describe('fuzz: 10 000 random and mutated datagrams', () => {
  it('never throws, accounts for every datagram and reports every bad one', () => {
    const maxPending = 4096;
    const decoder = new NetflowDecoder({ pendingMaxBytes: maxPending, maxTemplatesPerExporter: 16, maxExporters: 4, pendingTtlMs: 200 });
    let errors = 0;
    let reported: DecodeError[] = [];
    let now = Date.UTC(2024, 0, 1);
    const sink = {
      event: () => {},
      // never assert inside the sink: the decoder's guard would catch it
      error: (e: DecodeError) => {
        errors++;
        reported.push(e);
      },
    };
    const run = (bytes: Uint8Array, exporter: string, certainlyBad: boolean) => {
      now += 7;
      const before = errors;
      // plain checks (not expect) on this hot loop; a failure throws with the datagram in hex
      const fail = (why: string) => {
        throw new Error(`${why}: ${Buffer.from(bytes).toString('hex')}`);
      };
      const s: DecodeSummary = decoder.decode(bytes, exporter, sink, { observedTime: now, location: `udp://${exporter}:2055` });
      for (const e of reported) {
        if (e.reason === 'decoder_exception') fail(`decoder exception ${e.message}`);
        if (!/^[a-z_]+$/.test(e.reason)) fail(`bad reason ${e.reason}`);
        // the raw bytes of what was bad (empty only for an empty datagram)
        if (bytes.length > 0 && e.raw.length === 0) fail(`no raw bytes for ${e.reason}`);
      }
      reported = [];
      if (s.errors !== errors - before) fail('summary.errors differs from the errors reported');
      const accounted = s.errors + s.events + s.templates + s.withdrawals + s.buffered + s.optionsRecords + s.dropped > 0 || s.empty;
      if (!accounted) fail('datagram left no trace');
      if (certainlyBad && s.errors === 0) fail('bad datagram not reported');
      return s;
    };
    const exporter = fc.constantFrom('192.0.2.1', '192.0.2.2', '198.51.100.3', '2001:db8::1', '203.0.113.5');
    let runs = 0;
    let bad = 0;

    // 3 000 random datagrams, most of them starting with a NetFlow version number
    fc.assert(
      fc.property(fc.constantFrom(5, 9, 10, 10, 9, 0, 0x4500), fc.uint8Array({ minLength: 0, maxLength: 1600 }), exporter, (version, body, from) => {
        const d = new Uint8Array(body.length + 2);
        d[0] = version >> 8;
        d[1] = version & 255;
        d.set(body, 2);
        const s = run(body.length === 0 ? body : d, from, version !== 5 && version !== 9 && version !== 10);
        runs++;
        if (s.errors > 0) bad++;
      }),
      { numRuns: 3000, seed: 5537 },
    );

    // 7 000 mutations of real and encoded datagrams, interleaved with the originals so templates keep arriving
    const kinds: Mutation[] = ['truncate', 'flip', 'flips', 'length_zero', 'length_huge', 'version'];
    fc.assert(
      fc.property(fc.nat(corpus.length - 1), fc.constantFrom(...kinds), fc.nat(), fc.nat(), exporter, fc.boolean(), (i, kind, a, b, from, resend) => {
        const base = corpus[i] as Uint8Array;
        if (resend) run(base, from, false);
        const { bytes, certainlyBad } = mutate(base, kind, a, b);
        const s = run(bytes, from, certainlyBad);
        runs++;
        if (s.errors > 0) bad++;
      }),
      { numRuns: 7000, seed: 1537 },
    );

    decoder.expire(now + 1000, sink);
    expect(runs).toBe(10_000);
    expect(bad).toBeGreaterThan(5000);
    // every reported error is in the decoder's own counts, and its state stayed inside its bounds
    const counted = Object.values(decoder.stats.errors).reduce((x, y) => x + y, 0);
    expect(counted).toBe(errors);
    expect(decoder.pendingBytes).toBe(0);
    expect(decoder.exporterCount).toBeLessThanOrEqual(4);
    expect(decoder.templateCount).toBeLessThanOrEqual(4 * 16);
  });

  it('the hex-lines decoder never throws on 2 000 random and damaged lines, and reports every line that is not hex', () => {
    const decoder = new NetflowHexLineDecoder();
    const good = corpus.slice(0, 6).map((d) => `127.0.0.1\t40000\t${Buffer.from(d).toString('hex')}`);
    let invalid = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.constantFrom(...good).chain((l) => fc.nat(l.length).map((n) => l.slice(0, n))),
        ),
        (line) => {
          const out = decodeAll(decoder, line, { observedTime: 0, location: 'fuzz', line: 1 });
          expect(out.errors.some((e) => e.reason === 'decoder_exception')).toBe(false);
          const trimmed = line.trim();
          if (trimmed === '' || trimmed.startsWith('#')) return;
          if (parseHexPayload(trimmed.split(/[\t ]+/).pop() as string) === undefined) {
            invalid++;
            expect(out.errors.map((e) => e.reason)).toEqual(['invalid_hex']);
            expect(out.errors[0]?.raw).toBe(line);
          }
        },
      ),
      { numRuns: 2000, seed: 99 },
    );
    expect(invalid).toBeGreaterThan(500);
  });
});
