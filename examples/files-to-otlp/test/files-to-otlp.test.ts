import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateScenario, writeScenario } from '@outflow/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesToOtlp } from '../src/pipeline.js';

interface LogRecord {
  eventName?: string;
  severityText?: string;
  body?: { stringValue?: string };
  attributes: { key: string; value: { stringValue?: string } }[];
}

let server: Server;
let url: string;
const records: LogRecord[] = [];

beforeAll(async () => {
  // A stand-in for an OpenTelemetry Collector's OTLP/HTTP logs receiver, on loopback.
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { resourceLogs: { scopeLogs: { logRecords: LogRecord[] }[] }[] };
      for (const rl of body.resourceLogs) for (const sl of rl.scopeLogs) records.push(...sl.logRecords);
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/v1/logs`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('files to OTLP', () => {
  it('reads CloudTrail and VPC flow log directories and exports the alerts as OTLP log records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'files-to-otlp-'));
    const t = generateScenario({ seed: 3, hours: 3, scenarios: ['web_services', 'cloud_shares'], attackAt: 0.5 });
    const files = writeScenario(dir, t);
    const pipeline = filesToOtlp({
      cloudtrailDir: files.aws_cloudtrail,
      vpcFlowDir: files.aws_vpc_flow,
      otlpUrl: url,
      presetConfig: t.presetConfig as never,
      cluster: 'prod-eu-1',
    });
    await pipeline.start();
    await pipeline.done;
    await pipeline.shutdown();
    const rules = records.map((r) => r.attributes.find((a) => a.key === 'security_rule.uuid')?.value.stringValue).sort();
    expect(rules).toEqual(expect.arrayContaining(['ami_shared', 'rds_snapshot_shared', 's3_bucket_policy_external']));
    expect(records.every((r) => r.eventName === 'outflow.alert')).toBe(true);
    expect(pipeline.telemetry.total('received')).toBe((t.meta.counts.aws_cloudtrail ?? 0) + (t.meta.counts.aws_vpc_flow ?? 0));
  });
});
