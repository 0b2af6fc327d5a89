import { createHash } from 'node:crypto';
import { type JetStreamClient, jetstream, jetstreamManager, type PubAck } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import {
  BoundedQueue,
  type ComponentContext,
  defineComponent,
  errorMessage,
  type Logger,
  type OutflowEvent,
  PermanentError,
  type Processor,
  RetryableError,
  type RetryOptions,
  withRetry,
  z,
} from '@outflow/core';
import { acquireConnection, type ConnectionLease, isTransientNatsError, type NatsConnectionConfig, natsConnectionSchema } from './connection.js';
import { detectionKey, type KeyFunction, keyedSubject, partitionOf, partitionSubject, subjectToken } from './keys.js';
import { type EventsStreamConfig, ensureEventsStream, eventsStreamSchema } from './streams.js';

/** Header naming the detection key of an event message. */
export const KEY_HEADER = 'Outflow-Key';
/** Header of control messages (`end`, `probe`); they carry no event. */
export const CONTROL_HEADER = 'Outflow-Control';

/**
 * A stable message id for an event, for JetStream's duplicate window: the
 * same record published twice (a collector that restarted and re-read a file)
 * is stored once.
 */
export function eventMessageId(event: OutflowEvent): string {
  return createHash('sha256')
    .update(event.kind)
    .update('\u0000')
    .update(event.source)
    .update('\u0000')
    .update(event.sourceId ?? event.location ?? '')
    .update('\u0000')
    .update(String(event.time))
    .digest('hex')
    .slice(0, 32);
}

export interface PublisherOptions {
  /** The events stream: its name, subject prefix and partition count. */
  stream?: z.input<typeof eventsStreamSchema>;
  /**
   * `server` (default): publish to `<prefix>.keyed.<key>` and let the server's
   * subject mapping `{{partition(N,1)}}` choose the partition (see
   * `serverMappingConfig`). `client`: compute the same partition here (the
   * same FNV-1a hash) and publish to `<prefix>.events.<p>`, for servers
   * without the mapping.
   */
  partitioning?: 'server' | 'client';
  /** Detection key of an event; default `detectionKey` (workload identity, or the account for cloud API calls). */
  key?: KeyFunction;
  /** Publishes awaiting their acknowledgement at once. Default 512. */
  maxInflight?: number;
  /** Leave out `raw` (the decoded source record) to halve the message size. Default false. */
  dropRaw?: boolean;
  /** Set `Nats-Msg-Id` so that re-published records are stored once. Default true. */
  dedupe?: boolean;
  /** Retry of a failed publish. Default 8 attempts, 100 ms to 5 s. */
  retry?: RetryOptions;
  /** Create the stream when it does not exist. Default true. */
  createStream?: boolean;
  logger?: Logger;
}

export interface PublishResult {
  /** Events stored. */
  published: number;
  /** Events the server dropped as duplicates of an earlier publish (same message id within the duplicate window). */
  duplicates: number;
  /** Events that could not be published, with the reason. */
  failed: { event: OutflowEvent; error: Error }[];
}

/**
 * Publishes normalized events to the JetStream events stream, partitioned by
 * detection key, with bounded in-flight publishes and retry. Use it directly
 * (`await publisher.publish(batch)` gives backpressure) or through the
 * `natsPublish` processor.
 */
export class NatsEventPublisher {
  private readonly js: JetStreamClient;
  readonly stream: EventsStreamConfig;
  private readonly partitioning: 'server' | 'client';
  private readonly key: KeyFunction;
  private readonly maxInflight: number;
  private readonly dropRaw: boolean;
  private readonly dedupe: boolean;
  private readonly retry: RetryOptions;
  private closed = false;
  /** Events stored so far. */
  published = 0;
  duplicates = 0;

  private constructor(
    private readonly lease: ConnectionLease,
    options: PublisherOptions,
  ) {
    this.js = jetstream(lease.nc);
    this.stream = eventsStreamSchema.parse(options.stream ?? {});
    this.partitioning = options.partitioning ?? 'server';
    this.key = options.key ?? detectionKey;
    this.maxInflight = Math.max(1, options.maxInflight ?? 512);
    this.dropRaw = options.dropRaw ?? false;
    this.dedupe = options.dedupe ?? true;
    this.retry = { maxAttempts: 8, initialDelayMs: 100, maxDelayMs: 5_000, ...options.retry };
  }

  /** Connect, create the stream if asked, and check that the server partitions keyed subjects into it. */
  static async open(connection: z.input<typeof natsConnectionSchema>, options: PublisherOptions = {}): Promise<NatsEventPublisher> {
    const lease = await acquireConnection(natsConnectionSchema.parse(connection), options.logger);
    const publisher = new NatsEventPublisher(lease, options);
    try {
      if (options.createStream ?? true) await ensureEventsStream(await jetstreamManager(lease.nc), publisher.stream);
      if (publisher.partitioning === 'server') await publisher.probe();
    } catch (err) {
      await lease.release();
      throw err;
    }
    return publisher;
  }

  /** Publish a control message through the keyed subject: fails clearly when the server has no partition mapping into the stream. */
  private async probe(): Promise<void> {
    const h = natsHeaders();
    h.set(CONTROL_HEADER, 'probe');
    let ack: PubAck;
    try {
      ack = await this.js.publish(keyedSubject(this.stream.prefix, '_probe'), new Uint8Array(0), { headers: h, msgID: 'outflow-probe', timeout: 5_000 });
    } catch (err) {
      throw new Error(
        `nats-server does not route ${this.stream.prefix}.keyed.* into stream ${this.stream.name} (${errorMessage(err)}); ` +
          `add the subject mapping "${this.stream.prefix}.keyed.*": "${this.stream.prefix}.events.{{partition(${this.stream.partitions},1)}}" ` +
          `to the server configuration, or publish with partitioning: 'client'`,
        { cause: err },
      );
    }
    if (ack.stream !== this.stream.name) throw new Error(`${this.stream.prefix}.keyed.* is stored in stream ${ack.stream}, not ${this.stream.name}`);
  }

  /** Subject and headers for one event. */
  private address(event: OutflowEvent): { subject: string; key: string } {
    let key: string;
    try {
      key = this.key(event) ?? detectionKey(event);
    } catch {
      key = detectionKey(event);
    }
    const token = subjectToken(key);
    const subject =
      this.partitioning === 'server'
        ? keyedSubject(this.stream.prefix, token)
        : partitionSubject(this.stream.prefix, partitionOf(token, this.stream.partitions));
    return { subject, key };
  }

  private encode(event: OutflowEvent): Uint8Array {
    const body = this.dropRaw && event.raw !== undefined ? { ...event, raw: undefined } : event;
    return Buffer.from(JSON.stringify(body), 'utf8');
  }

  private async publishOne(event: OutflowEvent): Promise<PubAck> {
    const { subject, key } = this.address(event);
    const data = this.encode(event);
    const h = natsHeaders();
    h.set(KEY_HEADER, key.replace(/[\r\n]/g, ' '));
    const options = this.dedupe ? { headers: h, msgID: eventMessageId(event) } : { headers: h };
    const attempt = async () => {
      try {
        return await this.js.publish(subject, data, options);
      } catch (err) {
        if (isTransientNatsError(err)) throw new RetryableError(errorMessage(err), { cause: err });
        throw new PermanentError(errorMessage(err), { cause: err });
      }
    };
    try {
      return await attempt();
    } catch (err) {
      if (err instanceof PermanentError) throw err;
      // Retry (with backoff) only what failed; the message id keeps a retry that reached the stream from being stored twice.
      return withRetry(attempt, { ...this.retry, maxAttempts: Math.max(1, (this.retry.maxAttempts ?? 8) - 1) });
    }
  }

  /**
   * Publish `events`, at most `maxInflight` awaiting acknowledgement at once.
   * Resolves when every event is stored (or failed after retries: listed in
   * `failed`, never thrown), so awaiting it applies backpressure.
   */
  async publish(events: readonly OutflowEvent[]): Promise<PublishResult> {
    if (this.closed) throw new Error('publisher is closed');
    const result: PublishResult = { published: 0, duplicates: 0, failed: [] };
    const inflight = new Set<Promise<void>>();
    for (const event of events) {
      const p = this.publishOne(event).then(
        (ack) => {
          if (ack.duplicate) result.duplicates++;
          else result.published++;
        },
        (err: unknown) => {
          result.failed.push({ event, error: err instanceof Error ? err : new Error(String(err)) });
        },
      );
      const tracked = p.finally(() => inflight.delete(tracked));
      inflight.add(tracked);
      if (inflight.size >= this.maxInflight) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    this.published += result.published;
    this.duplicates += result.duplicates;
    return result;
  }

  /**
   * Mark the end of a finite input (a replay): one `end` control message per
   * partition. Receivers with `endOfStream: 'complete'` complete once every
   * partition they own has reached it. Only for a single publisher.
   */
  async end(): Promise<void> {
    const h = natsHeaders();
    h.set(CONTROL_HEADER, 'end');
    for (let p = 0; p < this.stream.partitions; p++) {
      await withRetry(() => this.js.publish(partitionSubject(this.stream.prefix, p), new Uint8Array(0), { headers: h }), this.retry);
    }
  }

  /** Release the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lease.release();
  }
}

const publishConfigSchema = z
  .object({
    connection: natsConnectionSchema.prefault({}),
    stream: eventsStreamSchema.prefault({}),
    partitioning: z.enum(['server', 'client']).default('server'),
    /** Events waiting to be published; past it events are dropped and counted (`dropped{reason=queue_full}`). */
    queue: z
      .object({
        capacity: z.number().int().positive().default(100_000),
        policy: z.enum(['drop_newest', 'drop_oldest']).default('drop_newest'),
      })
      .strict()
      .prefault({}),
    /** Events per publish round. */
    batchSize: z.number().int().positive().default(1_000),
    maxInflight: z.number().int().positive().default(512),
    dropRaw: z.boolean().default(false),
    dedupe: z.boolean().default(true),
    createStream: z.boolean().default(true),
    /** At shutdown, how long to go on publishing what is queued (ms); what is left is counted `dropped{reason=shutdown_deadline}`. */
    flushTimeoutMs: z.number().int().nonnegative().default(10_000),
  })
  .strict();

export type NatsPublishConfig = z.output<typeof publishConfigSchema>;

/**
 * A processor that publishes every event it sees to the events stream and
 * passes it on unchanged: put it after the enrichers of a collector pipeline.
 * Publishing is asynchronous behind a bounded queue; when NATS falls behind,
 * events past the queue are dropped and counted (a processor cannot hold the
 * pipeline back). For backpressure, call `NatsEventPublisher.publish` yourself.
 */
export class NatsPublishProcessor implements Processor {
  private publisher: NatsEventPublisher | undefined;
  private readonly queue: BoundedQueue<OutflowEvent>;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private stopping = false;

  constructor(
    private readonly ctx: ComponentContext,
    private readonly config: NatsPublishConfig,
  ) {
    this.queue = new BoundedQueue<OutflowEvent>({
      capacity: config.queue.capacity,
      policy: config.queue.policy,
      onDrop: (_e, n, reason) => ctx.metrics.add('dropped', n, reason),
    });
    ctx.metrics.gauge('queue_depth', () => this.queue.size, { queue: 'publish' });
  }

  async start(): Promise<void> {
    this.publisher = await NatsEventPublisher.open(this.config.connection, {
      stream: this.config.stream,
      partitioning: this.config.partitioning,
      maxInflight: this.config.maxInflight,
      dropRaw: this.config.dropRaw,
      dedupe: this.config.dedupe,
      createStream: this.config.createStream,
      logger: this.ctx.logger,
    });
    this.loop = this.run();
  }

  process(event: OutflowEvent): OutflowEvent {
    if (this.stopping) this.ctx.metrics.add('dropped', 1, 'publisher_stopped');
    else if (this.queue.offer(event)) this.wake?.();
    else this.ctx.metrics.add('dropped', 1, 'queue_full'); // drop_newest; drop_oldest makes room and reports through onDrop
    return event;
  }

  private async run(): Promise<void> {
    const publisher = this.publisher as NatsEventPublisher;
    for (;;) {
      if (this.queue.length === 0) {
        if (this.stopping) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      const batch = this.queue.takeUpTo(this.config.batchSize);
      const result = await publisher.publish(batch);
      if (result.published > 0) this.ctx.metrics.add('emitted', result.published);
      if (result.duplicates > 0) this.ctx.metrics.add('dropped', result.duplicates, 'duplicate');
      for (const { event, error } of result.failed) {
        this.ctx.deadLetter({ stage: 'process', reason: 'publish_failed', message: error.message, event });
      }
    }
  }

  /** Publish what is queued (for at most `flushTimeoutMs`), then release the connection. */
  async shutdown(): Promise<void> {
    if (this.stopping && !this.loop) return;
    this.stopping = true;
    this.wake?.();
    const loop = this.loop;
    this.loop = undefined;
    if (loop) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([loop, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.config.flushTimeoutMs)))]);
      clearTimeout(timer);
      const left = this.queue.takeUpTo(Number.POSITIVE_INFINITY);
      if (left.length > 0) this.ctx.metrics.add('dropped', left.length, 'shutdown_deadline');
    }
    await this.publisher?.close();
  }
}

/** `nats_publish` processor: publishes each event to the JetStream events stream, partitioned by detection key, and passes it on. */
export const natsPublish = defineComponent({
  type: 'nats_publish',
  kind: 'processor',
  stability: 'alpha',
  description:
    'Publishes every event to a NATS JetStream stream, partitioned by detection key with the server’s deterministic subject mapping, and passes it on unchanged (collector side of partitioned detection).',
  schema: publishConfigSchema,
  create: (ctx, config) => new NatsPublishProcessor(ctx, config),
});

export type { NatsConnectionConfig };
