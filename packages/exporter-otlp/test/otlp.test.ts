import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { type Alert, alertFromFinding, createPipeline, ExportRunner, type OutflowEvent, rule, T1537 } from '@outflow/core';
import { alert as buildAlert, createTestContext, exporterConformance, MemoryReceiver } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeAlert, encodeLogRecord, OtlpLogsExporter, otlpLogs, toLogRecord } from '../src/index.js';
import { Collector, attributes as decodeAttributes } from './collector.js';

const collectors: Collector[] = [];
async function collector(): Promise<{ c: Collector; url: string }> {
  const c = new Collector();
  const url = await c.listen();
  collectors.push(c);
  return { c, url };
}
afterEach(async () => {
  for (const c of collectors.splice(0)) await c.close();
});

const T0 = Date.UTC(2024, 4, 1, 12, 0);
const signal = () => new AbortController().signal;

function fullAlert(): Alert {
  const a = alertFromFinding(
    {
      detection: {
        id: 'snapshot_shared_external',
        title: 'EBS snapshot shared with an external account',
        attack: T1537,
        relatedAttack: [
          { technique: 'T1048.002', techniqueName: 'Exfiltration Over Asymmetric Encrypted Non-C2 Protocol', tactic: 'TA0010', tacticName: 'Exfiltration' },
        ],
        version: '1.2.0',
      },
      severity: 'high',
      time: T0,
      workload: {
        cluster: 'prod-eu',
        namespace: 'payments',
        workloadKind: 'Deployment',
        workloadName: 'ledger',
        pod: 'ledger-7d9f-abcde',
        podUid: 'uid-1',
        container: 'app',
        containerId: 'containerd://abc',
        image: 'registry.example/ledger:1.4.2',
        imageDigest: 'sha256:0123',
        node: 'node-1',
        labels: { app: 'ledger' },
        account: '111122223333',
      },
      evidence: [
        { source: 'aws_cloudtrail', id: 'e1', time: T0 },
        { source: 'aws_vpc_flow', id: 'f2' },
      ],
      explanation: {
        summary: 'snapshot shared with 999988887777',
        observed: 'createVolumePermission add',
        expected: 'no external sharing',
        score: 5.5,
        threshold: 3,
        baselineAgeMs: 1000,
        samples: 12,
        reasons: ['account outside the organization'],
      },
      dedupKey: 'snap-1',
      attributes: {
        'cloud.provider': 'aws',
        'cloud.region': 'eu-west-1',
        'source.address': '10.0.1.5',
        'destination.address': '203.0.113.10',
        'destination.port': 443,
      },
      tags: ['cloud'],
      response: { investigate: ['who shared it'], contain: ['revoke it'] },
      related: ['r1'],
    },
    T0 + 2500,
  );
  return { ...a, status: 'update', count: 3, lastSeen: T0 + 60_000, labels: { team: 'sec' } };
}

const ENCODERS = ['sdk', 'direct'] as const;

describe.each(ENCODERS)('OTLP logs exporter, encoder %s', (encoder) => {
  const config = (c: Record<string, unknown>) => otlpLogs.validate({ encoder, ...c });

  it('sends an alert as a log record: every field decoded from the OTLP JSON', async () => {
    const { c, url } = await collector();
    const exporter = new OtlpLogsExporter(
      createTestContext({ kind: 'exporter' }),
      config({
        url,
        resource: { serviceVersion: '0.1.0', cluster: 'prod-eu', environment: 'production', attributes: { 'service.namespace': 'security' } },
      }),
    );
    const a = fullAlert();
    await exporter.export([a], signal());
    await exporter.shutdown();
    expect(c.contentTypes).toEqual(new Set(['application/json']));
    expect(c.records).toHaveLength(1);
    const r = c.records[0];
    expect(r?.resource).toMatchObject({
      'service.name': 'outflow',
      'service.version': '0.1.0',
      'k8s.cluster.name': 'prod-eu',
      'deployment.environment.name': 'production',
      'service.namespace': 'security',
    });
    expect(r?.scope).toMatchObject({ name: '@outflow/exporter-otlp' });
    expect(r?.eventName).toBe('outflow.alert');
    expect(r?.timeMs).toBe(T0 + 60_000);
    expect(r?.observedTimeMs).toBe(T0 + 2500);
    expect(r?.severityNumber).toBe(17);
    expect(r?.severityText).toBe('high');
    expect(r?.body).toBe('snapshot shared with 999988887777');
    expect(r?.attributes).toEqual({
      'security_rule.uuid': 'snapshot_shared_external',
      'security_rule.name': 'EBS snapshot shared with an external account',
      'security_rule.ruleset.name': 'outflow',
      'security_rule.category': 'Exfiltration',
      'security_rule.reference': 'https://attack.mitre.org/techniques/T1537/',
      'security_rule.version': '1.2.0',
      'threat.framework': 'MITRE ATT&CK',
      'threat.technique.id': ['T1537', 'T1048.002'],
      'threat.technique.name': ['Transfer Data to Cloud Account', 'Exfiltration Over Asymmetric Encrypted Non-C2 Protocol'],
      'threat.tactic.id': ['TA0010'],
      'threat.tactic.name': ['Exfiltration'],
      'k8s.cluster.name': 'prod-eu',
      'k8s.namespace.name': 'payments',
      'k8s.deployment.name': 'ledger',
      'k8s.workload.kind': 'Deployment',
      'k8s.pod.name': 'ledger-7d9f-abcde',
      'k8s.pod.uid': 'uid-1',
      'k8s.container.name': 'app',
      'k8s.node.name': 'node-1',
      'k8s.pod.label.app': 'ledger',
      'container.id': 'containerd://abc',
      'container.image.name': 'registry.example/ledger:1.4.2',
      'container.image.id': 'sha256:0123',
      'cloud.account.id': '111122223333',
      'cloud.provider': 'aws',
      'cloud.region': 'eu-west-1',
      'source.address': '10.0.1.5',
      'destination.address': '203.0.113.10',
      'destination.port': 443,
      'outflow.alert.id': a.id,
      'outflow.alert.delivery_key': `${a.id}:3`,
      'outflow.alert.status': 'update',
      'outflow.alert.count': 3,
      'outflow.alert.severity_id': 4,
      'outflow.alert.time': T0,
      'outflow.alert.first_seen': T0,
      'outflow.alert.last_seen': T0 + 60_000,
      'outflow.alert.dedup_key': 'snap-1',
      'outflow.alert.observed': 'createVolumePermission add',
      'outflow.alert.expected': 'no external sharing',
      'outflow.alert.score': 5.5,
      'outflow.alert.threshold': 3,
      'outflow.alert.baseline_age_ms': 1000,
      'outflow.alert.samples': 12,
      'outflow.alert.reasons': ['account outside the organization'],
      'outflow.alert.evidence': ['aws_cloudtrail:e1', 'aws_vpc_flow:f2'],
      'outflow.alert.tags': ['cloud'],
      'outflow.alert.related': ['r1'],
      'outflow.alert.response.investigate': ['who shared it'],
      'outflow.alert.response.contain': ['revoke it'],
      'outflow.label.team': 'sec',
    });
  });

  it('maps every severity to an OpenTelemetry severity number', async () => {
    const { c, url } = await collector();
    const exporter = new OtlpLogsExporter(createTestContext({ kind: 'exporter' }), config({ url }));
    const severities = ['informational', 'low', 'medium', 'high', 'critical'] as const;
    await exporter.export(
      severities.map((severity) => buildAlert({ severity })),
      signal(),
    );
    await exporter.shutdown();
    expect(c.records.map((r) => [r.severityText, r.severityNumber])).toEqual([
      ['informational', 9],
      ['low', 13],
      ['medium', 14],
      ['high', 17],
      ['critical', 21],
    ]);
  });

  it('a burst of 50 000 alerts through a pipeline: all arrive, none dropped, none twice', async () => {
    const { c, url } = await collector();
    const N = 50_000;
    const events: OutflowEvent[] = Array.from({ length: N }, (_, i) => ({
      kind: 'network_flow',
      time: T0 + i,
      observedTime: T0,
      source: 'test',
      sourceId: `f${i}`,
      src: { address: '10.0.0.1' },
      dst: { address: '203.0.113.9', port: 443 },
      direction: 'egress',
      bytes: i,
      workload: { cluster: 'c1', namespace: 'ns', workloadKind: 'Deployment', workloadName: 'web' },
    }));
    const pipeline = createPipeline({
      receivers: [new MemoryReceiver(events, { batchSize: 5000 })],
      detections: [
        rule({
          id: 'every_flow',
          title: 'Every flow',
          severity: 'medium',
          kinds: ['network_flow'],
          match: (e) => ({ dedupKey: e.sourceId ?? '', explanation: { summary: `flow ${e.sourceId}` }, attributes: { 'destination.address': e.dst.address } }),
        }),
      ],
      dedup: false,
      exporters: [otlpLogs({ url, encoder, resource: { cluster: 'c1', environment: 'burst' } })],
    });
    await pipeline.start();
    await pipeline.done;
    const report = await pipeline.shutdown({ deadlineMs: 60_000 });
    expect(report.clean).toBe(true);
    expect(c.records).toHaveLength(N);
    expect(new Set(c.ids()).size).toBe(N);
    expect(c.rejected).toBe(0);
    expect(pipeline.telemetry.total('dropped')).toBe(0);
    expect(pipeline.telemetry.total('errors')).toBe(0);
    expect(pipeline.telemetry.total('emitted', { component: 'otlp' })).toBe(N);
    const last = c.records.find((r) => r.body === `flow f${N - 1}`);
    expect(last).toMatchObject({
      eventName: 'outflow.alert',
      timeMs: T0 + N - 1,
      severityNumber: 14,
      severityText: 'medium',
      resource: { 'service.name': 'outflow', 'k8s.cluster.name': 'c1', 'deployment.environment.name': 'burst' },
    });
    expect(last?.attributes).toMatchObject({ 'security_rule.uuid': 'every_flow', 'k8s.deployment.name': 'web', 'destination.address': '203.0.113.9' });
  });

  it('applies backpressure to a batch larger than maxQueueSize instead of dropping', async () => {
    const { c, url } = await collector();
    const ctx = createTestContext({ kind: 'exporter', name: 'otlp' });
    const exporter = new OtlpLogsExporter(ctx, config({ url, maxQueueSize: 64, maxExportBatchSize: 32 }));
    const alerts = Array.from({ length: 1000 }, () => buildAlert());
    await exporter.export(alerts, signal());
    await exporter.shutdown();
    expect(new Set(c.ids())).toEqual(new Set(alerts.map((a) => a.id)));
    expect(c.records).toHaveLength(1000);
    // rounds of 64 (15 × 2 requests of 32, then 32 + 8), never more than maxExportBatchSize per request
    expect(c.requests).toBe(32);
    expect(Math.max(...c.batches)).toBe(32);
    expect(exporter.emitted).toBe(1000);
    expect(exporter.undelivered).toBe(0);
    expect(ctx.telemetry.total('errors')).toBe(0);
  });

  it('a failing collector: only the records not accepted are sent again, after a retry', async () => {
    const { c, url } = await collector();
    c.status = (n) => (n === 2 || n === 3 ? 500 : 200);
    const ctx = createTestContext({ kind: 'exporter', name: 'otlp' });
    const exporter = new OtlpLogsExporter(ctx, config({ url, maxExportBatchSize: 10 }));
    const runner = new ExportRunner(exporter, ctx, { batchSize: 50, retry: { maxAttempts: 5, initialDelayMs: 10 } });
    runner.start();
    const alerts = Array.from({ length: 100 }, () => buildAlert());
    for (const a of alerts) runner.enqueue(a);
    await runner.drain(AbortSignal.timeout(20_000));
    await exporter.shutdown();
    expect(c.rejected).toBe(2);
    expect(c.records).toHaveLength(100);
    expect(new Set(c.ids()).size).toBe(100);
    expect(exporter.undelivered).toBe(20);
    expect(ctx.telemetry.total('errors', { reason: 'export_retry' })).toBeGreaterThanOrEqual(1);
    expect(ctx.deadLetters).toEqual([]);
  });

  it('a 400 from the collector is permanent: dead-lettered, not retried', async () => {
    const { c, url } = await collector();
    c.status = () => 400;
    const ctx = createTestContext({ kind: 'exporter', name: 'otlp' });
    const exporter = new OtlpLogsExporter(ctx, config({ url }));
    const runner = new ExportRunner(exporter, ctx, { retry: { maxAttempts: 5, initialDelayMs: 10 } });
    runner.start();
    runner.enqueue(buildAlert());
    await runner.drain(AbortSignal.timeout(10_000));
    await exporter.shutdown();
    expect(c.requests).toBe(1);
    expect(exporter.undelivered).toBe(1);
    expect(ctx.deadLetters.map((d) => d.reason)).toEqual(['permanent_error']);
  });

  it(`gzip compression: bodies are compressed and decode to the same records; ${encoder === 'direct' ? '2 requests' : '1 request'} in flight`, async () => {
    const { c, url } = await collector();
    c.delayMs = 20;
    const ctx = createTestContext({ kind: 'exporter', name: 'otlp' });
    const exporter = new OtlpLogsExporter(ctx, config({ url, compression: 'gzip', maxExportBatchSize: 100, concurrency: 2 }));
    const alerts = Array.from({ length: 1000 }, () => buildAlert());
    await exporter.export(alerts, signal());
    await exporter.shutdown();
    expect(c.gzipped).toBe(10);
    expect(c.batches).toEqual(Array(10).fill(100));
    expect(new Set(c.ids())).toEqual(new Set(alerts.map((a) => a.id)));
    expect(c.records).toHaveLength(1000);
    // `concurrency` applies to the direct encoder; the SDK's batch processor exports one request at a time
    expect(c.maxInFlight).toBe(encoder === 'direct' ? 2 : 1);
  });

  it('a collector that does not answer in time: the request fails as retryable, nothing is marked delivered', async () => {
    const { c, url } = await collector();
    c.delayMs = 500;
    const ctx = createTestContext({ kind: 'exporter', name: 'otlp' });
    const exporter = new OtlpLogsExporter(ctx, config({ url, timeoutMs: 50 }));
    const a = buildAlert();
    await expect(exporter.export([a], signal())).rejects.toThrow(/timed out/);
    expect(exporter.undelivered).toBe(1);
    c.delayMs = 0;
    await exporter.export([a], signal());
    await exporter.shutdown();
    // sent again: nothing was marked delivered by the timed-out request
    expect(exporter.emitted).toBe(2);
    expect(c.ids()).toContain(a.id);
  });
});

describe('OTLP logs exporter, both encoders', () => {
  it('the sdk and direct encoders put the same records on the wire', async () => {
    const full = fullAlert();
    const alerts: Alert[] = [
      full,
      { ...full, workload: Object.freeze({ ...full.workload, labels: Object.freeze({ ...full.workload?.labels }) }) },
      { ...full, attributes: { ...full.attributes, 'k8s.namespace.name': 'override', 'security_rule.name': 'x' } },
      { ...buildAlert(), workload: undefined, response: undefined, labels: undefined, attributes: undefined },
      {
        ...full,
        explanation: { ...full.explanation, summary: 'quote " back \\ tab \t newline \n é 😀 end', score: 0.125 },
        attributes: { note: 'ünïcode', big: 2 ** 40, flag: true, list: ['a"b', 'c\\d'] },
      },
      ...(['informational', 'low', 'medium', 'critical'] as const).map((severity) => buildAlert({ severity })),
    ];
    const received: Record<string, unknown[]> = {};
    for (const encoder of ENCODERS) {
      const { c, url } = await collector();
      const exporter = new OtlpLogsExporter(
        createTestContext({ kind: 'exporter' }),
        otlpLogs.validate({ url, encoder, resource: { serviceVersion: '0.1.0', cluster: 'prod-eu', attributes: { 'service.namespace': 'security' } } }),
      );
      await exporter.export(alerts, signal());
      await exporter.shutdown();
      received[encoder] = c.records;
    }
    expect(received.sdk).toHaveLength(alerts.length);
    expect(received.direct).toEqual(received.sdk);
  });

  it('the SDK processor on its own drops a burst beyond its queue (what the exporter rounds prevent)', async () => {
    const { c, url } = await collector();
    const provider = new LoggerProvider({
      processors: [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter({ url }), maxQueueSize: 64, maxExportBatchSize: 32 })],
    });
    const logger = provider.getLogger('test');
    for (const a of Array.from({ length: 1000 }, () => buildAlert())) logger.emit(toLogRecord(a));
    await provider.forceFlush();
    await provider.shutdown();
    expect(c.records.length).toBeLessThan(1000);
  });

  it('delivery: the direct encoder takes export calls of several requests (concurrency overlaps within a call)', () => {
    const ctx = createTestContext({ kind: 'exporter' });
    expect(new OtlpLogsExporter(ctx, otlpLogs.validate({ encoder: 'direct', concurrency: 4 })).delivery.queue?.batchSize).toBe(512 * 4 * 2);
    expect(new OtlpLogsExporter(ctx, otlpLogs.validate({ encoder: 'direct', queue: { batchSize: 100 } })).delivery.queue?.batchSize).toBe(100);
    expect(new OtlpLogsExporter(ctx, otlpLogs.validate({})).delivery.queue?.batchSize).toBeUndefined();
  });

  it('the fast encoder writes the same record as toLogRecord + encodeLogRecord, cached fragments included', () => {
    const decode = (json: string) => {
      const r = JSON.parse(json) as { attributes: { key: string; value: never }[] } & Record<string, unknown>;
      return { ...r, attributes: decodeAttributes(r.attributes), keys: r.attributes.map((a) => a.key).sort() };
    };
    const full = fullAlert();
    const frozen = { ...full, workload: Object.freeze({ ...full.workload, labels: Object.freeze({ ...full.workload?.labels }) }) };
    const collide = { ...full, attributes: { ...full.attributes, 'k8s.namespace.name': 'override', 'security_rule.name': 'x' } };
    const bare = { ...buildAlert(), workload: undefined, response: undefined, labels: undefined, attributes: undefined };
    const odd = {
      ...full,
      explanation: { ...full.explanation, summary: 'quote " back \\ tab \t newline \n é 😀 lone \ud800 end', score: 0.125 },
      attributes: { note: 'ünïcode', big: 2 ** 40, flag: true, list: ['a"b', 'c\\d'] },
    };
    // numbers the writer spells itself: zero and fractional times, a negative and a large integer
    const numbers = { ...full, lastSeen: 0, emittedAt: 1.5, count: -3, attributes: { zero: 0, big: 2 ** 53 + 2, ten: 10, neg: -7 } };
    for (const a of [full, frozen, frozen, collide, bare, odd, numbers, buildAlert({ severity: 'low' })]) {
      const fast = decode(encodeAlert(a));
      expect(fast).toEqual(decode(encodeLogRecord(toLogRecord(a))));
      expect(new Set(fast.keys).size).toBe(fast.keys.length);
    }
    expect(decode(encodeAlert(collide)).attributes['k8s.namespace.name']).toBe('override');
  });

  it('validates its config with paths', () => {
    expect(() => otlpLogs.validate({ url: 'grpc://x', resource: { cluster: '' }, maxQueueSize: 0, encoder: 'fast' }, 'exporters[0]')).toThrow(
      /exporters\[0\]\.url[\s\S]*exporters\[0\]\.resource\.cluster[\s\S]*exporters\[0\]\.encoder[\s\S]*exporters\[0\]\.maxQueueSize/,
    );
    expect(otlpLogs.createDefaultConfig()).toMatchObject({
      url: 'http://localhost:4318/v1/logs',
      encoder: 'sdk',
      maxQueueSize: 8192,
      resource: { serviceName: 'outflow' },
    });
  });
});

for (const encoder of ENCODERS) {
  defineConformanceTests(
    `otlp exporter conformance, encoder ${encoder}`,
    exporterConformance({
      factory: otlpLogs,
      async setup() {
        const c = new Collector();
        const url = await c.listen();
        return { config: { url, encoder }, received: async () => c.ids(), close: () => c.close() };
      },
    }),
  );
}
