import { createPipeline, type NetworkFlowEvent, rule, silentLogger } from '@outflow/core';
import { MemoryReceiver } from '@outflow/testkit';
import {
  detectionKey,
  eventMessageId,
  findNatsServer,
  NatsEventPublisher,
  natsEvents,
  partitionOf,
  startNatsServer,
  subjectToken,
} from '@outflow/transport-nats';
import type { Figure, Suite } from '../harness.js';

const T0 = Date.UTC(2024, 4, 1);

/** Enriched flows of 400 workloads, as a collector publishes them. */
function flows(n: number, offset = 0): NetworkFlowEvent[] {
  return Array.from({ length: n }, (_, j) => {
    const i = j + offset;
    return {
      kind: 'network_flow',
      time: T0 + i * 10,
      observedTime: T0 + i * 10,
      source: 'aws_vpc_flow',
      sourceId: `eni-0a1b2c3d:${i}`,
      location: `/var/log/vpc/flows.log:${i}`,
      src: { address: `10.42.${i % 200}.${i % 250}`, port: 40_000 + (i % 2000) },
      dst: { address: `203.0.113.${i % 250}`, port: 443 },
      protocol: 6,
      direction: 'egress',
      bytes: 1_000 + (i % 5000),
      packets: 10,
      action: 'accept',
      account: '111122223333',
      workload: {
        cluster: 'prod-eu',
        namespace: `ns-${i % 20}`,
        workloadKind: 'Deployment',
        workloadName: `app-${i % 400}`,
        pod: `app-${i % 400}-7d9f8c-abcde`,
        image: 'registry.example/app:1.4.2',
      },
    };
  });
}

const trivial = () =>
  rule({
    id: 'big',
    title: 'Big flow',
    severity: 'low',
    kinds: ['network_flow'],
    match: (e) => ((e.bytes ?? 0) > 5_999 ? { dedupKey: e.dst.address, explanation: { summary: 'big' } } : undefined),
  });

export const suite: Suite = {
  name: 'transport-nats',
  description: 'Partitioned detection on NATS JetStream: addressing cost per event, publish and consume throughput against a local nats-server',
  async run(h) {
    const figures: Figure[] = [];
    const n = h.quick ? 5_000 : 50_000;
    const events = flows(n);

    // What the publisher adds per event on the CPU (key, token, partition, message id, JSON), against JSON alone.
    const cpu = await h.compare({
      json: () => {
        let bytes = 0;
        for (const e of events) bytes += JSON.stringify(e).length;
        return bytes > 0 ? events.length : 0;
      },
      address: () => {
        let sum = 0;
        for (const e of events) {
          sum += partitionOf(subjectToken(detectionKey(e)), 12) + eventMessageId(e).length + JSON.stringify(e).length;
        }
        return sum > 0 ? events.length : 0;
      },
    });
    figures.push({
      id: 'nats.address',
      title: 'Publisher CPU per event: detection key, subject token, partition, message id and JSON',
      value: (cpu.address as { perSecond: number }).perSecond,
      unit: 'events/s',
      ratio: { value: (cpu.address as { perSecond: number }).perSecond / (cpu.json as { perSecond: number }).perSecond, to: 'JSON.stringify alone' },
    });

    if (!findNatsServer()) {
      figures.push({ id: 'nats.skipped', title: 'nats-server not installed: publish and consume not measured', value: 0, unit: '' });
      return figures;
    }
    const server = await startNatsServer({ partitions: 12 });
    try {
      const connection = { servers: [server.url] };
      const publisher = await NatsEventPublisher.open(connection, { stream: { partitions: 12, maxAgeMs: 3_600_000 }, dedupe: false });
      let round = 0;
      const publish = await h.measure(
        async () => {
          const batch = flows(n, ++round * n);
          for (let i = 0; i < batch.length; i += 2_000) await publisher.publish(batch.slice(i, i + 2_000));
          return batch.length;
        },
        { warmup: 1, runs: h.quick ? 1 : 3 },
      );
      figures.push({
        id: 'nats.publish',
        title: 'Events published and acknowledged by JetStream (server-side partition mapping, 12 partitions)',
        value: publish.perSecond,
        unit: 'events/s',
      });
      // One stream of exactly n events, ended, for the consume comparison.
      await publisher.close();
      const stream = { name: 'BENCH', prefix: 'bench', partitions: 12, maxAgeMs: 3_600_000 };
      const p2 = await NatsEventPublisher.open(connection, { stream, partitioning: 'client', dedupe: false });
      for (let i = 0; i < events.length; i += 2_000) await p2.publish(events.slice(i, i + 2_000));
      await p2.end();
      await p2.close();
      let group = 0;
      const consume = await h.compare(
        {
          memory: async () => {
            const pipeline = createPipeline({ receivers: [new MemoryReceiver(events, { batchSize: 500 })], detections: [trivial()], logger: silentLogger });
            await pipeline.start();
            await pipeline.done;
            await pipeline.shutdown();
            return events.length;
          },
          nats: async () => {
            const pipeline = createPipeline({
              receivers: [natsEvents({ connection, stream, consumer: { name: `bench${++group}`, startAt: 'first' } })],
              detections: [trivial()],
              logger: silentLogger,
            });
            await pipeline.start();
            await pipeline.done;
            await pipeline.shutdown();
            return events.length;
          },
        },
        { warmup: 1, runs: h.quick ? 1 : 3 },
      );
      figures.push({
        id: 'nats.consume',
        title: 'Events consumed from 12 partitions, decoded, processed by one rule and acknowledged, in one pipeline',
        value: (consume.nats as { perSecond: number }).perSecond,
        unit: 'events/s',
        ratio: {
          value: (consume.nats as { perSecond: number }).perSecond / (consume.memory as { perSecond: number }).perSecond,
          to: 'the same pipeline fed from memory',
        },
      });
    } finally {
      await server.stop();
    }
    return figures;
  },
};
