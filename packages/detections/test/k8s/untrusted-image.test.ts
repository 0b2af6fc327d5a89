import type { OutflowEvent } from '@outflow/core';
import { cloudCall, fileAccess } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import type { T1537ConfigInput } from '../../src/index.js';
import { runPreset } from '../helpers.js';
import { byId, decodeLines } from './helpers.js';

const ECR = '111122223333.dkr.ecr.eu-west-1.amazonaws.com';
const CONFIG: T1537ConfigInput = {
  cluster: { name: 'prod' },
  images: { trustedRegistries: [ECR] },
  destinations: { cloudRanges: [{ prefix: '52.218.0.0/17', service: 'S3', region: 'eu-west-1' }] },
};

function events(filter?: (e: OutflowEvent) => boolean): OutflowEvent[] {
  const all = [...decodeLines('k8s/untrusted-audit.jsonl', 'k8s_audit'), ...decodeLines('k8s/untrusted-tetragon.jsonl', 'tetragon')].sort(
    (a, b) => a.time - b.time,
  );
  return filter ? all.filter(filter) : all;
}

describe('untrusted_image_sensitive_access (13) on untrusted-audit.jsonl + untrusted-tetragon.jsonl', () => {
  it('the untrusted toolbox pod reading its token, reading a secret through the API and reaching S3; the trusted api pod doing the same is not a finding', async () => {
    const run = await runPreset(events(), CONFIG);
    const alerts = byId(run.alerts, 'untrusted_image_sensitive_access');
    expect(alerts.map((a) => [a.dedupKey, a.severity, a.evidence.map((e) => e.id)])).toEqual([
      ['prod/shop/toolbox-1|secret_file', 'high', ['pod-0001', expect.stringMatching(/^tetragon-/)]],
      ['prod/shop/toolbox-1|secret_api', 'high', ['pod-0001', 'sec-0101']],
      ['prod/shop/toolbox-1|cloud_storage', 'high', ['pod-0001', expect.stringMatching(/^tetragon-/)]],
    ]);
    const [file] = alerts;
    // The pod creation is cited first: who launched the untrusted image.
    expect(file?.attributes).toMatchObject({
      'k8s.pod.creator': 'mallory@example.net',
      'container.image.name': 'docker.io/hackertools/toolbox:latest',
      'container.image.trusted': false,
      'file.path': '/var/run/secrets/kubernetes.io/serviceaccount/token',
      'untrusted.access': 'secret_file',
    });
    expect(file?.explanation.summary).toBe(
      'Pod shop/toolbox-1 runs the untrusted image docker.io/hackertools/toolbox:latest and read the mounted secret /var/run/secrets/kubernetes.io/serviceaccount/token (cat).',
    );
    expect(file?.workload).toMatchObject({ namespace: 'shop', pod: 'toolbox-1' });
    // The later `aws s3 cp` is the same access kind within the hour: counted, not repeated.
    expect(
      run.stats.find((s) => s.component === 'untrusted_image_sensitive_access' && s.counter === 'dropped' && s.reason === 'repeat')?.value,
    ).toBeGreaterThanOrEqual(1);
  });

  it('a secret read by the shared service account with no pod named is attributed to the untrusted pod, one step lower', async () => {
    const run = await runPreset(
      events(
        (e) => e.sourceId !== 'sec-0101' && e.sourceId !== 'sec-0102' && e.kind !== 'process_exec' && e.kind !== 'file_access' && e.kind !== 'network_flow',
      ),
      CONFIG,
    );
    const [a, ...rest] = byId(run.alerts, 'untrusted_image_sensitive_access');
    expect(rest).toEqual([]);
    expect([a?.dedupKey, a?.severity, a?.attributes?.['untrusted.attribution']]).toEqual(['prod/shop/toolbox-1|secret_api', 'medium', 'service_account']);
    expect(a?.explanation.reasons).toContain('attributed by service account only: the audit record names no pod, and other pods may share the account');
    const off = await runPreset(
      events((e) => e.sourceId === 'pod-0001' || e.sourceId === 'sec-0103'),
      { ...CONFIG, analytics: { untrusted_image_sensitive_access: { params: { serviceAccountAttribution: false } } } },
    );
    expect(byId(off.alerts, 'untrusted_image_sensitive_access')).toEqual([]);
  });

  it('without image trust configured the analytic cannot judge and stays silent', async () => {
    const run = await runPreset(events(), { cluster: { name: 'prod' } });
    expect(byId(run.alerts, 'untrusted_image_sensitive_access')).toEqual([]);
  });

  it('trusted digests count as trusted wherever the image is pulled from', async () => {
    const run = await runPreset(events(), { ...CONFIG, images: { trustedRegistries: [ECR], trustedDigests: [`sha256:${'ab'.repeat(32)}`] } });
    // Tetragon reports the toolbox digest: trusted now; only the audit-side API read (which knows no digest) remains.
    expect(byId(run.alerts, 'untrusted_image_sensitive_access').map((a) => a.dedupKey)).toEqual(['prod/shop/toolbox-1|secret_api']);
  });

  it('S3 calls from an untrusted pod’s address (CloudTrail data events) are cloud storage access', async () => {
    const put = cloudCall({
      time: Date.parse('2024-05-06T12:10:00Z'),
      sourceId: 'ct-put',
      service: 's3.amazonaws.com',
      operation: 'PutObject',
      sourceIp: '10.20.30.40',
      request: { bucketName: 'somebody-elses-bucket', key: 'dump.sql' },
    });
    const run = await runPreset([...events((e) => e.kind === 'k8s_audit' && e.objectRef?.resource === 'pods'), put], CONFIG);
    const [a] = byId(run.alerts, 'untrusted_image_sensitive_access');
    expect([a?.dedupKey, a?.attributes?.['aws.s3.bucket'], a?.evidence.map((e) => e.id)]).toEqual([
      'prod/shop/toolbox-1|cloud_storage',
      'somebody-elses-bucket',
      ['pod-0001', 'ct-put'],
    ]);
  });

  it('writes to a secret path and other paths are not reads of secrets', async () => {
    const base = { workload: { namespace: 'shop', pod: 'x', image: 'docker.io/evil/x:1' }, time: Date.parse('2024-05-06T12:00:00Z') };
    const run = await runPreset(
      [
        fileAccess({ ...base, sourceId: 'w', path: '/var/run/secrets/kubernetes.io/serviceaccount/token', operation: 'write' }),
        fileAccess({ ...base, sourceId: 'o', path: '/etc/hostname', operation: 'read' }),
        fileAccess({ ...base, sourceId: 'r', path: '/run/secrets/db-password', operation: 'open' }),
      ],
      CONFIG,
    );
    expect(byId(run.alerts, 'untrusted_image_sensitive_access').map((a) => a.evidence.map((e) => e.id))).toEqual([['r']]);
  });
});
