import type { DecodeError, OutflowEvent } from '@outflow/core';
import { splitConcatenated } from '@outflow/core/codec';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cloudTrailDecoder } from '../src/index.js';
import { fixture } from './helpers.js';

/** Valid inputs of every shape, one per line, to mutate. */
const SEEDS: string[] = [
  ...[
    'stratus-aws.exfiltration.ec2-share-ebs-snapshot.json',
    'stratus-aws.exfiltration.ec2-share-ami.json',
    'stratus-aws.exfiltration.rds-share-snapshot.json',
    'delivery-ec2-share-ebs-snapshot.json',
    'records-mixed.json',
    'lookup-events.json',
  ].map((f) => JSON.stringify(JSON.parse(fixture(f)))),
  ...['panther-cloudtrail.jsonl', 'eventbridge.jsonl'].flatMap((f) => fixture(f).split('\n').filter(Boolean)),
];

const HUGE = [1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, -0, 1e-320];
const WRONG = [null, true, 0, -1, '', 'x'.repeat(300), [], {}, [null], { a: { b: [] } }, ...HUGE];

/** Paths of every value in a JSON tree (bounded), to pick one to break. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (out.length > 400) return out;
  if (Array.isArray(value)) for (let i = 0; i < value.length; i++) paths(value[i], [...prefix, i], out);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  if (prefix.length > 0) out.push(prefix);
  return out;
}

function mutateJson(text: string, pick: number, kind: number, replacement: unknown): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text;
  }
  // Wrapped records carry their event as a JSON string: mutate inside it too.
  const all = paths(value);
  if (all.length === 0) return text;
  const path = all[pick % all.length] as (string | number)[];
  let parent = value as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (kind === 0) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (kind === 1 && typeof parent[last] === 'string') {
    const s = parent[last] as string;
    parent[last] = s.startsWith('{') ? mutateJson(s, pick * 7 + 3, (kind + pick) % 3, replacement) : s.slice(0, Math.max(0, s.length - 1 - (pick % 5)));
  } else {
    parent[last] = replacement;
  }
  return JSON.stringify(value);
}

const mutated = fc
  .record({
    seed: fc.nat({ max: SEEDS.length - 1 }),
    op: fc.nat({ max: 5 }),
    at: fc.nat(),
    pick: fc.nat(),
    kind: fc.nat({ max: 2 }),
    wrong: fc.constantFrom(...WRONG),
    byte: fc.integer({ min: 0, max: 0xffff }),
  })
  .map(({ seed, op, at, pick, kind, wrong, byte }) => {
    const text = SEEDS[seed] as string;
    switch (op) {
      case 0: // truncation
        return text.slice(0, at % (text.length + 1));
      case 1: {
        // byte flip
        const i = at % text.length;
        return text.slice(0, i) + String.fromCharCode(byte) + text.slice(i + 1);
      }
      case 2: // wrong types, huge numbers, missing fields, broken nested strings
        return mutateJson(text, pick, kind, wrong);
      case 3: // two mutations
        return mutateJson(mutateJson(text, pick, 2, wrong), pick * 31 + 1, 0, wrong);
      case 4: // duplicated or joined records
        return at % 2 === 0 ? `${text}\n${text}` : `${text}${text}`;
      default:
        return text;
    }
  });

const input = fc.oneof(
  { weight: 6, arbitrary: mutated },
  { weight: 2, arbitrary: fc.json().map((j) => j) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
);

/** Inputs that may legitimately produce nothing: blank text and empty containers. */
function maySilent(text: string): boolean {
  if (text.trim() === '') return true;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    // JSON lines or concatenated values: silent only if every part is.
    if (text.includes('\n')) return text.split('\n').every((line) => line.trim() === '' || silentValue(line));
    const parts = splitConcatenated(text);
    return parts?.every(silentValue) ?? false;
  }
  return silentValue(v);
}

function silentValue(value: unknown): boolean {
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return false;
    }
  }
  if (Array.isArray(v)) return v.length === 0;
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  for (const key of ['Records', 'Events']) if (Array.isArray(o[key]) && (o[key] as unknown[]).length === 0) return true;
  return false;
}

describe('aws_cloudtrail decoder fuzz', () => {
  it('never throws on 10 000 random and mutated inputs, and reports every bad one through sink.error', () => {
    let bad = 0;
    let good = 0;
    let runs = 0;
    fc.assert(
      fc.property(input, fc.boolean(), (text, withLine) => {
        runs++;
        const events: OutflowEvent[] = [];
        const errors: DecodeError[] = [];
        const meta = { observedTime: 1, location: 'fuzz', ...(withLine ? { line: 3 } : {}) };
        expect(() => cloudTrailDecoder.decode(text, { event: (e) => events.push(e), error: (e) => errors.push(e) }, meta)).not.toThrow();
        for (const e of errors) {
          expect(e.reason).not.toBe('decoder_exception');
          expect(typeof e.reason).toBe('string');
          expect(typeof e.message).toBe('string');
          expect(e.raw).toBeDefined();
        }
        for (const e of events) {
          expect(e.kind).toBe('cloud_api_call');
          expect(Number.isFinite(e.time)).toBe(true);
          expect(typeof e.sourceId).toBe('string');
          expect(e.sourceId?.length).toBeGreaterThan(0);
        }
        if (events.length + errors.length === 0) expect(maySilent(text)).toBe(true);
        let parses = true;
        try {
          JSON.parse(text);
        } catch {
          parses = false;
        }
        // A single line that is not JSON (and not a concatenation) must be an error.
        if (!parses && !text.includes('\n') && splitConcatenated(text) === undefined && text.trim() !== '') expect(errors.length).toBeGreaterThan(0);
        if (errors.length > 0) bad++;
        if (events.length > 0) good++;
      }),
      { numRuns: 10_000, seed: Number(process.env.FUZZ_SEED ?? 1537) },
    );
    expect(runs).toBe(10_000);
    console.log(`aws_cloudtrail fuzz: ${bad} inputs reported errors, ${good} produced events`);
    // The mutations must really exercise both paths.
    expect(bad).toBeGreaterThan(3_000);
    expect(good).toBeGreaterThan(2_000);
  });
});
