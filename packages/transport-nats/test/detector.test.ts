import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { type Alert, createPipeline, type Detection, deliveryKey, type Exporter, type OutflowEvent, rule, silentLogger } from '@outflow/core';
import { MemoryExporter, MemoryReceiver } from '@outflow/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  acquireConnection,
  type DetectorAssignment,
  type DetectorEvent,
  type LocalNatsServer,
  NatsAlertWorker,
  NatsDetector,
  NatsEventPublisher,
  NatsKvCheckpointStore,
  natsAlerts,
  natsConnectionSchema,
} from '../src/index.js';
import { everyNth, tallyAtEnd } from './support/detections.js';
import { flows } from './support/events.js';
import { natsBin, server, waitFor } from './support/nats.js';

const PARTITIONS = 6;

/** The detections every test runs: two stateful (checkpointed; one reports at the end of input) and one stateless. */
function detections(version = 'v1'): Detection[] {
  return [
    everyNth(7, version),
    tallyAtEnd(version),
    rule({
      id: 'odd_bytes',
      title: 'Flow size divisible by 13',
      severity: 'medium',
      kinds: ['network_flow'],
      match: (e) => ((e.bytes ?? 0) % 13 === 0 ? { dedupKey: `${e.workload?.workloadName}`, explanation: { summary: `${e.bytes} bytes` } } : undefined),
    }),
  ];
}

/** The alerts of one uninterrupted single-process run over `events`. */
async function single(events: OutflowEvent[], version = 'v1'): Promise<Alert[]> {
  const exporter = new MemoryExporter();
  const pipeline = createPipeline({ receivers: [new MemoryReceiver(events)], detections: detections(version), exporters: [exporter], logger: silentLogger });
  await pipeline.start();
  await pipeline.done;
  await pipeline.shutdown();
  return exporter.alerts;
}

interface Cluster {
  url: string;
  publisher: NatsEventPublisher;
  worker: NatsAlertWorker;
  sink: MemoryExporter;
  detectors: NatsDetector[];
  events: DetectorEvent[];
}

describe.skipIf(!natsBin)('partitioned detection with durable state', () => {
  let nats: LocalNatsServer | undefined;
  let cluster: Cluster | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    if (cluster) {
      for (const d of cluster.detectors) await d.shutdown({ deadlineMs: 2_000 });
      await cluster.worker.shutdown();
      await cluster.publisher.close();
    }
    cluster = undefined;
    await nats?.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function setup(): Promise<Cluster> {
    nats = await server(PARTITIONS);
    const url = nats.url;
    const publisher = await NatsEventPublisher.open({ servers: [url] }, { stream: { partitions: PARTITIONS } });
    const sink = new MemoryExporter();
    const worker = new NatsAlertWorker({ connection: { servers: [url] }, exporters: [sink], logger: silentLogger });
    await worker.start();
    cluster = { url, publisher, worker, sink, detectors: [], events: [] };
    return cluster;
  }

  function detector(c: Cluster, name: string, assignment: DetectorAssignment, options: { version?: string; directory?: string } = {}): NatsDetector {
    const d = new NatsDetector({
      group: 'detectors',
      connection: { servers: [c.url], name },
      stream: { partitions: PARTITIONS },
      assignment,
      checkpoint: { intervalMs: 600_000, ...(options.directory ? { directory: options.directory } : {}) },
      logger: silentLogger,
      onEvent: (e) => c.events.push(e),
      pipeline: () => ({
        detections: detections(options.version),
        exporters: [natsAlerts({ connection: { servers: [c.url], name } })],
        logger: silentLogger,
      }),
    });
    c.detectors.push(d);
    return d;
  }

  /** Every partition's consumer has handed out and had acknowledged everything published so far. */
  async function drained(c: Cluster): Promise<void> {
    const lease = await acquireConnection(natsConnectionSchema.parse({ servers: [c.url] }));
    const jsm = await jetstreamManager(lease.nc);
    try {
      await waitFor(
        async () => {
          const consumers = [];
          for await (const info of jsm.consumers.list('OUTFLOW_EVENTS')) consumers.push(info);
          const live = new Set(consumers.map((i) => i.config.filter_subject));
          return live.size === PARTITIONS && consumers.every((i) => i.num_pending === 0 && i.num_ack_pending === 0);
        },
        20_000,
        'every partition processed',
      );
    } finally {
      await lease.release();
    }
  }

  /** Crash a detector: its connection drops, so it acknowledges, renews and saves nothing any more. */
  async function crash(c: Cluster, name: string): Promise<void> {
    const lease = await acquireConnection(natsConnectionSchema.parse({ servers: [c.url], name }));
    await lease.nc.close();
  }

  async function delivered(c: Cluster, expected: number): Promise<Alert[]> {
    await waitFor(() => c.sink.alerts.length >= expected, 20_000, `${expected} deliveries (have ${c.sink.alerts.length})`);
    await new Promise((r) => setTimeout(r, 300)); // anything extra (a duplicate) would arrive now
    return c.sink.alerts;
  }

  /** Events the partitions' receivers handed to the pipelines of a detector. */
  function processed(d: NatsDetector): number {
    let n = 0;
    for (let p = 0; p < PARTITIONS; p++) n += d.pipelineOf(p)?.telemetry.total('received', { component: 'nats' }) ?? 0;
    return n;
  }

  function compare(reference: Alert[], got: Alert[]): { lost: string[]; duplicated: string[] } {
    const keys = got.map(deliveryKey);
    const ids = new Set(got.map((a) => a.id));
    return {
      lost: reference.map((a) => a.id).filter((id) => !ids.has(id)),
      duplicated: keys.filter((k, i) => keys.indexOf(k) !== i),
    };
  }

  it('a detector killed mid-stream loses and duplicates nothing: its partitions move with their state', async () => {
    const c = await setup();
    const events = flows(900, 12);
    const reference = await single(events);
    const leases = { mode: 'leases' as const, ttlMs: 1_500, bucket: 'leases' };
    const [a, b, cc] = [detector(c, 'a', leases), detector(c, 'b', leases), detector(c, 'c', leases)];
    await Promise.all([a, b, cc].map((d) => d.start()));
    await waitFor(() => a.partitions().length === 2 && b.partitions().length === 2 && cc.partitions().length === 2, 15_000, 'two partitions each');
    const fromA = a.partitions();

    await c.publisher.publish(events.slice(0, 300));
    await drained(c);
    for (const d of [a, b, cc]) await d.checkpointNow();
    await c.publisher.publish(events.slice(300, 600));
    await drained(c);
    const deliveredBeforeCrash = c.sink.alerts.length;
    await crash(c, 'a');

    // a's partitions move to b and c after the lease TTL, restored from the checkpoint taken after event 300
    const restarted = () => c.events.filter((e) => e.type === 'started' && fromA.includes(e.partition) && e.restored);
    await waitFor(() => restarted().length === fromA.length, 15_000, 'takeover');
    expect(b.partitions().length + cc.partitions().length).toBe(PARTITIONS);
    const restarts = restarted();
    expect(restarts.map((e) => (e as { partition: number }).partition).sort()).toEqual(fromA);
    for (const e of restarts) if (e.type === 'started') expect(e.position).toBeGreaterThan(0);

    await c.publisher.publish(events.slice(600));
    await c.publisher.end();
    await waitFor(() => b.allCompleted() && cc.allCompleted(), 20_000, 'every partition at its end marker');
    const got = await delivered(c, reference.length);
    const { lost, duplicated } = compare(reference, got);
    expect({ lost, duplicated }).toEqual({ lost: [], duplicated: [] });
    expect(got.map(deliveryKey).sort()).toEqual(reference.map(deliveryKey).sort());
    expect(deliveredBeforeCrash).toBeGreaterThan(0);
    // the new owners replayed events 300-600 of a's partitions and re-published their alerts: dropped as duplicates by the server
    const replayedDuplicates = fromA.map((p) => (b.pipelineOf(p) ?? cc.pipelineOf(p))?.telemetry.total('dropped', { reason: 'duplicate_delivery' }) ?? 0);
    expect(replayedDuplicates.reduce((x, y) => x + y, 0)).toBeGreaterThan(0);
  });

  it.each([
    ['in JetStream KV', false],
    ['in a local state directory', true],
  ])('a restarted single process resumes from its checkpoint %s with the alerts of an uninterrupted run', async (_label, useDirectory) => {
    const c = await setup();
    const directory = useDirectory ? mkdtempSync(join(tmpdir(), 'outflow-detector-')) : undefined;
    if (directory) dirs.push(directory);
    const events = flows(700, 9);
    const reference = await single(events);
    const all = { mode: 'static' as const, instance: 0, instances: 1 };
    const first = detector(c, 'first', all, directory ? { directory } : {});
    await first.start();
    await c.publisher.publish(events.slice(0, 400));
    await drained(c);
    await first.shutdown(); // checkpoints every partition
    const second = detector(c, 'second', all, directory ? { directory } : {});
    await second.start();
    const starts = c.events.filter((e) => e.type === 'started').slice(PARTITIONS);
    expect(starts.every((e) => e.type === 'started' && e.restored)).toBe(true);
    await c.publisher.publish(events.slice(400));
    await c.publisher.end();
    await waitFor(() => second.allCompleted(), 20_000, 'end');
    const got = await delivered(c, reference.length);
    expect(compare(reference, got)).toEqual({ lost: [], duplicated: [] });
    expect(got.map(deliveryKey).sort()).toEqual(reference.map(deliveryKey).sort());
    // it resumed at the checkpointed positions: only the 300 new events were read again
    expect(processed(second)).toBe(300);
    // a checkpointed pipeline keeps its open windows in the checkpoint at a stop instead of flushing them as if the
    // input had ended, so the first process had nothing premature to hold back
    expect(first.stats.suppressed).toBe(0);
  });

  it('after a crash the restarted process replays from its last checkpoint: same alerts, replays dropped as duplicates', async () => {
    const c = await setup();
    const events = flows(700, 9);
    const reference = await single(events);
    const all = { mode: 'static' as const, instance: 0, instances: 1 };
    const first = detector(c, 'first', all);
    await first.start();
    await c.publisher.publish(events.slice(0, 300));
    await drained(c);
    expect((await first.checkpointNow()).length).toBe(PARTITIONS);
    await c.publisher.publish(events.slice(300, 500));
    await drained(c);
    await crash(c, 'first');
    const second = detector(c, 'second', all);
    await second.start();
    await c.publisher.publish(events.slice(500));
    await c.publisher.end();
    await waitFor(() => second.allCompleted(), 20_000, 'end');
    const got = await delivered(c, reference.length);
    expect(compare(reference, got)).toEqual({ lost: [], duplicated: [] });
    expect(got).toHaveLength(reference.length);
    // it replayed from the checkpoint after event 300, not from the start
    expect(processed(second)).toBe(400);
    const dup = Array.from({ length: PARTITIONS }, (_, p) => second.pipelineOf(p)?.telemetry.total('dropped', { reason: 'duplicate_delivery' }) ?? 0);
    expect(dup.reduce((x, y) => x + y, 0)).toBeGreaterThan(0);
  });

  it('a checkpoint is written only once the alerts it covers are delivered', async () => {
    const c = await setup();
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const blocked: Alert[] = [];
    const slow: Exporter = {
      export: async (batch) => {
        blocked.push(...batch);
        await held;
      },
      shutdown: async () => {},
    };
    const d = new NatsDetector({
      group: 'barrier',
      connection: { servers: [c.url] },
      stream: { partitions: PARTITIONS },
      assignment: { mode: 'static', instance: 0, instances: 1 },
      checkpoint: { intervalMs: 600_000 },
      logger: silentLogger,
      pipeline: () => ({ detections: detections(), exporters: [slow], logger: silentLogger }),
    });
    c.detectors.push(d);
    await d.start();
    await c.publisher.publish(flows(70, 2));
    await waitFor(() => blocked.length > 0, 10_000, 'an alert at the exporter');
    let saved = false;
    const saving = d.checkpointNow().then((partitions) => {
      saved = true;
      return partitions;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(saved).toBe(false); // waiting for the alert's delivery
    const lease = await acquireConnection(natsConnectionSchema.parse({ servers: [c.url] }));
    const busy = Array.from({ length: PARTITIONS }, (_, p) => p).filter(
      (p) => (d.pipelineOf(p)?.telemetry.total('emitted', { component: 'pipeline', reason: 'alert' }) ?? 0) > 0,
    );
    for (const p of busy) expect(await (await NatsKvCheckpointStore.open(lease.nc, { key: `barrier.p${p}` })).load()).toBeUndefined();
    release();
    expect((await saving).length).toBe(PARTITIONS);
    for (const p of busy) expect(await (await NatsKvCheckpointStore.open(lease.nc, { key: `barrier.p${p}` })).load()).toBeDefined();
    await lease.release();
  });

  it('state saved under another version is not restored: the detection relearns from the restored position on', async () => {
    const c = await setup();
    const events = flows(420, 6);
    const all = { mode: 'static' as const, instance: 0, instances: 1 };
    const first = detector(c, 'first', all);
    await first.start();
    await c.publisher.publish(events.slice(0, 210));
    await drained(c);
    await first.shutdown();
    const before = c.sink.alerts.length;
    const second = detector(c, 'second', all, { version: 'v2' });
    await second.start();
    await c.publisher.publish(events.slice(210));
    await c.publisher.end();
    await waitFor(() => second.allCompleted(), 20_000, 'end');
    await new Promise((r) => setTimeout(r, 500));
    const mismatches = Array.from(
      { length: PARTITIONS },
      (_, p) => second.pipelineOf(p)?.telemetry.total('errors', { reason: 'checkpoint_version_mismatch' }) ?? 0,
    );
    // one per checkpointed detection (every_nth, tally_at_end) and partition, whether or not the partition had events
    expect(mismatches).toEqual(Array.from({ length: PARTITIONS }, () => 2));
    // every_nth after the restart counts from zero over the second half only: exactly what a fresh run over it raises
    const fresh = (await single(events.slice(210), 'v2')).filter((a) => a.detection.id === 'every_nth').map((a) => a.dedupKey);
    const after = c.sink.alerts
      .slice(before)
      .filter((a) => a.detection.id === 'every_nth')
      .map((a) => a.dedupKey);
    expect(after.sort()).toEqual(fresh.sort());
  });
});
