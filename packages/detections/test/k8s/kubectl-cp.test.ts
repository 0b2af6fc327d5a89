import type { ProcessInfo } from '@outflow/core';
import { processExec } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { readArchiveCall } from '../../src/analytics/k8s/kubectl-cp.js';
import { runPreset } from '../helpers.js';
import { byId, decodeLines } from './helpers.js';

const T = Date.parse('2024-05-06T09:30:00Z');
const ARCHIVERS = new Set(['tar', 'zip', '7z', 'cpio', 'pax']);

function tar(args: string[], options: { parent?: string; tty?: boolean; pod?: string; namespace?: string; time?: number; id?: string } = {}) {
  const process: ProcessInfo = {
    pid: 4242,
    executable: '/bin/tar',
    args: ['tar', ...args],
    parent: { executable: options.parent ?? '/usr/bin/containerd-shim-runc-v2' },
  };
  if (options.tty !== undefined) process.tty = options.tty;
  return processExec({
    time: options.time ?? T,
    source: 'tetragon',
    sourceId: options.id ?? `tetragon-${args.join('-')}`,
    process,
    workload: {
      namespace: options.namespace ?? 'data',
      pod: options.pod ?? 'postgres-0',
      container: 'postgres',
      image: '111122223333.dkr.ecr.eu-west-1.amazonaws.com/data/postgres:16.2',
    },
  });
}

describe('kubectl_cp (10): the exec API side, on exec-audit.jsonl', () => {
  it('fires on the archive streams kubectl cp asks for, critical when credentials are in them; not on copies into a pod or refused execs', async () => {
    const run = await runPreset(decodeLines('k8s/exec-audit.jsonl', 'k8s_audit'));
    const alerts = run.alerts.filter((a) => a.detection.id === 'kubectl_cp');
    expect(alerts.map((a) => [a.status, a.severity, a.attributes?.['k8s.cp.shape'], a.evidence.map((e) => e.id)])).toEqual([
      ['new', 'high', 'exact', ['exec-0010']],
      ['new', 'critical', 'exact', ['exec-0013']],
      // the --retries shape of the same path folds into the first alert
      ['update', 'high', 'exact', ['exec-0010', 'exec-0011']],
    ]);
    const [db] = alerts;
    expect(db?.explanation.summary).toBe(
      'mallory@example.net copied /var/lib/postgresql/data out of pod data/postgres-0 through the exec API (the exact command kubectl cp sends).',
    );
    expect(db?.attributes).toMatchObject({
      'k8s.cp.paths': ['/var/lib/postgresql/data'],
      'user.name': 'mallory@example.net',
      'source.address': '203.0.113.50',
    });
    expect(db?.detection.relatedAttack?.map((r) => r.technique)).toEqual(['T1609', 'T1048', 'T1560']);
  });
});

describe('kubectl_cp (10): the runtime twin', () => {
  it('Falco: tar of /var/lib/mysql to stdout started by runc, no terminal (falco-runtime.jsonl)', async () => {
    const run = await runPreset(decodeLines('k8s/falco-runtime.jsonl', 'falco'));
    const [a, ...rest] = byId(run.alerts, 'kubectl_cp');
    expect(rest).toEqual([]);
    expect(a?.severity).toBe('high');
    expect(a?.evidence.map((e) => e.id)).toEqual(['6f1c2a3b-0001-4000-8000-000000000003']);
    expect(a?.explanation.reasons).toContain('started directly by the container runtime (runc): an exec through the API, as kubectl cp does');
  });

  it('rates runtime archives: stdout from the runtime high, a staged file medium; terminals, system paths and image files are not findings', async () => {
    const run = await runPreset([
      tar(['cf', '-', '/var/lib/postgresql/data'], { id: 'a' }),
      tar(['czf', '/tmp/.x.tgz', '/var/lib/postgresql/data'], { parent: '/bin/sh', id: 'b', pod: 'postgres-1' }),
      tar(['cf', '-', '/var/lib/postgresql/data'], { tty: true, id: 'c', pod: 'postgres-2' }),
      tar(['czf', '-', '/proc/1'], { id: 'd', pod: 'postgres-3' }),
      tar(['xzf', '/tmp/release.tgz', '-C', '/opt'], { id: 'e', pod: 'postgres-4' }),
      tar(['cf', '-', '/usr/share/doc'], { id: 'f', pod: 'postgres-5' }),
      tar(['cf', '-', '/var/run/secrets/kubernetes.io/serviceaccount'], { id: 'g', pod: 'postgres-6' }),
    ]);
    expect(byId(run.alerts, 'kubectl_cp').map((a) => [a.evidence[0]?.id, a.severity])).toEqual([
      ['a', 'high'],
      ['b', 'medium'],
      ['g', 'critical'],
    ]);
  });

  it('the audit exec and the process it started fold into one alert with both records as evidence', async () => {
    const audit = decodeLines('k8s/exec-audit.jsonl', 'k8s_audit').filter((e) => e.sourceId === 'exec-0010');
    const runtime = tar(['cf', '-', '/var/lib/postgresql/data'], { time: (audit[0]?.time ?? 0) + 800, id: 'tetragon-twin' });
    const run = await runPreset([...audit, runtime]);
    const alerts = run.alerts.filter((a) => a.detection.id === 'kubectl_cp');
    expect(alerts.map((a) => a.status)).toEqual(['new', 'update']);
    expect(alerts[1]?.count).toBe(2);
    expect(alerts[1]?.evidence.map((e) => e.id)).toEqual(['exec-0010', 'tetragon-twin']);
  });

  it('params.runtime=false keeps only the API side', async () => {
    const run = await runPreset([tar(['cf', '-', '/var/lib/postgresql/data'])], { analytics: { kubectl_cp: { params: { runtime: false } } } });
    expect(byId(run.alerts, 'kubectl_cp')).toEqual([]);
  });
});

describe('readArchiveCall', () => {
  it.each([
    [['tar', 'cf', '-', '/data'], { output: '-', shape: 'exact', inputs: ['/data'] }],
    [['tar', 'cf', '-', '-C', '/var/lib/postgresql', 'data'], { output: '-', shape: 'stdout', inputs: ['/var/lib/postgresql/data'] }],
    [['tar', '-czf', '/tmp/x.tgz', '/app'], { output: '/tmp/x.tgz', shape: 'file', inputs: ['/app'] }],
    [['tar', '--create', '--file=-', '/srv'], { output: '-', shape: 'stdout', inputs: ['/srv'] }],
    [['tar', '-c', '/srv'], { output: '-', shape: 'stdout', inputs: ['/srv'] }],
    [['zip', '-r', '-', '/srv'], { output: '-', shape: 'stdout', inputs: ['/srv'] }],
    [['7z', 'a', '-so', 'x.7z', '/srv'], { output: 'x.7z', shape: 'stdout' }],
    [['/usr/bin/cpio', '-o'], { output: '-', shape: 'stdout' }],
  ])('%j', (argv, expected) => {
    expect(readArchiveCall(argv, ARCHIVERS)).toMatchObject(expected);
  });

  it.each([
    [['tar', 'xf', '-']],
    [['tar', '-tzf', 'a.tgz']],
    [['tar', '--no-same-owner', '-xmf', '-', '-C', '/tmp']],
    [['unzip', 'a.zip']],
    [['cpio', '-i']],
    [[]],
  ])('%j is not an archive creation', (argv) => {
    expect(readArchiveCall(argv, ARCHIVERS)).toBeUndefined();
  });
});
