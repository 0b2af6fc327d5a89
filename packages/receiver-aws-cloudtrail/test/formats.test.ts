import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cloudTrailDecoder, cloudTrailFormat, formats } from '../src/index.js';
import { fixture, TESTDATA } from './helpers.js';

const HEAD = 64 * 1024;
const OWN = [
  'stratus-aws.exfiltration.ec2-share-ebs-snapshot.json',
  'stratus-aws.defense-evasion.cloudtrail-stop.json',
  'delivery-ec2-share-ebs-snapshot.json',
  'records-mixed.json',
  'panther-cloudtrail.jsonl',
  'eventbridge.jsonl',
  'lookup-events.json',
];

/** Kubernetes audit logs in their common shapes: must not be taken for CloudTrail. */
const AUDIT = [
  '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"list","user":{"username":"alice"},"sourceIPs":["10.0.0.1"],"requestReceivedTimestamp":"2024-05-02T10:00:00Z"}',
  '{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"/aws/eks/prod/cluster","logStream":"kube-apiserver-audit-1","logEvents":[{"id":"1","timestamp":1,"message":"{\\"kind\\":\\"Event\\",\\"verb\\":\\"get\\"}"}]}',
];

describe('aws_cloudtrail format definition', () => {
  it('is exported with its name, framing and decoder', () => {
    expect(formats).toEqual([cloudTrailFormat]);
    expect(cloudTrailFormat).toMatchObject({ name: 'aws_cloudtrail', framing: 'document', decoder: cloudTrailDecoder });
  });

  it('sniffs every CloudTrail shape with high confidence, also from a head cut mid-record', () => {
    for (const file of OWN) expect(cloudTrailFormat.sniff?.(fixture(file).slice(0, HEAD)), file).toBeGreaterThanOrEqual(0.8);
    expect(cloudTrailFormat.sniff?.(fixture('stratus-aws.exfiltration.ec2-share-ebs-snapshot.json').slice(0, 400))).toBeGreaterThanOrEqual(0.9);
  });

  it('scores other formats low', () => {
    const others = readdirSync(join(TESTDATA, 'other-formats')).map((f) => [f, fixture(join('other-formats', f))] as const);
    expect(others.length).toBeGreaterThanOrEqual(7);
    for (const [name, text] of [...others, ...AUDIT.map((t, i) => [`audit-${i}`, t] as const)]) {
      expect(cloudTrailFormat.sniff?.(text.slice(0, HEAD)), name).toBeLessThan(0.3);
    }
  });
});
