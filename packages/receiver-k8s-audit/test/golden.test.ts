import { join } from 'node:path';
import { decodeAs, golden, goldenOf } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { k8sAuditDecoder } from '../src/index.js';
import { fixture, OBSERVED, TESTDATA } from './helpers.js';

/**
 * Golden tests: each fixture decodes to the checked-in testdata/golden/<fixture>.json.
 * After an intended change of output, regenerate with `UPDATE_GOLDEN=1 npx vitest run golden` and review the diff.
 */
const CASES: { file: string; framing: 'lines' | 'document'; events: number; errors: number }[] = [
  { file: 'webhook-eventlist.json', framing: 'document', events: 8, errors: 0 },
  { file: 'eks-native.jsonl', framing: 'lines', events: 14, errors: 6 },
  { file: 'exec.jsonl', framing: 'lines', events: 13, errors: 2 },
  { file: 'gke.jsonl', framing: 'lines', events: 16, errors: 13 },
  { file: 'aks-diagnostics.json', framing: 'document', events: 12, errors: 1 },
  { file: 'eks-cloudwatch.jsonl', framing: 'lines', events: 3, errors: 2 },
  { file: 'eks-export.log', framing: 'lines', events: 4, errors: 0 },
  { file: 'firehose.json', framing: 'document', events: 3, errors: 2 },
  { file: 'malformed.jsonl', framing: 'lines', events: 3, errors: 17 },
];

describe('k8s_audit golden files', () => {
  for (const c of CASES) {
    it(`${c.file} (${c.framing})`, () => {
      const result = decodeAs(k8sAuditDecoder, fixture(c.file), c.framing, { location: `testdata/${c.file}`, observedTime: OBSERVED });
      const actual = goldenOf(result);
      expect(actual).toEqual(golden(join(TESTDATA, 'golden', `${c.file}.json`), actual, { createMissing: true }));
      expect(result.events.length).toBe(c.events);
      expect(result.errors.length).toBe(c.errors);
      for (const e of result.events) {
        expect(typeof e.raw).toBe('object');
        expect(Number.isFinite(e.time)).toBe(true);
      }
      for (const e of result.errors) expect(e.raw.length).toBeGreaterThan(0);
    });
  }
});
