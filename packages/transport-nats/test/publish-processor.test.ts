import { jetstreamManager } from '@nats-io/jetstream';
import { createPipeline, silentLogger } from '@outflow/core';
import { MemoryReceiver } from '@outflow/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireConnection, type LocalNatsServer, natsConnectionSchema, natsPublish } from '../src/index.js';
import { flows } from './support/events.js';
import { natsBin, server, waitFor } from './support/nats.js';

describe.skipIf(!natsBin)('nats_publish processor (collector side)', () => {
  let nats: LocalNatsServer | undefined;
  afterEach(async () => {
    await nats?.stop();
  });

  async function stored(url: string): Promise<number> {
    const lease = await acquireConnection(natsConnectionSchema.parse({ servers: [url] }));
    try {
      return (await (await jetstreamManager(lease.nc)).streams.info('OUTFLOW_EVENTS')).state.messages;
    } finally {
      await lease.release();
    }
  }

  it('publishes every event after the enrichers and passes it on; shutdown publishes what is queued', async () => {
    nats = await server(4);
    const events = flows(500, 10);
    let seen = 0;
    const pipeline = createPipeline({
      receivers: [new MemoryReceiver(events)],
      processors: [
        natsPublish({ connection: { servers: [nats.url] }, stream: { partitions: 4 } }),
        {
          process: (e) => {
            seen++;
            return e;
          },
        },
      ],
      logger: silentLogger,
    });
    await pipeline.start();
    await pipeline.done;
    await pipeline.shutdown();
    expect(seen).toBe(500);
    // 500 events and the publisher's probe
    expect(await stored(nats.url)).toBe(501);
    expect(pipeline.telemetry.total('emitted', { component: 'nats_publish' })).toBe(500);
  });

  it('drops what does not fit its queue and counts every drop with its reason', async () => {
    nats = await server(4);
    const events = flows(3_000, 10);
    const pipeline = createPipeline({
      receivers: [new MemoryReceiver(events, { batchSize: 3_000 })],
      processors: [natsPublish({ connection: { servers: [nats.url] }, stream: { partitions: 4 }, queue: { capacity: 100 } })],
      logger: silentLogger,
    });
    await pipeline.start();
    await pipeline.done;
    await pipeline.shutdown();
    const t = pipeline.telemetry;
    const dropped = t.total('dropped', { component: 'nats_publish', reason: 'queue_full' });
    const published = t.total('emitted', { component: 'nats_publish' });
    expect(dropped).toBeGreaterThan(0);
    expect(published + dropped).toBe(3_000);
    await waitFor(async () => (await stored(nats?.url as string)) === published + 1, 5_000, 'stored count');
  });
});
