import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formats, k8sAuditDecoder, k8sAuditFormat } from '../src/index.js';
import { fixture, TESTDATA } from './helpers.js';

const HEAD = 64 * 1024;
const OWN = [
  'webhook-eventlist.json',
  'eks-native.jsonl',
  'exec.jsonl',
  'gke.jsonl',
  'aks-diagnostics.json',
  'eks-cloudwatch.jsonl',
  'eks-export.log',
  'malformed.jsonl',
];

/** CloudTrail in the shapes the CloudTrail receiver reads: must not be taken for audit logs. */
const CLOUDTRAIL = [
  '{"Records":[{"eventVersion":"1.09","userIdentity":{"type":"IAMUser"},"eventTime":"2024-05-02T10:00:00Z","eventSource":"eks.amazonaws.com","eventName":"DescribeCluster","awsRegion":"eu-west-1","requestParameters":{"name":"prod"},"eventID":"e1"}]}',
  '{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.eks","detail":{"eventTime":"2024-05-02T10:00:00Z","eventSource":"eks.amazonaws.com","eventName":"CreateAccessEntry"}}',
];

describe('k8s_audit format definition', () => {
  it('is exported with its name, framing and decoder', () => {
    expect(formats).toEqual([k8sAuditFormat]);
    expect(k8sAuditFormat).toMatchObject({ name: 'k8s_audit', framing: 'lines', decoder: k8sAuditDecoder });
    expect(k8sAuditFormat.description.length).toBeGreaterThan(20);
  });

  it('sniffs every shape of audit log with high confidence', () => {
    for (const file of OWN) expect(k8sAuditFormat.sniff?.(fixture(file).slice(0, HEAD)), file).toBeGreaterThanOrEqual(0.85);
    // A head cut in the middle of a record still scores.
    expect(k8sAuditFormat.sniff?.(fixture('webhook-eventlist.json').slice(0, 300))).toBeGreaterThanOrEqual(0.85);
  });

  it('scores other formats low', () => {
    const others = readdirSync(join(TESTDATA, 'other-formats')).map((f) => [f, fixture(join('other-formats', f))] as const);
    expect(others.length).toBeGreaterThanOrEqual(7);
    for (const [name, text] of [...others, ...CLOUDTRAIL.map((t, i) => [`cloudtrail-${i}`, t] as const)]) {
      expect(k8sAuditFormat.sniff?.(text.slice(0, HEAD)), name).toBeLessThan(0.3);
    }
    expect(k8sAuditFormat.sniff?.('')).toBe(0);
  });
});
