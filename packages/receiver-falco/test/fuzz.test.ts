import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DecodeError, OutflowEvent } from '@outflow/core';
import { damagedLines } from '@outflow/testkit/fuzz';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { falcoDecoder } from '../src/index.js';

const valid = readFileSync(join(import.meta.dirname, '..', 'testdata', 'alerts.jsonl'), 'utf8')
  .split('\n')
  .slice(0, 6)
  .map((l) => JSON.parse(l) as Record<string, unknown>);

const weird = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(1e308, -1e308, Number.MAX_SAFE_INTEGER * 1000, '9'.repeat(400), '', '<NA>', null, [], {}, '2024-13-45T99:99:99Z'),
);

/** A valid alert with one mutation: a field removed, a field's type changed, a huge number, an output field replaced. */
const mutatedAlert = fc
  .record({
    base: fc.constantFrom(...valid),
    op: fc.constantFrom('delete', 'retype', 'field', 'huge'),
    key: fc.constantFrom('rule', 'priority', 'output', 'time', 'tags', 'output_fields', 'hostname', 'uuid', 'source'),
    fieldKey: fc.constantFrom(
      'proc.pid',
      'proc.cmdline',
      'proc.tty',
      'fd.name',
      'fd.sip',
      'fd.sport',
      'container.id',
      'k8s.pod.name',
      'user.uid',
      'proc.exepath',
    ),
    value: weird,
  })
  .map(({ base, op, key, fieldKey, value }) => {
    const alert: Record<string, unknown> = structuredClone(base);
    if (op === 'delete') delete alert[key];
    else if (op === 'retype') alert[key] = value;
    else {
      const fields = { ...(alert.output_fields as Record<string, unknown>) };
      fields[fieldKey] = op === 'huge' ? 1e308 : value;
      alert.output_fields = fields;
    }
    return JSON.stringify(alert);
  });

const line = fc.constantFrom(...valid.map((v) => JSON.stringify(v)));
/** Truncations and character flips of valid lines. */
const damaged = damagedLines(line);

const input = fc.oneof(
  mutatedAlert,
  damaged,
  fc.string(),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  line,
);

/** What an independent reading of the alert says the decoder must do with one line. */
function expectation(text: string): 'blank' | 'event' | 'error' | 'array' {
  if (text.trim() === '') return 'blank';
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'error';
  }
  if (Array.isArray(v)) return 'array';
  if (typeof v !== 'object' || v === null) return 'error';
  const a = v as Record<string, unknown>;
  const ok =
    typeof a.rule === 'string' &&
    a.rule !== '' &&
    typeof a.priority === 'string' &&
    a.priority !== '' &&
    typeof a.output === 'string' &&
    typeof a.time === 'string' &&
    /^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/.test(a.time) &&
    Number.isFinite(Date.parse(a.time.replace(' ', 'T'))) &&
    (a.output_fields === undefined || a.output_fields === null || (typeof a.output_fields === 'object' && !Array.isArray(a.output_fields))) &&
    (a.tags === undefined || a.tags === null || Array.isArray(a.tags));
  return ok ? 'event' : 'error';
}

describe('falco decoder fuzz', () => {
  it('never throws on 10,000 random and mutated inputs; every bad one is reported through sink.error', () => {
    const totals = { events: 0, errors: 0, inputs: 0 };
    fc.assert(
      fc.property(input, (text) => {
        const events: OutflowEvent[] = [];
        const errors: DecodeError[] = [];
        falcoDecoder.decode(
          text.replace(/\n/g, ' '),
          { event: (e) => events.push(e), error: (e) => errors.push(e) },
          { observedTime: 0, location: 'fuzz', line: 1 },
        );
        const single = text.replace(/\n/g, ' ');
        const expected = expectation(single);
        totals.inputs++;
        totals.events += events.length;
        totals.errors += errors.length;
        if (expected === 'blank') return events.length === 0 && errors.length === 0;
        if (expected === 'array') return events.length + errors.length === (JSON.parse(single) as unknown[]).length;
        if (expected === 'error') return events.length === 0 && errors.length === 1 && errors[0]?.reason !== undefined && errors[0].raw !== undefined;
        const e = events[0];
        return events.length === 1 && errors.length === 0 && Number.isFinite(e?.time) && typeof JSON.stringify(e) === 'string';
      }),
      { numRuns: 10_000, seed: 1537 },
    );
    expect(totals.inputs).toBe(10_000);
    // the generators must actually exercise both paths
    expect(totals.errors).toBeGreaterThan(3_000);
    expect(totals.events).toBeGreaterThan(1_000);
  });

  it('never throws on random multi-line bodies (JSON lines, arrays, pretty-printed) and accounts for every record', () => {
    const count = (value: unknown) => (Array.isArray(value) ? value.length : 1);
    fc.assert(
      fc.property(fc.array(input, { minLength: 1, maxLength: 6 }), fc.boolean(), (lines, pretty) => {
        const flat = lines.map((l) => l.replace(/\n/g, ' '));
        const body = pretty ? JSON.stringify({ rule: 'r', priority: 'Notice', output: flat[0], time: '2024-06-12T09:00:00Z' }, null, 2) : flat.join('\n');
        let outcomes = 0;
        falcoDecoder.decode(body, { event: () => outcomes++, error: () => outcomes++ }, { observedTime: 0 });
        let expected = 0;
        const first = body.trimStart()[0];
        let whole: unknown;
        let parsed = false;
        if (body.includes('\n') && (first === '{' || first === '[')) {
          try {
            whole = JSON.parse(body);
            parsed = true;
          } catch {}
        }
        if (parsed) expected = count(whole);
        else
          for (const l of body.split('\n')) {
            if (l.trim() === '') continue;
            try {
              expected += count(JSON.parse(l));
            } catch {
              expected += 1;
            }
          }
        return outcomes === expected;
      }),
      { numRuns: 2_000, seed: 7 },
    );
  });
});
