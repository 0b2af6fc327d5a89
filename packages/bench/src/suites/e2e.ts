import { readFileSync } from 'node:fs';
import { type Alert, createPipeline, type Exporter, type Receiver, type ShardedPipeline, silentLogger, startShardedPipeline } from '@outflow/core';
import { t1537 } from '@outflow/detections';
import { vpcFlowLogs } from '@outflow/receiver-flow-logs';
import { k8sAudit } from '@outflow/receiver-k8s-audit';
import { compareCpu, type Figure, type Harness, type Suite } from '../harness.js';
import { presetConfig, syntheticCluster, writeInputs } from '../inputs.js';
import { auditRouter, feedFile, vpcRouter } from '../routing.js';

/**
 * Figure 1 of issue 8, end to end: a file read, decoded, enriched, run
 * through the whole `t1537` preset, alerts collected in memory — against the
 * bare read + split + parse of the same file, measured side by side
 * (interleaved runs, medians). Two configurations:
 *
 * - `pipeline`: one `createPipeline` with the format's file receiver (one thread);
 * - `sharded`: `startShardedPipeline` with 2 workers: the main thread reads the
 *   file and routes raw lines by workload (no decoding), each worker decodes
 *   and runs its own copy of the preset. Worker start-up (module loading,
 *   about a second) and the first quarter of the input (JIT warm-up of the
 *   fresh threads) are left out of the timing, as a long-running service
 *   pays them once.
 *
 * Plus the single-thread ratio in CPU time (process.cpuUsage of the same
 * bodies interleaved), which other load on the shared machine does not skew.
 *
 * Input: a synthetic cluster of 2 000 pods in 500 workloads (an inventory
 * file, loaded by the preset), VPC flow logs in the scenario generator's v5
 * layout with 20 000 external destinations (each workload mostly to its own
 * dozen, now and then a new one, one 600 MB upload in 20 000 records), and
 * Kubernetes audit JSON with a real API server's mix (see inputs.ts).
 */

class CountingExporter implements Exporter {
  readonly type = 'memory';
  readonly alerts: Alert[] = [];
  async export(batch: readonly Alert[]): Promise<void> {
    for (const a of batch) this.alerts.push(a);
  }
  async shutdown(): Promise<void> {}
}

function byDetection(alerts: readonly Alert[]): string {
  const counts = new Map<string, number>();
  for (const a of alerts) counts.set(a.detection.id, (counts.get(a.detection.id) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([d, n]) => `${d} ${n}`)
    .join(', ');
}

function bareVpc(path: string): number {
  const lines = readFileSync(path, 'utf8').split('\n');
  let n = 0;
  // the header is split like the rest; records are counted as the decoder sees them
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.length > 0 && line.split(' ').length > 0 && i > 0) n++;
  }
  return n;
}

function bareAudit(path: string): number {
  const lines = readFileSync(path, 'utf8').split('\n');
  let n = 0;
  for (const line of lines) if (line.length > 0 && JSON.parse(line)) n++;
  return n;
}

async function runPipeline(receiver: unknown, preset: Record<string, unknown>, last: { alerts: Alert[] }): Promise<void> {
  const exporter = new CountingExporter();
  const pipeline = createPipeline({
    receivers: [receiver as Receiver],
    detections: t1537(preset),
    exporters: [exporter],
    logger: silentLogger,
  });
  await pipeline.start();
  await pipeline.done;
  await pipeline.shutdown();
  last.alerts = exporter.alerts;
}

async function runSharded(
  start: () => Promise<ShardedPipeline>,
  format: string,
  path: string,
  expected: number,
  last: { alerts: Alert[] },
): Promise<{ items: number; ms: number }> {
  const sharded = await start();
  const alerts: Alert[] = [];
  sharded.alerts$.subscribe((a) => alerts.push(a));
  // The first quarter warms up the workers' JIT (fresh threads every run, where the one-thread pipeline runs in a
  // process that is already warm): timing starts once it has been sent.
  const warm = Math.floor(expected / 4);
  let t0 = Number.NaN;
  let from = 0;
  const lines = await feedFile(sharded, format, path, {
    onLines: (sent) => {
      if (Number.isNaN(t0) && sent >= warm) {
        t0 = performance.now();
        from = sent;
      }
    },
  });
  await sharded.complete();
  const ms = performance.now() - t0;
  await sharded.shutdown();
  last.alerts = alerts;
  if (lines < expected) throw new Error(`${format}: fed ${lines} lines, expected at least ${expected}`);
  return { items: lines - from, ms };
}

export const suite: Suite = {
  name: 'e2e',
  description: 'End to end (file → decode → enrich → t1537 → memory exporter) against bare read + split + parse, one thread and 2 shards',
  async run(h: Harness): Promise<Figure[]> {
    const dir = h.tmpDir();
    const cluster = syntheticCluster(500, 4);
    const vpcN = h.quick ? 20_000 : 200_000;
    const auditN = h.quick ? 5_000 : 40_000;
    const inputs = writeInputs(dir, cluster, { vpc: { lines: vpcN, destinations: 20_000 }, audit: { events: auditN } });
    const vpcPath = inputs.vpc as string;
    const auditPath = inputs.audit as string;
    const preset = presetConfig(inputs.inventory);
    const module = new URL('../shard.js', import.meta.url);
    const options = { warmup: 1, runs: h.quick ? 2 : 3 };
    const figures: Figure[] = [];

    const formats = [
      {
        format: 'aws_vpc_flow',
        title: 'AWS VPC flow logs (v5 text)',
        path: vpcPath,
        n: inputs.vpcLines,
        unit: 'lines/s',
        bare: () => bareVpc(vpcPath),
        bareName: "bare read + split('\\n') + split(' ')",
        receiver: () => vpcFlowLogs({ file: { paths: [vpcPath], batchSize: 1000 } }),
        router: vpcRouter(inputs.inventory),
      },
      {
        format: 'k8s_audit',
        title: 'Kubernetes audit (JSON lines)',
        path: auditPath,
        n: inputs.auditLines,
        unit: 'events/s',
        bare: () => bareAudit(auditPath),
        bareName: "bare read + split('\\n') + JSON.parse",
        receiver: () => k8sAudit({ file: { paths: [auditPath], batchSize: 1000 } }),
        router: auditRouter(inputs.inventory),
      },
    ];

    for (const f of formats) {
      const single = { alerts: [] as Alert[] };
      const shardedLast = { alerts: [] as Alert[] };
      const start = () => startShardedPipeline({ module, workers: 2, data: { preset }, recordKeys: { [f.format]: f.router }, logger: silentLogger });
      const runs = await h.compare(
        {
          bare: () => f.bare(),
          pipeline: async () => {
            await runPipeline(f.receiver(), preset, single);
            return f.n;
          },
          sharded: () => runSharded(start, f.format, f.path, f.n, shardedLast),
        },
        options,
      );
      const bare = runs.bare?.perSecond ?? 0;
      const p = runs.pipeline?.perSecond ?? 0;
      const s = runs.sharded?.perSecond ?? 0;
      const cpu = await compareCpu(
        {
          bare: () => f.bare(),
          pipeline: () => runPipeline(f.receiver(), preset, single),
        },
        h.quick ? 2 : 3,
      );
      const cpuRatio = (cpu.bare as number) / (cpu.pipeline as number);
      figures.push(
        {
          id: `e2e.${f.format}.pipeline`,
          title: `End to end, ${f.title}, one pipeline (one thread): file receiver → t1537 → memory exporter`,
          value: Math.round(p),
          unit: f.unit,
          ratio: { value: p / bare, to: f.bareName },
          target: '>= 0.5 of bare parse',
          met: p / bare >= 0.5,
          notes: `${f.n} records; bare ${Math.round(bare)}/s; ${single.alerts.length} alerts per run (${byDetection(single.alerts)})`,
        },
        {
          id: `e2e.${f.format}.pipeline.cpu`,
          title: `End to end, ${f.title}, one pipeline, in CPU time`,
          value: Math.round(f.n / ((cpu.pipeline as number) / 1e6)),
          unit: `${f.unit.split('/')[0]}/CPU-s`,
          ratio: { value: cpuRatio, to: `${f.bareName} in CPU time` },
          target: '>= 0.5 of bare parse',
          met: cpuRatio >= 0.5,
          notes: 'process.cpuUsage (user + system, GC and I/O threads included) of the bodies run interleaved: robust to other load on the machine',
        },
        {
          id: `e2e.${f.format}.sharded`,
          title: `End to end, ${f.title}, sharded over 2 worker threads (main thread reads and routes raw lines)`,
          value: Math.round(s),
          unit: f.unit,
          ratio: { value: s / bare, to: f.bareName },
          target: '>= 0.5 of bare parse',
          met: s / bare >= 0.5,
          notes: `${shardedLast.alerts.length} alerts per run (${byDetection(shardedLast.alerts)}); worker start-up and the first quarter of the input (JIT warm-up) not timed`,
        },
      );
    }
    return figures;
  },
};
