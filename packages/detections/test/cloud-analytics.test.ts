import { describe, expect, it } from 'vitest';
import type { T1537ConfigInput } from '../src/index.js';
import { cloudTrail, EVIL, OURS, OURS2, runPreset } from './helpers.js';

const CONFIG: T1537ConfigInput = {
  organization: { accounts: [OURS, OURS2], organizationIds: ['o-a1b2c3d4e5'], buckets: ['acme-vm-exports'] },
};

function summaryOf(run: Awaited<ReturnType<typeof runPreset>>, id: string): { key: string; severity: string }[] {
  return run.byDetection(id).map((a) => ({ key: a.dedupKey, severity: a.severity }));
}

describe('snapshot analytics (1, 4, 18) on snapshot-story.json', () => {
  it('ebs_snapshot_shared: foreign share high, public share critical, share with our own account nothing', async () => {
    const run = await runPreset(cloudTrail('cloudtrail/snapshot-story.json'), CONFIG);
    expect(summaryOf(run, 'ebs_snapshot_shared')).toEqual([
      { key: `${OURS}|snap-0a1b2c3d4e5f60718|${EVIL}`, severity: 'high' },
      { key: `${OURS}|snap-0aaaabbbbccccdddd|all`, severity: 'critical' },
    ]);
    const [pub] = run.byDetection('ebs_snapshot_shared').filter((a) => a.attributes?.['aws.share.public'] === true);
    expect(pub?.explanation.summary).toMatch(/made public/);
  });

  it('without organization.accounts, only the recipient account is ours: the share with 111122224444 is foreign', async () => {
    const run = await runPreset(cloudTrail('cloudtrail/snapshot-story.json'));
    expect(run.byDetection('ebs_snapshot_shared').map((a) => a.attributes?.['aws.ec2.snapshot.id'])).toContain('snap-0f0e0d0c0b0a09080');
    expect(run.byDetection('shared_snapshot_consumed').map((a) => a.attributes?.['aws.ec2.snapshot.id'])).toContain('snap-0f0e0d0c0b0a09080');
  });

  it('shared_snapshot_consumed: correlated with the share even though the copy was logged first; uncorrelated consumption still fires', async () => {
    const events = cloudTrail('cloudtrail/snapshot-story.json');
    expect(events[0]?.operation).toBe('SharedSnapshotCopyInitiated'); // out of order on purpose
    const run = await runPreset(events, CONFIG);
    const alerts = run.byDetection('shared_snapshot_consumed');
    expect(alerts.map((a) => a.attributes?.['aws.ec2.snapshot.id'])).toEqual(['snap-0a1b2c3d4e5f60718', 'snap-0123456789abcdef0']);
    const [copy, orphan] = alerts;
    expect(copy?.attributes?.['aws.share.correlated']).toBe(true);
    expect(copy?.evidence.map((e) => e.id)).toEqual(['outflow-fixture-0001', 'outflow-fixture-0002']);
    expect(copy?.explanation.reasons?.[0]).toMatch(/enabled by the share at 2024-03-04T10:00:00.000Z/);
    expect(orphan?.attributes?.['aws.share.correlated']).toBe(false);
    expect(orphan?.explanation.reasons?.[0]).toMatch(/not seen/);
  });

  it('the same holds when events arrive one per batch and the watermark (not the end of input) releases them', async () => {
    const run = await runPreset(cloudTrail('cloudtrail/snapshot-story.json'), CONFIG, { batchSize: 1 });
    const [copy] = run.byDetection('shared_snapshot_consumed');
    expect(copy?.attributes?.['aws.share.correlated']).toBe(true);
    expect(run.alerts.filter((a) => a.detection.id === 'snapshot_share_story').map((a) => a.severity)).toEqual(['high', 'critical']);
  });

  it('snapshot_share_story: one alert, new at the copy, updated to critical by the revoke, referencing the member alerts', async () => {
    const run = await runPreset(cloudTrail('cloudtrail/snapshot-story.json'), CONFIG);
    const story = run.alerts.filter((a) => a.detection.id === 'snapshot_share_story');
    expect(story.map((a) => [a.status, a.severity, a.count])).toEqual([
      ['new', 'high', 1],
      ['update', 'critical', 2],
    ]);
    expect(new Set(story.map((a) => a.id)).size).toBe(1);
    const update = story[1];
    expect(update?.evidence.map((e) => e.id)).toEqual(['outflow-fixture-0001', 'outflow-fixture-0002', 'outflow-fixture-0003']);
    expect(update?.explanation.summary).toMatch(/then the share was revoked/);
    const share = run.byDetection('ebs_snapshot_shared').find((a) => a.attributes?.['aws.ec2.snapshot.id'] === 'snap-0a1b2c3d4e5f60718');
    const consumed = run.byDetection('shared_snapshot_consumed').find((a) => a.attributes?.['aws.ec2.snapshot.id'] === 'snap-0a1b2c3d4e5f60718');
    expect(update?.related).toEqual([share?.id, consumed?.id]);
    // The public share of snap-0aaaabbbbccccdddd was reset before anyone used it: no story.
    expect(story.every((a) => a.attributes?.['aws.ec2.snapshot.id'] === 'snap-0a1b2c3d4e5f60718')).toBe(true);
  });
});

describe('S3 analytics (5, 6, 7a)', () => {
  it('s3_bucket_policy_external: foreign account principal only; org condition, service principal and Deny are not findings', async () => {
    const run = await runPreset(cloudTrail('cloudtrail/s3-policies-and-copies.json'), CONFIG);
    const alerts = run.byDetection('s3_bucket_policy_external');
    expect(summaryOf(run, 's3_bucket_policy_external')).toEqual([{ key: `${OURS}|acme-customer-data|${EVIL}`, severity: 'high' }]);
    expect(alerts[0]?.attributes?.['aws.policy.actions']).toEqual(['s3:GetObject', 's3:ListBucket']);
    expect(alerts[0]?.explanation.observed).toContain(`arn:aws:iam::${EVIL}:role/reader`);
    expect(alerts[0]?.explanation.observed).not.toContain(`${OURS}:role/app`);
  });

  it('s3_copy_external: copies to a foreign bucket fold into one alert; same-account and inbound copies are not findings', async () => {
    const run = await runPreset(cloudTrail('cloudtrail/s3-policies-and-copies.json'), CONFIG);
    const alerts = run.alerts.filter((a) => a.detection.id === 's3_copy_external');
    expect(alerts.map((a) => [a.status, a.count, a.severity])).toEqual([
      ['new', 1, 'high'],
      ['update', 2, 'high'],
    ]);
    expect(alerts[0]?.attributes?.['aws.s3.destination.account_id']).toBe(EVIL);
    expect(alerts[1]?.evidence.map((e) => e.id)).toEqual(['outflow-fixture-0032', 'outflow-fixture-0033']);
  });

  it('s3_replication_external: foreign account high, unknown owner low, learned own bucket / disabled rule / failed call nothing', async () => {
    const run = await runPreset(cloudTrail('cloudtrail/s3-replication.json'), CONFIG);
    expect(summaryOf(run, 's3_replication_external')).toEqual([
      { key: `${OURS}|acme-customer-data|exfil-drop-7731`, severity: 'high' },
      { key: `${OURS}|acme-analytics|somebody-elses-bucket`, severity: 'low' },
    ]);
  });

  it('s3_replication_external: reportUnknownOwner=false drops the unknown-owner finding', async () => {
    const run = await runPreset(cloudTrail('cloudtrail/s3-replication.json'), {
      ...CONFIG,
      analytics: { s3_replication_external: { params: { reportUnknownOwner: false } } },
    });
    expect(run.byDetection('s3_replication_external').map((a) => a.severity)).toEqual(['high']);
  });
});

describe('policy analysis', () => {
  it('a wildcard account in a principal ARN is public; conditions with negated or IfExists operators do not restrict', async () => {
    const { analysePolicy, createEnvironment, analyticEnv, t1537Config, ANALYTICS } = await import('../src/index.js');
    const config = t1537Config({ organization: { accounts: [OURS], organizationIds: ['o-a1b2c3d4e5'] } });
    const env = analyticEnv(ANALYTICS[0] as (typeof ANALYTICS)[number], createEnvironment(config), config);
    const grants = (statement: object) => analysePolicy({ Statement: [statement] }, env, OURS).grants.map((g) => [g.principal, g.public]);
    expect(grants({ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::*:root' }, Action: 's3:GetObject' })).toEqual([['arn:aws:iam::*:root', true]]);
    const org = { StringEquals: { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' } };
    expect(grants({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Condition: org })).toEqual([]);
    expect(grants({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Condition: { StringEqualsIfExists: org.StringEquals } })).toEqual([['*', true]]);
    expect(grants({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Condition: { StringNotEquals: org.StringEquals } })).toEqual([['*', true]]);
    expect(grants({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-zzzzzzzzzz' } } })).toEqual([
      ['*', true],
    ]);
    expect(grants({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } })).toEqual([]);
    expect(grants({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Condition: { IpAddress: { 'aws:SourceIp': '198.51.100.0/24' } } })).toEqual([
      ['*', true],
    ]);
    expect(grants({ Effect: 'Allow', NotPrincipal: { AWS: `arn:aws:iam::${OURS}:root` }, Action: 's3:*' })).toEqual([['NotPrincipal', true]]);
    expect(grants({ Effect: 'Allow', Principal: { AWS: EVIL }, Action: 's3:*', Condition: { StringEquals: { 'aws:PrincipalAccount': EVIL } } })).toEqual([
      [EVIL, false],
    ]);
    expect(grants({ Effect: 'Allow', Principal: { Service: 'logging.s3.amazonaws.com', CanonicalUser: 'abc' }, Action: 's3:PutObject' })).toEqual([]);
  });
});

describe('export_task_started (7b) on exports.json', () => {
  it('rates exports by who owns the bucket: declared or learned foreign high, unknown medium, configured own informational, failed nothing', async () => {
    const run = await runPreset(cloudTrail('cloudtrail/exports.json'), CONFIG);
    const got = run.byDetection('export_task_started').map((a) => [a.attributes?.['rpc.method'], a.severity, a.attributes?.['aws.destination.owner_basis']]);
    expect(got).toEqual([
      ['ExportTableToPointInTime', 'high', 'declared'],
      ['ExportImage', 'informational', 'configured'],
      ['CreateStoreImageTask', 'medium', 'unknown'],
      ['CreateInstanceExportTask', 'high', 'learned'],
    ]);
  });
});

describe('resource_policy_opened (8) on resource-policies.json', () => {
  it('ECR repository and registry grants to a foreign account, and a public Lambda layer; org-limited and own grants are not findings', async () => {
    const run = await runPreset(cloudTrail('cloudtrail/resource-policies.json'), CONFIG);
    expect(summaryOf(run, 'resource_policy_opened')).toEqual([
      { key: `${OURS}|ecr:repository payments-api|${EVIL}`, severity: 'high' },
      { key: `${OURS}|ecr:registry ${OURS}|${EVIL}`, severity: 'high' },
      { key: `${OURS}|lambda-layer:shared-deps:3|all`, severity: 'critical' },
      { key: `${OURS}|lambda-layer:shared-deps:3|${EVIL}`, severity: 'high' },
    ]);
  });

  it('an organizationId that is not ours is an external grant once organisation ids are configured', async () => {
    const run = await runPreset(cloudTrail('cloudtrail/resource-policies.json'), { organization: { accounts: [OURS], organizationIds: ['o-zzzzzzzzzz'] } });
    const keys = run.byDetection('resource_policy_opened').map((a) => a.dedupKey);
    expect(keys).toContain(`${OURS}|lambda-layer:shared-deps:3|o-a1b2c3d4e5`);
    expect(keys).toContain(`${OURS}|ecr:repository base-images|all`);
  });
});

describe('every finding says what was observed, why it matters and what to do', () => {
  it('explanations and response steps on all cloud fixtures', async () => {
    const files = ['snapshot-story.json', 's3-policies-and-copies.json', 's3-replication.json', 'exports.json', 'resource-policies.json'];
    const run = await runPreset(
      files.flatMap((f) => cloudTrail(`cloudtrail/${f}`)),
      CONFIG,
    );
    expect(run.alerts.length).toBeGreaterThan(15);
    for (const a of run.alerts) {
      expect(a.explanation.summary.length).toBeGreaterThan(30);
      expect(a.explanation.observed).toBeTruthy();
      expect(a.response?.investigate?.length).toBeGreaterThan(0);
      expect(a.response?.contain?.length).toBeGreaterThan(0);
      expect(a.evidence.length).toBeGreaterThan(0);
      expect(a.attributes?.['cloud.provider']).toBe('aws');
    }
  });
});
