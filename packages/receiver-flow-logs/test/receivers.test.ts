import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type ComponentFactory, ConfigError, type NetworkFlowEvent, type Receiver } from '@outflow/core';
import { type ConformanceEnv, createTestContext, createTestHost, receiverConformance, type TestHost } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { azureFlowLogs, gcpFlowLogs, hubbleFlows, vpcFlowLogs } from '../src/index.js';
import { fixture } from './helpers.js';

// ---- conformance -------------------------------------------------------------

let counter = 0;
const unique = () => `${Date.now()}-${++counter}`;

interface Family {
  factory: ComponentFactory<unknown, Receiver>;
  ext: string;
  valid: string;
  invalid: string;
}

const VPC_HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';
const families: Family[] = [
  {
    factory: vpcFlowLogs as unknown as ComponentFactory<unknown, Receiver>,
    ext: 'log',
    valid: `${VPC_HEADER}\n2 123456789010 eni-1 10.0.1.5 198.51.100.7 49761 443 6 20 4249 1709287200 1709287260 ACCEPT OK\n`,
    invalid: `${VPC_HEADER}\nthis is not a flow log line\n`,
  },
  {
    factory: gcpFlowLogs as unknown as ComponentFactory<unknown, Receiver>,
    ext: 'jsonl',
    valid: `${fixture('gcp/vpc_flows.jsonl').split('\n')[0]}\n`,
    invalid: '{"insertId":"x","jsonPayload":{"connection":{}}}\n',
  },
  {
    factory: azureFlowLogs as unknown as ComponentFactory<unknown, Receiver>,
    ext: 'json',
    valid: fixture('azure/nsg-v1.json'),
    invalid: '{"records":[{"category":"FlowLogFlowEvent","flowRecords":{"flows":[{"flowGroups":[{"rule":"r","flowTuples":["not,a,tuple"]}]}]}}]}',
  },
  {
    factory: hubbleFlows as unknown as ComponentFactory<unknown, Receiver>,
    ext: 'jsonl',
    valid: `${fixture('hubble/cilium-docs-exporter.jsonl').split('\n')[1]}\n`,
    invalid: '{"flow":{"time":"2024-03-01T00:00:00Z","IP":{"source":"10.0.0.1"\n',
  },
];

for (const fam of families) {
  defineConformanceTests(
    fam.factory.type,
    receiverConformance({
      factory: fam.factory,
      defaultConfigRequiresInput: true,
      config: (env: ConformanceEnv) => ({ file: { paths: [env.dir], follow: true, pollIntervalMs: 25 } }),
      sendValid: async (env) => writeFileSync(join(env.dir, `valid-${unique()}.${fam.ext}`), fam.valid),
      sendInvalid: async (env) => writeFileSync(join(env.dir, `invalid-${unique()}.${fam.ext}`), fam.invalid),
    }),
  );
}

// ---- real files ----------------------------------------------------------------

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'outflow-flow-logs-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function runToCompletion(factory: ComponentFactory<unknown, Receiver>, config: unknown): Promise<TestHost> {
  const cfg = factory.validate(config);
  const ctx = createTestContext({ name: factory.type, type: factory.type, kind: 'receiver' });
  const receiver = factory.create(ctx, cfg);
  const host = createTestHost({ ctx });
  try {
    await receiver.start(host);
    await host.waitForComplete(10_000);
  } finally {
    await receiver.shutdown();
  }
  return host;
}

const asFlows = (host: TestHost) => host.events as NetworkFlowEvent[];

describe('aws_vpc_flow receiver on files', () => {
  it('reads a directory of plain and gzip S3 deliveries, each with its own header; counts NODATA/SKIPDATA; dead-letters bad lines', async () => {
    writeFileSync(join(dir, 'a-v2.log'), fixture('aws_vpc/v2-default.log'));
    writeFileSync(join(dir, 'b-v5.log.gz'), gzipSync(fixture('aws_vpc/v5-custom.log')));
    writeFileSync(join(dir, 'c-v7.log.gz'), gzipSync(fixture('aws_vpc/v7-ecs.log')));
    writeFileSync(join(dir, 'ignored.txt'), 'not included');
    const host = await runToCompletion(vpcFlowLogs as unknown as ComponentFactory<unknown, Receiver>, {
      file: { paths: [dir], include: ['*.log', '*.log.gz'] },
    });
    const flows = asFlows(host);
    expect(flows).toHaveLength(6 + 5 + 3);
    // the v5 file's header placed vpc-id, pkt addresses and traffic-path; the v7 one the ECS fields
    expect(flows.filter((e) => e.vpcId === 'vpc-0a1b2c3d4e5f60718')).toHaveLength(5);
    expect(flows.find((e) => e.workload?.workloadName === 'ledger-api')?.location).toBe(`${join(dir, 'c-v7.log.gz')}:2`);
    expect(host.telemetry.total('dropped', { reason: 'nodata' })).toBe(1);
    expect(host.telemetry.total('dropped', { reason: 'skipdata' })).toBe(2);
    expect(host.deadLetters.map((d) => [d.reason, d.location])).toEqual([
      ['field_count', `${join(dir, 'a-v2.log')}:10`],
      ['invalid_field', `${join(dir, 'a-v2.log')}:11`],
      ['invalid_field', `${join(dir, 'a-v2.log')}:12`],
      ['missing_field', `${join(dir, 'a-v2.log')}:13`],
      ['missing_field', `${join(dir, 'a-v2.log')}:14`],
      ['invalid_field', `${join(dir, 'a-v2.log')}:15`],
      ['field_count', `${join(dir, 'b-v5.log.gz')}:8`],
    ]);
    expect(host.deadLetters[0]?.raw).toBe('2 123456789010 eni-1235b8ca123456789 10.0.1.5 198.51.100.7 49761 443 6 20 4249 1709287200');
    expect(host.telemetry.total('errors')).toBe(7);
    expect(host.deadLetters.every((d) => d.stage === 'decode')).toBe(true);
  });

  it('uses the header after a restart from a checkpoint (io passes the first line when resuming mid-file)', async () => {
    const file = join(dir, 'flows.log');
    const header = 'version srcaddr dstaddr srcport dstport bytes start end action log-status flow-direction';
    writeFileSync(file, `${header}\n5 10.0.0.1 198.51.100.1 1000 443 100 1709287200 1709287260 ACCEPT OK egress\n`);
    const config = { file: { paths: [file], checkpoint: { path: join(dir, 'checkpoint.json'), intervalMs: 10 } } };
    const first = await runToCompletion(vpcFlowLogs as unknown as ComponentFactory<unknown, Receiver>, config);
    expect(asFlows(first).map((e) => e.bytes)).toEqual([100]);
    appendFileSync(file, '5 10.0.0.1 198.51.100.2 1001 443 200 1709287300 1709287360 ACCEPT OK ingress\n');
    const second = await runToCompletion(vpcFlowLogs as unknown as ComponentFactory<unknown, Receiver>, config);
    expect(second.deadLetters).toEqual([]);
    expect(asFlows(second).map((e) => [e.bytes, e.direction, e.location])).toEqual([[200, 'ingress', `${file}:3`]]);
  });

  it('uses the configured format for headerless CloudWatch exports of a custom format', async () => {
    writeFileSync(join(dir, 'export.log'), '2024-03-01T10:01:00.000Z 5 vpc-9 10.0.0.1 198.51.100.1 1709287260 egress 8\n');
    const host = await runToCompletion(vpcFlowLogs as unknown as ComponentFactory<unknown, Receiver>, {
      file: { paths: [dir] },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: AWS flow log format strings name fields as ${field}
      format: '${version} ${vpc-id} ${srcaddr} ${dstaddr} ${end} ${flow-direction} ${traffic-path}',
    });
    expect(asFlows(host).map((e) => [e.vpcId, e.trafficPath])).toEqual([['vpc-9', 'internet_gateway']]);
  });

  it('derives direction with the configured internalCidrs', async () => {
    writeFileSync(join(dir, 'p.log'), fixture('aws_vpc/panther-derived.log'));
    const host = await runToCompletion(vpcFlowLogs as unknown as ComponentFactory<unknown, Receiver>, {
      file: { paths: [dir] },
      internalCidrs: ['10.0.0.0/8'],
    });
    expect(
      asFlows(host)
        .filter((e) => e.dst.address === '100.100.100.100')
        .map((e) => e.direction),
    ).toEqual(['egress', 'egress']);
  });
});

describe('gcp, azure and hubble receivers on files', () => {
  it('gcp_vpc_flow: JSON lines, skipped non-flow entries counted, bad entries dead-lettered; document framing for gcloud output', async () => {
    writeFileSync(join(dir, 'flows.jsonl'), fixture('gcp/vpc_flows.jsonl'));
    const host = await runToCompletion(gcpFlowLogs as unknown as ComponentFactory<unknown, Receiver>, { file: { paths: [dir] } });
    expect(host.events).toHaveLength(5);
    expect(host.deadLetters.map((d) => d.reason)).toEqual([
      'invalid_field',
      'missing_field',
      'invalid_field',
      'invalid_field',
      'invalid_json',
      'invalid_record',
    ]);
    expect(host.telemetry.total('dropped', { reason: 'not_a_flow' })).toBe(1);
    const doc = mkdtempSync(join(tmpdir(), 'outflow-gcloud-'));
    try {
      writeFileSync(join(doc, 'read.json'), fixture('gcp/gcloud-read.json'));
      const read = await runToCompletion(gcpFlowLogs as unknown as ComponentFactory<unknown, Receiver>, { file: { paths: [doc] }, framing: 'document' });
      expect(read.events.map((e) => e.sourceId)).toEqual(['1k2fmwpf1ajz4', '1k2fmwpf1ajz5']);
    } finally {
      rmSync(doc, { recursive: true, force: true });
    }
  });

  it('azure_flow: each blob is one document; tuple errors are dead-lettered with their path in the document', async () => {
    writeFileSync(join(dir, 'PT1H.json'), fixture('azure/nsg-v2.json'));
    writeFileSync(join(dir, 'vnet.json.gz'), gzipSync(fixture('azure/vnet.json')));
    const host = await runToCompletion(azureFlowLogs as unknown as ComponentFactory<unknown, Receiver>, { file: { paths: [dir] } });
    expect(host.events).toHaveLength(4 + 4);
    expect(host.deadLetters).toHaveLength(6 + 3);
    expect(host.deadLetters[0]?.location).toBe(`${join(dir, 'PT1H.json')}:1#records[0].properties.flows[2].flows[0].flowTuples[0]`);
    expect(host.deadLetters[0]?.raw).toBe('1709287262,10.5.16.4,198.51.100.7,51000,443,X,O,A,E,1,1,1,1');
  });

  it('azure_flow: file.maxRecordBytes defaults to 64 MiB and stays strict', () => {
    const cfg = azureFlowLogs.validate({ file: { paths: ['/x'] } });
    expect(cfg.file.maxRecordBytes).toBe(64 * 1024 * 1024);
    expect(() => azureFlowLogs.validate({ file: { paths: ['/x'], bogus: 1 } })).toThrow(/file/);
  });

  it('hubble: both ends keep their pod identity; L7, lost-events and L2 records are counted as dropped', async () => {
    writeFileSync(join(dir, 'events.log'), fixture('hubble/observe-jsonpb.jsonl'));
    const host = await runToCompletion(hubbleFlows as unknown as ComponentFactory<unknown, Receiver>, { file: { paths: [dir] } });
    const flows = asFlows(host);
    expect(flows).toHaveLength(4);
    expect(flows[0]?.src.workload?.workloadName).toBe('billing-api');
    expect(host.deadLetters).toHaveLength(5);
    for (const reason of ['l7', 'lost_events', 'no_ip', 'not_a_flow']) expect(host.telemetry.total('dropped', { reason }), reason).toBe(1);
    const withL7 = await runToCompletion(hubbleFlows as unknown as ComponentFactory<unknown, Receiver>, { file: { paths: [dir] }, l7: 'attributes' });
    expect(asFlows(withL7).find((e) => e.attributes?.['dns.question.name'])?.attributes?.['dns.question.name']).toBe('uploads.example.net');
  });
});

describe('configuration', () => {
  const issues = (factory: { validate(c: unknown, p?: string): unknown }, config: unknown) => {
    try {
      factory.validate(config, 'receivers[0]');
    } catch (err) {
      if (err instanceof ConfigError) return err.issues.map((i) => i.path).sort();
      throw err;
    }
    return [];
  };
  it('reports every problem with its path', () => {
    expect(issues(vpcFlowLogs, { file: { paths: [] }, internalCidrs: ['10.0.0.0/8', '10.0.0/8', '300.0.0.0/8'], format: 'nope', extra: 1 })).toEqual([
      'receivers[0]',
      'receivers[0].file.paths',
      'receivers[0].format',
      'receivers[0].internalCidrs[1]',
      'receivers[0].internalCidrs[2]',
    ]);
    expect(issues(hubbleFlows, { file: { paths: ['/x'] }, l7: 'maybe', maxLabels: -1 })).toEqual(['receivers[0].l7', 'receivers[0].maxLabels']);
    expect(issues(gcpFlowLogs, { file: { paths: ['/x'] }, framing: 'xml' })).toEqual(['receivers[0].framing']);
  });
  it('fills defaults', () => {
    const cfg = vpcFlowLogs.validate({ file: { paths: ['/var/log/flows'] } });
    expect(cfg.internalCidrs).toEqual(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7']);
    expect(cfg.file.follow).toBe(false);
    expect(hubbleFlows.validate({ file: { paths: ['/x'] } })).toMatchObject({ l7: 'skip', maxLabels: 64 });
    expect(gcpFlowLogs.validate({ file: { paths: ['/x'] } }).framing).toBe('lines');
  });
});
