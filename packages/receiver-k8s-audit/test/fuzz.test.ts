import { fuzzJsonDecoder } from '@outflow/testkit/fuzz';
import { describe, expect, it } from 'vitest';
import { k8sAuditDecoder } from '../src/index.js';
import { fixture } from './helpers.js';

/** Valid inputs of every shape, one per line, to mutate. */
const SEEDS: string[] = [
  JSON.stringify(JSON.parse(fixture('webhook-eventlist.json'))),
  JSON.stringify(JSON.parse(fixture('aks-diagnostics.json'))),
  JSON.stringify(JSON.parse(fixture('firehose.json'))),
  ...['exec.jsonl', 'gke.jsonl', 'eks-cloudwatch.jsonl', 'eks-export.log', 'eks-native.jsonl'].flatMap((f) => fixture(f).split('\n').filter(Boolean)),
];

describe('k8s_audit decoder fuzz', () => {
  it('never throws on 10 000 random and mutated inputs, and reports every bad one through sink.error', () => {
    const { bad, good } = fuzzJsonDecoder({
      decoder: k8sAuditDecoder,
      seeds: SEEDS,
      kind: 'k8s_audit',
      emptyKeys: ['items', 'records', 'logEvents', 'events'],
      // CloudWatch control messages carry no events; CloudWatch export lines are a timestamp and then JSON.
      silentObject: (o) => o.messageType === 'CONTROL_MESSAGE',
      notJsonButDecodes: (text) => /^\d{4}-\d\d-\d\dT\S+ \{/.test(text),
    });
    console.log(`k8s_audit fuzz: ${bad} inputs reported errors, ${good} produced events`);
    // The mutations must really exercise both paths.
    expect(bad).toBeGreaterThan(3_000);
    expect(good).toBeGreaterThan(2_000);
  });
});
