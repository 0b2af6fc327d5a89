import type { DecodeError, Decoder, NetworkFlowEvent, OutflowEvent } from '@outflow/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AzureFlowDecoder, GcpFlowDecoder, HubbleDecoder, VpcFlowDecoder } from '../src/index.js';
import { fixture } from './helpers.js';

/**
 * Property tests: 10 000 inputs per decoder, random and mutated from the valid
 * fixtures (truncation, character flips, wrong types, huge numbers, missing
 * fields). Every input must be decoded without throwing, and accounted for: it
 * yields valid events, or errors with a reason and the raw bytes, or a counted
 * skip. Inputs that are certainly bad must give an error and no event.
 */

const RUNS = 10_000;
const DIRECTIONS = new Set(['egress', 'ingress', 'internal', 'unknown']);
const ACTIONS = new Set(['accept', 'reject', 'unknown', undefined]);

function problemsOf(e: OutflowEvent): string[] {
  const p: string[] = [];
  if (e.kind !== 'network_flow') return ['kind'];
  const f = e as NetworkFlowEvent;
  const safe = (n: number | undefined) => n === undefined || (Number.isSafeInteger(n) && n >= 0);
  if (!Number.isFinite(f.time)) p.push('time');
  if (typeof f.source !== 'string' || f.source.length === 0) p.push('source');
  if (typeof f.sourceId !== 'string' || f.sourceId.length === 0) p.push('sourceId');
  for (const ep of [f.src, f.dst]) {
    if (typeof ep?.address !== 'string' || ep.address.length === 0) p.push('address');
    if (ep?.port !== undefined && !(Number.isInteger(ep.port) && ep.port >= 0 && ep.port <= 65535)) p.push('port');
  }
  if (f.protocol !== undefined && !(Number.isInteger(f.protocol) && f.protocol >= 0 && f.protocol <= 255)) p.push('protocol');
  if (![f.bytes, f.packets, f.reverseBytes, f.reversePackets].every(safe)) p.push('counts');
  if (!DIRECTIONS.has(f.direction)) p.push('direction');
  if (!ACTIONS.has(f.action)) p.push('action');
  if (f.start !== undefined && !Number.isFinite(f.start)) p.push('start');
  return p;
}

interface Outcome {
  events: OutflowEvent[];
  errors: DecodeError[];
  skips: number;
}

function run(decoder: (onSkip: () => void) => Decoder<string>, input: string, meta: { line?: number; firstLine?: string } = {}): Outcome {
  const out: Outcome = { events: [], errors: [], skips: 0 };
  const d = decoder(() => {
    out.skips++;
  });
  d.decode(input, { event: (e) => out.events.push(e), error: (e) => out.errors.push(e) }, { observedTime: 0, location: '/fuzz', ...meta });
  return out;
}

/** Checks every fuzz case shares; returns the outcome for extra assertions. */
function check(outcome: Outcome, input: string): void {
  for (const e of outcome.events) expect(problemsOf(e), JSON.stringify(e)).toEqual([]);
  for (const err of outcome.errors) {
    expect(typeof err.reason === 'string' && err.reason.length > 0).toBe(true);
    expect(typeof err.message).toBe('string');
    expect(err.raw).toBeDefined();
  }
  if (input.trim().length > 0)
    expect(outcome.events.length + outcome.errors.length + outcome.skips, `nothing reported for ${JSON.stringify(input).slice(0, 200)}`).toBeGreaterThan(0);
}

const nonEmptyLines = (file: string) =>
  fixture(file)
    .split('\n')
    .filter((l) => l.trim().length > 0);

// ---- mutation arbitraries ------------------------------------------------------

const weird = fc.constantFrom(
  '',
  '-',
  'NaN',
  '-1',
  '1e309',
  '99999999999999999999999',
  '0x1f',
  'null',
  'true',
  '{}',
  '[]',
  '"x"',
  '١٢٣',
  '\u0000',
  ' ',
  '10.0.0.999',
  '::::',
);

function textMutation(bases: readonly string[]): fc.Arbitrary<{ text: string; kind: string }> {
  const base = fc.constantFrom(...bases);
  return fc.oneof(
    fc.tuple(base, fc.nat()).map(([b, n]) => ({ text: b.slice(0, n % (b.length + 1)), kind: 'truncate' })),
    fc
      .tuple(base, fc.nat(), fc.integer({ min: 0, max: 0xffff }))
      .map(([b, n, c]) => ({ text: b.slice(0, n % b.length) + String.fromCharCode(c) + b.slice((n % b.length) + 1), kind: 'flip' })),
    fc.tuple(base, fc.nat(), fc.nat()).map(([b, i, j]) => {
      const a = i % b.length;
      const z = a + (j % 16);
      return { text: b.slice(0, a) + b.slice(z), kind: 'cut' };
    }),
    fc.string({ maxLength: 300 }).map((text) => ({ text, kind: 'random' })),
    fc.string({ unit: 'binary', maxLength: 300 }).map((text) => ({ text, kind: 'random_unicode' })),
  );
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every container path in a JSON value. */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (v !== null && typeof v === 'object') {
    const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
    for (const k of keys) {
      out.push([...at, k]);
      paths((v as Record<string | number, Json>)[k] as Json, [...at, k], out);
    }
  }
  return out;
}

const REPLACEMENTS: Json[] = [null, true, -1, 1e308, 1e30, 'x', '', '-', [], {}, [1, 2], { a: 1 }, '2024-13-45T99:99:99Z', 'NaN', 70000];

function jsonMutation(docs: readonly Json[]): fc.Arbitrary<{ text: string; kind: string }> {
  const op = fc.tuple(fc.nat(), fc.oneof(fc.constant<'delete'>('delete'), fc.nat({ max: REPLACEMENTS.length - 1 })));
  return fc.tuple(fc.constantFrom(...docs), fc.array(op, { minLength: 1, maxLength: 4 })).map(([doc, ops]) => {
    const copy = structuredClone(doc);
    let root: Json = copy;
    for (const [pick, what] of ops) {
      const all = paths(root);
      if (all.length === 0) break;
      const path = all[pick % all.length] as (string | number)[];
      let parent: Json = root;
      for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[k] as Json;
      const key = path[path.length - 1] as string | number;
      if (what === 'delete') {
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete (parent as Record<string, Json>)[key as string];
      } else (parent as Record<string | number, Json>)[key] = REPLACEMENTS[what] as Json;
      if (path.length === 0) root = parent;
    }
    return { text: JSON.stringify(root), kind: 'json' };
  });
}

// ---- VPC -----------------------------------------------------------------------

describe('fuzz: aws_vpc_flow', () => {
  const header = nonEmptyLines('aws_vpc/v5-custom.log')[0] as string;
  const v2 = nonEmptyLines('aws_vpc/v2-default.log').slice(1, 7);
  const v5 = nonEmptyLines('aws_vpc/v5-custom.log').slice(1, 6);
  const make = (onSkip: () => void) => new VpcFlowDecoder({ onSkip });

  it(`never throws and reports every bad line (${RUNS} inputs)`, () => {
    let errors = 0;
    const tokens = (bases: string[]) =>
      fc.tuple(fc.constantFrom(...bases), fc.nat(), weird).map(([b, i, w]) => {
        const f = b.split(' ');
        f[i % f.length] = w;
        return { text: f.join(' '), kind: 'wrong_type' };
      });
    const arb = fc.oneof(
      textMutation(v2).map((m) => ({ ...m, firstLine: undefined as string | undefined })),
      textMutation(v5).map((m) => ({ ...m, firstLine: header })),
      tokens(v2).map((m) => ({ ...m, firstLine: undefined as string | undefined })),
      tokens(v5).map((m) => ({ ...m, firstLine: header })),
    );
    fc.assert(
      fc.property(arb, ({ text, firstLine }) => {
        const o = run(make, text, firstLine ? { line: 2, firstLine } : { line: 2 });
        check(o, text);
        errors += o.errors.length;
      }),
      { numRuns: RUNS, seed: 1537 },
    );
    console.info(`fuzz aws_vpc_flow: ${RUNS} inputs, ${errors} errors reported`);
    expect(errors).toBeGreaterThan(RUNS / 4);
  });

  it('certainly-bad lines give an error and no event: missing fields, huge numbers', () => {
    fc.assert(
      fc.property(fc.constantFrom(...v2), fc.integer({ min: 1, max: 13 }), (line, keep) => {
        const short = line.split(' ').slice(0, keep).join(' ');
        const o = run(make, short);
        expect(o.events).toEqual([]);
        expect(o.errors.map((e) => e.reason)).toEqual(['field_count']);
        expect(o.errors[0]?.raw).toBe(short);
      }),
      { numRuns: 500, seed: 1 },
    );
    fc.assert(
      fc.property(fc.constantFrom(...v2), fc.constantFrom(5, 6, 7, 8, 9, 10, 11), fc.bigInt({ min: 2n ** 53n, max: 10n ** 30n }), (line, field, big) => {
        const f = line.split(' ');
        f[field] = big.toString();
        const o = run(make, f.join(' '));
        expect(o.events).toEqual([]);
        expect(o.errors.map((e) => e.reason)).toEqual(['invalid_field']);
      }),
      { numRuns: 500, seed: 2 },
    );
  });
});

// ---- JSON formats --------------------------------------------------------------

function jsonFuzz(name: string, make: (onSkip: () => void) => Decoder<string>, docs: Json[], texts: string[]) {
  describe(`fuzz: ${name}`, () => {
    it(`never throws and reports every bad record (${RUNS} inputs)`, () => {
      let errors = 0;
      const arb = fc.oneof({ weight: 3, arbitrary: jsonMutation(docs) }, { weight: 2, arbitrary: textMutation(texts) });
      fc.assert(
        fc.property(arb, ({ text }) => {
          const o = run(make, text, { line: 1 });
          check(o, text);
          errors += o.errors.length;
        }),
        { numRuns: RUNS, seed: 1537 },
      );
      console.info(`fuzz ${name}: ${RUNS} inputs, ${errors} errors reported`);
      expect(errors).toBeGreaterThan(RUNS / 4);
    });

    it('truncated JSON is an invalid_json error with the raw text, never an event', () => {
      fc.assert(
        fc.property(fc.constantFrom(...texts), fc.nat(), (text, n) => {
          const cut = text.slice(0, 1 + (n % (text.length - 1)));
          const o = run(make, cut, { line: 1 });
          expect(o.events).toEqual([]);
          expect(o.errors.map((e) => e.reason)).toEqual(['invalid_json']);
          expect(o.errors[0]?.raw).toBe(cut);
        }),
        { numRuns: 500, seed: 3 },
      );
    });
  });
}

const gcpLines = nonEmptyLines('gcp/vpc_flows.jsonl').slice(0, 4);
jsonFuzz(
  'gcp_vpc_flow',
  (onSkip) => new GcpFlowDecoder({ onSkip }),
  gcpLines.map((l) => JSON.parse(l) as Json),
  gcpLines,
);

const azureDocs = ['azure/nsg-v1.json', 'azure/nsg-v2.json', 'azure/vnet.json'].map((f) => fixture(f));
jsonFuzz(
  'azure_flow',
  (onSkip) => new AzureFlowDecoder({ onSkip }),
  azureDocs.map((d) => JSON.parse(d) as Json),
  azureDocs.map((d) => JSON.stringify(JSON.parse(d))),
);

const hubbleLines = [...nonEmptyLines('hubble/cilium-docs-exporter.jsonl'), ...nonEmptyLines('hubble/observe-jsonpb.jsonl').slice(0, 6)];
jsonFuzz(
  'hubble',
  (onSkip) => new HubbleDecoder({ onSkip, l7: 'attributes' }),
  hubbleLines.map((l) => JSON.parse(l) as Json),
  hubbleLines,
);
