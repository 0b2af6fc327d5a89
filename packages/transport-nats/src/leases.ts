import { hostname } from 'node:os';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { errorMessage, type Logger, silentLogger, z } from '@outflow/core';
import { safeName } from './keys.js';

/** Settings of dynamic partition assignment through leases in a JetStream KV bucket. */
export const leaseSchema = z
  .object({
    /** KV bucket holding leases and members (created with `ttlMs` as its TTL when missing). */
    bucket: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only')
      .default('outflow_leases'),
    /**
     * A lease (and a member) not renewed for this long expires on the server and
     * its partitions move to the other instances (ms). Failover takes up to this
     * long plus one heartbeat.
     */
    ttlMs: z.number().int().min(1_000).default(15_000),
    /** Renew every this many ms; default a third of `ttlMs`. */
    heartbeatMs: z.number().int().positive().optional(),
    /** This instance's id; default `<host>-<pid>-<random>`. */
    instanceId: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only')
      .optional(),
  })
  .strict();

export type LeaseConfig = z.output<typeof leaseSchema>;

export type ReleaseReason = 'rebalance' | 'shutdown' | 'lost';

export interface PartitionLeasesOptions {
  config: LeaseConfig;
  /** Namespace of the keys in the bucket (the consumer group). */
  group: string;
  partitions: number;
  /** Start working on a partition just acquired. `revision` is the lease's revision (an epoch: it grows on every takeover). A throw releases the lease. */
  onAcquire(partition: number, revision: number): Promise<void>;
  /**
   * Stop working on a partition. For `rebalance` and `shutdown` the lease is
   * still held while this runs (save a checkpoint now); for `lost` it is not
   * (another instance may own the partition already: do not save anything).
   */
  onRelease(partition: number, reason: ReleaseReason): Promise<void>;
  logger?: Logger;
}

interface Held {
  revision: number;
  /** Local time of the last successful renewal. */
  renewedAt: number;
}

export function defaultInstanceId(): string {
  return safeName(`${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

/**
 * Dynamic partition ownership: each instance registers as a member and holds
 * leases on about `ceil(partitions / members)` partitions, as keys of a
 * JetStream KV bucket whose TTL is the lease TTL. Leases are renewed with a
 * compare-and-set on their revision; an instance that dies stops renewing,
 * the server expires its keys, and the others take its partitions over. When
 * members join, instances above their share release partitions (after
 * `onRelease`, so that a checkpoint is saved first) for the newcomers.
 */
export class PartitionLeases {
  private readonly kv: KV;
  private readonly held = new Map<number, Held>();
  private readonly logger: Logger;
  readonly instanceId: string;
  readonly ttlMs: number;
  private readonly heartbeatMs: number;
  private timer: NodeJS.Timeout | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  private rebalancing: Promise<void> | undefined;
  private stopped = false;
  private readonly startedAt = Date.now();
  /** Times a partition was taken over, released or lost by this instance. */
  readonly stats = { acquired: 0, released: 0, lost: 0 };

  private constructor(
    kv: KV,
    ttlMs: number,
    private readonly options: PartitionLeasesOptions,
  ) {
    this.kv = kv;
    this.ttlMs = ttlMs;
    this.heartbeatMs = options.config.heartbeatMs ?? Math.max(200, Math.floor(ttlMs / 3));
    this.instanceId = options.config.instanceId ?? defaultInstanceId();
    this.logger = options.logger ?? silentLogger;
  }

  /** Open (or create) the bucket, register this instance, and start heartbeats and rebalancing. */
  static async start(nc: NatsConnection, options: PartitionLeasesOptions): Promise<PartitionLeases> {
    const kv = await new Kvm(nc).create(options.config.bucket, { ttl: options.config.ttlMs, history: 1 });
    const status = await kv.status();
    const ttl = status.ttl > 0 ? status.ttl : options.config.ttlMs;
    if (ttl !== options.config.ttlMs)
      options.logger?.warn('lease bucket exists with another TTL; using it', { bucket: options.config.bucket, ttlMs: ttl, configured: options.config.ttlMs });
    const leases = new PartitionLeases(kv, ttl, options);
    await leases.heartbeat();
    leases.schedule();
    return leases;
  }

  private key(kind: 'lease' | 'member', id: string | number): string {
    return `${safeName(this.options.group)}.${kind}.${id}`;
  }

  private value(): Uint8Array {
    return Buffer.from(JSON.stringify({ instance: this.instanceId, at: new Date().toISOString() }));
  }

  /** Run lease operations one at a time: two compare-and-sets on one revision would make one look lost. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => {});
    return next;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.heartbeat()
        .catch((err: unknown) => this.logger.warn('lease heartbeat failed', { error: errorMessage(err) }))
        .finally(() => this.schedule());
    }, this.heartbeatMs);
    this.timer.unref?.();
  }

  /** Partitions held now. */
  owned(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  /** True while this instance holds the lease on `partition` and renewed it within the TTL (local view). */
  owns(partition: number): boolean {
    const h = this.held.get(partition);
    return h !== undefined && Date.now() - h.renewedAt < this.ttlMs;
  }

  /** Renew the lease on `partition` now; true when still held. Use it as a fence before writing state for the partition. */
  confirm(partition: number): Promise<boolean> {
    return this.exclusive(async () => {
      const h = this.held.get(partition);
      if (!h) return false;
      try {
        h.revision = await this.kv.update(this.key('lease', partition), this.value(), h.revision);
        h.renewedAt = Date.now();
        return true;
      } catch (err) {
        if (/wrong last sequence|not found|deleted/i.test(errorMessage(err))) return false;
        return Date.now() - h.renewedAt < this.ttlMs;
      }
    });
  }

  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    const lost: number[] = [];
    await this.exclusive(async () => {
      await this.kv.put(this.key('member', this.instanceId), this.value());
      for (const [p, h] of this.held) {
        try {
          h.revision = await this.kv.update(this.key('lease', p), this.value(), h.revision);
          h.renewedAt = Date.now();
        } catch (err) {
          const definite = /wrong last sequence|not found|deleted/i.test(errorMessage(err));
          if (definite || Date.now() - h.renewedAt >= this.ttlMs) lost.push(p);
          else this.logger.warn('lease renewal failed; retrying', { partition: p, error: errorMessage(err) });
        }
      }
    })
      .catch((err: unknown) => {
        // The member key could not be written (NATS unreachable): leases not renewed within their TTL are lost.
        for (const [p, h] of this.held) if (Date.now() - h.renewedAt >= this.ttlMs) lost.push(p);
        throw err;
      })
      .finally(async () => {
        for (const p of lost) await this.lose(p);
      });
    if (!this.rebalancing && Date.now() - this.startedAt >= this.heartbeatMs) {
      this.rebalancing = this.rebalance()
        .catch((err: unknown) => this.logger.warn('partition rebalance failed', { error: errorMessage(err) }))
        .finally(() => {
          this.rebalancing = undefined;
        });
    }
  }

  private async lose(partition: number): Promise<void> {
    if (!this.held.delete(partition)) return;
    this.stats.lost++;
    this.logger.warn('partition lease lost', { partition, instance: this.instanceId });
    try {
      await this.options.onRelease(partition, 'lost');
    } catch (err) {
      this.logger.error('stopping a lost partition failed', { partition, error: errorMessage(err) });
    }
  }

  /** Keys matching `filter`; gives up after `timeoutMs` (a listing can wait on keys that expire while it runs). */
  private async listKeys(filter: string, timeoutMs = 3_000): Promise<string[]> {
    const out: string[] = [];
    const it = await this.kv.keys(filter);
    const listed = (async () => {
      for await (const k of it) out.push(k);
      return true;
    })();
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([listed, new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
    clearTimeout(timer);
    if (!finished) {
      it.stop();
      throw new Error(`listing ${filter} took longer than ${timeoutMs} ms`);
    }
    return out;
  }

  /** Partitions whose lease is held now (by anyone), read key by key. */
  private async takenPartitions(): Promise<Set<number>> {
    const n = this.options.partitions;
    const taken = new Set<number>();
    await Promise.all(
      Array.from({ length: n }, async (_, p) => {
        const entry = await this.kv.get(this.key('lease', p));
        if (entry && entry.operation === 'PUT') taken.add(p);
      }),
    );
    return taken;
  }

  /** Take free partitions up to this instance's share, or give back what is above it. */
  private async rebalance(): Promise<void> {
    if (this.stopped) return;
    const group = safeName(this.options.group);
    const members = Math.max(1, (await this.listKeys(`${group}.member.*`)).length);
    const taken = await this.takenPartitions();
    const n = this.options.partitions;
    const target = Math.ceil(n / members);
    if (this.held.size > target) {
      const extra = this.owned().slice(target);
      for (const p of extra) await this.release(p, 'rebalance');
      return;
    }
    if (this.held.size >= target) return;
    const free: number[] = [];
    for (let p = 0; p < n; p++) if (!taken.has(p) && !this.held.has(p)) free.push(p);
    // Start at a different place per instance so that simultaneous starters rarely race for the same key.
    const offset = free.length > 0 ? Math.floor(Math.random() * free.length) : 0;
    for (let i = 0; i < free.length && this.held.size < target && !this.stopped; i++) {
      const p = free[(i + offset) % free.length] as number;
      const revision = await this.exclusive(async () => {
        try {
          return await this.kv.create(this.key('lease', p), this.value());
        } catch {
          return undefined; // someone else was faster
        }
      });
      if (revision === undefined) continue;
      this.held.set(p, { revision, renewedAt: Date.now() });
      this.stats.acquired++;
      this.logger.info('partition acquired', { partition: p, instance: this.instanceId, revision });
      try {
        await this.options.onAcquire(p, revision);
      } catch (err) {
        this.logger.error('starting an acquired partition failed; releasing it', { partition: p, error: errorMessage(err) });
        await this.deleteLease(p);
      }
    }
  }

  private async deleteLease(partition: number): Promise<void> {
    const h = this.held.get(partition);
    this.held.delete(partition);
    if (!h) return;
    await this.exclusive(async () => {
      try {
        await this.kv.delete(this.key('lease', partition), { previousSeq: h.revision });
      } catch (err) {
        this.logger.warn('lease delete failed (it will expire)', { partition, error: errorMessage(err) });
      }
    });
  }

  private async release(partition: number, reason: ReleaseReason): Promise<void> {
    if (!this.held.has(partition)) return;
    try {
      await this.options.onRelease(partition, reason);
    } catch (err) {
      this.logger.error('stopping a released partition failed', { partition, error: errorMessage(err) });
    }
    this.stats.released++;
    await this.deleteLease(partition);
  }

  /**
   * Stop heartbeats. With `release` (a graceful shutdown) every partition is
   * stopped through `onRelease('shutdown')` and its lease deleted so the others
   * take over at once; without it (simulating a crash) leases simply expire.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.rebalancing;
    if (options.release ?? true) {
      await Promise.all(this.owned().map((p) => this.release(p, 'shutdown')));
      await this.exclusive(async () => {
        try {
          await this.kv.delete(this.key('member', this.instanceId));
        } catch {
          // expires anyway
        }
      });
    }
  }
}
