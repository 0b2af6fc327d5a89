import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import {
  type Alert,
  type ComponentContext,
  DeliveredKeys,
  defineComponent,
  deliverEach,
  deliveryFromConfig,
  deliveryKey,
  type Exporter,
  type ExporterDelivery,
  errorMessage,
  exporterDeliveryShape,
  PermanentError,
  RetryableError,
  usableAlerts,
  z,
} from '@outflow/core';
import { acquireConnection, type ConnectionLease, isTransientNatsError, natsConnectionSchema } from './connection.js';
import { alertSubject } from './keys.js';
import { alertsStreamSchema, ensureAlertsStream } from './streams.js';

export const natsAlertsConfigSchema = z
  .object({
    connection: natsConnectionSchema.prefault({}),
    stream: alertsStreamSchema.prefault({}),
    /** Publishes awaiting acknowledgement at once. */
    concurrency: z.number().int().positive().default(64),
    createStream: z.boolean().default(true),
    ...exporterDeliveryShape,
  })
  .strict();

export type NatsAlertsConfig = z.output<typeof natsAlertsConfigSchema>;

/**
 * Publishes alerts to the alerts stream, one message per delivery, subject
 * `<prefix>.alerts.<severity>`, with `Nats-Msg-Id` = the delivery key (the
 * alert id, plus `:count` for updates). A detector that replays after a
 * restart or a partition move re-publishes the same keys; the server drops
 * them as duplicates within the stream's duplicate window.
 */
export class NatsAlertsExporter implements Exporter {
  readonly delivery: ExporterDelivery;
  private lease: ConnectionLease | undefined;
  private js: JetStreamClient | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;
  private readonly done = new DeliveredKeys({ maxKeys: 100_000, ttlMs: 3_600_000 });
  /** Deliveries the server reported as duplicates (already in the stream). */
  duplicates = 0;

  constructor(
    private readonly ctx: ComponentContext,
    private readonly config: NatsAlertsConfig,
  ) {
    this.delivery = deliveryFromConfig(config);
  }

  start(): Promise<void> {
    this.starting ??= (async () => {
      this.lease = await acquireConnection(this.config.connection, this.ctx.logger);
      this.js = jetstream(this.lease.nc);
      if (this.config.createStream) await ensureAlertsStream(await jetstreamManager(this.lease.nc), this.config.stream);
    })();
    return this.starting;
  }

  async export(batch: readonly Alert[], signal: AbortSignal): Promise<void> {
    if (this.closed) throw new PermanentError('exporter is shut down');
    try {
      await this.start();
    } catch (err) {
      this.starting = undefined;
      throw new RetryableError(`cannot reach NATS: ${errorMessage(err)}`, { cause: err });
    }
    const js = this.js as JetStreamClient;
    await deliverEach(
      usableAlerts(batch, this.ctx),
      async (alert) => {
        let data: Uint8Array;
        try {
          data = Buffer.from(JSON.stringify(alert), 'utf8');
        } catch (err) {
          throw new PermanentError(`alert cannot be serialised: ${errorMessage(err)}`);
        }
        const severity = typeof alert.severity === 'string' && /^[a-z]+$/.test(alert.severity) ? alert.severity : 'unknown';
        try {
          const ack = await js.publish(alertSubject(this.config.stream.prefix, severity), data, { msgID: deliveryKey(alert) });
          if (ack.duplicate) {
            this.duplicates++;
            this.ctx.metrics.add('dropped', 1, 'duplicate_delivery');
          }
        } catch (err) {
          if (isTransientNatsError(err)) throw new RetryableError(errorMessage(err), { cause: err });
          throw new PermanentError(errorMessage(err), { cause: err });
        }
      },
      { concurrency: this.config.concurrency, done: this.done, ctx: this.ctx, signal, what: `NATS stream ${this.config.stream.name}` },
    );
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.starting?.catch(() => {});
    await this.lease?.release();
  }
}

/** `nats_alerts` exporter: publishes alerts to a JetStream stream, deduplicated by delivery key. */
export const natsAlerts = defineComponent({
  type: 'nats_alerts',
  kind: 'exporter',
  stability: 'alpha',
  description:
    'Publishes alerts to a NATS JetStream stream (one message per delivery, Nats-Msg-Id = delivery key, so replays are dropped as duplicates) for exporter workers to deliver.',
  schema: natsAlertsConfigSchema,
  create: (ctx, config) => new NatsAlertsExporter(ctx, config),
});
