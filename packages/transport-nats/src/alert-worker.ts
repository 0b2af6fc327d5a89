import { AckPolicy, type ConsumerMessages, DeliverPolicy, type JetStreamManager, type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import {
  type Alert,
  alertProblem,
  type ComponentContext,
  type ComponentSpec,
  childLogger,
  compileRoute,
  consoleLogger,
  type DeadLetterInput,
  type DeadLetterSink,
  DeliveredKeys,
  deadLetterEntry,
  deliveryKey,
  type Exporter,
  type ExporterWithDelivery,
  errorMessage,
  isComponentSpec,
  type Logger,
  MemoryDeadLetter,
  PermanentError,
  type RetryOptions,
  systemClock,
  Telemetry,
  withLabels,
  withRetry,
  type z,
} from '@outflow/core';
import { asyncScheduler } from 'rxjs';
import { acquireConnection, type ConnectionLease, natsConnectionSchema } from './connection.js';
import { alertsStreamSchema, ensureAlertsStream, nanos } from './streams.js';

export interface AlertWorkerOptions {
  /** Worker name (metrics `outflow.pipeline`, logs). Default `alert-worker`. */
  name?: string;
  connection?: z.input<typeof natsConnectionSchema>;
  stream?: z.input<typeof alertsStreamSchema>;
  /** Durable consumer shared by every worker of the group: each alert message goes to one of them. Default `outflow-exporters`. */
  consumer?: string;
  /** Ordinary exporters (instances or specs such as `webhook({...})`); each alert goes to all of them. */
  exporters: readonly (Exporter | ComponentSpec<Exporter>)[];
  /** Alerts per export call. Default 256. */
  batchSize?: number;
  /** An alert not acknowledged for this long is redelivered (ms). Default 120 000. */
  ackWaitMs?: number;
  /** Retry of one export call. Default 5 attempts. */
  retry?: RetryOptions;
  /** Delay before an alert that could not be delivered is redelivered (ms). Default 5 000. */
  redeliverAfterMs?: number;
  /** Delivery keys remembered to drop repeats (beyond the stream's duplicate window, or redeliveries). Default 100 000 keys for 24 h. */
  dedup?: { maxKeys?: number; ttlMs?: number };
  deadLetter?: DeadLetterSink;
  logger?: Logger;
}

interface Target {
  name: string;
  exporter: Exporter;
  ctx: ComponentContext;
  accepts: (alert: Alert) => boolean;
  labels: Readonly<Record<string, string>> | undefined;
  /** Delivery keys this exporter has taken (or given up on). */
  done: DeliveredKeys;
}

/**
 * Reads the alerts stream and hands alerts to ordinary exporters, acknowledging
 * each message only once every exporter accepted it (or rejected it for good,
 * dead-lettered). Repeats of a delivery key are dropped (`dropped{reason=duplicate}`),
 * so a detector's replay never reaches a destination twice. Several workers
 * may share the consumer.
 */
export class NatsAlertWorker {
  readonly name: string;
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetterSink;
  private readonly logger: Logger;
  private readonly options: AlertWorkerOptions;
  private lease: ConnectionLease | undefined;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private readonly abort = new AbortController();
  private targets: Target[] = [];
  private readonly seen: DeliveredKeys;
  private inflight = 0;
  private streamName = '';
  private get consumerName(): string {
    return this.options.consumer ?? 'outflow-exporters';
  }
  /** Alerts acknowledged after delivery to every exporter. */
  delivered = 0;
  /** Messages dropped as repeats of a delivered key. */
  duplicates = 0;

  constructor(options: AlertWorkerOptions) {
    this.options = options;
    this.name = options.name ?? 'alert-worker';
    this.logger = options.logger ?? consoleLogger('warn');
    this.telemetry = new Telemetry({ pipeline: this.name });
    this.deadLetter = options.deadLetter ?? new MemoryDeadLetter();
    this.seen = new DeliveredKeys({ maxKeys: options.dedup?.maxKeys ?? 100_000, ttlMs: options.dedup?.ttlMs ?? 86_400_000 });
  }

  private context(name: string, type: string): ComponentContext {
    const metrics = this.telemetry.forComponent(name);
    return {
      name,
      type,
      kind: 'exporter',
      metrics,
      logger: childLogger(this.logger, { component: name }),
      clock: systemClock,
      scheduler: asyncScheduler,
      signal: this.abort.signal,
      deadLetter: (entry: DeadLetterInput) => {
        metrics.add('errors', 1, entry.reason);
        this.writeDeadLetter(name, entry);
      },
    };
  }

  private writeDeadLetter(component: string, input: DeadLetterInput): void {
    const entry = deadLetterEntry(input, { time: Date.now(), pipeline: this.name, component });
    try {
      this.deadLetter.write(entry);
      this.telemetry.add(component, 'dead_lettered', 1, input.reason);
    } catch {
      this.telemetry.add(component, 'dropped', 1, 'dead_letter_failed');
    }
  }

  /** Create the exporters, connect, and start consuming. */
  async start(): Promise<void> {
    const used = new Map<string, number>();
    for (const item of this.options.exporters) {
      const type = isComponentSpec(item) ? item.factory.type : 'exporter';
      const base = isComponentSpec(item) ? (item.name ?? type) : type;
      const n = (used.get(base) ?? 0) + 1;
      used.set(base, n);
      const name = n === 1 ? base : `${base}/${n}`;
      const ctx = this.context(name, type);
      const exporter = isComponentSpec(item) ? (item as ComponentSpec<Exporter>).factory.create(ctx, item.factory.validate(item.config, `exporters`)) : item;
      const delivery = (exporter as ExporterWithDelivery).delivery;
      this.targets.push({
        name,
        exporter,
        ctx,
        accepts: compileRoute(delivery?.route),
        labels: delivery?.labels,
        done: new DeliveredKeys({ maxKeys: 100_000, ttlMs: 3_600_000 }),
      });
    }
    for (const t of this.targets) await t.exporter.start?.();
    const connection = natsConnectionSchema.parse(this.options.connection ?? {});
    const stream = alertsStreamSchema.parse(this.options.stream ?? {});
    this.lease = await acquireConnection(connection, this.logger);
    const jsm: JetStreamManager = await jetstreamManager(this.lease.nc);
    await ensureAlertsStream(jsm, stream);
    const consumer = this.consumerName;
    this.streamName = stream.name;
    try {
      await jsm.consumers.info(stream.name, consumer);
    } catch {
      await jsm.consumers.add(stream.name, {
        durable_name: consumer,
        name: consumer,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(this.options.ackWaitMs ?? 120_000),
        deliver_policy: DeliverPolicy.All,
        filter_subject: `${stream.prefix}.alerts.>`,
        max_deliver: -1,
        max_ack_pending: 10_000,
      });
    }
    const c = await jetstream(this.lease.nc).consumers.get(stream.name, consumer);
    const batchSize = this.options.batchSize ?? 256;
    this.messages = await c.consume({ max_messages: batchSize * 2 });
    this.loop = this.run(this.messages, batchSize);
  }

  private async run(messages: ConsumerMessages, batchSize: number): Promise<void> {
    let batch: JsMsg[] = [];
    let timer: NodeJS.Immediate | undefined;
    let chain: Promise<void> = Promise.resolve();
    // A full batch is delivered at once (and waited for); a partial one once the messages that arrived together are read.
    const flush = (): Promise<void> => {
      if (timer) clearImmediate(timer);
      timer = undefined;
      if (batch.length > 0) {
        const full = batch;
        batch = [];
        this.inflight += full.length;
        chain = chain
          .then(() => this.handle(full))
          .catch((err: unknown) => this.logger.error('delivering a batch failed; it will be redelivered', { error: errorMessage(err) }))
          .finally(() => {
            this.inflight -= full.length;
          });
      }
      return chain;
    };
    for await (const m of messages) {
      batch.push(m);
      if (batch.length >= batchSize) await flush();
      else
        timer ??= setImmediate(() => {
          timer = undefined;
          void flush();
        });
      if (this.stopping) break;
    }
    await flush();
  }

  private async handle(msgs: JsMsg[]): Promise<void> {
    const alerts: { alert: Alert; msg: JsMsg; key: string }[] = [];
    const keys = new Set<string>();
    for (const m of msgs) {
      let alert: Alert | undefined;
      let problem: string | undefined;
      try {
        alert = m.json<Alert>();
        problem = alertProblem(alert);
      } catch (err) {
        problem = `invalid JSON: ${errorMessage(err)}`;
      }
      if (!alert || problem) {
        this.telemetry.add(this.name, 'errors', 1, 'invalid_alert');
        this.writeDeadLetter(this.name, {
          stage: 'receive',
          reason: 'invalid_alert',
          message: problem ?? 'invalid alert',
          raw: m.data,
          location: `nats:${m.subject}/${m.seq}`,
        });
        m.term();
        continue;
      }
      const key = deliveryKey(alert);
      if (this.seen.has(key) || keys.has(key)) {
        this.duplicates++;
        this.telemetry.add(this.name, 'dropped', 1, 'duplicate');
        m.ack();
        continue;
      }
      keys.add(key);
      alerts.push({ alert, msg: m, key });
    }
    if (alerts.length === 0) return;
    this.telemetry.add(this.name, 'received', alerts.length);
    for (const t of this.targets) {
      const pending = alerts.filter((a) => !t.done.has(a.key));
      const routed = pending.filter((a) => {
        if (t.accepts(a.alert)) return true;
        t.done.add(a.key);
        t.ctx.metrics.add('dropped', 1, 'filtered');
        return false;
      });
      if (routed.length === 0) continue;
      try {
        await withRetry(
          () =>
            t.exporter.export(
              routed.map((a) => withLabels(a.alert, t.labels)),
              AbortSignal.any([this.abort.signal, AbortSignal.timeout(30_000)]),
            ),
          {
            ...this.options.retry,
            signal: this.abort.signal,
            onRetry: (err, attempt) => {
              t.ctx.metrics.add('errors', 1, 'export_retry');
              t.ctx.logger.warn('export failed, retrying', { exporter: t.name, attempt, error: errorMessage(err) });
            },
          },
        );
        for (const a of routed) t.done.add(a.key);
        t.ctx.metrics.add('emitted', routed.length);
      } catch (err) {
        if (err instanceof PermanentError) {
          for (const a of routed) {
            t.done.add(a.key);
            t.ctx.deadLetter({ stage: 'export', reason: 'permanent_error', message: `${errorMessage(err)} (delivery ${a.key})`, alert: a.alert });
          }
        } else {
          t.ctx.metrics.add('errors', routed.length, 'retries_exhausted');
          t.ctx.logger.error('export failed; the alerts will be redelivered', { exporter: t.name, alerts: routed.length, error: errorMessage(err) });
        }
      }
    }
    for (const a of alerts) {
      if (this.targets.every((t) => t.done.has(a.key))) {
        a.msg.ack();
        this.seen.add(a.key);
        this.delivered++;
      } else {
        a.msg.nak(this.options.redeliverAfterMs ?? 5_000);
      }
    }
  }

  /**
   * The consumer's backlog on the server: alert messages not yet handed to
   * any worker of the group (`pending`) and handed out but not acknowledged
   * (`unacknowledged`). Both zero: everything on the stream was delivered.
   */
  async backlog(): Promise<{ pending: number; unacknowledged: number }> {
    const jsm = await jetstreamManager((this.lease as ConnectionLease).nc);
    const info = await jsm.consumers.info(this.streamName, this.consumerName);
    return { pending: info.num_pending, unacknowledged: info.num_ack_pending };
  }

  /** Alerts taken from the stream and not yet acknowledged or released. */
  get pending(): number {
    return this.inflight;
  }

  /** Stop consuming, finish the batch in hand (within `deadlineMs`), shut exporters down. Idempotent. */
  async shutdown(options: { deadlineMs?: number } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const timer = setTimeout(() => this.abort.abort(new Error('shutdown deadline passed')), options.deadlineMs ?? 10_000);
    timer.unref();
    await this.messages?.close();
    await this.loop;
    clearTimeout(timer);
    this.abort.abort(new Error('worker stopped'));
    for (const t of this.targets) {
      try {
        await t.exporter.shutdown();
      } catch (err) {
        this.logger.error('exporter shutdown failed', { exporter: t.name, error: errorMessage(err) });
      }
    }
    await this.lease?.release();
    await this.deadLetter.flush?.();
  }
}
