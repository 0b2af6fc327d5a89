import { type CloudApiCallEvent, ConfigError, type Logger } from '@outflow/core';
import { cloudCall, finding } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import {
  CompiledMatch,
  type ExceptionRule,
  ExceptionSuppressor,
  expiredExceptions,
  SuppressionWindowSuppressor,
  type T1537ConfigInput,
  t1537,
} from '../src/index.js';
import { cloudTrail, EVIL, FIXED_NOW, fixedClock, OURS, runPreset } from './helpers.js';

const T = (iso: string) => Date.parse(iso);
const DR = '444455556666';

/** A CopyObject data event, as CloudTrail writes it in the source bucket owner's account. */
function copyObject(actorRole: string, dest: string, destAccount: string, key: string, time: string): CloudApiCallEvent {
  return cloudCall({
    time: T(time),
    service: 's3.amazonaws.com',
    operation: 'CopyObject',
    actor: { type: 'AssumedRole', accountId: OURS, arn: `arn:aws:sts::${OURS}:assumed-role/${actorRole}/session-1` },
    recipientAccountId: OURS,
    request: { bucketName: dest, key, 'x-amz-copy-source': `acme-orders/${key}` },
    resources: [
      { type: 'AWS::S3::Bucket', arn: 'arn:aws:s3:::acme-orders', accountId: OURS },
      { type: 'AWS::S3::Bucket', arn: `arn:aws:s3:::${dest}`, accountId: destAccount },
    ],
  });
}

/** The README example: the nightly backup job copies to the DR vault of a separately run account. */
const BACKUP_EXCEPTION: ExceptionRule = {
  id: 'nightly-backup-to-dr-vault',
  analytics: ['s3_copy_external'],
  match: {
    'attributes.user.id': { glob: `arn:aws:sts::${OURS}:assumed-role/backup-runner/*` },
    'attributes.aws.s3.destination.bucket': 'acme-dr-vault',
    'attributes.aws.s3.destination.account_id': DR,
  },
  reason: 'Nightly backup of order data to the DR vault (account 444455556666, run by the DR team)',
  owner: 'platform-team@acme.example',
  expires: '2024-12-31',
};

function capture(): Logger & { warnings: { message: string; fields?: Record<string, unknown> }[] } {
  const warnings: { message: string; fields?: Record<string, unknown> }[] = [];
  const noop = () => {};
  return { debug: noop, info: noop, error: noop, warn: (message, fields) => warnings.push({ message, ...(fields ? { fields } : {}) }), warnings };
}

describe('match specs', () => {
  it('matches strings, lists, globs, CIDRs and regexes; all fields must match', () => {
    const f = finding({
      dedupKey: 'k1',
      attributes: { 'source.address': '10.1.2.3', 'user.id': 'arn:aws:sts::1:assumed-role/backup-runner/x', 'aws.share.grantees': ['111', '222'] },
      workload: { namespace: 'ops', labels: { app: 'backup' } },
    });
    const m = (spec: ConstructorParameters<typeof CompiledMatch>[0]) => new CompiledMatch(spec).matches(f);
    expect(m({ 'detection.id': 'test_rule' })).toBe(true);
    expect(m({ 'detection.id': ['x', 'test_rule'] })).toBe(true);
    expect(m({ 'attributes.user.id': { glob: '*:assumed-role/backup-*' } })).toBe(true);
    expect(m({ 'attributes.source.address': { cidr: ['192.168.0.0/16', '10.0.0.0/8'] } })).toBe(true);
    expect(m({ 'attributes.source.address': { cidr: '172.16.0.0/12' } })).toBe(false);
    expect(m({ dedupKey: { regex: '^k\\d$' } })).toBe(true);
    expect(m({ 'workload.namespace': 'ops', 'workload.labels.app': 'backup' })).toBe(true);
    expect(m({ 'workload.namespace': 'ops', 'workload.labels.app': 'web' })).toBe(false);
    expect(m({ 'workload.pod': 'anything' })).toBe(false); // a missing field never matches
  });

  it('list-valued fields match only when every element matches', () => {
    const f = finding({ attributes: { 'aws.share.grantees': ['111', '222'] } });
    expect(new CompiledMatch({ 'attributes.aws.share.grantees': '111' }).matches(f)).toBe(false);
    expect(new CompiledMatch({ 'attributes.aws.share.grantees': ['111', '222'] }).matches(f)).toBe(true);
    expect(new CompiledMatch({ 'evidence.source': 'test' }).matches(f)).toBe(true);
  });
});

describe('exceptions', () => {
  it('a backup job to our own storage is expressible as an exception: its copies are suppressed, an attacker’s are not', async () => {
    const events = [
      copyObject('backup-runner', 'acme-dr-vault', DR, 'orders/2024-03-01.parquet', '2024-03-02T01:00:00Z'),
      copyObject('backup-runner', 'acme-dr-vault', DR, 'orders/2024-03-02.parquet', '2024-03-03T01:00:00Z'),
      copyObject('backup-runner', 'exfil-drop-7731', EVIL, 'orders/all.parquet', '2024-03-03T01:30:00Z'),
      copyObject('mallory', 'acme-dr-vault', DR, 'orders/all.parquet', '2024-03-03T02:00:00Z'),
    ];
    const run = await runPreset(events, { exceptions: [BACKUP_EXCEPTION] });
    expect(run.suppressed.map((s) => [s.finding.detection.id, s.suppressor, s.reason])).toEqual([
      ['s3_copy_external', 't1537.exceptions', `exception nightly-backup-to-dr-vault (owner platform-team@acme.example): ${BACKUP_EXCEPTION.reason}`],
      ['s3_copy_external', 't1537.exceptions', `exception nightly-backup-to-dr-vault (owner platform-team@acme.example): ${BACKUP_EXCEPTION.reason}`],
    ]);
    expect(run.byDetection('s3_copy_external').map((a) => a.attributes?.['aws.s3.destination.bucket'])).toEqual(['exfil-drop-7731', 'acme-dr-vault']);
    // The pipeline's per-analytic metrics: emitted and dropped{reason=suppressed}.
    const stat = (counter: string, reason?: string) =>
      run.stats.find((s) => s.component === 's3_copy_external' && s.counter === counter && s.reason === reason)?.value ?? 0;
    expect(stat('emitted')).toBe(4);
    expect(stat('dropped', 'suppressed')).toBe(2);
  });

  it('an expired exception stops applying and is reported: logged once at warn, counted once, listed', async () => {
    const expired = { ...BACKUP_EXCEPTION, expires: '2024-05-31' };
    const logger = capture();
    const events = [
      copyObject('backup-runner', 'acme-dr-vault', DR, 'a', '2024-03-02T01:00:00Z'),
      copyObject('backup-runner', 'acme-dr-vault', DR, 'b', '2024-03-03T01:00:00Z'),
    ];
    const run = await runPreset(events, { exceptions: [expired] }, { logger });
    expect(run.suppressed).toEqual([]);
    expect(run.byDetection('s3_copy_external')).toHaveLength(2); // a day apart: two alerts, neither suppressed
    expect(logger.warnings.filter((w) => w.message.startsWith('exception expired'))).toEqual([
      {
        message: 'exception expired; it no longer suppresses findings',
        fields: expect.objectContaining({ exception: 'nightly-backup-to-dr-vault', owner: 'platform-team@acme.example', expires: '2024-05-31' }),
      },
    ]);
    expect(run.stats.find((s) => s.component === 't1537' && s.counter === 'errors' && s.reason === 'exception_expired')?.value).toBe(1);
    expect(expiredExceptions([expired, BACKUP_EXCEPTION], FIXED_NOW).map((e) => e.id)).toEqual(['nightly-backup-to-dr-vault']);
    expect(expiredExceptions([BACKUP_EXCEPTION], FIXED_NOW)).toEqual([]);
  });

  it('expiry is judged in processing time; a date alone lasts to the end of that day; report() tallies', () => {
    let now = T('2024-12-31T23:59:59Z');
    const s = new ExceptionSuppressor([BACKUP_EXCEPTION], { clock: { now: () => now } });
    const f = finding({
      detection: { id: 's3_copy_external', title: 'x', attack: { technique: 'T1537', tactic: 'TA0010' } },
      attributes: {
        'user.id': `arn:aws:sts::${OURS}:assumed-role/backup-runner/s`,
        'aws.s3.destination.bucket': 'acme-dr-vault',
        'aws.s3.destination.account_id': DR,
      },
    });
    expect(s.check(f)).toMatch(/^exception nightly-backup-to-dr-vault/);
    now = T('2025-01-01T00:00:00Z');
    expect(s.check(f)).toBeUndefined();
    expect(s.report()).toEqual([expect.objectContaining({ id: 'nightly-backup-to-dr-vault', expired: true, suppressed: 1, matchedAfterExpiry: 1 })]);
    expect(s.expired().map((r) => r.id)).toEqual(['nightly-backup-to-dr-vault']);
    expect(s.suppressedByAnalytic.get('s3_copy_external')).toBe(1);
  });

  it('default exceptions apply unless turned off per analytic (AWS Backup sharing a snapshot)', async () => {
    const share = cloudCall({
      time: T('2024-03-02T01:00:00Z'),
      operation: 'ModifySnapshotAttribute',
      actor: {
        type: 'AssumedRole',
        accountId: OURS,
        arn: `arn:aws:sts::${OURS}:assumed-role/AWSServiceRoleForBackup/AWSBackup-x`,
        invokedBy: 'backup.amazonaws.com',
      },
      request: { snapshotId: 'snap-0b1', attributeType: 'CREATE_VOLUME_PERMISSION', createVolumePermission: { add: { items: [{ userId: DR }] } } },
    });
    const on = await runPreset([share]);
    expect(on.suppressed.map((s) => s.reason)).toEqual([
      expect.stringMatching(/^exception ebs_snapshot_shared\/aws-backup-cross-account-copy \(owner outflow\)/),
    ]);
    const off = await runPreset([share], { analytics: { ebs_snapshot_shared: { defaultExceptions: false } } });
    expect(off.byDetection('ebs_snapshot_shared')).toHaveLength(1);
  });
});

describe('suppression windows', () => {
  it('suppress findings whose event time falls inside [from, to), for the named analytics and matches', () => {
    const w = new SuppressionWindowSuppressor([
      { id: 'dr-test', analytics: ['ebs_snapshot_shared'], from: '2024-03-04T09:00:00Z', to: '2024-03-04', reason: 'DR test' },
    ]);
    const at = (iso: string, id = 'ebs_snapshot_shared') =>
      finding({ time: T(iso), detection: { id, title: 'x', attack: { technique: 'T1537', tactic: 'TA0010' } } });
    expect(w.check(at('2024-03-04T10:00:00Z'))).toMatch(/^suppression window dr-test .*: DR test$/);
    expect(w.check(at('2024-03-04T23:59:59Z'))).toBeDefined(); // a date alone for `to`: the end of that day
    expect(w.check(at('2024-03-05T00:00:00Z'))).toBeUndefined();
    expect(w.check(at('2024-03-04T08:59:59Z'))).toBeUndefined();
    expect(w.check(at('2024-03-04T10:00:00Z', 'ami_shared'))).toBeUndefined();
    expect(w.report()).toEqual([{ id: 'dr-test', from: '2024-03-04T09:00:00Z', to: '2024-03-04', suppressed: 2 }]);
  });

  it('in the preset: the story fixture during a maintenance window', async () => {
    const run = await runPreset(cloudTrail('cloudtrail/snapshot-story.json'), {
      organization: { accounts: [OURS] },
      suppressions: [{ id: 'migration', from: '2024-03-04T12:30:00Z', to: '2024-03-04T14:00:00Z', match: { 'attributes.aws.share.public': 'true' } }],
    });
    expect(run.suppressed.map((s) => [s.finding.detection.id, s.suppressor])).toEqual([['ebs_snapshot_shared', 't1537.suppressions']]);
  });
});

describe('preset configuration', () => {
  it('reports every problem with its path', () => {
    const bad = {
      organization: { accounts: ['12345'], organizationIds: ['org-1'], surprise: true },
      cluster: { podCidrs: ['10.0.0.0/99'] },
      destinations: { allow: ['bad host!'] },
      images: { trustedDigests: ['sha256:abc'] },
      self: { endpoints: ['::::'] },
      exceptions: [
        {
          id: 'a',
          match: { 'nope.field': 'x', 'attributes.source.address': { cidr: 'x/1' }, dedupKey: { regex: '(' } },
          reason: 'r',
          owner: 'o',
          expires: 'tomorrow',
        },
        { id: 'a', analytics: ['not_an_analytic'], match: { dedupKey: 'k' }, reason: 'r', owner: 'o' },
      ],
      suppressions: [{ from: '2024-03-05', to: '2024-03-04' }],
      analytics: { not_an_analytic: {}, ami_shared: { severity: 'huge', params: { marketplaceAccounts: ['x'], extra: 1 } } },
    } as unknown as T1537ConfigInput;
    let error: unknown;
    try {
      t1537.validate(bad, 'detections[0]');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path);
    for (const p of [
      'detections[0].organization.accounts[0]',
      'detections[0].organization.organizationIds[0]',
      'detections[0].organization',
      'detections[0].cluster.podCidrs[0]',
      'detections[0].destinations.allow[0]',
      'detections[0].images.trustedDigests[0]',
      'detections[0].self.endpoints[0]',
      'detections[0].exceptions[0].match.nope.field',
      'detections[0].exceptions[0].match.attributes.source.address',
      'detections[0].exceptions[0].match.dedupKey',
      'detections[0].exceptions[0].expires',
      'detections[0].analytics',
      'detections[0].analytics.ami_shared.severity',
      'detections[0].analytics.ami_shared.params.marketplaceAccounts[0]',
      'detections[0].analytics.ami_shared.params',
    ])
      expect(paths, p).toContain(p);
  });

  it('reports cross-field problems (duplicate ids, unknown analytics, windows ending before they start)', () => {
    let error: unknown;
    try {
      t1537.validate({
        exceptions: [
          { id: 'a', match: { dedupKey: 'k' }, reason: 'r', owner: 'o' },
          { id: 'a', analytics: ['not_an_analytic'], match: { dedupKey: 'k' }, reason: 'r', owner: 'o' },
        ],
        suppressions: [{ from: '2024-03-05', to: '2024-03-04' }],
      });
    } catch (err) {
      error = err;
    }
    expect((error as ConfigError).issues).toEqual([
      { path: 'exceptions[1].id', message: 'duplicate exception id "a"' },
      { path: 'exceptions[1].analytics[0]', message: 'unknown analytic "not_an_analytic"' },
      { path: 'suppressions[0].to', message: 'must be after from' },
    ]);
  });

  it('fills defaults', () => {
    const c = t1537.createDefaultConfig();
    expect(c.organization.accounts).toEqual([]);
    expect(c.kubernetes.watch).toBe(false);
    expect(c.analytics.ami_shared).toEqual({ enabled: true, defaultExceptions: true, params: { marketplaceAccounts: ['679593333241'] } });
    expect(c.analytics.shared_snapshot_consumed?.params).toEqual({ shareTtlMs: 30 * 86_400_000, maxSnapshots: 50_000, maxBuffer: 10_000 });
    expect(fixedClock.now()).toBe(FIXED_NOW);
  });
});
