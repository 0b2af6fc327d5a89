import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CloudApiCallEvent, decodeAll, type Severity } from '@outflow/core';
import { cloudTrailDecoder } from '@outflow/receiver-aws-cloudtrail';
import { describe, expect, it } from 'vitest';
import { runPreset, TESTDATA } from './helpers.js';

interface PantherTest {
  rule_id: string;
  test_name: string;
  expected_result: boolean;
  log: unknown;
}

/**
 * Outflow's verdict for each Panther test event (default config: the
 * recipient account is ours). `null`: no T1537 analytic fires. Where it
 * differs from Panther's `expected_result`, the reason is given.
 */
const VERDICTS: Record<string, [string, Severity] | null> = {
  'AMI Made Public': ['ami_shared', 'critical'],
  'AMI Not Made Public': null,
  'AMI Launch Permissions Not Modified': null,
  'AMI Added to User': null, // userId "bob" is not an account id: the grant cannot take effect
  'Error Making AMI Public': null,
  'Access Granted To Unknown User': ['ami_shared', 'high'], // a share with a foreign account (Panther: true)
  'Lambda Add Permission Event': null, // function permission (persistence), not a layer: outside T1537
  'Lambda Add Permission Event v2': null,
  'Lambda Remove Permission Event': null,
  'RDS Snapshot Export Started': ['export_task_started', 'medium'], // bucket owner unknown: medium
  'RDS Snapshot Export to Suspicious Bucket': ['export_task_started', 'medium'],
  'RDS Snapshot Export Failed': null,
  'Different RDS Event': null,
  'Snapshot shared with another account': ['rds_snapshot_shared', 'high'],
  'Snapshot shared with no accounts': null,
  'ECR Made Public': ['resource_policy_opened', 'critical'],
  'S3 Made Publicly Accessible': ['s3_bucket_policy_external', 'critical'],
  'S3 Not Made Publicly Accessible': null,
  'Null Request Parameters': null,
  'S3 Failed to make Publicly Accessible': null,
  'Empty Policy Payload': null,
  'Invalid JSON Policy (Should Not Alert)': null, // dead-lettered as invalid_policy
  'Multiple Conditions All Restrictive (Should Not Alert)': null,
  'Public Finding Keywords (Should Alert)': null, // OpenSearch access policy: not a T1537 data share analytic
  'Wildcard Principal No Conditions (Should Alert)': null, // KMS key policy: keys are not data
  'Mixed Conditions Some Restrictive (Should Alert)': null, // SQS queue policy: outside the strategy
  'All Restrictive Conditions Types (Should Not Alert)': null,
  'Secrets Manager Restricted Access (Should Not Alert)': null,
  'KMS Key Restricted Access (Should Not Alert)': null,
  'In-Place Copy with KMS Key Change': null, // same-bucket re-encryption, not a cross-account copy
  'Copy with Same Account Owner': null,
  'S3 CopyObject to External Account Bucket': ['s3_copy_external', 'medium'], // bucket names do not match resources: direction unknown
  'S3 CopyObject Same Account': null,
  'Bucket Replication Deleted Successfully': null,
  'Bucket Replication Deletion Failed': null,
  'Different S3 Event': null, // PutBucketReplication without a configuration in the event
  'Non-S3 Event': null,
  'Snapshot Made Publicly Accessible': ['ebs_snapshot_shared', 'critical'],
  'Snapshot Not Made Publicly Accessible': null,
  'Error Making Snapshot Publicly Accessible': null,
  'Snapshot Mader Available to Single Person': ['ebs_snapshot_shared', 'high'],
};

const tests: PantherTest[] = readFileSync(join(TESTDATA, 'panther/aws_cloudtrail_t1537.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l));

describe('Panther rule tests (panther-analysis @ daa10c8)', () => {
  it('every test event has a verdict', () => {
    expect(tests.length).toBe(41);
    for (const t of tests) expect(VERDICTS, t.test_name).toHaveProperty([t.test_name]);
  });

  for (const t of tests) {
    const verdict = VERDICTS[t.test_name];
    it(`${t.rule_id} / ${t.test_name} (Panther ${t.expected_result}): ${verdict ? verdict.join(' ') : 'no alert'}`, async () => {
      const { events, errors } = decodeAll(cloudTrailDecoder, JSON.stringify(t.log), {});
      expect(errors).toEqual([]);
      const run = await runPreset(events as CloudApiCallEvent[]);
      expect(run.alerts.map((a) => [a.detection.id, a.severity])).toEqual(verdict ? [verdict] : []);
      if (t.test_name.startsWith('Invalid JSON Policy')) expect(run.deadLetter.entries().map((e) => e.reason)).toEqual(['invalid_policy']);
      else expect(run.deadLetter.entries()).toEqual([]);
    });
  }
});
