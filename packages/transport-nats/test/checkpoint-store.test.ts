import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { FileCheckpointStore, type PipelineCheckpoint } from '@outflow/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acquireConnection,
  CheckpointFencedError,
  type ConnectionLease,
  FencedCheckpointStore,
  type LocalNatsServer,
  NatsKvCheckpointStore,
  natsConnectionSchema,
} from '../src/index.js';
import { natsBin, server } from './support/nats.js';

function checkpoint(state: unknown, takenAt = 1): PipelineCheckpoint {
  return {
    format: 'outflow.checkpoint/v1',
    pipeline: 'p',
    takenAt,
    watermark: 1_000,
    positions: { nats: { format: 'outflow.nats-position/v1', stream: 'S', partitions: { '0': 42 } } },
    detections: { d: { s: { version: 'v1', state } } },
  };
}

describe.skipIf(!natsBin)('checkpoints in JetStream KV', () => {
  let nats: LocalNatsServer;
  let lease: ConnectionLease;
  beforeAll(async () => {
    nats = await server(1);
    lease = await acquireConnection(natsConnectionSchema.parse({ servers: [nats.url] }));
  });
  afterAll(async () => {
    await lease?.release();
    await nats?.stop();
  });

  it('loads nothing before the first save, then the latest checkpoint', async () => {
    const store = await NatsKvCheckpointStore.open(lease.nc, { key: 'g.p0' });
    expect(await store.load()).toBeUndefined();
    await store.save(checkpoint({ n: 1 }, 1));
    await store.save(checkpoint({ n: 2 }, 2));
    const again = await NatsKvCheckpointStore.open(lease.nc, { key: 'g.p0' });
    expect(await again.load()).toEqual(checkpoint({ n: 2 }, 2));
  });

  it('splits a checkpoint larger than a NATS message into chunks and purges the old ones', async () => {
    const store = await NatsKvCheckpointStore.open(lease.nc, { key: 'big.p1', chunkBytes: 64 * 1024 });
    // incompressible state of ~1.5 MB: more than the 1 MB max payload
    const blob = randomBytes(1_100_000).toString('base64');
    await store.save(checkpoint({ blob }));
    expect((await store.load())?.detections.d?.s?.state).toEqual({ blob });
    await store.save(checkpoint({ blob: 'small' }));
    const kv = await new Kvm(lease.nc).open('outflow_checkpoints');
    const keys: string[] = [];
    for await (const k of await kv.keys('big.p1.>')) keys.push(k);
    expect(keys).toHaveLength(1); // the one chunk of the latest generation
    expect((await store.load())?.detections.d?.s?.state).toEqual({ blob: 'small' });
  });

  it('keeps the previous checkpoint when a save dies before its manifest, and detects a damaged chunk', async () => {
    const store = await NatsKvCheckpointStore.open(lease.nc, { key: 'crash.p2' });
    await store.save(checkpoint({ n: 1 }));
    const kv = await new Kvm(lease.nc).open('outflow_checkpoints');
    // a half-written next generation (chunks without a manifest) changes nothing
    await kv.put('crash.p2.g99999999999999.0', Buffer.from('partial'));
    expect((await store.load())?.detections.d?.s?.state).toEqual({ n: 1 });
    // a damaged chunk of the current generation is refused, not half-read
    const manifest = (await kv.get('crash.p2'))?.json<{ generation: number }>();
    await kv.put(`crash.p2.g${manifest?.generation}.0`, Buffer.from('garbage'));
    await expect(store.load()).rejects.toThrow(/checksum mismatch/);
  });

  it('saves the state as it was when the checkpoint was taken, though the live objects change while the save waits', async () => {
    const slowFence = () => new Promise<boolean>((r) => setTimeout(() => r(true), 100));
    const kvStore = await NatsKvCheckpointStore.open(lease.nc, { key: 'live.p4', fence: slowFence });
    const fileDir = mkdtempSync(join(tmpdir(), 'outflow-fenced-'));
    const fileStore = new FencedCheckpointStore(new FileCheckpointStore(join(fileDir, 'cp.json')), slowFence);
    for (const store of [kvStore, fileStore]) {
      const live = { count: 1 };
      const saving = store.save(checkpoint(live));
      live.count = 2; // the pipeline goes on while the save waits for its fence
      await saving;
      expect((await store.load())?.detections.d?.s?.state).toEqual({ count: 1 });
    }
    rmSync(fileDir, { recursive: true, force: true });
  });

  it('a fenced store refuses to save once the fence says the owner changed', async () => {
    let owner = true;
    const store = await NatsKvCheckpointStore.open(lease.nc, { key: 'fence.p3', fence: async () => owner });
    await store.save(checkpoint({ by: 'old owner' }));
    owner = false;
    await expect(store.save(checkpoint({ by: 'zombie' }))).rejects.toBeInstanceOf(CheckpointFencedError);
    expect(store.fenced).toBe(1);
    expect((await store.load())?.detections.d?.s?.state).toEqual({ by: 'old owner' });
  });
});
