import { join } from 'node:path';
import type { CloudApiCallEvent } from '@outflow/core';
import { decodeAs, golden, goldenOf } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { cloudTrailDecoder } from '../src/index.js';
import { fixture, OBSERVED, TESTDATA } from './helpers.js';

/**
 * Golden tests: each fixture decodes to the checked-in testdata/golden/<fixture>.json.
 * After an intended change of output, regenerate with `UPDATE_GOLDEN=1 npx vitest run golden` and review the diff.
 */
const CASES: { file: string; framing: 'lines' | 'document'; events: number; errors: number }[] = [
  { file: 'stratus-aws.exfiltration.ec2-share-ebs-snapshot.json', framing: 'document', events: 1, errors: 0 },
  { file: 'stratus-aws.exfiltration.ec2-share-ami.json', framing: 'document', events: 1, errors: 0 },
  { file: 'stratus-aws.exfiltration.rds-share-snapshot.json', framing: 'document', events: 1, errors: 0 },
  { file: 'stratus-aws.defense-evasion.cloudtrail-stop.json', framing: 'document', events: 1, errors: 0 },
  { file: 'delivery-ec2-share-ebs-snapshot.json', framing: 'document', events: 1, errors: 0 },
  { file: 'records-mixed.json', framing: 'document', events: 3, errors: 1 },
  { file: 'panther-cloudtrail.jsonl', framing: 'lines', events: 31, errors: 6 },
  { file: 'eventbridge.jsonl', framing: 'lines', events: 2, errors: 2 },
  { file: 'lookup-events.json', framing: 'document', events: 1, errors: 1 },
  { file: 'malformed.jsonl', framing: 'lines', events: 5, errors: 10 },
];

describe('aws_cloudtrail golden files', () => {
  for (const c of CASES) {
    it(`${c.file} (${c.framing})`, () => {
      const result = decodeAs(cloudTrailDecoder, fixture(c.file), c.framing, { location: `testdata/${c.file}`, observedTime: OBSERVED });
      const actual = goldenOf(result);
      expect(actual).toEqual(golden(join(TESTDATA, 'golden', `${c.file}.json`), actual, { createMissing: true }));
      expect(result.events.length).toBe(c.events);
      expect(result.errors.length).toBe(c.errors);
      for (const e of result.events as CloudApiCallEvent[]) {
        expect(typeof e.raw).toBe('object');
        expect(e.provider).toBe('aws');
      }
    });
  }

  it('a Records file with 3 good and 1 bad record yields 3 events and 1 missing_field error', () => {
    const { events, errors } = decodeAs(cloudTrailDecoder, fixture('records-mixed.json'), 'document', {
      location: 'records-mixed.json',
      observedTime: OBSERVED,
    });
    expect(events).toHaveLength(3);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ reason: 'missing_field', location: '/Records/1' });
    expect(errors[0]?.message).toContain('eventTime');
  });
});
