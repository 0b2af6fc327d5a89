import type { OutflowEvent } from '@outflow/core';
import { auditEvent, fileAccess, flowEvent, processExec, runtimeAlert } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { runPreset } from '../helpers.js';
import { K8S_ANALYTICS } from './helpers.js';

const T = Date.parse('2024-05-06T15:00:00Z');

describe('part-2 analytics: bad input never throws', () => {
  it('odd audit, runtime and flow shapes pass through every analytic without exceptions, dead letters or alerts', async () => {
    const junk: unknown[] = [
      null,
      42,
      'x',
      [],
      [1],
      { spec: 'x' },
      { spec: { containers: 'x' } },
      { spec: { containers: [null, { image: 7 }] }, metadata: 'x' },
    ];
    const events: OutflowEvent[] = [];
    let i = 0;
    for (const body of junk) {
      const t = T + i++ * 1000;
      events.push(
        auditEvent({ time: t, verb: 'create', objectRef: { resource: 'pods', namespace: 'shop', name: `p${i}` }, requestObject: body, responseObject: body }),
        auditEvent({ time: t, verb: 'get', objectRef: { resource: 'secrets' }, user: { username: 'system:serviceaccount:' } }),
        auditEvent({ time: t, verb: 'list', objectRef: { resource: 'secrets', subresource: 'x' }, user: { username: '' } }),
        auditEvent({ time: t, verb: 'create', objectRef: { resource: 'pods', subresource: 'exec' }, command: [] }),
        auditEvent({ time: t, verb: 'create', objectRef: { resource: 'pods', subresource: 'attach' } }),
        auditEvent({ time: t, verb: 'get', objectRef: undefined }),
        processExec({ time: t, process: { executable: '', args: [] }, workload: undefined }),
        processExec({ time: t, process: { executable: '/bin/tar', args: ['tar', 'c'], parent: {} }, workload: { image: 'docker.io/x/y' } }),
        fileAccess({ time: t, path: '', workload: undefined }),
        fileAccess({ time: t, path: '/var/run/secrets/x', operation: 'read', workload: { containerId: 'abc', image: '' } }),
        runtimeAlert({ time: t, fields: { 'fd.name': 7 }, attributes: { 'file.path': 7 as never } }),
        flowEvent({
          time: t,
          attributes: { 'process.executable.path': 7 as never, 'process.command_args': 'x' as never },
          workload: { namespace: 'a', pod: 'b' },
        }),
        flowEvent({
          time: t,
          dst: { address: 'not-an-ip', port: -1 },
          attributes: { 'destination.class': 'cloud', 'destination.cloud.service': 'S3' },
          workload: { namespace: 'a', pod: 'b', image: 'docker.io/evil/x' },
        }),
      );
    }
    const run = await runPreset(events, { images: { trustedRegistries: ['registry.example.com'] } });
    expect(run.deadLetter.entries().filter((e) => (K8S_ANALYTICS as readonly string[]).includes(e.component))).toEqual([]);
    // Nothing in there names a pod, a command, a path or a destination worth a finding.
    expect(
      run.alerts
        .filter((a) => (K8S_ANALYTICS as readonly string[]).includes(a.detection.id) && a.detection.id !== 'untrusted_image_sensitive_access')
        .map((a) => a.explanation.summary),
    ).toEqual([]);
    expect(run.stats.find((s) => s.component === 'pod_exec' && s.counter === 'dropped' && s.reason === 'no_target_pod')?.value).toBe(2 * junk.length);
  });
});
