import type { NetworkFlowEvent, OutflowEvent } from '@outflow/core';
import { auditEvent, cloudCall, flowEvent, processExec, runtimeAlert } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { networkConfig, runSources, vpc } from './helpers.js';

const T0 = Date.UTC(2024, 4, 6, 8, 0, 0);
const MIN = 60_000;
const MINE = ['egress_volume_anomaly', 'new_external_destination', 'cloud_storage_foreign_transfer', 'exfiltration_chain'];

describe('bad input never throws in the network analytics and the chain', () => {
  it('odd flows, commands, runtime alerts, audit execs and S3 data events pass without exceptions or findings', async () => {
    const pod = { cluster: 'prod-eu', namespace: 'shop', workloadKind: 'Deployment', workloadName: 'api', pod: 'api-1' };
    const events: OutflowEvent[] = [];
    let i = 0;
    const t = () => T0 + i++ * 1000;
    const odd: Partial<NetworkFlowEvent>[] = [
      { bytes: Number.NaN },
      { bytes: -1 },
      { bytes: Number.POSITIVE_INFINITY },
      { reverseBytes: Number.NaN, direction: 'ingress' },
      { dst: { address: 'not-an-address', port: 443 } },
      { dst: { address: '', port: -1 } },
      { src: { address: '10.42.1.10', port: 70000, workload: pod }, dst: { address: '203.0.113.9' } },
      { direction: 'unknown', src: { address: '203.0.113.9' }, dst: { address: '198.51.100.9' } },
    ];
    for (const o of odd)
      events.push(flowEvent({ time: t(), src: { address: '10.42.1.10', port: 40000, workload: pod }, dst: { address: '203.0.113.9', port: 443 }, ...o }));
    for (const args of [
      [],
      [''],
      ['aws'],
      ['aws', 's3', 'cp'],
      ['sh', '-c'],
      ['sh', '-c', '"unterminated'],
      ['rclone', 'copy', 'a', 'b:'],
      ['x'.repeat(100_000)],
    ]) {
      events.push(processExec({ time: t(), process: { executable: '/usr/bin/x', args }, workload: pod }));
    }
    events.push(processExec({ time: t(), phase: 'exit', process: { executable: '/usr/bin/aws', args: [] }, workload: pod }));
    for (const fields of [{}, { 'proc.cmdline': 42 }, { 'proc.cmdline': null }, { 'proc.cmdline': 'aws s3 cp' }])
      events.push(runtimeAlert({ time: t(), fields, workload: pod }));
    for (const command of [[], ['aws', 's3', 'cp', '/x', 's3://'], ['sh', '-c', '&&']])
      events.push(
        auditEvent({
          time: t(),
          verb: 'create',
          objectRef: { resource: 'pods', subresource: 'exec', namespace: 'shop', name: 'api-1' },
          command,
          workload: pod,
        }),
      );
    for (const request of [null, 'string', [], { bucketName: '' }, { bucketName: 42 }, { bucketName: 'b', key: { nested: true } }])
      events.push(
        cloudCall({
          time: t(),
          service: 's3.amazonaws.com',
          operation: 'PutObject',
          request,
          resources: [{ type: 'AWS::S3::Bucket', arn: 'arn:aws:s3:::b', accountId: '999988887777' }],
        }),
      );
    const run = await runSources([events], networkConfig());
    expect(run.deadLetter.entries().filter((e) => e.reason === 'exception' || e.reason === 'stream_error')).toEqual([]);
    expect(run.alerts.filter((a) => MINE.includes(a.detection.id))).toEqual([]);
  });

  it('a finite input delivered at once (the watermark jumps to +Infinity while events are queued) gives the same findings as a settled one', async () => {
    const settled = await runSources([vpc('egress-positive.vpc.log')], networkConfig());
    const immediate = await runSources([vpc('egress-positive.vpc.log')], networkConfig(), { completion: 'immediate' });
    const keys = (r: typeof settled) =>
      [...new Set(r.alerts.filter((a) => MINE.includes(a.detection.id)).map((a) => `${a.detection.id} ${a.dedupKey} ${a.severity}`))].sort();
    expect(keys(immediate)).toEqual(keys(settled));
    expect(keys(settled).length).toBeGreaterThanOrEqual(4);
    expect(immediate.deadLetter.entries()).toEqual([]);
  });

  it('flows late for their window are counted and dead-lettered as late, not lost silently', async () => {
    const pod = { cluster: 'prod-eu', namespace: 'shop', workloadKind: 'Deployment', workloadName: 'api', pod: 'api-1' };
    const flow = (time: number) => {
      const e = flowEvent({ time, src: { address: '10.42.1.10', port: 40000, workload: pod }, dst: { address: '203.0.113.9', port: 443 }, bytes: 10 });
      return e;
    };
    // One source, one event per batch: a flow 55 minutes older than the watermark arrives after its window closed.
    const events = [...Array.from({ length: 60 }, (_, k) => flow(T0 + k * MIN)), flow(T0 + 5 * MIN), flow(T0 + 61 * MIN)];
    const run = await runSources([events], networkConfig(), { batchSize: 1 });
    const late = run.deadLetter.entries().filter((e) => e.stage === 'late' && e.component === 'egress_volume_anomaly');
    expect(late.map((e) => e.reason)).toEqual(['window_closed']);
  });
});
