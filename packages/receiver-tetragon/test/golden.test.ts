import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAll } from '@outflow/core';
import { golden } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { TetragonDecoder } from '../src/index.js';

const testdata = join(import.meta.dirname, '..', 'testdata');
const OBSERVED = Date.UTC(2024, 5, 12, 10, 0, 0);

/** Decode a JSON-lines fixture line by line, as the file transport does; skipped records are counted. */
function decodeFixture(name: string) {
  const skipped: { reason: string; location: string | undefined }[] = [];
  const decoder = new TetragonDecoder({ onSkip: (reason, location) => skipped.push({ reason, location }) });
  const events: unknown[] = [];
  const errors: unknown[] = [];
  readFileSync(join(testdata, name), 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const out = decodeAll(decoder, line, { observedTime: OBSERVED, location: name, line: i + 1, receiver: 'tetragon' });
      events.push(...out.events);
      errors.push(...out.errors);
    });
  return { events, errors, skipped };
}

describe('tetragon decoder golden files', () => {
  it('examples.jsonl (Tetragon documentation examples) decodes to examples.golden.json', () => {
    const actual = decodeFixture('examples.jsonl');
    expect(JSON.parse(JSON.stringify(actual))).toEqual(golden(join(testdata, 'examples.golden.json'), actual));
    expect(actual.errors).toEqual([]);
    // 15 records: 14 events and one process_listen, which has no flow to report
    expect(actual.events).toHaveLength(14);
    expect(actual.skipped).toEqual([{ reason: 'unsupported_event', location: 'examples.jsonl:6' }]);
  });

  it('events.json (Tetragon testdata) decodes to events.golden.json', () => {
    const actual = decodeFixture('events.json');
    expect(JSON.parse(JSON.stringify(actual))).toEqual(golden(join(testdata, 'events.golden.json'), actual));
    expect(actual.events).toHaveLength(3);
    expect(actual.errors).toEqual([]);
  });

  it('kprobes.jsonl (socket and file hooks, malformed records) decodes to kprobes.golden.json', () => {
    const actual = decodeFixture('kprobes.jsonl');
    expect(JSON.parse(JSON.stringify(actual))).toEqual(golden(join(testdata, 'kprobes.golden.json'), actual));
    expect(actual.skipped.map((s) => s.reason)).toEqual(['unsupported_kprobe', 'unsupported_event']);
    expect((actual.errors as { reason: string }[]).map((e) => e.reason)).toEqual([
      'invalid_json',
      'invalid_record',
      'unknown_event',
      'missing_field',
      'invalid_time',
      'missing_field',
      'missing_field',
      'missing_field',
      'invalid_record',
      'invalid_field',
    ]);
  });
});
