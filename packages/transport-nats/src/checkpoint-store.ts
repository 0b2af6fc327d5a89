import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { type CheckpointStore, errorMessage, type Logger, type PipelineCheckpoint, silentLogger } from '@outflow/core';

/** The small record at the checkpoint's key, naming the chunks that hold it. */
interface Manifest {
  format: 'outflow.nats-checkpoint/v1';
  generation: number;
  chunks: number;
  /** Bytes of the gzipped checkpoint. */
  bytes: number;
  sha256: string;
  takenAt: number;
  pipeline: string;
}

/** Thrown when a fenced store refuses to save: the instance no longer owns what the checkpoint describes. */
export class CheckpointFencedError extends Error {
  override readonly name = 'CheckpointFencedError';
}

/** Thrown when a checkpoint is not written because alerts it covers are not delivered yet (the previous checkpoint stays). */
export class CheckpointDeferredError extends Error {
  override readonly name = 'CheckpointDeferredError';
}

export interface KvCheckpointStoreOptions {
  /** KV bucket (created when missing, one revision per key). Default `outflow_checkpoints`. */
  bucket?: string;
  /** Key of this checkpoint, e.g. `detectors.p3`. Letters, digits, `-`, `_`, `/`, `=` and `.`-separated tokens. */
  key: string;
  /**
   * Called before each save; when it resolves false the save is refused
   * (`CheckpointFencedError`). The partitioned detector passes a lease check,
   * so an instance that lost its partition never overwrites the new owner's state.
   */
  fence?: () => Promise<boolean>;
  /** Largest chunk written, bytes; default the server's max payload less 4 KiB, at most 512 KiB. */
  chunkBytes?: number;
  logger?: Logger;
}

/**
 * Keeps a pipeline checkpoint in a JetStream KV bucket. The checkpoint is
 * gzipped and split into chunks (`<key>.g<generation>.<i>`) so that it may be
 * larger than a NATS message; a manifest at `<key>` names the generation, and
 * is written last, so a crash mid-save leaves the previous checkpoint in
 * force. Chunks of other generations are purged after each save.
 */
export class NatsKvCheckpointStore implements CheckpointStore {
  private generation: number | undefined;
  private chain: Promise<void> = Promise.resolve();
  private requested = 0;
  private readonly logger: Logger;
  /** Saves refused by the fence. */
  fenced = 0;

  constructor(
    private readonly kv: KV,
    readonly key: string,
    private readonly options: { fence?: () => Promise<boolean>; chunkBytes: number; logger?: Logger },
  ) {
    this.logger = options.logger ?? silentLogger;
  }

  static async open(nc: NatsConnection, options: KvCheckpointStoreOptions): Promise<NatsKvCheckpointStore> {
    const kv = await new Kvm(nc).create(options.bucket ?? 'outflow_checkpoints', { history: 1 });
    const limit = Math.max(16 * 1024, (nc.info?.max_payload ?? 1024 * 1024) - 4096);
    return new NatsKvCheckpointStore(kv, options.key, {
      chunkBytes: Math.min(options.chunkBytes ?? 512 * 1024, limit),
      ...(options.fence ? { fence: options.fence } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  private chunkKey(generation: number, index: number): string {
    return `${this.key}.g${generation}.${index}`;
  }

  private async manifest(): Promise<Manifest | undefined> {
    const entry = await this.kv.get(this.key);
    if (entry?.operation !== 'PUT' || entry.length === 0) return undefined;
    const m = entry.json<Manifest>();
    if (m.format !== 'outflow.nats-checkpoint/v1') throw new Error(`KV key ${this.key} does not hold an Outflow checkpoint manifest`);
    return m;
  }

  async load(): Promise<PipelineCheckpoint | undefined> {
    const m = await this.manifest();
    if (!m) return undefined;
    this.generation = m.generation;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < m.chunks; i++) {
      const chunk = await this.kv.get(this.chunkKey(m.generation, i));
      if (chunk?.operation !== 'PUT') throw new Error(`checkpoint ${this.key}: chunk ${i} of generation ${m.generation} is missing`);
      parts.push(chunk.value);
    }
    const zipped = Buffer.concat(parts);
    const digest = createHash('sha256').update(zipped).digest('hex');
    if (digest !== m.sha256) throw new Error(`checkpoint ${this.key}: checksum mismatch (generation ${m.generation})`);
    const checkpoint = JSON.parse(gunzipSync(zipped).toString('utf8')) as PipelineCheckpoint;
    if (checkpoint.format !== 'outflow.checkpoint/v1') throw new Error(`checkpoint ${this.key} has unknown format ${String(checkpoint.format)}`);
    return checkpoint;
  }

  /**
   * Save one checkpoint. Saves are serialised (a periodic save that overlaps a
   * slow one waits for it), so manifests are written in the order the
   * checkpoints were taken and a purge never removes chunks a later save needs.
   */
  save(checkpoint: PipelineCheckpoint): Promise<void> {
    // Serialise now: a checkpoint's state may reference the live objects of the detections, which the
    // pipeline goes on changing while this save waits (fence, earlier saves).
    let json: string;
    try {
      json = JSON.stringify(checkpoint);
    } catch (err) {
      return Promise.reject(err);
    }
    const ticket = ++this.requested;
    // A save still waiting when a newer one is requested is skipped: the newer one supersedes it.
    const run = this.chain.then(() => (ticket === this.requested ? this.write(json, checkpoint.takenAt, checkpoint.pipeline) : undefined));
    this.chain = run.catch(() => {});
    return run;
  }

  private async write(json: string, takenAt: number, pipeline: string): Promise<void> {
    if (this.options.fence && !(await this.options.fence())) {
      this.fenced++;
      throw new CheckpointFencedError(`checkpoint ${this.key} not saved: this instance no longer owns it`);
    }
    if (this.generation === undefined) this.generation = (await this.manifest().catch(() => undefined))?.generation ?? 0;
    const generation = Math.max(this.generation + 1, Date.now());
    const zipped = gzipSync(Buffer.from(json, 'utf8'));
    const size = this.options.chunkBytes;
    const chunks = Math.max(1, Math.ceil(zipped.length / size));
    for (let i = 0; i < chunks; i++) await this.kv.put(this.chunkKey(generation, i), zipped.subarray(i * size, (i + 1) * size));
    const manifest: Manifest = {
      format: 'outflow.nats-checkpoint/v1',
      generation,
      chunks,
      bytes: zipped.length,
      sha256: createHash('sha256').update(zipped).digest('hex'),
      takenAt,
      pipeline,
    };
    await this.kv.put(this.key, Buffer.from(JSON.stringify(manifest), 'utf8'));
    this.generation = generation;
    await this.purgeOtherGenerations(generation);
  }

  private async purgeOtherGenerations(keep: number): Promise<void> {
    try {
      const stale: string[] = [];
      for await (const k of await this.kv.keys(`${this.key}.>`)) {
        const m = /\.g(\d+)\.\d+$/.exec(k);
        // Only older generations: a newer one may belong to a save by the partition's next owner.
        if (m && Number(m[1]) < keep) stale.push(k);
      }
      for (const k of stale) await this.kv.purge(k);
    } catch (err) {
      this.logger.warn('purging old checkpoint chunks failed (they are purged after the next save)', { key: this.key, error: errorMessage(err) });
    }
  }

  /** Remove the checkpoint (manifest and chunks). */
  async clear(): Promise<void> {
    for await (const k of await this.kv.keys(`${this.key}.>`)) await this.kv.purge(k);
    await this.kv.purge(this.key);
    this.generation = undefined;
  }
}

/** Wraps any CheckpointStore with a fence checked before each save. */
export class FencedCheckpointStore implements CheckpointStore {
  fenced = 0;
  constructor(
    private readonly inner: CheckpointStore,
    private readonly fence: () => Promise<boolean>,
  ) {}
  load(): Promise<PipelineCheckpoint | undefined> {
    return this.inner.load();
  }
  async save(checkpoint: PipelineCheckpoint): Promise<void> {
    // A copy now: the state may reference live objects that change while the fence is checked.
    const frozen = JSON.parse(JSON.stringify(checkpoint)) as PipelineCheckpoint;
    if (!(await this.fence())) {
      this.fenced++;
      throw new CheckpointFencedError('checkpoint not saved: this instance no longer owns it');
    }
    await this.inner.save(frozen);
  }
}
