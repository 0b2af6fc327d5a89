import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Alert, createPipeline, rule } from '@outflow/core';
import { afterAll, expect, it } from 'vitest';
import { hubbleFlows, vpcFlowLogs } from '../src/index.js';
import { TESTDATA } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'outflow-flow-example-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The README example, run against the fixtures: it must keep working as written. */
it('README example: large egress flows from VPC flow logs and Hubble raise alerts', async () => {
  cpSync(join(TESTDATA, 'aws_vpc'), join(dir, 'vpc'), { recursive: true });
  cpSync(join(TESTDATA, 'hubble'), join(dir, 'hubble'), { recursive: true });
  const flowLogDir = join(dir, 'vpc');
  const hubbleDir = join(dir, 'hubble');

  // ---- README example (between the markers) ----
  const largeEgress = rule({
    id: 'example.large-egress',
    title: 'Large egress flow',
    severity: 'medium',
    kinds: ['network_flow'],
    match: (flow) =>
      flow.direction === 'egress' &&
      (flow.bytes ?? 0) > 100 * 2 ** 20 && {
        dedupKey: `${flow.src.address}->${flow.dst.address}`,
        explanation: { summary: `${flow.bytes} bytes from ${flow.workload?.workloadName ?? flow.src.address} to ${flow.dst.address}:${flow.dst.port}` },
      },
  });

  const pipeline = createPipeline({
    receivers: [
      vpcFlowLogs({ file: { paths: [flowLogDir], include: ['*.log', '*.log.gz'] } }),
      hubbleFlows({ file: { paths: [hubbleDir], include: ['*.jsonl'] } }),
    ],
    detections: [largeEgress],
  });
  const alerts: Alert[] = [];
  pipeline.alerts$.subscribe((alert) => alerts.push(alert));
  await pipeline.start();
  await pipeline.done; // the files were read once (follow: false)
  await pipeline.shutdown();
  // ---- end of README example ----

  expect(alerts.map((a) => a.explanation.summary).sort()).toEqual([
    '536870912 bytes from ledger-api to 198.51.100.7:443',
    '734003200 bytes from 10.0.1.5 to 52.216.8.1:443',
  ]);
  expect(pipeline.telemetry.total('dropped', { component: 'aws_vpc_flow', reason: 'nodata' })).toBe(2);
  expect(pipeline.telemetry.total('errors', { component: 'aws_vpc_flow' })).toBeGreaterThan(0);
});
