import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAll } from '@outflow/core';
import { golden } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { falcoDecoder } from '../src/index.js';

const testdata = join(import.meta.dirname, '..', 'testdata');
const OBSERVED = Date.UTC(2024, 5, 12, 10, 0, 0);

/** Decode a JSON-lines fixture line by line, as the file transport does. */
function decodeFixture(name: string) {
  const lines = readFileSync(join(testdata, name), 'utf8').split('\n');
  const events: unknown[] = [];
  const errors: unknown[] = [];
  lines.forEach((line, i) => {
    const out = decodeAll(falcoDecoder, line, { observedTime: OBSERVED, location: name, line: i + 1, receiver: 'falco' });
    events.push(...out.events);
    errors.push(...out.errors);
  });
  return { events, errors };
}

describe('falco decoder golden files', () => {
  it('alerts.jsonl decodes to alerts.golden.json (events and errors with reasons)', () => {
    const actual = decodeFixture('alerts.jsonl');
    expect(JSON.parse(JSON.stringify(actual))).toEqual(golden(join(testdata, 'alerts.golden.json'), actual));
    expect(actual.events).toHaveLength(6);
    expect((actual.errors as { reason: string }[]).map((e) => e.reason)).toEqual([
      'invalid_json',
      'missing_field',
      'invalid_time',
      'invalid_field',
      'invalid_record',
      'invalid_field',
      'missing_field',
    ]);
  });
});
