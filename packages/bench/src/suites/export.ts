import { type ChildProcess, fork } from 'node:child_process';
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import { type Alert, alertFromFinding, ExportRunner, T1537 } from '@outflow/core';
import { OtlpLogsExporter, otlpLogs } from '@outflow/exporter-otlp';
import { barePost, context } from '../export-kit.js';
import type { Figure, Harness, Suite } from '../harness.js';

/**
 * Figure 4 of issue 8: the OTLP exporter delivers alerts to a loopback sink
 * with none lost, with each of its two encoders: `sdk` (the default: the
 * OpenTelemetry logs SDK's BatchLogRecordProcessor and OTLP/HTTP exporter)
 * and `direct` (its own OTLP JSON encoder, `concurrency` requests in flight).
 * The sink is a process of its own (as a collector is), decoding every
 * OTLP/HTTP JSON request and keeping each record's delivery key. Alerts go
 * through an ExportRunner, as the pipeline hands them to an exporter (bounded
 * queue, the batch size each encoder asks for, backpressure); a figure is the
 * rate at which they are all acknowledged by the sink. Measured interleaved,
 * side by side: both encoders and bare keep-alive POSTs of the same alerts as
 * JSON arrays of 512 (2 in flight).
 */

const T0 = Date.UTC(2024, 4, 1);
const DETECTIONS = ['egress_volume_anomaly', 'new_external_destination', 'pod_exec', 'exec_payload', 'ebs_snapshot_shared', 'exfiltration_chain'];

/**
 * Alerts as the preset raises them: a workload, evidence, an explanation with
 * reasons, attributes, response steps. As in the preset, an analytic's
 * detection reference and response plan are one object shared by its alerts,
 * and workload identities are the enrichers' shared frozen objects.
 */
function makeAlerts(n: number): Alert[] {
  const detections = DETECTIONS.map((id) => ({ id, title: `T1537 analytic ${id}`, attack: T1537 }));
  const response = { investigate: ['who is on the other end'], contain: ['apply the quarantine NetworkPolicy'] };
  const workloads = Array.from({ length: 200 }, (_, w) =>
    Object.freeze({
      cluster: 'prod-eu',
      namespace: `ns-${w % 20}`,
      workloadKind: 'Deployment',
      workloadName: `app-${w}`,
      pod: `app-${w}-7d9f8c-abcde`,
      container: 'app',
      image: 'registry.example/app:1.4.2',
      labels: Object.freeze({ app: `app-${w}`, 'pod-template-hash': '7d9f8c' }),
      account: '111122223333',
    }),
  );
  return Array.from({ length: n }, (_, i) =>
    alertFromFinding(
      {
        detection: detections[i % detections.length] as (typeof detections)[number],
        severity: i % 10 === 0 ? 'critical' : 'high',
        time: T0 + i,
        workload: workloads[i % workloads.length],
        evidence: [
          { source: 'aws_vpc_flow', id: `eni-1:${i}` },
          { source: 'aws_vpc_flow', id: `eni-1:${i + 1}` },
        ],
        explanation: {
          summary: `app-${i % 200} sent ${(i % 50) + 1}.2 GB to 203.0.113.${i % 250} in 5 min`,
          observed: 'bytes_out=5.2 GB in 5 min',
          expected: 'p99 140 MB (median 12 MB)',
          score: 0.9999,
          threshold: 0.99997,
          reasons: ['destination never seen from this workload', 'bytes sent per source: aws_vpc_flow 5.2 GB'],
        },
        dedupKey: `k${i}`,
        attributes: { 'destination.address': `203.0.113.${i % 250}`, 'destination.port': 443, 'outflow.egress.group': 'external' },
        tags: ['t1537', 'network'],
        response,
      },
      T0 + i + 1000,
    ),
  );
}

interface SinkStats {
  records: number;
  unique: number;
  requests: number;
  bytes: number;
}

async function startSink(): Promise<{ proc: ChildProcess; url: string; stats(): Promise<SinkStats>; reset(): void }> {
  const script = fileURLToPath(new URL('../otlp-sink.js', import.meta.url));
  const proc = fork(script, ['--otlp-sink'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('message', (m: { t: string; port: number }) => resolve(m.port));
    proc.once('exit', (code) => reject(new Error(`OTLP sink exited with code ${code}`)));
  });
  return {
    proc,
    url: `http://127.0.0.1:${port}/v1/logs`,
    stats: () =>
      new Promise((resolve) => {
        const on = (m: { t: string } & SinkStats) => {
          if (m.t !== 'stats') return;
          proc.off('message', on);
          resolve(m);
        };
        proc.on('message', on);
        proc.send({ t: 'stats' });
      }),
    reset: () => proc.send({ t: 'reset' }),
  };
}

/** Everything through an ExportRunner, as the pipeline does; resolves when the exporter acknowledged all. */
async function viaRunner(runner: ExportRunner, alerts: readonly Alert[]): Promise<number> {
  const before = runner.delivered;
  for (const a of alerts) {
    if (!runner.hasRoom()) await runner.waitForRoom();
    runner.enqueue(a);
  }
  while (runner.delivered - before < alerts.length) await new Promise((r) => setTimeout(r, 1));
  return alerts.length;
}

type Encoder = 'sdk' | 'direct';
const ENCODERS: readonly Encoder[] = ['sdk', 'direct'];

/** One encoder's exporter and runner, and what the sink got from it. */
interface Lane {
  exporter: OtlpLogsExporter;
  runner: ExportRunner;
  /** Alerts sent (warm-up included) and what the sink counted for them. */
  sent: number;
  unique: number;
  records: number;
}

export const suite: Suite = {
  name: 'export',
  description: 'OTLP exporter, sdk and direct encoders (through an ExportRunner) to a loopback OTLP/HTTP sink in another process: alerts/s, none lost',
  async run(h: Harness): Promise<Figure[]> {
    const n = h.quick ? 10_000 : 50_000;
    const alerts = makeAlerts(n);
    const sink = await startSink();
    const lanes = {} as Record<Encoder, Lane>;
    for (const encoder of ENCODERS) {
      const ctx = context('otlp');
      const exporter = new OtlpLogsExporter(ctx, otlpLogs.validate({ url: sink.url, encoder }));
      // The runner's batch size as the pipeline resolves it for this exporter (its own delivery settings).
      const runner = new ExportRunner(exporter, ctx, { batchSize: exporter.delivery.queue?.batchSize ?? 512 });
      runner.start();
      lanes[encoder] = { exporter, runner, sent: 0, unique: 0, records: 0 };
    }
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    let round = 0;
    const rekey = () => {
      round++;
      return alerts.map((a) => ({ ...a, id: `${a.id.slice(0, 24)}${round.toString(16).padStart(8, '0')}` }));
    };
    /** One run of an encoder: timed from the first enqueue to the last acknowledgement; the sink's counts read outside the timing. */
    const lane = (encoder: Encoder) => async () => {
      const l = lanes[encoder];
      const batch = rekey();
      const before = await sink.stats();
      const start = process.hrtime.bigint();
      const items = await viaRunner(l.runner, batch);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const after = await sink.stats();
      l.sent += items;
      l.unique += after.unique - before.unique;
      l.records += after.records - before.records;
      return { items, ms };
    };
    const runs = await h.compare(
      {
        sdk: lane('sdk'),
        direct: lane('direct'),
        bare: async () => {
          const bodies: string[] = [];
          for (let i = 0; i < alerts.length; i += 512) bodies.push(JSON.stringify(alerts.slice(i, i + 512)));
          await barePost(sink.url, bodies, 2, agent);
          return alerts.length;
        },
      },
      { warmup: 1, runs: h.quick ? 2 : 5 },
    );
    const stats = await sink.stats();
    for (const l of Object.values(lanes)) {
      await l.runner.drain(AbortSignal.timeout(30_000));
      await l.exporter.shutdown();
    }
    agent.destroy();
    sink.proc.disconnect();
    const bare = runs.bare?.perSecond ?? 0;
    const titles: Record<Encoder, string> = {
      sdk: 'encoder sdk (default): OpenTelemetry logs SDK BatchLogRecordProcessor + OTLP/HTTP exporter, 512 per request, 1 request in flight',
      direct: 'encoder direct: own OTLP JSON encoder, 512 per request, 2 requests in flight',
    };
    return ENCODERS.map((encoder): Figure => {
      const l = lanes[encoder];
      const rate = runs[encoder]?.perSecond ?? 0;
      const lost = l.sent - l.unique;
      const twice = l.records - l.unique;
      return {
        id: `export.otlp.${encoder}`,
        title: `OTLP exporter through an ExportRunner to a loopback sink process, ${titles[encoder]} (${n} alerts per run)`,
        value: Math.round(rate),
        unit: 'alerts/s',
        ratio: { value: rate / bare, to: 'bare keep-alive POSTs of the alerts as JSON arrays of 512 (serialized in the run)' },
        target: '>= 50 000 alerts/s, none lost',
        met: rate >= 50_000 && lost === 0,
        notes: `sink received ${l.records} records (${l.unique} distinct) of ${l.sent} sent by this encoder over ${l.sent / n} runs (warm-up included): ${lost} lost, ${twice} twice; exporter undelivered ${l.exporter.undelivered}; runner batch ${l.exporter.delivery.queue?.batchSize ?? 512}; median run ${(runs[encoder]?.medianMs ?? 0).toFixed(0)} ms; sink total ${stats.requests} requests, ${(stats.bytes / 2 ** 20).toFixed(0)} MiB`,
      };
    });
  },
};
