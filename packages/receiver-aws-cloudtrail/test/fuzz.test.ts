import { fuzzJsonDecoder } from '@outflow/testkit/fuzz';
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

describe('aws_cloudtrail decoder fuzz', () => {
  it('never throws on 10 000 random and mutated inputs, and reports every bad one through sink.error', () => {
    const { bad, good } = fuzzJsonDecoder({
      decoder: cloudTrailDecoder,
      seeds: SEEDS,
      kind: 'cloud_api_call',
      emptyKeys: ['Records', 'Events'],
    });
    console.log(`aws_cloudtrail fuzz: ${bad} inputs reported errors, ${good} produced events`);
    // The mutations must really exercise both paths.
    expect(bad).toBeGreaterThan(3_000);
    expect(good).toBeGreaterThan(2_000);
  });
});
