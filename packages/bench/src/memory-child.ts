/**
 * One memory measurement, in a process of its own (forked by the `memory`
 * suite): stream synthetic flows through a pipeline running the `t1537`
 * preset and sample RSS over time.
 *
 *   node memory-child.js --memory-child <workloads> <destinationsPerWorkload> <passes> <preset|network|network-default> [gc-samples]
 *
 * `preset` runs the whole `t1537` preset (enrichers and every analytic);
 * `network` runs only its four network analytics, connected as the pipeline
 * connects them, on flows that arrive enriched (destination class set): a
 * quarter of the cost per flow, for streaming ten million keys.
 *
 * Flows carry their workload identity (as Hubble and Tetragon flows do), so
 * no IP index is needed; each (workload, destination) pair is a distinct key
 * of the preset's network analytics (first-seen destinations per workload).
 * Event time stays inside the analytics' learning window (one hour), so no
 * finding fires and what is measured is the state, not an alert flood.
 */
import {
  type Alert,
  createPipeline,
  type Exporter,
  type NetworkFlowEvent,
  type OutflowEvent,
  type Receiver,
  type ReceiverHost,
  silentLogger,
  type WorkloadIdentity,
} from '@outflow/core';
import { createAnalytic, t1537 } from '@outflow/detections';

export interface MemorySample {
  /** Seconds since the start of streaming. */
  t: number;
  /** Distinct keys streamed so far. */
  keys: number;
  rssMb: number;
  heapMb: number;
  /** Set on the samples taken right after a full GC (every tenth of the stream): heap really held, and RSS then. */
  afterGc?: true;
}

export interface MemoryResult {
  workloads: number;
  perWorkload: number;
  passes: number;
  mode: 'preset' | 'network' | 'network-default';
  flows: number;
  keys: number;
  seconds: number;
  /** RSS after start, before any flow. */
  baselineRssMb: number;
  /** Peak RSS of the process (getrusage maxrss). */
  peakRssMb: number;
  finalRssMb: number;
  /** Heap in use after a full GC at the end (what is really held), when --expose-gc is on. */
  liveHeapMb?: number;
  samples: MemorySample[];
  /** Keys held at the end by new_external_destination: workloads and (workload, destination) pairs remembered exactly. */
  held: { workloads: number; pairs: number; filterWorkloads: number };
  alerts: number;
}

const T0 = Date.UTC(2024, 2, 4);
const ip4 = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

/**
 * Flows of `workloads` workloads, each to its own `perWorkload` external
 * destinations (11.0.0.0/8: 16.7 M distinct addresses), workload after
 * workload; `passes` times over the whole set (the second pass touches keys
 * already held). Event time advances evenly over 50 minutes.
 */
class SyntheticFlows implements Receiver {
  readonly type = 'synthetic_flows';
  sent = 0;
  private stopped = false;
  constructor(
    private readonly workloads: number,
    private readonly perWorkload: number,
    private readonly passes: number,
    /** Attributes every flow carries (the destination class, when the enrichers do not run). */
    private readonly attributes?: Readonly<Record<string, string>>,
  ) {}

  start(host: ReceiverHost): void {
    void this.run(host);
  }

  private async run(host: ReceiverHost): Promise<void> {
    const total = this.workloads * this.perWorkload * this.passes;
    const step = (50 * 60_000) / total;
    let batch: OutflowEvent[] = [];
    let identity: WorkloadIdentity | undefined;
    let podIp = '';
    for (let pass = 0; pass < this.passes && !this.stopped; pass++) {
      for (let w = 0; w < this.workloads && !this.stopped; w++) {
        identity = Object.freeze({
          cluster: 'prod',
          namespace: `ns${w % 50}`,
          workloadKind: 'Deployment',
          workloadName: `w${w}`,
          pod: `w${w}-7d9c5b8f4-x2x9q`,
        });
        podIp = ip4(0x0a000000 + (w % 16_000_000));
        for (let k = 0; k < this.perWorkload; k++) {
          const i = this.sent++;
          const event: NetworkFlowEvent = {
            kind: 'network_flow',
            time: T0 + Math.floor(i * step),
            observedTime: T0,
            source: 'bench',
            sourceId: `f${i}`,
            src: { address: podIp, port: 40_000 + (i % 20_000), workload: identity },
            dst: { address: ip4(0x0b000000 + ((w * this.perWorkload + k) % 16_777_216)), port: 443 },
            direction: 'egress',
            protocol: 6,
            bytes: 1_000 + (i % 50_000),
          };
          if (this.attributes) event.attributes = this.attributes as Record<string, string>;
          batch.push(event);
          if (batch.length === 1000) {
            await host.emit(batch);
            batch = [];
          }
        }
      }
    }
    if (batch.length > 0) await host.emit(batch);
    host.complete();
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
  }
}

class CountingExporter implements Exporter {
  readonly type = 'memory';
  alerts = 0;
  async export(batch: readonly Alert[]): Promise<void> {
    this.alerts += batch.length;
  }
  async shutdown(): Promise<void> {}
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

const NETWORK = ['egress_volume_anomaly', 'new_external_destination', 'cloud_storage_foreign_transfer', 'exfiltration_chain'];

/**
 * Key caps of the `network` mode: a fifth of the defaults (1.2 M pairs, 50 000 workloads, 100 000 egress keys), so
 * that ten million keys stream through in about a minute; with the defaults the plateau is the same shape, higher
 * (docs/performance.md has that run) and takes six minutes on this machine.
 */
export const CHURN_CAPS = {
  new_external_destination: { params: { maxPairs: 240_000, maxWorkloads: 10_000 } },
  egress_volume_anomaly: { params: { maxKeys: 20_000 } },
} as const;

export async function measureMemory(
  workloads: number,
  perWorkload: number,
  passes: number,
  mode: 'preset' | 'network' | 'network-default' = 'preset',
  /** Force a full GC at every tenth of the stream (for the plateau); off for peak measurements. */
  gcSamples = false,
): Promise<MemoryResult> {
  const receiver = new SyntheticFlows(
    workloads,
    perWorkload,
    passes,
    mode !== 'preset' ? Object.freeze({ 'destination.class': 'external', 'source.class': 'pod' }) : undefined,
  );
  const exporter = new CountingExporter();
  const pipeline = createPipeline({
    receivers: [receiver],
    detections:
      mode === 'preset'
        ? t1537({ cluster: { name: 'prod' } })
        : NETWORK.map((id) => createAnalytic(id, { cluster: { name: 'prod' }, ...(mode === 'network' ? { analytics: CHURN_CAPS } : {}) })),
    exporters: [exporter],
    logger: silentLogger,
  });
  (globalThis as { gc?: () => void }).gc?.();
  const baselineRssMb = mb(process.memoryUsage.rss());
  const samples: MemorySample[] = [];
  const started = performance.now();
  const gc = (globalThis as { gc?: () => void }).gc;
  const total = workloads * perWorkload;
  let nextGc = gcSamples ? total / 10 : Number.POSITIVE_INFINITY;
  const sample = () => {
    const keys = Math.min(receiver.sent, total);
    // Every tenth of the stream, a full GC first: what the state really holds, apart from garbage V8 has not collected yet.
    const afterGc = gc !== undefined && keys >= nextGc;
    if (afterGc) {
      gc();
      while (nextGc <= keys) nextGc += total / 10;
    }
    const m = process.memoryUsage();
    samples.push({
      t: Math.round(performance.now() - started) / 1000,
      keys,
      rssMb: mb(m.rss),
      heapMb: mb(m.heapUsed),
      ...(afterGc ? { afterGc: true as const } : {}),
    });
  };
  const timer = setInterval(sample, 250);
  await pipeline.start();
  await pipeline.done;
  clearInterval(timer);
  sample();
  const seconds = (performance.now() - started) / 1000;
  const peakRssMb = mb(process.resourceUsage().maxRSS * 1024);
  gc?.();
  const liveHeapMb = gc ? mb(process.memoryUsage().heapUsed) : undefined;
  // What new_external_destination holds, read from its checkpoint snapshot (after the peak was taken).
  const checkpoint = pipeline.checkpoint();
  const state = checkpoint.detections.new_external_destination?.first_seen?.state as
    | { workloads: { value: { items: Record<string, number> | null; exact: number } }[] }
    | undefined;
  let pairs = 0;
  let filterWorkloads = 0;
  for (const e of state?.workloads ?? []) {
    if (e.value.items === null) filterWorkloads++;
    else pairs += e.value.exact;
  }
  const finalRssMb = mb(process.memoryUsage.rss());
  await pipeline.shutdown();
  return {
    workloads,
    perWorkload,
    passes,
    mode,
    flows: receiver.sent,
    keys: workloads * perWorkload,
    seconds,
    baselineRssMb,
    peakRssMb,
    finalRssMb,
    ...(liveHeapMb !== undefined ? { liveHeapMb } : {}),
    samples,
    held: { workloads: state?.workloads.length ?? 0, pairs, filterWorkloads },
    alerts: exporter.alerts,
  };
}

if (process.send && process.argv[2] === '--memory-child') {
  const [w, k, p] = process.argv.slice(3, 6).map(Number) as [number, number, number];
  const mode = process.argv[6];
  const result = await measureMemory(w, k, p, mode === 'network' || mode === 'network-default' ? mode : 'preset', process.argv[7] === 'gc-samples');
  process.send(result, () => process.exit(0));
}
