import { join } from 'node:path';
import {
  type CheckpointStore,
  type ComponentFactory,
  type ComponentSpec,
  consoleLogger,
  createPipeline,
  deliveryKey,
  type Exporter,
  type ExporterWithDelivery,
  errorMessage,
  FileCheckpointStore,
  isComponentSpec,
  type Logger,
  type Pipeline,
  type PipelineCheckpoint,
  type PipelineOptions,
  type ShutdownReport,
  type z,
} from '@outflow/core';
import { CheckpointDeferredError, CheckpointFencedError, FencedCheckpointStore, NatsKvCheckpointStore } from './checkpoint-store.js';
import { acquireConnection, type ConnectionLease, natsConnectionSchema } from './connection.js';
import { safeName, staticPartitions } from './keys.js';
import { leaseSchema, PartitionLeases, type ReleaseReason } from './leases.js';
import { isNatsPosition, type NatsEventsInput, natsEvents } from './receiver.js';
import { eventsStreamSchema } from './streams.js';

/** Everything of a partition's pipeline except what the detector sets (receivers, name, checkpoint). */
export type PartitionPipelineOptions = Omit<PipelineOptions, 'receivers' | 'checkpoint' | 'restore' | 'name'>;

export type DetectorAssignment =
  | { mode: 'static'; instance: number; instances: number }
  | { mode: 'partitions'; partitions: readonly number[] }
  | ({ mode: 'leases' } & z.input<typeof leaseSchema>);

export interface NatsDetectorOptions {
  /** Consumer group: prefix of consumer names, lease keys and checkpoint keys. Default `outflow-detector`. */
  group?: string;
  connection?: z.input<typeof natsConnectionSchema>;
  stream?: z.input<typeof eventsStreamSchema>;
  /** Which partitions this instance runs: static (index and count), an explicit list, or leases that move when an instance dies. */
  assignment: DetectorAssignment;
  /**
   * Checkpoints of each partition's state and position: to a JetStream KV
   * bucket (default `{ kv: { bucket: 'outflow_checkpoints' } }`), or to files
   * in a local directory. Taken every `intervalMs` (default 30 000), when a
   * partition is released and at shutdown.
   */
  checkpoint?: { intervalMs?: number; kv?: { bucket?: string }; directory?: string };
  /** Consumer settings of the partition receivers (batch size, ack wait, ...); see the `nats` receiver. */
  consumer?: Omit<NonNullable<NatsEventsInput['consumer']>, 'name' | 'suffix'>;
  /** What an `end` marker does to a partition: `complete` finishes its pipeline (replays), `ignore` goes on. Default `complete`. */
  endOfStream?: 'complete' | 'ignore';
  /**
   * The pipeline of one partition, without receivers: detections (a fresh
   * instance per partition: state is per partition), exporters (`natsAlerts`),
   * processors, dedup, watermark. Called each time the partition starts here.
   */
  pipeline: (partition: number) => PartitionPipelineOptions;
  /** Told when a partition starts, completes (end marker), stops or fails here. */
  onEvent?: (event: DetectorEvent) => void;
  logger?: Logger;
}

export type DetectorEvent =
  | { type: 'started'; partition: number; restored: boolean; position: number | undefined; epoch: number | undefined }
  | { type: 'completed'; partition: number; position: number | undefined }
  | { type: 'stopped'; partition: number; reason: ReleaseReason; report: ShutdownReport }
  | { type: 'failed'; partition: number; error: string };

interface Running {
  partition: number;
  pipeline: Pipeline;
  /** The store checkpoints go through (barrier, seal, fence). */
  store: CheckpointStore;
  completed: boolean;
  /** The detector is stopping this partition (rebalance, shutdown, lost lease). */
  stopping: boolean;
  /** The last checkpoint of the stop was taken: alerts from here on are not delivered (see `gate`). */
  sealed: boolean;
  /** Delivery keys emitted after the seal. */
  suppressed: Set<string>;
  /** Instance names of the partition pipeline's exporters (their telemetry tells what they have handled). */
  exporters: Set<string>;
}

/** Alerts the pipeline has handed to its exporters so far. */
function routedAlerts(pipeline: Pipeline): number {
  return pipeline.telemetry.total('emitted', { component: 'pipeline', reason: 'alert' });
}

/**
 * Alerts an exporter's runner has finished with: delivered (`emitted`), or
 * filtered or dropped with a reason (and dead-lettered). Its queue is FIFO, so
 * once this reaches n, the first n alerts of the pipeline are settled.
 */
function settledAlerts(pipeline: Pipeline, exporter: string): number {
  const t = pipeline.telemetry;
  return (
    t.total('emitted', { component: exporter }) +
    t.total('dropped', { component: exporter }) -
    t.total('dropped', { component: exporter, reason: 'duplicate_delivery' })
  );
}

/**
 * The store a partition's pipeline saves through:
 *
 * - **delivery barrier**: a checkpoint is written only once every alert
 *   emitted before it was taken has been delivered by the exporters (to the
 *   alerts stream). Otherwise a crash right after the save would lose those
 *   alerts: the next owner restores state that has already raised them.
 *   If they are not delivered within `barrierMs`, this checkpoint is not
 *   written (`errors{reason=checkpoint_deferred}`; the previous one stays).
 * - **seal**: when the detector stops the partition, core completes its
 *   detections after the last checkpoint; what they emit then (partial
 *   windows, early counts) describes an input that has not ended, and the next
 *   owner raises the real alerts. Those are held back.
 * - `load` returns what the detector read already (or nothing when it could not).
 */
class PartitionStore implements CheckpointStore {
  constructor(
    private readonly inner: CheckpointStore,
    private readonly entry: () => Running | undefined,
    private readonly loaded: PipelineCheckpoint | undefined,
    private readonly barrierMs: number,
  ) {}

  async load(): Promise<PipelineCheckpoint | undefined> {
    return this.loaded;
  }

  async save(checkpoint: PipelineCheckpoint): Promise<void> {
    // Called right after the checkpoint was taken (synchronously): what was routed so far is what it covers,
    // and its state is copied now, before the pipeline goes on changing the live objects it may reference.
    const frozen = JSON.parse(JSON.stringify(checkpoint)) as PipelineCheckpoint;
    const e = this.entry();
    if (e?.stopping) e.sealed = true;
    if (e) {
      const routed = routedAlerts(e.pipeline);
      const deadline = Date.now() + this.barrierMs;
      for (;;) {
        let settled = true;
        for (const name of e.exporters) if (settledAlerts(e.pipeline, name) < routed) settled = false;
        if (settled) break;
        if (Date.now() > deadline) {
          e.pipeline.telemetry.add('pipeline', 'errors', 1, 'checkpoint_deferred');
          throw new CheckpointDeferredError(`checkpoint deferred: alerts it covers are not delivered after ${this.barrierMs} ms`);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await this.inner.save(frozen);
  }
}

/** Wrap an exporter so that deliveries emitted after the partition's seal are dropped. */
function gate(inner: Exporter, entry: () => Running | undefined, counter: { suppressed: number }): Exporter {
  const wrapped: Exporter & ExporterWithDelivery = {
    export: async (batch, signal) => {
      const e = entry();
      const pass = e && e.suppressed.size > 0 ? batch.filter((a) => !e.suppressed.has(deliveryKey(a))) : batch;
      counter.suppressed += batch.length - pass.length;
      if (pass.length > 0) await inner.export(pass, signal);
    },
    shutdown: () => inner.shutdown(),
    ...(inner.start ? { start: () => (inner.start as () => Promise<void> | void)() } : {}),
    ...(inner.forceFlush ? { forceFlush: () => (inner.forceFlush as () => Promise<void>)() } : {}),
  };
  const delivery = (inner as ExporterWithDelivery).delivery;
  return delivery ? Object.assign(wrapped, { delivery }) : wrapped;
}

/**
 * Every exporter of a partition pipeline as a spec whose factory wraps the
 * exporter (`gate`) and records its instance name (for the delivery barrier).
 * Exporter instances become specs named as the pipeline would name them.
 */
function gateAll(
  exporters: PartitionPipelineOptions['exporters'],
  entry: () => Running | undefined,
  names: Set<string>,
  counter: { suppressed: number },
): PartitionPipelineOptions['exporters'] {
  return exporters?.map((x): ComponentSpec<Exporter> => {
    if (isComponentSpec(x)) {
      const spec = x as ComponentSpec<Exporter>;
      const factory: ComponentFactory<unknown, Exporter> = {
        ...spec.factory,
        create: (ctx, config) => {
          names.add(ctx.name);
          return gate(spec.factory.create(ctx, config), entry, counter);
        },
      };
      return { ...spec, factory };
    }
    const instance = x as Exporter & { id?: string; type?: string };
    const factory: ComponentFactory<unknown, Exporter> = {
      type: 'exporter',
      kind: 'exporter',
      stability: 'alpha',
      description: 'an exporter instance',
      createDefaultConfig: () => ({}),
      validate: (config) => config,
      create: (ctx) => {
        names.add(ctx.name);
        return gate(instance, entry, counter);
      },
    };
    return { factory, config: {}, name: instance.id ?? instance.type ?? 'exporter' };
  });
}

/**
 * Partitioned detection: one pipeline per partition this instance owns, so
 * that each partition's state (baselines, windows, dedup) is checkpointed,
 * moved and restored on its own. A partition's pipeline resumes from its
 * checkpoint (state plus the stream position it reflects) and replays from
 * that position; its alerts carry deterministic ids, so replays are dropped
 * as duplicates downstream (`natsAlerts`).
 */
export class NatsDetector {
  readonly group: string;
  private readonly logger: Logger;
  private lease: ConnectionLease | undefined;
  private leases: PartitionLeases | undefined;
  private readonly running = new Map<number, Running>();
  private readonly starting = new Map<number, Promise<void>>();
  private stopped = false;
  /** Alert deliveries held back because they were emitted after a stopping partition's last checkpoint. */
  readonly stats = { suppressed: 0 };
  private readonly stream: z.output<typeof eventsStreamSchema>;
  private readonly connection: z.output<typeof natsConnectionSchema>;

  constructor(private readonly options: NatsDetectorOptions) {
    this.group = safeName(options.group ?? 'outflow-detector');
    this.logger = options.logger ?? consoleLogger('warn');
    this.stream = eventsStreamSchema.parse(options.stream ?? {});
    this.connection = natsConnectionSchema.parse(options.connection ?? {});
  }

  /** Connect and start the partitions this instance owns (static), or begin taking leases. */
  async start(): Promise<void> {
    this.lease = await acquireConnection(this.connection, this.logger);
    const a = this.options.assignment;
    if (a.mode === 'leases') {
      const { mode: _mode, ...input } = a;
      this.leases = await PartitionLeases.start(this.lease.nc, {
        config: leaseSchema.parse(input),
        group: this.group,
        partitions: this.stream.partitions,
        logger: this.logger,
        onAcquire: (p, revision) => this.startPartition(p, revision),
        onRelease: (p, reason) => this.stopPartition(p, reason),
      });
      return;
    }
    const partitions = a.mode === 'static' ? staticPartitions(this.stream.partitions, a.instance, a.instances) : [...a.partitions];
    await Promise.all(partitions.map((p) => this.startPartition(p, undefined)));
  }

  private async openStore(partition: number): Promise<CheckpointStore> {
    const leases = this.leases;
    const fence = leases ? () => leases.confirm(partition) : undefined;
    const c = this.options.checkpoint;
    if (c?.directory) {
      const file = new FileCheckpointStore(join(c.directory, `${this.group}-p${partition}.checkpoint.json`));
      return fence ? new FencedCheckpointStore(file, fence) : file;
    }
    return NatsKvCheckpointStore.open((this.lease as ConnectionLease).nc, {
      bucket: c?.kv?.bucket ?? 'outflow_checkpoints',
      key: `${this.group}.p${partition}`,
      ...(fence ? { fence } : {}),
      logger: this.logger,
    });
  }

  private startPartition(partition: number, epoch: number | undefined): Promise<void> {
    const run = this.doStart(partition, epoch).finally(() => this.starting.delete(partition));
    this.starting.set(partition, run);
    return run;
  }

  private async doStart(partition: number, epoch: number | undefined): Promise<void> {
    if (this.stopped || this.running.has(partition)) return;
    const store = await this.openStore(partition);
    let restore: PipelineCheckpoint | undefined;
    try {
      restore = await store.load();
    } catch (err) {
      this.logger.error('the checkpoint of a partition cannot be read; it starts from scratch', { partition, error: errorMessage(err) });
    }
    const position = isNatsPosition(restore?.positions.nats) ? restore.positions.nats.partitions[String(partition)] : undefined;
    const user = this.options.pipeline(partition);
    let entry: Running | undefined;
    const current = () => entry;
    const exporters = new Set<string>();
    const intervalMs = this.options.checkpoint?.intervalMs ?? 30_000;
    const partitionStore = new PartitionStore(store, current, restore, Math.min(Math.max(intervalMs, 1_000), 10_000));
    const pipeline = createPipeline({
      ...user,
      exporters: gateAll(user.exporters, current, exporters, this.stats),
      name: `${this.group}-p${partition}`,
      logger: user.logger ?? this.logger,
      receivers: [
        natsEvents(
          {
            connection: this.options.connection ?? {},
            stream: this.options.stream ?? {},
            assignment: { mode: 'partitions', partitions: [partition] },
            consumer: {
              startAt: 'first',
              ...this.options.consumer,
              name: this.group,
              ...(epoch !== undefined ? { suffix: `e${epoch}`, inactiveThresholdMs: Math.max(60_000, (this.leases?.ttlMs ?? 15_000) * 4) } : {}),
            },
            endOfStream: this.options.endOfStream ?? 'complete',
          },
          { name: 'nats' },
        ),
      ],
      checkpoint: { store: partitionStore, intervalMs },
      ...(restore ? { restore } : {}),
    });
    entry = { partition, pipeline, store: partitionStore, completed: false, stopping: false, sealed: false, suppressed: new Set(), exporters };
    const running = entry;
    this.running.set(partition, running);
    pipeline.alerts$.subscribe((alert) => {
      if (running.sealed) running.suppressed.add(deliveryKey(alert));
    });
    try {
      await pipeline.start();
    } catch (err) {
      this.running.delete(partition);
      this.options.onEvent?.({ type: 'failed', partition, error: errorMessage(err) });
      throw err;
    }
    this.options.onEvent?.({ type: 'started', partition, restored: restore !== undefined, position, epoch });
    void pipeline.done.then(async () => {
      if (this.running.get(partition) !== running || running.stopping || pipeline.state === 'stopping' || pipeline.state === 'stopped') return;
      running.completed = true;
      const pos = pipeline.checkpoint().positions.nats;
      // The input ended: release the pipeline's resources, keep the partition (and its lease) as finished.
      await pipeline.shutdown({ deadlineMs: 10_000 });
      this.options.onEvent?.({ type: 'completed', partition, position: isNatsPosition(pos) ? pos.partitions[String(partition)] : undefined });
    });
  }

  private async stopPartition(partition: number, reason: ReleaseReason, deadlineMs = 10_000): Promise<void> {
    await this.starting.get(partition)?.catch(() => {});
    const entry = this.running.get(partition);
    if (!entry) return;
    this.running.delete(partition);
    entry.stopping = true;
    const report = await entry.pipeline.shutdown({ deadlineMs });
    if (entry.completed) return;
    this.options.onEvent?.({ type: 'stopped', partition, reason, report });
  }

  /** Partitions running here. */
  partitions(): number[] {
    return [...this.running.keys()].sort((a, b) => a - b);
  }

  /** The pipeline of a partition running here. */
  pipelineOf(partition: number): Pipeline | undefined {
    return this.running.get(partition)?.pipeline;
  }

  /** True once every partition running here has reached its end marker. */
  allCompleted(): boolean {
    for (const r of this.running.values()) if (!r.completed) return false;
    return this.running.size > 0;
  }

  /** Save a checkpoint of every running partition now (besides the periodic ones). Resolves with the partitions saved. */
  async checkpointNow(): Promise<number[]> {
    const saved: number[] = [];
    for (const r of this.running.values()) {
      if (r.completed || r.pipeline.state !== 'running') continue;
      try {
        await r.store.save(r.pipeline.checkpoint());
        saved.push(r.partition);
      } catch (err) {
        if (!(err instanceof CheckpointFencedError || err instanceof CheckpointDeferredError)) throw err;
      }
    }
    return saved;
  }

  /**
   * Stop every partition (each saves its checkpoint), release the leases so
   * other instances take over at once, and close the connection. Idempotent.
   */
  async shutdown(options: { deadlineMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([...this.starting.values()].map((p) => p.catch(() => {})));
    if (this.leases) await this.leases.stop({ release: true });
    await Promise.all([...this.running.keys()].map((p) => this.stopPartition(p, 'shutdown', options.deadlineMs)));
    await this.lease?.release();
  }
}
