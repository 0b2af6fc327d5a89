import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  type Alert,
  ConfigError,
  createPipeline,
  type Detection,
  defineComponent,
  type Exporter,
  type Finding,
  MemoryDeadLetter,
  type OutflowEvent,
  PermanentError,
  type Receiver,
  type ReceiverHost,
  RetryableError,
  rule,
  T1537,
  tumblingWindows,
  z,
} from '../src/index.js';

const T0 = Date.UTC(2024, 0, 1);
let seq = 0;
function flow(time: number, bytes: number, dst = '203.0.113.9'): OutflowEvent {
  return {
    kind: 'network_flow',
    time,
    observedTime: T0,
    source: 'test',
    sourceId: `f${++seq}`,
    src: { address: '10.0.0.1' },
    dst: { address: dst, port: 443 },
    direction: 'egress',
    bytes,
    workload: { namespace: 'shop', workloadKind: 'Deployment', workloadName: 'api' },
  };
}

/** A push receiver the test drives. */
class PushReceiver implements Receiver {
  host: ReceiverHost | undefined;
  shutdowns = 0;
  async start(host: ReceiverHost) {
    this.host = host;
  }
  async shutdown() {
    this.shutdowns++;
  }
}

class ArrayReceiver implements Receiver {
  constructor(private readonly events: OutflowEvent[]) {}
  async start(host: ReceiverHost) {
    await host.emit(this.events);
    host.complete();
  }
  async shutdown() {}
}

class Collect implements Exporter {
  alerts: Alert[] = [];
  shutdowns = 0;
  failures: Error[] = [];
  calls = 0;
  async export(batch: readonly Alert[]) {
    this.calls++;
    const f = this.failures.shift();
    if (f) throw f;
    this.alerts.push(...batch);
  }
  async shutdown() {
    this.shutdowns++;
  }
}

const bigTransfer = (threshold = 1000): Detection =>
  rule({
    id: 'big',
    title: 'Big transfer',
    severity: 'high',
    kinds: ['network_flow'],
    match: (e) => ((e.bytes ?? 0) >= threshold ? { dedupKey: e.dst.address, explanation: { summary: `${e.bytes} bytes to ${e.dst.address}` } } : undefined),
  });

const fakeReceiver = defineComponent({
  type: 'fake_source',
  kind: 'receiver',
  stability: 'development',
  description: 'test receiver',
  schema: z.object({ port: z.number().int().min(1).max(65535), path: z.string().default('/x') }).strict(),
  create: () => new PushReceiver(),
});

describe('pipeline configuration', () => {
  it('reports every problem of every component with its path, at once', () => {
    let error: unknown;
    try {
      createPipeline({
        receivers: [fakeReceiver({ port: 0 } as never), fakeReceiver({ port: 80, extra: true } as never)],
        exporters: [{ nonsense: true } as never],
        queue: { capacity: -1 },
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.map((i) => i.path);
    expect(issues).toEqual(expect.arrayContaining(['receivers[0].port', 'receivers[1]', 'exporters[0]', 'queue.capacity']));
    expect((error as ConfigError).message).toMatch(/receivers\[0\]\.port/);
  });

  it('requires a receiver', () => {
    expect(() => createPipeline({ receivers: [] })).toThrow(/at least one receiver/);
  });
});

describe('pipeline lifecycle', () => {
  it('shutdown before start is safe, idempotent and final', async () => {
    const p = createPipeline({ receivers: [new PushReceiver()] });
    const a = p.shutdown();
    const b = p.shutdown();
    expect(a).toBe(b);
    expect((await a).clean).toBe(true);
    await expect(p.start()).rejects.toThrow(/cannot start/);
  });

  it('shutdown stops receivers, processes what is queued and flushes exporters, once', async () => {
    const receiver = new PushReceiver();
    const exporter = new Collect();
    const p = createPipeline({ receivers: [receiver], detections: [bigTransfer()], exporters: [exporter] });
    await p.start();
    await receiver.host?.emit([flow(T0, 5000, '198.51.100.1'), flow(T0 + 1, 10, '198.51.100.2'), flow(T0 + 2, 7000, '198.51.100.3')]);
    const report = await Promise.all([p.shutdown(), p.shutdown()]);
    expect(report[0]).toBe(report[1]);
    expect(report[0].clean).toBe(true);
    expect(exporter.alerts.map((a) => a.explanation.summary)).toEqual(['5000 bytes to 198.51.100.1', '7000 bytes to 198.51.100.3']);
    expect(receiver.shutdowns).toBe(1);
    expect(exporter.shutdowns).toBe(1);
    expect(p.state).toBe('stopped');
    // after shutdown nothing more is accepted, and the refusal is counted
    expect(receiver.host?.tryEmit([flow(T0, 9999)])).toBe(false);
    expect(p.telemetry.total('refused', { reason: 'pipeline_stopped' })).toBe(1);
  });

  it('honours the shutdown deadline when an exporter hangs, dead-lettering what it could not deliver', async () => {
    const hanging: Exporter = { export: () => new Promise(() => {}), shutdown: async () => {} };
    const deadLetter = new MemoryDeadLetter();
    const receiver = new PushReceiver();
    const p = createPipeline({ receivers: [receiver], detections: [bigTransfer()], exporters: [hanging], deadLetter, logger: silent() });
    await p.start();
    await receiver.host?.emit([flow(T0, 5000, '198.51.100.1')]);
    const started = Date.now();
    const report = await p.shutdown({ deadlineMs: 200 });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(report.clean).toBe(false);
    expect(report.alertsDroppedAtDeadline).toBe(1);
    expect(deadLetter.entries().filter((e) => e.stage === 'export' && e.reason === 'shutdown_deadline')).toHaveLength(1);
  });
});

describe('pipeline backpressure and queues', () => {
  it('refuses (and counts) batches when the ingress queue is full under the refuse policy', async () => {
    const receiver = new PushReceiver();
    const p = createPipeline({ receivers: [receiver], queue: { capacity: 3, policy: 'refuse' } });
    await p.start();
    const host = receiver.host as ReceiverHost;
    expect(host.tryEmit([flow(T0, 1), flow(T0, 2)])).toBe(true);
    expect(host.tryEmit([flow(T0, 3), flow(T0, 4)])).toBe(false); // 2 + 2 > 3, nothing drained yet (same tick)
    expect(p.telemetry.total('refused', { reason: 'queue_full' })).toBe(2);
    await p.shutdown();
  });

  it('blocks receivers while a slow exporter is full (block policy), delivering everything', async () => {
    const receiver = new PushReceiver();
    let release!: () => void;
    let gate = new Promise<void>((r) => {
      release = r;
    });
    const delivered: Alert[] = [];
    const slow: Exporter = {
      async export(batch) {
        await gate;
        delivered.push(...batch);
      },
      shutdown: async () => {},
    };
    const p = createPipeline({
      receivers: [receiver],
      detections: [bigTransfer(0)],
      exporters: [slow],
      dedup: false,
      queue: { capacity: 10, policy: 'block' },
      export: { capacity: 5, batchSize: 5 },
    });
    await p.start();
    const host = receiver.host as ReceiverHost;
    let accepted = 0;
    const pushes = Array.from({ length: 20 }, (_, i) =>
      host.emit([flow(T0 + i, 10, `198.51.100.${i}`), flow(T0 + i, 10, `198.51.101.${i}`)]).then(() => accepted++),
    );
    await new Promise((r) => setTimeout(r, 50));
    // The exporter queue (5) pauses processing, the ingress queue (10 events) fills, and the rest of the receivers wait.
    expect(accepted).toBeLessThan(20);
    expect(accepted).toBeGreaterThan(0);
    release();
    gate = Promise.resolve();
    await Promise.all(pushes);
    await p.shutdown();
    expect(delivered).toHaveLength(40);
    expect(p.telemetry.total('dropped')).toBe(0);
  });
});

describe('pipeline error isolation', () => {
  it('reconnects a detection whose stream errors; the event is dead-lettered and later events flow', async () => {
    const deadLetter = new MemoryDeadLetter();
    const fragile: Detection = {
      id: 'fragile',
      title: 'Fragile',
      kinds: ['network_flow'],
      connect: (events$) =>
        events$.pipe(
          map((e): Finding => {
            if (e.kind === 'network_flow' && e.bytes === 13) throw new Error('unlucky');
            return {
              detection: { id: 'fragile', title: 'Fragile', attack: T1537 },
              severity: 'low',
              time: e.time,
              evidence: [],
              explanation: { summary: `saw ${(e as { bytes: number }).bytes}` },
              dedupKey: String(e.sourceId),
            };
          }),
        ),
    };
    const exporter = new Collect();
    const p = createPipeline({
      receivers: [new ArrayReceiver([flow(T0, 1), flow(T0, 13), flow(T0, 2)])],
      detections: [fragile],
      exporters: [exporter],
      deadLetter,
      logger: silent(),
    });
    await p.start();
    await p.done;
    await p.shutdown();
    expect(exporter.alerts.map((a) => a.explanation.summary)).toEqual(['saw 1', 'saw 2']);
    const dl = deadLetter.entries();
    expect(dl).toHaveLength(1);
    expect(dl[0]?.reason).toBe('stream_error');
    expect((dl[0]?.event as { bytes: number } | undefined)?.bytes).toBe(13);
    expect(p.telemetry.total('errors', { component: 'fragile' })).toBe(1);
  });

  it('retries retryable export failures and dead-letters permanent ones without retrying', async () => {
    const retrying = new Collect();
    retrying.failures = [new RetryableError('503'), new RetryableError('503')];
    const permanent = new Collect();
    permanent.failures = [new PermanentError('400 bad request')];
    const deadLetter = new MemoryDeadLetter();
    const p = createPipeline({
      receivers: [new ArrayReceiver([flow(T0, 5000)])],
      detections: [bigTransfer()],
      exporters: [retrying, permanent],
      deadLetter,
      export: { retry: { initialDelayMs: 1, maxDelayMs: 5 } },
      logger: silent(),
    });
    await p.start();
    await p.done;
    await p.shutdown();
    expect(retrying.alerts).toHaveLength(1);
    expect(retrying.calls).toBe(3);
    expect(permanent.alerts).toHaveLength(0);
    expect(permanent.calls).toBe(1);
    expect(deadLetter.entries().map((e) => e.reason)).toEqual(['permanent_error']);
    expect(p.telemetry.total('dropped', { reason: 'permanent_error' })).toBe(1);
  });
});

describe('pipeline alert hygiene', () => {
  it('dedups findings into one alert, then delivers an update with the count when the window closes', async () => {
    const exporter = new Collect();
    const events = [flow(T0, 5000), flow(T0 + 60_000, 6000), flow(T0 + 120_000, 7000), flow(T0 + 2 * 3_600_000, 8000)];
    const p = createPipeline({ receivers: [new ArrayReceiver(events)], detections: [bigTransfer()], exporters: [exporter], labels: { cluster: 'prod-eu' } });
    await p.start();
    await p.done;
    await p.shutdown();
    const summary = exporter.alerts.map((a) => [a.status, a.count, a.firstSeen - T0, a.lastSeen - T0]);
    // The fourth finding falls outside the first window: the first alert's update goes out before the new alert.
    expect(summary).toEqual([
      ['new', 1, 0, 0],
      ['update', 3, 0, 120_000],
      ['new', 1, 7_200_000, 7_200_000],
    ]);
    expect(exporter.alerts[0]?.id).toBe(exporter.alerts[1]?.id);
    expect(exporter.alerts[2]?.id).not.toBe(exporter.alerts[0]?.id);
    expect(exporter.alerts[1]?.evidence).toHaveLength(3);
    expect(exporter.alerts.every((a) => a.labels?.cluster === 'prod-eu')).toBe(true);
    expect(p.telemetry.total('dropped', { component: 'big', reason: 'deduplicated' })).toBe(2);
  });

  it('suppressors drop findings with a reason, visible on suppressed$ and in the counters', async () => {
    const exporter = new Collect();
    const suppressed: string[] = [];
    const p = createPipeline({
      receivers: [new ArrayReceiver([flow(T0, 5000, '198.51.100.7'), flow(T0, 5000, '203.0.113.1')])],
      detections: [bigTransfer()],
      exporters: [exporter],
      suppressors: [{ name: 'backup-bucket', check: (f) => (f.dedupKey === '198.51.100.7' ? 'nightly backup to our bucket' : undefined) }],
    });
    p.suppressed$.subscribe((s) => suppressed.push(`${s.suppressor}: ${s.reason}`));
    await p.start();
    await p.done;
    await p.shutdown();
    expect(exporter.alerts.map((a) => a.dedupKey)).toEqual(['203.0.113.1']);
    expect(suppressed).toEqual(['backup-bucket: nightly backup to our bucket']);
    expect(p.telemetry.total('dropped', { reason: 'suppressed' })).toBe(1);
  });

  it('drives event-time windows with the watermark and flushes them at the end of input', async () => {
    const volume: Detection = {
      id: 'volume',
      title: 'Volume per 5 minutes',
      kinds: ['network_flow'],
      connect: (events$, ctx) =>
        events$.pipe(
          tumblingWindows({
            sizeMs: 300_000,
            key: () => 'api',
            create: () => 0,
            add: (acc: number, e) => acc + ((e as { bytes?: number }).bytes ?? 0),
            watermark$: ctx.watermark$,
          }),
          map(
            (w): Finding => ({
              detection: { id: 'volume', title: 'Volume', attack: T1537 },
              severity: 'low',
              time: w.end,
              evidence: [],
              explanation: { summary: `${w.value} bytes in [${w.start - T0}, ${w.end - T0})` },
              dedupKey: String(w.start),
            }),
          ),
        ),
    };
    const exporter = new Collect();
    const events = [flow(T0 + 1000, 1), flow(T0 + 2000, 2), flow(T0 + 301_000, 4), flow(T0 + 10_000, 8)];
    const p = createPipeline({
      receivers: [new ArrayReceiver(events)],
      detections: [volume],
      exporters: [exporter],
      watermark: { maxOutOfOrdernessMs: 60_000 },
    });
    await p.start();
    await p.done;
    await p.shutdown();
    expect(exporter.alerts.map((a) => a.explanation.summary)).toEqual(['11 bytes in [0, 300000)', '4 bytes in [300000, 600000)']);
    expect(p.watermark()).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('pipeline self-telemetry', () => {
  it('reports received, emitted, errors and gauges through @opentelemetry/api metrics', async () => {
    const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ readers: [reader] });
    const p = createPipeline({
      name: 'tele',
      receivers: [new ArrayReceiver([flow(T0, 5000), flow(T0, 1)])],
      detections: [bigTransfer()],
      exporters: [new Collect()],
      meter: provider.getMeter('test'),
    });
    await p.start();
    await p.done;
    await p.shutdown();
    await reader.forceFlush();
    const metrics = metricExporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
    const point = (name: string, component: string) =>
      metrics.find((m) => m.descriptor.name === name)?.dataPoints.find((d) => d.attributes['outflow.component'] === component)?.value;
    expect(point('outflow.received', 'receiver')).toBe(2);
    expect(point('outflow.emitted', 'big')).toBe(1);
    expect(point('outflow.queue.depth', 'pipeline')).toBe(0);
    // the lag gauge is registered; after the end of input the watermark is +Infinity, so it reports nothing
    expect(p.telemetry.readGauges().map((g) => g.name)).toEqual(expect.arrayContaining(['queue_depth', 'watermark', 'event_time_lag_ms']));
    await provider.shutdown();
  });
});

function silent() {
  return { debug() {}, info() {}, warn() {}, error() {} };
}

describe('pipeline end of input', () => {
  it('a receiver completing while its batches are still queued does not make them late', async () => {
    const late: string[] = [];
    const windows: Detection = {
      id: 'w',
      title: 'w',
      kinds: ['network_flow'],
      connect: (events$, ctx) =>
        events$.pipe(
          tumblingWindows({
            sizeMs: 60_000,
            key: () => 'k',
            create: () => 0,
            add: (acc: number) => acc + 1,
            watermark$: ctx.watermark$,
            onLate: (e) => late.push(String(e.sourceId)),
          }),
          map(
            (w): Finding => ({
              detection: { id: 'w', title: 'w', attack: T1537 },
              severity: 'low',
              time: w.end,
              evidence: [],
              explanation: { summary: `${w.value}` },
              dedupKey: String(w.start),
            }),
          ),
        ),
    };
    // emits every batch without waiting, then completes at once: all batches are still queued at completion
    const eager: Receiver = {
      async start(host) {
        for (let i = 0; i < 20; i++) host.tryEmit([flow(T0 + i * 30_000, 1)]);
        host.complete();
      },
      async shutdown() {},
    };
    const exporter = new Collect();
    const p = createPipeline({ receivers: [eager], detections: [windows], exporters: [exporter], watermark: { maxOutOfOrdernessMs: 0 } });
    await p.start();
    await p.done;
    await p.shutdown();
    expect(late).toEqual([]);
    expect(exporter.alerts.map((a) => Number(a.explanation.summary)).reduce((x, y) => x + y, 0)).toBe(20);
  });
});
