import {
  AckPolicy,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiCodes,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import {
  type ComponentContext,
  type DecodeError,
  defineComponent,
  errorMessage,
  type OutflowEvent,
  outflowJsonDecoder,
  type Receiver,
  type ReceiverHost,
  z,
} from '@outflow/core';
import { acquireConnection, type ConnectionLease, natsConnectionSchema } from './connection.js';
import { partitionSubject, staticPartitions } from './keys.js';
import { type LeaseConfig, leaseSchema, PartitionLeases } from './leases.js';
import { CONTROL_HEADER } from './publisher.js';
import { ensureEventsStream, eventsStreamSchema, isNotFound, nanos } from './streams.js';

/** What the `nats` receiver reports as its position: per partition, the last stream sequence processed. */
export interface NatsPosition {
  format: 'outflow.nats-position/v1';
  stream: string;
  partitions: Record<string, number>;
}

export function isNatsPosition(value: unknown): value is NatsPosition {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as NatsPosition).format === 'outflow.nats-position/v1' &&
    typeof (value as NatsPosition).partitions === 'object'
  );
}

const assignmentSchema = z.discriminatedUnion('mode', [
  z
    .object({
      /** Partitions p with p mod `instances` = `instance`. */
      mode: z.literal('static'),
      instance: z.number().int().min(0).default(0),
      instances: z.number().int().min(1).default(1),
    })
    .strict(),
  z
    .object({
      /** An explicit list of partitions. */
      mode: z.literal('partitions'),
      partitions: z.array(z.number().int().min(0)).min(1),
    })
    .strict(),
  leaseSchema.extend({ mode: z.literal('leases') }).strict(),
]);

export const natsEventsConfigSchema = z
  .object({
    connection: natsConnectionSchema.prefault({}),
    stream: eventsStreamSchema.prefault({}),
    /** Which partitions this receiver consumes. */
    assignment: assignmentSchema.default({ mode: 'static', instance: 0, instances: 1 }),
    consumer: z
      .object({
        /** Durable consumer name prefix: one consumer `<name>-p<partition>` per partition (also the lease group). */
        name: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only')
          .default('outflow-detector'),
        /**
         * Where to start a partition for which no position was restored:
         * `ack_floor` continues after what earlier consumers of the partition
         * acknowledged, `first` replays the whole stream, `new` takes only new events.
         */
        startAt: z.enum(['ack_floor', 'first', 'new']).default('ack_floor'),
        /** Events per batch handed to the pipeline. */
        batchSize: z.number().int().positive().default(500),
        /** Unacknowledged messages the server lets one partition have out (bounds memory and the pipeline backlog). */
        maxAckPending: z.number().int().positive().default(10_000),
        /** A message not acknowledged within this long is redelivered (ms). */
        ackWaitMs: z.number().int().positive().default(120_000),
        /** Appended to consumer names (`<name>-p<partition>-<suffix>`), e.g. a lease epoch, so an old owner never reads from the new owner's consumer. */
        suffix: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/)
          .optional(),
        /** Consumers idle this long are removed by the server (ms); set with `suffix` so old owners' consumers go away. */
        inactiveThresholdMs: z.number().int().positive().optional(),
      })
      .strict()
      .prefault({}),
    /**
     * What an `end` control message (published by `NatsEventPublisher.end()`
     * after a finite replay) does: `complete` ends the receiver once every
     * partition it owns has reached it (static and explicit assignment only);
     * `ignore` acknowledges and goes on.
     */
    endOfStream: z.enum(['complete', 'ignore']).default('complete'),
    /** Create the stream when it does not exist. */
    createStream: z.boolean().default(true),
  })
  .strict();

export type NatsEventsConfig = z.output<typeof natsEventsConfigSchema>;
export type NatsEventsInput = z.input<typeof natsEventsConfigSchema>;

interface PartitionState {
  partition: number;
  consumerName: string;
  inactiveThresholdMs: number | undefined;
  messages: ConsumerMessages | undefined;
  loop: Promise<void> | undefined;
  stopped: boolean;
  /** Highest stream sequence handed to the pipeline (or skipped as control/bad). */
  emitted: number;
  /** Highest stream sequence processed by the pipeline. */
  processed: number;
  /** Batches handed to the pipeline and not yet processed. */
  inflight: number;
  /** Batches handed to the pipeline one after the other. */
  chain: Promise<void>;
  /** Completions of event-less batches waiting for the batches before them. */
  deferred: (() => void)[];
  ended: boolean;
}

/**
 * Consumes partitions of the events stream: one durable pull consumer per
 * partition, batches handed to the pipeline in stream order, acknowledged
 * (ack-all up to the batch's last sequence) only once the pipeline has
 * processed them, and the last processed sequence per partition reported as
 * the receiver's position. Restored positions are resumed exactly: the
 * consumer is recreated to start right after them.
 */
export class NatsEventsReceiver implements Receiver {
  private lease: ConnectionLease | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private host: ReceiverHost | undefined;
  private leases: PartitionLeases | undefined;
  private readonly parts = new Map<number, PartitionState>();
  private restored: Record<string, number> = {};
  private stopping = false;
  private completed = false;
  /** Partitions of a static or explicit assignment (all of them must reach their end marker to complete). */
  private assigned: number[] = [];
  /** The stream's consumers, listed once while a static assignment starts. */
  private consumerList: { name: string; ackFloor: number }[] | undefined;
  private streamInfo: Promise<import('@nats-io/jetstream').StreamInfo> | undefined;
  private releaseTimer: NodeJS.Timeout | undefined;
  /** The stream sequence each partition started at in this run (for tests and logs). */
  readonly starts: Record<number, { sequence: number; from: 'position' | 'ack_floor' | 'first' | 'new' | 'bind' }> = {};

  constructor(
    private readonly ctx: ComponentContext,
    private readonly config: NatsEventsConfig,
  ) {}

  async start(host: ReceiverHost): Promise<void> {
    if (this.stopping) return;
    this.host = host;
    const restored = host.restoredPosition;
    if (isNatsPosition(restored) && restored.stream === this.config.stream.name) this.restored = { ...restored.partitions };
    this.lease = await acquireConnection(this.config.connection, this.ctx.logger);
    this.js = jetstream(this.lease.nc);
    this.jsm = await jetstreamManager(this.lease.nc);
    if (this.config.createStream) await ensureEventsStream(this.jsm, this.config.stream);
    const a = this.config.assignment;
    if (a.mode === 'leases') {
      const { mode: _mode, ...leaseConfig } = a;
      this.leases = await PartitionLeases.start(this.lease.nc, {
        config: leaseConfig as LeaseConfig,
        group: this.config.consumer.name,
        partitions: this.config.stream.partitions,
        logger: this.ctx.logger,
        // Each takeover reads through its own consumer (named after the lease's revision): an owner that lost
        // its lease without noticing never pulls from the new owner's consumer.
        onAcquire: (p, revision) => this.startPartition(p, `e${revision}`),
        onRelease: (p) => this.stopPartition(p),
      });
      return;
    }
    const partitions = a.mode === 'static' ? staticPartitions(this.config.stream.partitions, a.instance, a.instances) : a.partitions;
    this.assigned = [...partitions];
    // One listing of the stream's consumers serves every partition; partitions start side by side.
    this.consumerList = await this.listConsumers();
    await Promise.all(partitions.map((p) => this.startPartition(p)));
    this.consumerList = undefined;
    this.streamInfo = undefined;
    if (partitions.length === 0) this.ctx.logger.warn('no partitions assigned to this receiver', { assignment: a });
  }

  private consumerName(partition: number, epoch?: string): string {
    const base = `${this.config.consumer.name}-p${partition}`;
    const suffix = epoch ?? this.config.consumer.suffix;
    return suffix ? `${base}-${suffix}` : base;
  }

  private inactiveThresholdMs(epoch?: string): number | undefined {
    return this.config.consumer.inactiveThresholdMs ?? (epoch && this.leases ? Math.max(60_000, this.leases.ttlMs * 4) : undefined);
  }

  private async listConsumers(): Promise<{ name: string; ackFloor: number }[]> {
    const out: { name: string; ackFloor: number }[] = [];
    for await (const info of (this.jsm as JetStreamManager).consumers.list(this.config.stream.name))
      out.push({ name: info.name, ackFloor: info.ack_floor.stream_seq });
    return out;
  }

  /** Consumers of this partition, this receiver's and those left by earlier owners (other suffixes). */
  private async siblings(partition: number): Promise<{ name: string; ackFloor: number }[]> {
    const prefix = `${this.config.consumer.name}-p${partition}`;
    const all = this.consumerList ?? (await this.listConsumers());
    return all.filter((c) => c.name === prefix || c.name.startsWith(`${prefix}-`));
  }

  private async startPartition(partition: number, epoch?: string): Promise<void> {
    if (partition >= this.config.stream.partitions) throw new Error(`partition ${partition} does not exist (stream has ${this.config.stream.partitions})`);
    const jsm = this.jsm as JetStreamManager;
    const stream = this.config.stream.name;
    const name = this.consumerName(partition, epoch);
    const inactive = this.inactiveThresholdMs(epoch);
    const siblings = await this.siblings(partition);
    const own = siblings.find((s) => s.name === name);
    const position = this.restored[String(partition)];
    const info = await (this.streamInfo ??= jsm.streams.info(stream));
    const first = info.state.messages > 0 ? info.state.first_seq : info.state.last_seq + 1;
    let start: { policy: 'seq' | 'bind'; seq: number; from: 'position' | 'ack_floor' | 'first' | 'new' | 'bind' };
    if (position !== undefined) start = { policy: 'seq', seq: position + 1, from: 'position' };
    else if (this.config.consumer.startAt === 'first') start = { policy: 'seq', seq: first, from: 'first' };
    else if (this.config.consumer.startAt === 'new') start = { policy: 'seq', seq: info.state.last_seq + 1, from: 'new' };
    else if (own) start = { policy: 'bind', seq: own.ackFloor + 1, from: 'bind' };
    else {
      const floor = Math.max(0, ...siblings.map((s) => s.ackFloor));
      start = floor > 0 ? { policy: 'seq', seq: floor + 1, from: 'ack_floor' } : { policy: 'seq', seq: first, from: 'first' };
    }
    if (start.seq < first) {
      if (start.from === 'position' || start.from === 'ack_floor') {
        this.ctx.metrics.add('errors', 1, 'position_expired');
        this.ctx.logger.warn('the position to resume from is older than what the stream retains; resuming at its first event (events in between are lost)', {
          partition,
          position: start.seq - 1,
          firstSequence: first,
        });
      }
      start.seq = first;
    }
    // Other owners' consumers of this partition are not needed any more.
    for (const s of siblings) if (s.name !== name || start.policy !== 'bind') await jsm.consumers.delete(stream, s.name).catch(() => false);
    if (start.policy !== 'bind') {
      const config: Partial<ConsumerConfig> = {
        durable_name: name,
        name,
        ack_policy: AckPolicy.All,
        ack_wait: nanos(this.config.consumer.ackWaitMs),
        max_ack_pending: this.config.consumer.maxAckPending,
        filter_subject: partitionSubject(this.config.stream.prefix, partition),
        max_deliver: -1,
        ...(inactive ? { inactive_threshold: nanos(inactive) } : {}),
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: start.seq,
      };
      await jsm.consumers.add(stream, config);
    }
    const state: PartitionState = {
      partition,
      consumerName: name,
      inactiveThresholdMs: inactive,
      messages: undefined,
      loop: undefined,
      stopped: false,
      emitted: start.seq - 1,
      processed: start.seq - 1,
      inflight: 0,
      chain: Promise.resolve(),
      deferred: [],
      ended: false,
    };
    this.starts[partition] = { sequence: start.seq, from: start.from };
    this.parts.set(partition, state);
    state.loop = this.consume(state);
    this.ctx.logger.info('consuming partition', { partition, consumer: name, from: start.from, sequence: start.seq });
  }

  private async consume(state: PartitionState): Promise<void> {
    const js = this.js as JetStreamClient;
    let failures = 0;
    while (!state.stopped && !this.stopping) {
      let consumer: Consumer;
      try {
        consumer = await js.consumers.get(this.config.stream.name, state.consumerName);
        const messages = await consumer.consume({ max_messages: this.config.consumer.batchSize * 2, abort_on_missing_resource: true });
        state.messages = messages;
        if (state.stopped || this.stopping) {
          messages.stop();
          break;
        }
        // Messages are gathered into batches: a full batch is handed over at once (and waited for: backpressure),
        // a partial one as soon as the messages that arrived together have been read (setImmediate).
        let batch: JsMsg[] = [];
        let timer: NodeJS.Immediate | undefined;
        const flush = (): Promise<void> => {
          if (timer) clearImmediate(timer);
          timer = undefined;
          if (batch.length > 0 && !state.stopped && !this.stopping) {
            const full = batch;
            batch = [];
            state.chain = state.chain
              .then(() => this.handle(state, full))
              .catch((err: unknown) => {
                this.ctx.metrics.add('errors', 1, 'batch_failed');
                this.ctx.logger.error('handing a batch to the pipeline failed', { partition: state.partition, error: errorMessage(err) });
              });
          }
          return state.chain;
        };
        for await (const m of messages) {
          batch.push(m);
          if (batch.length >= this.config.consumer.batchSize) {
            await flush();
            failures = 0;
          } else {
            timer ??= setImmediate(() => {
              timer = undefined;
              void flush();
            });
          }
          if (state.stopped || this.stopping) break;
        }
        await flush();
      } catch (err) {
        if (state.stopped || this.stopping) break;
        failures++;
        this.ctx.metrics.add('errors', 1, isNotFound(err, JetStreamApiCodes.ConsumerNotFound) ? 'consumer_missing' : 'consume_failed');
        this.ctx.logger.warn('consuming a partition failed; retrying', { partition: state.partition, error: errorMessage(err) });
        if (isNotFound(err, JetStreamApiCodes.ConsumerNotFound)) {
          // Recreate it where this receiver stands: right after what it handed to the pipeline.
          await this.recreate(state).catch(() => {});
        }
        await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** Math.min(failures, 5))));
      }
    }
  }

  private async recreate(state: PartitionState): Promise<void> {
    const jsm = this.jsm as JetStreamManager;
    await jsm.consumers.add(this.config.stream.name, {
      durable_name: state.consumerName,
      name: state.consumerName,
      ack_policy: AckPolicy.All,
      ack_wait: nanos(this.config.consumer.ackWaitMs),
      max_ack_pending: this.config.consumer.maxAckPending,
      filter_subject: partitionSubject(this.config.stream.prefix, state.partition),
      max_deliver: -1,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: state.emitted + 1,
      ...(state.inactiveThresholdMs ? { inactive_threshold: nanos(state.inactiveThresholdMs) } : {}),
    });
  }

  /** Decode one batch of messages and hand it to the pipeline; acknowledge when processed. */
  private async handle(state: PartitionState, msgs: JsMsg[]): Promise<void> {
    const host = this.host as ReceiverHost;
    const events: OutflowEvent[] = [];
    let last: JsMsg | undefined;
    let end = false;
    let redelivered = 0;
    const location = `nats://${this.config.stream.name}/${state.partition}`;
    for (const m of msgs) {
      const seq = m.info.streamSequence;
      if (seq <= state.emitted) {
        // A redelivery of a message still in the pipeline (its ack is on the way), or of one already processed.
        redelivered++;
        continue;
      }
      state.emitted = seq;
      last = m;
      const control = m.headers?.get(CONTROL_HEADER);
      if (control) {
        if (control === 'end') end = true;
        continue;
      }
      outflowJsonDecoder.decode(
        Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('utf8'),
        {
          event: (e) => events.push(e),
          error: (e: DecodeError) => host.deadLetter({ stage: 'decode', reason: e.reason, message: e.message, raw: m.data, location: `${location}/${seq}` }),
        },
        { observedTime: host.now(), location: `${location}/${seq}`, receiver: host.name },
      );
    }
    if (redelivered > 0) this.ctx.metrics.add('dropped', redelivered, 'redelivered');
    if (!last) return;
    const through = last;
    const done = () => {
      try {
        through.ack();
      } catch (err) {
        this.ctx.metrics.add('errors', 1, 'ack_failed');
        this.ctx.logger.debug('ack failed (the position in the next checkpoint covers it)', { error: errorMessage(err) });
      }
      // The end marker itself is not covered by the position: a checkpoint taken after it makes a
      // later owner replay the marker, and so complete too.
      state.processed = end ? through.info.streamSequence - 1 : through.info.streamSequence;
      if (end) this.partitionEnded(state);
    };
    if (events.length === 0) {
      if (state.inflight === 0) done();
      else state.deferred.push(done);
      return;
    }
    state.inflight++;
    await host.emit(events, {
      onProcessed: () => {
        state.inflight--;
        done();
        if (state.inflight === 0) for (const d of state.deferred.splice(0)) d();
        this.maybeRelease();
      },
    });
  }

  private partitionEnded(state: PartitionState): void {
    state.ended = true;
    if (this.config.endOfStream !== 'complete' || this.leases || this.completed) return;
    for (const p of this.assigned) if (!this.parts.get(p)?.ended) return;
    this.completed = true;
    this.ctx.logger.info('every partition reached its end marker; completing', { partitions: [...this.parts.keys()] });
    for (const s of this.parts.values()) void this.halt(s);
    this.host?.complete();
  }

  /**
   * Stop a partition's consumption. Waits (at most 2 s) for its loop to
   * leave: a loop blocked handing a batch to a full pipeline queue is not
   * waited for (the pipeline drops that batch once stopping; it is redelivered).
   */
  private async halt(state: PartitionState): Promise<void> {
    state.stopped = true;
    state.messages?.stop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([state.loop, new Promise<void>((r) => (timer = setTimeout(r, 2_000)))]);
    clearTimeout(timer);
  }

  private async stopPartition(partition: number): Promise<void> {
    const state = this.parts.get(partition);
    if (!state) return;
    await this.halt(state);
    this.parts.delete(partition);
    delete this.restored[String(partition)];
  }

  /** Last processed stream sequence per owned partition. */
  position(): NatsPosition {
    const partitions: Record<string, number> = {};
    for (const [p, s] of this.parts) partitions[String(p)] = s.processed;
    return { format: 'outflow.nats-position/v1', stream: this.config.stream.name, partitions };
  }

  /** Partitions consumed now. */
  partitions(): number[] {
    return [...this.parts.keys()].sort((a, b) => a - b);
  }

  private maybeRelease(): void {
    if (!this.stopping || !this.releaseTimer) return;
    for (const s of this.parts.values()) if (s.inflight > 0) return;
    clearTimeout(this.releaseTimer);
    this.releaseTimer = undefined;
    void this.lease?.release();
  }

  /**
   * Stop consuming. Batches already in the pipeline are still acknowledged
   * as they are processed: the connection is released once they are (or
   * after 10 s). Unacknowledged messages are redelivered to the next owner.
   */
  async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.leases?.stop({ release: true });
    await Promise.all([...this.parts.values()].map((s) => this.halt(s)));
    if (!this.lease) return;
    const lease = this.lease;
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = undefined;
      void lease.release();
    }, 10_000);
    this.releaseTimer.unref();
    this.maybeRelease();
  }
}

/** `nats` receiver: consumes partitions of the Outflow events stream on NATS JetStream. */
export const natsEvents = defineComponent({
  type: 'nats',
  kind: 'receiver',
  stability: 'alpha',
  description:
    'Consumes partitions of the Outflow events stream on NATS JetStream (static assignment or leases in a KV bucket), acknowledges after processing, and reports per-partition stream sequences as its position.',
  schema: natsEventsConfigSchema,
  check: (config) => {
    const issues: { path: string; message: string }[] = [];
    const a = config.assignment;
    if (a.mode === 'static' && a.instance >= a.instances) issues.push({ path: 'assignment.instance', message: `must be below instances (${a.instances})` });
    if (a.mode === 'partitions')
      a.partitions.forEach((p, i) => {
        if (p >= config.stream.partitions)
          issues.push({ path: `assignment.partitions[${i}]`, message: `must be below stream.partitions (${config.stream.partitions})` });
      });
    return issues;
  },
  create: (ctx, config) => new NatsEventsReceiver(ctx, config),
});
