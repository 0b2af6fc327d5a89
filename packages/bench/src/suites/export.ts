import { type ChildProcess, fork } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { type Alert, alertFromFinding, type ComponentContext, ExportRunner, MemoryDeadLetter, silentLogger, T1537, Telemetry } from '@outflow/core';
import { OtlpLogsExporter, otlpLogs } from '@outflow/exporter-otlp';
import type { Figure, Harness, Suite } from '../harness.js';

/**
 * Figure 4 of issue 8: the OTLP exporter delivers alerts to a loopback sink
 * with none lost. The sink is a process of its own (as a collector is),
 * decoding every OTLP/HTTP JSON request and keeping each record's delivery
 * key. Alerts go through an ExportRunner, as the pipeline hands them to an
 * exporter (bounded queue, batches of 512, backpressure); the figure is the
 * rate at which they are all acknowledged by the sink. Side by side: bare
 * keep-alive POSTs of the same alerts as JSON arrays of 512 (2 in flight).
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

function context(name: string): ComponentContext {
  const telemetry = new Telemetry({ pipeline: 'bench' });
  const dead = new MemoryDeadLetter(100);
  return {
    name,
    type: name,
    kind: 'exporter',
    metrics: telemetry.forComponent(name),
    logger: silentLogger,
    deadLetter: (e) => dead.write({ time: '', pipeline: 'bench', component: name, ...e, raw: undefined }),
    clock: { now: () => Date.now() },
    scheduler: undefined as never,
    signal: new AbortController().signal,
  };
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

async function barePost(url: string, bodies: string[], agent: Agent, concurrency = 2): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++] as string;
      await new Promise<void>((resolve, reject) => {
        const req = request(
          url,
          { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
          (res) => {
            res.resume();
            res.on('end', () => resolve());
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export const suite: Suite = {
  name: 'export',
  description: 'OTLP exporter (through an ExportRunner) to a loopback OTLP/HTTP sink in another process: alerts/s, none lost',
  async run(h: Harness): Promise<Figure[]> {
    const n = h.quick ? 10_000 : 50_000;
    const alerts = makeAlerts(n);
    const sink = await startSink();
    const ctx = context('otlp');
    const exporter = new OtlpLogsExporter(ctx, otlpLogs.validate({ url: sink.url }));
    // The runner's batch size as the pipeline resolves it for this exporter (its own delivery settings).
    const runner = new ExportRunner(exporter, ctx, { batchSize: exporter.delivery.queue?.batchSize ?? 512 });
    runner.start();
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    let round = 0;
    const sent = new Set<number>();
    const rekey = () => {
      round++;
      sent.add(round);
      return alerts.map((a) => ({ ...a, id: `${a.id.slice(0, 24)}${round.toString(16).padStart(8, '0')}` }));
    };
    const runs = await h.compare(
      {
        otlp: () => viaRunner(runner, rekey()),
        bare: async () => {
          const bodies: string[] = [];
          for (let i = 0; i < alerts.length; i += 512) bodies.push(JSON.stringify(alerts.slice(i, i + 512)));
          await barePost(sink.url, bodies, agent);
          return alerts.length;
        },
      },
      { warmup: 1, runs: h.quick ? 2 : 5 },
    );
    const stats = await sink.stats();
    await runner.drain(AbortSignal.timeout(30_000));
    await exporter.shutdown();
    agent.destroy();
    sink.proc.disconnect();
    const expected = sent.size * n;
    const lost = expected - stats.unique;
    const twice = stats.records - stats.unique;
    const otlp = runs.otlp?.perSecond ?? 0;
    const bare = runs.bare?.perSecond ?? 0;
    return [
      {
        id: 'export.otlp.runner',
        title: `OTLP exporter through an ExportRunner to a loopback sink process (${n} alerts per run, 512 per request, 2 requests in flight)`,
        value: Math.round(otlp),
        unit: 'alerts/s',
        ratio: { value: otlp / bare, to: 'bare keep-alive POSTs of the alerts as JSON arrays of 512 (serialized in the run)' },
        target: '>= 50 000 alerts/s, none lost',
        met: otlp >= 50_000 && lost === 0,
        notes: `sink received ${stats.records} records of ${expected} sent over ${sent.size} runs: ${lost} lost, ${twice} twice; ${stats.requests} requests, ${(stats.bytes / 2 ** 20).toFixed(0)} MiB; exporter undelivered ${exporter.undelivered}`,
      },
    ];
  },
};
