import { createPipeline } from '@outflow/core';
import { t1537 } from '@outflow/detections';
import { otlpLogs } from '@outflow/exporter-otlp';
import { cloudTrail } from '@outflow/receiver-aws-cloudtrail';
import { k8sAudit } from '@outflow/receiver-k8s-audit';
import { describe, expect, it } from 'vitest';

describe('the README example', () => {
  it('builds and starts as written (ports on loopback), and shuts down', async () => {
    const pipeline = createPipeline({
      receivers: [cloudTrail({ file: { paths: ['/nonexistent-outflow-dir'], follow: true } }), k8sAudit({ http: { port: 0 } })],
      detections: t1537({ organization: { accounts: ['111122223333'] } }),
      exporters: [otlpLogs({ url: 'http://127.0.0.1:9/v1/logs' })],
    });
    await pipeline.start();
    expect(pipeline.state).toBe('running');
    const report = await pipeline.shutdown({ deadlineMs: 10_000 });
    expect(pipeline.state).toBe('stopped');
    expect(report.failures).toEqual([]);
  });
});
