import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DecodeError, OutflowEvent } from '@outflow/core';
import { damagedLines } from '@outflow/testkit/fuzz';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TetragonDecoder } from '../src/index.js';

const testdata = join(import.meta.dirname, '..', 'testdata');
const valid = [
  ...readFileSync(join(testdata, 'examples.jsonl'), 'utf8').trimEnd().split('\n'),
  ...readFileSync(join(testdata, 'kprobes.jsonl'), 'utf8').trimEnd().split('\n').slice(0, 15),
].map((l) => JSON.parse(l) as Record<string, unknown>);

const weird = fc.oneof(fc.jsonValue(), fc.constantFrom(1e308, -1, '9'.repeat(400), '', null, [], {}, 'TCP', '::ffff:', 'yesterday'));

/** Paths into a Tetragon record worth breaking. */
const PATHS = [
  ['time'],
  ['node_name'],
  ['*', 'process'],
  ['*', 'process', 'binary'],
  ['*', 'process', 'arguments'],
  ['*', 'process', 'pid'],
  ['*', 'process', 'pod'],
  ['*', 'process', 'pod', 'container'],
  ['*', 'process', 'pod', 'container', 'image'],
  ['*', 'process', 'pod', 'pod_labels'],
  ['*', 'parent'],
  ['*', 'function_name'],
  ['*', 'args'],
  ['*', 'args', 0],
  ['*', 'args', 0, 'sock_arg'],
  ['*', 'args', 0, 'sock_arg', 'daddr'],
  ['*', 'args', 0, 'sock_arg', 'sport'],
  ['*', 'args', 0, 'file_arg', 'path'],
  ['*', 'args', 1],
  ['*', 'return'],
  ['*', 'stats'],
  ['*', 'destination_ip'],
  ['*', 'status'],
] as const;

function mutate(record: Record<string, unknown>, path: readonly (string | number)[], op: 'delete' | 'set', value: unknown): Record<string, unknown> {
  const copy = structuredClone(record);
  const eventKey = Object.keys(copy).find((k) => k.startsWith('process_')) ?? 'process_exec';
  let node: unknown = copy;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] === '*' ? eventKey : (path[i] as string | number);
    node = (node as Record<string | number, unknown> | undefined)?.[key];
    if (typeof node !== 'object' || node === null) return copy;
  }
  const last = path[path.length - 1] as string | number;
  const target = node as Record<string | number, unknown>;
  if (op === 'delete') delete target[last];
  else target[last] = value;
  return copy;
}

const mutated = fc
  .tuple(fc.constantFrom(...valid), fc.constantFrom(...PATHS), fc.constantFrom<'delete' | 'set'>('delete', 'set'), weird)
  .map(([r, path, op, value]) => JSON.stringify(mutate(r, path, op, value)));
const line = fc.constantFrom(...valid.map((v) => JSON.stringify(v)));
/** Truncations and character flips of valid lines. */
const damaged = damagedLines(line);
const input = fc.oneof(
  mutated,
  mutated,
  damaged,
  fc.string(),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  line,
);

describe('tetragon decoder fuzz', () => {
  it('never throws on 10,000 random and mutated records; each record yields exactly one event, error or skip', () => {
    let skips = 0;
    const decoder = new TetragonDecoder({ onSkip: () => skips++ });
    const totals = { events: 0, errors: 0, skips: 0 };
    fc.assert(
      fc.property(input, (raw) => {
        const text = raw.replace(/[\n\r]/g, ' ');
        const events: OutflowEvent[] = [];
        const errors: DecodeError[] = [];
        skips = 0;
        decoder.decode(text, { event: (e) => events.push(e), error: (e) => errors.push(e) }, { observedTime: 0, location: 'fuzz', line: 3 });
        totals.events += events.length;
        totals.errors += errors.length;
        totals.skips += skips;
        if (text.trim() === '') return events.length + errors.length + skips === 0;
        if (events.length + errors.length + skips !== 1) return false;
        let json = true;
        try {
          JSON.parse(text);
        } catch {
          json = false;
        }
        if (!json) return errors.length === 1 && errors[0]?.reason === 'invalid_json' && errors[0].raw === text && errors[0].location === '3';
        for (const e of errors) if (!e.reason || e.raw !== text) return false;
        for (const e of events) {
          if (!Number.isFinite(e.time) || e.source !== 'tetragon' || !e.sourceId) return false;
          if (e.kind === 'network_flow' && (typeof e.dst.address !== 'string' || e.dst.address === '')) return false;
          if (e.kind === 'file_access' && !e.path.startsWith('/')) return false;
          JSON.stringify(e);
        }
        return true;
      }),
      { numRuns: 10_000, seed: 1537 },
    );
    expect(totals.errors).toBeGreaterThan(2_000);
    expect(totals.events).toBeGreaterThan(2_000);
    expect(totals.skips).toBeGreaterThan(0);
  });

  it('gives the same event ids when the same lines are decoded again (replay)', () => {
    const ids = (lines: string[]) => {
      const out: string[] = [];
      lines.forEach((l, i) => {
        new TetragonDecoder().decode(l, { event: (e) => out.push(e.sourceId ?? ''), error: () => {} }, { observedTime: i, location: 'a.log', line: i + 1 });
      });
      return out;
    };
    const lines = valid.map((v) => JSON.stringify(v));
    const first = ids(lines);
    expect(ids(lines)).toEqual(first);
    expect(new Set(first).size).toBe(first.length);
  });
});
