import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAll } from '@outflow/core';
import { golden } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { OtlpJsonDecoder } from '../src/index.js';
import { testFormats } from './test-formats.js';

const testdata = join(import.meta.dirname, '..', 'testdata');
const OBSERVED = Date.UTC(2024, 5, 12, 10, 0, 0);

describe('otlp_json decoder golden file', () => {
  it('logs.jsonl decodes to logs.golden.json: bodies by rule and by sniff, resource workload, time fallback, errors', () => {
    const skipped: { reason: string; location: string | undefined }[] = [];
    const decoder = new OtlpJsonDecoder({
      formats: testFormats,
      rules: [{ match: { attribute: 'log.file.name', prefix: 'legacy-' }, format: 'test_flow' }],
      onSkip: (reason, location) => skipped.push({ reason, location }),
    });
    const events: unknown[] = [];
    const errors: unknown[] = [];
    readFileSync(join(testdata, 'logs.jsonl'), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const out = decodeAll(decoder, line, { observedTime: OBSERVED, location: 'logs.jsonl', line: i + 1, receiver: 'otlp' });
        events.push(...out.events);
        errors.push(...out.errors);
      });
    const actual = { events, errors, skipped };
    expect(JSON.parse(JSON.stringify(actual))).toEqual(golden(join(testdata, 'logs.golden.json'), actual));
    expect(events).toHaveLength(4);
    expect((errors as { reason: string }[]).map((e) => e.reason)).toEqual([
      'invalid_flow',
      'invalid_flow',
      'invalid_json',
      'invalid_request',
      'invalid_request',
    ]);
    expect(skipped.map((s) => s.reason)).toEqual(['unmapped', 'unmapped']);
  });
});
