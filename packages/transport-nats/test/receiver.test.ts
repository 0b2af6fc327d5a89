import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ConfigError, createPipeline, MemoryCheckpointStore, type OutflowEvent, type ReceiverHost, rule } from '@outflow/core';
import { createTestContext, createTestHost, MemoryExporter, receiverConformance } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  acquireConnection,
  type LocalNatsServer,
  NatsEventPublisher,
  NatsEventsReceiver,
  type NatsPosition,
  natsConnectionSchema,
  natsEvents,
} from '../src/index.js';
import { flows } from './support/events.js';
import { natsBin, server, waitFor } from './support/nats.js';

describe('nats receiver configuration', () => {
  it('reports every problem with its path', () => {
    let error: unknown;
    try {
      natsEvents.validate({ assignment: { mode: 'static', instance: 3, instances: 2 }, consumer: { batchSize: 0 }, bogus: 1 }, 'receivers[0]');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['receivers[0]', 'receivers[0].consumer.batchSize']);
    expect(() => natsEvents.validate({ assignment: { mode: 'static', instance: 3, instances: 2 } }, 'r')).toThrow(
      /r\.assignment\.instance: must be below instances/,
    );
    expect(() => natsEvents.validate({ stream: { partitions: 4 }, assignment: { mode: 'partitions', partitions: [1, 4] } }, 'r')).toThrow(
      /r\.assignment\.partitions\[1\]/,
    );
  });
});

describe.skipIf(!natsBin)('nats receiver on a real nats-server', () => {
  let nats: LocalNatsServer;
  beforeAll(async () => {
    nats = await server(4);
  });
  afterAll(async () => {
    await nats?.stop();
  });

  let conformanceCase = 0;
  defineConformanceTests(
    'nats receiver conformance',
    receiverConformance({
      factory: natsEvents,
      // each case gets its own stream and subject prefix on the shared server
      config: () => {
        const n = ++conformanceCase;
        return { connection: { servers: [nats.url] }, stream: { name: `CONF_${n}`, prefix: `conf${n}`, partitions: 1 }, consumer: { name: `conf${n}` } };
      },
      sendValid: async (_env, config) => {
        const c = config as { stream: { name: string; prefix: string } };
        const publisher = await NatsEventPublisher.open({ servers: [nats.url] }, { stream: { ...c.stream, partitions: 1 }, partitioning: 'client' });
        await publisher.publish(flows(1, 1, Math.floor(Math.random() * 1e6)));
        await publisher.close();
      },
      sendInvalid: async (_env, config) => {
        const c = config as { stream: { prefix: string } };
        const lease = await acquireConnection(natsConnectionSchema.parse({ servers: [nats.url] }));
        await jetstream(lease.nc).publish(`${c.stream.prefix}.events.0`, Buffer.from('{"kind":"network_flow",'));
        await lease.release();
      },
    }),
  );

  it('acknowledges a batch only once the pipeline has processed it, and reports it as the position', async () => {
    const stream = { name: 'ACKS', prefix: 'acks', partitions: 1 };
    const publisher = await NatsEventPublisher.open({ servers: [nats.url] }, { stream, partitioning: 'client' });
    await publisher.publish(flows(30, 3));
    const ctx = createTestContext({ name: 'nats' });
    const receiver = new NatsEventsReceiver(
      ctx,
      natsEvents.validate({ connection: { servers: [nats.url] }, stream, consumer: { name: 'acks', batchSize: 10 } }),
    );
    const pending: (() => void)[] = [];
    const base = createTestHost({ ctx });
    const host: ReceiverHost = {
      ...base,
      emit: async (batch, options) => {
        await base.emit(batch);
        if (options?.onProcessed) pending.push(options.onProcessed);
      },
    };
    await receiver.start(host);
    await base.waitForEvents(30);
    const lease = await acquireConnection(natsConnectionSchema.parse({ servers: [nats.url] }));
    const jsm = await jetstreamManager(lease.nc);
    const before = await jsm.consumers.info('ACKS', 'acks-p0');
    expect(before.ack_floor.stream_seq).toBe(0);
    expect(before.num_ack_pending).toBe(30);
    expect(receiver.position().partitions).toEqual({ '0': 0 });
    // the pipeline processes the first batch only
    pending.shift()?.();
    await waitFor(async () => (await jsm.consumers.info('ACKS', 'acks-p0')).ack_floor.stream_seq > 0, 5_000, 'first ack');
    const afterFirst = await jsm.consumers.info('ACKS', 'acks-p0');
    const firstBatchEnd = (receiver.position() as NatsPosition).partitions['0'] as number;
    expect(firstBatchEnd).toBeGreaterThan(0);
    expect(firstBatchEnd).toBeLessThan(31);
    expect(afterFirst.ack_floor.stream_seq).toBe(firstBatchEnd);
    for (const done of pending.splice(0)) done();
    await waitFor(async () => (await jsm.consumers.info('ACKS', 'acks-p0')).num_ack_pending === 0, 5_000, 'all acks');
    // sequence 1 is the publisher's probe? no: client partitioning publishes no probe; 30 events = sequences 1..30
    expect(receiver.position().partitions).toEqual({ '0': 30 });
    await receiver.shutdown();
    await publisher.close();
    await lease.release();
  });

  it('resumes exactly after the position restored from a checkpoint: nothing lost, nothing twice', async () => {
    const stream = { name: 'RESUME', prefix: 'resume', partitions: 4 };
    const publisher = await NatsEventPublisher.open({ servers: [nats.url] }, { stream, partitioning: 'client' });
    const store = new MemoryCheckpointStore();
    const run = async () => {
      const seen: OutflowEvent[] = [];
      const pipeline = createPipeline({
        name: 'resume',
        receivers: [natsEvents({ connection: { servers: [nats.url] }, stream, consumer: { name: 'resume' }, endOfStream: 'ignore' })],
        processors: [
          {
            process: (e) => {
              seen.push(e);
              return e;
            },
          },
        ],
        checkpoint: { store, intervalMs: 60_000 },
      });
      await pipeline.start();
      return { pipeline, seen };
    };
    const first = await run();
    await publisher.publish(flows(200, 7));
    await waitFor(() => first.seen.length === 200, 10_000, '200 events');
    await first.pipeline.shutdown();
    const saved = store.latest?.positions.nats as NatsPosition;
    expect(Object.values(saved.partitions).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    await publisher.publish(flows(100, 7, 200));
    const second = await run();
    await waitFor(() => second.seen.length >= 100, 10_000, '100 more events');
    await new Promise((r) => setTimeout(r, 300));
    expect(second.seen.map((e) => e.sourceId).sort()).toEqual(
      flows(100, 7, 200)
        .map((e) => e.sourceId)
        .sort(),
    );
    await second.pipeline.shutdown();
    await publisher.close();
  });

  it('completes at the end marker, and a later owner replays the marker from the checkpoint', async () => {
    const stream = { name: 'END', prefix: 'end', partitions: 2 };
    const publisher = await NatsEventPublisher.open({ servers: [nats.url] }, { stream, partitioning: 'client' });
    await publisher.publish(flows(40, 4));
    await publisher.end();
    const store = new MemoryCheckpointStore();
    const exporter = new MemoryExporter();
    const pipeline = createPipeline({
      receivers: [natsEvents({ connection: { servers: [nats.url] }, stream, consumer: { name: 'end' } })],
      detections: [
        rule({
          id: 'any',
          title: 'any',
          severity: 'low',
          kinds: ['network_flow'],
          match: (e) => ({ dedupKey: e.sourceId ?? '', explanation: { summary: 'x' } }),
        }),
      ],
      exporters: [exporter],
      checkpoint: { store, intervalMs: 60_000 },
    });
    await pipeline.start();
    await pipeline.done;
    expect(exporter.alerts).toHaveLength(40);
    const position = pipeline.checkpoint().positions.nats as NatsPosition;
    await pipeline.shutdown();
    // 40 events and 2 end markers = sequences 1..42; each partition's position stops just before its marker
    expect(Object.values(position.partitions).reduce((a, b) => Math.max(a, b), 0)).toBeLessThan(42);
    const again = createPipeline({
      receivers: [natsEvents({ connection: { servers: [nats.url] }, stream, consumer: { name: 'end' } })],
      restore: { ...pipeline.checkpoint(), positions: { nats: position } },
    });
    await again.start();
    await again.done; // completes again: the markers are replayed
    await again.shutdown();
    await publisher.close();
  });

  it('drops redeliveries of messages still in the pipeline (ack wait passed) instead of processing them twice', async () => {
    const stream = { name: 'REDELIVER', prefix: 'redeliver', partitions: 1 };
    const publisher = await NatsEventPublisher.open({ servers: [nats.url] }, { stream, partitioning: 'client' });
    await publisher.publish(flows(5, 1));
    const ctx = createTestContext({ name: 'nats' });
    const receiver = new NatsEventsReceiver(
      ctx,
      natsEvents.validate({ connection: { servers: [nats.url] }, stream, consumer: { name: 'rd', ackWaitMs: 500 } }),
    );
    const pending: (() => void)[] = [];
    const base = createTestHost({ ctx });
    await receiver.start({
      ...base,
      emit: async (batch, options) => {
        await base.emit(batch);
        if (options?.onProcessed) pending.push(options.onProcessed);
      },
    });
    await base.waitForEvents(5);
    await waitFor(() => ctx.telemetry.total('dropped', { reason: 'redelivered' }) >= 5, 5_000, 'a redelivery');
    expect(base.events).toHaveLength(5);
    for (const done of pending.splice(0)) done();
    expect(receiver.position().partitions['0']).toBe(5);
    await receiver.shutdown();
    await publisher.close();
  });

  it('counts a position the stream no longer retains and resumes at its first event', async () => {
    const stream = { name: 'EXPIRED', prefix: 'expired', partitions: 1 };
    const publisher = await NatsEventPublisher.open({ servers: [nats.url] }, { stream, partitioning: 'client' });
    await publisher.publish(flows(20, 1));
    const lease = await acquireConnection(natsConnectionSchema.parse({ servers: [nats.url] }));
    await (await jetstreamManager(lease.nc)).streams.purge('EXPIRED', { seq: 11 });
    const ctx = createTestContext({ name: 'nats' });
    const receiver = new NatsEventsReceiver(ctx, natsEvents.validate({ connection: { servers: [nats.url] }, stream, consumer: { name: 'exp' } }));
    const host = createTestHost({ ctx });
    await receiver.start({ ...host, restoredPosition: { format: 'outflow.nats-position/v1', stream: 'EXPIRED', partitions: { '0': 4 } } });
    await host.waitForEvents(10);
    expect(ctx.telemetry.total('errors', { reason: 'position_expired' })).toBe(1);
    expect(receiver.starts[0]).toEqual({ sequence: 11, from: 'position' });
    expect(host.events.map((e) => e.sourceId)).toEqual(flows(10, 1, 10).map((e) => e.sourceId));
    await receiver.shutdown();
    await publisher.close();
    await lease.release();
  });
});

describe.skipIf(!natsBin)('nats receiver: shared afterEach cleanup', () => {
  let nats: LocalNatsServer | undefined;
  afterEach(async () => {
    await nats?.stop();
  });
  it('a static assignment consumes only its partitions', async () => {
    nats = await server(4);
    const stream = { partitions: 4 };
    const publisher = await NatsEventPublisher.open({ servers: [nats.url] }, { stream });
    const events = flows(80, 16);
    await publisher.publish(events);
    const seen: OutflowEvent[][] = [[], []];
    const receivers = [0, 1].map((instance) => {
      const ctx = createTestContext({ name: 'nats' });
      const r = new NatsEventsReceiver(
        ctx,
        natsEvents.validate({
          connection: { servers: [nats?.url as string] },
          stream,
          assignment: { mode: 'static', instance, instances: 2 },
          consumer: { name: 'split' },
        }),
      );
      const host = createTestHost({ ctx });
      return { r, host, instance };
    });
    for (const { r, host } of receivers) await r.start(host);
    await waitFor(() => receivers[0]!.host.events.length + receivers[1]!.host.events.length === 80, 10_000, 'all events');
    for (const { r, host, instance } of receivers) {
      expect(r.partitions()).toEqual(instance === 0 ? [0, 2] : [1, 3]);
      seen[instance] = host.events;
    }
    const workloadsOf = (list: OutflowEvent[]) => new Set(list.map((e) => e.workload?.workloadName));
    const a = workloadsOf(seen[0] as OutflowEvent[]);
    const b = workloadsOf(seen[1] as OutflowEvent[]);
    // a workload's events all land on one side
    for (const w of a) expect(b.has(w)).toBe(false);
    expect(a.size + b.size).toBe(16);
    for (const { r } of receivers) await r.shutdown();
    await publisher.close();
  });

  it('with leases, receivers split the partitions, and a stopped one’s partitions are consumed by the other from its ack floor', async () => {
    nats = await server(4);
    const stream = { partitions: 4 };
    const publisher = await NatsEventPublisher.open({ servers: [nats.url] }, { stream });
    const make = (name: string) => {
      const ctx = createTestContext({ name: 'nats' });
      const r = new NatsEventsReceiver(
        ctx,
        natsEvents.validate({
          connection: { servers: [nats?.url as string], name },
          stream,
          assignment: { mode: 'leases', ttlMs: 1_500, instanceId: name },
          consumer: { name: 'leased' },
          endOfStream: 'ignore',
        }),
      );
      // a host that processes at once: every batch is acknowledged as it is recorded
      const base = createTestHost({ ctx });
      const host = {
        ...base,
        emit: async (batch: OutflowEvent[], options?: { onProcessed?: () => void }) => {
          await base.emit(batch);
          options?.onProcessed?.();
        },
      };
      return { r, host: Object.assign(host, { events: base.events }) };
    };
    const a = make('a');
    const b = make('b');
    await a.r.start(a.host);
    await b.r.start(b.host);
    await waitFor(() => a.r.partitions().length === 2 && b.r.partitions().length === 2, 15_000, 'an even split');
    await publisher.publish(flows(60, 12));
    await waitFor(() => a.host.events.length + b.host.events.length === 60, 10_000, 'the first events');
    // a stops (releasing its leases); b takes its partitions and reads on from where a's consumers were acknowledged
    const fromA = a.r.partitions();
    await a.r.shutdown();
    await waitFor(() => b.r.partitions().length === 4, 15_000, 'b owns every partition');
    for (const p of fromA) expect(b.r.starts[p]?.from).toBe('ack_floor');
    await publisher.publish(flows(60, 12, 60));
    await waitFor(() => b.host.events.length >= 30 + 30, 10_000, 'the next events');
    await new Promise((r) => setTimeout(r, 300));
    const all = [...a.host.events, ...b.host.events].map((e) => e.sourceId);
    expect(new Set(all).size).toBe(120);
    expect(all).toHaveLength(120);
    await b.r.shutdown();
    await publisher.close();
  });
});
