import { type Alert, deliveryKey } from '../alert.js';
import type { ComponentContext } from '../component.js';
import type { Exporter } from '../contracts/exporter.js';
import { errorMessage, PermanentError } from '../errors.js';
import type { ExporterDelivery } from '../export/delivery-options.js';
import { withLabels } from '../export/fields.js';
import { AlertOutbox, type OutboxMode, type OutboxOptions } from '../export/outbox.js';
import { type AlertRoute, compileRoute } from '../export/route.js';
import { BoundedQueue } from './queue.js';
import { RetryExhaustedError, type RetryOptions, withRetry } from './retry.js';

export interface ExportQueueOptions {
  /** Alerts queued per exporter. Default 10 000. */
  capacity?: number;
  /**
   * When the queue is full: `block` (default) pauses the pipeline's event
   * processing until the exporter catches up, which pushes back on receivers;
   * `drop_newest` drops the alert and counts it.
   */
  policy?: 'block' | 'drop_newest';
  /** Most alerts per export call. Default 512. */
  batchSize?: number;
  /** Per-attempt timeout, ms. Default 30 000. */
  timeoutMs?: number;
  retry?: RetryOptions;
}

/** Everything an ExportRunner applies around one exporter. */
export interface ExportRunnerOptions extends ExportQueueOptions {
  /** Which alerts this exporter gets; the others are counted `dropped{reason=filtered}`. */
  route?: AlertRoute;
  /** Static fields added to the labels of every alert delivered (the alert's own labels win). */
  labels?: Readonly<Record<string, string>>;
  /** A durable file of undelivered alerts, re-sent on the next start (see AlertOutbox). */
  outbox?: OutboxOptions;
}

/** Outbox settings for every exporter of a pipeline: one file per exporter in `directory`. */
export interface PipelineOutboxOptions {
  directory: string;
  mode?: OutboxMode;
  fsync?: boolean;
  maxAlerts?: number;
}

/** `PipelineOptions.export`: defaults for every exporter, and per-exporter overrides by instance name. */
export interface ExportOptions extends ExportQueueOptions {
  /** Give every exporter a durable outbox file in this directory (named after the exporter). */
  outbox?: PipelineOutboxOptions;
  /** Per-exporter settings by instance name (`webhook`, `webhook/2`, or the name given to the spec). */
  exporters?: Readonly<
    Record<string, ExportQueueOptions & { route?: AlertRoute; labels?: Readonly<Record<string, string>>; outbox?: PipelineOutboxOptions | false }>
  >;
}

/** File name of an exporter's outbox inside an outbox directory. */
export function outboxFileName(exporterName: string): string {
  return `${exporterName.replace(/[^A-Za-z0-9_.-]/g, '_')}.outbox.jsonl`;
}

/**
 * Merge the settings that apply to one exporter: the pipeline's defaults, then
 * the pipeline's per-exporter entry, then the exporter's own configuration
 * (its `delivery`), later ones winning.
 */
export function resolveExportRunnerOptions(name: string, pipeline: ExportOptions | undefined, delivery: ExporterDelivery | undefined): ExportRunnerOptions {
  const { exporters, outbox: defaultOutbox, ...defaults } = pipeline ?? {};
  const entry = exporters?.[name];
  const { outbox: entryOutbox, ...entryRest } = entry ?? {};
  const outbox = entryOutbox === false ? undefined : (entryOutbox ?? defaultOutbox);
  const retry = { ...defaults.retry, ...entryRest.retry, ...delivery?.retry };
  const out: ExportRunnerOptions = { ...defaults, ...entryRest, ...delivery?.queue };
  if (Object.keys(retry).length > 0) out.retry = retry;
  const route = delivery?.route ?? entryRest.route;
  if (route) out.route = route;
  const labels = entryRest.labels || delivery?.labels ? { ...entryRest.labels, ...delivery?.labels } : undefined;
  if (labels) out.labels = labels;
  if (outbox) {
    const { directory, ...rest } = outbox;
    out.outbox = { ...rest, path: `${directory.replace(/\/+$/, '')}/${outboxFileName(name)}` };
  }
  return out;
}

/**
 * Drives one exporter: routing, static fields, a bounded queue, batching
 * (whatever is queued when the exporter is free, up to `batchSize`), a
 * per-attempt timeout, retry with backoff on retryable errors, an optional
 * durable outbox, and dead-lettering of what cannot be delivered.
 */
export class ExportRunner {
  private readonly queue: BoundedQueue<Alert>;
  private readonly batchSize: number;
  private readonly timeoutMs: number;
  private readonly retry: RetryOptions;
  private readonly policy: 'block' | 'drop_newest';
  private readonly capacity: number;
  private readonly accepts: (alert: Alert) => boolean;
  private readonly labels: Readonly<Record<string, string>> | undefined;
  /** The durable outbox, when configured. */
  readonly outbox: AlertOutbox | undefined;
  private recovered: Alert[] = [];
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private roomWaiters: (() => void)[] = [];
  private closing = false;
  private inflight: Alert[] | undefined;
  private readonly abort = new AbortController();
  private outboxFullWarned = false;
  /** Alerts delivered, by this runner. */
  delivered = 0;
  /** Alerts re-sent from the outbox at start. */
  recoveredCount = 0;

  constructor(
    readonly exporter: Exporter,
    private readonly ctx: ComponentContext,
    options: ExportRunnerOptions = {},
  ) {
    this.capacity = options.capacity ?? 10_000;
    this.policy = options.policy ?? 'block';
    this.batchSize = options.batchSize ?? 512;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retry = options.retry ?? {};
    this.accepts = compileRoute(options.route);
    this.labels = options.labels && Object.keys(options.labels).length > 0 ? options.labels : undefined;
    this.outbox = options.outbox ? new AlertOutbox(options.outbox) : undefined;
    // Under `block` the queue holds up to twice its capacity: the pipeline
    // stops taking new events at `capacity`, and the alerts of the batch in
    // flight still fit. Past that, alerts are dropped and counted.
    this.queue = new BoundedQueue<Alert>({
      capacity: this.policy === 'block' ? this.capacity * 2 : this.capacity,
      policy: 'drop_newest',
      onDrop: (alert, _w, reason) => this.fail([alert], reason, `export queue of ${this.ctx.name} full`),
    });
    ctx.metrics.gauge('queue_depth', () => this.queue.length + this.recovered.length, { queue: 'export' });
    if (this.outbox) ctx.metrics.gauge('queue_depth', () => this.outbox?.size ?? 0, { queue: 'outbox' });
  }

  /** Alerts queued (not counting the batch in flight). */
  get depth(): number {
    return this.queue.length + this.recovered.length;
  }

  /** Alerts not yet handled: queued plus in flight. */
  get pending(): number {
    return this.depth + (this.inflight?.length ?? 0);
  }

  /** True when the pipeline may process more events without overfilling this exporter's queue. */
  hasRoom(): boolean {
    return this.policy !== 'block' || this.queue.length < this.capacity;
  }

  /** Resolves when `hasRoom()` becomes true. */
  waitForRoom(): Promise<void> {
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** Hand an alert to this exporter: routed, labelled, queued (and written to the outbox). Never throws. */
  enqueue(alert: Alert): void {
    if (!this.accepts(alert)) {
      this.ctx.metrics.add('dropped', 1, 'filtered');
      return;
    }
    if (this.closing) {
      this.fail([alert], 'exporter_closed', 'alert arrived after the exporter queue closed');
      return;
    }
    const labelled = withLabels(alert, this.labels);
    if (!this.queue.offer(labelled)) {
      this.fail([labelled], 'queue_full', `export queue of ${this.ctx.name} full`);
      return;
    }
    if (this.outbox?.mode === 'write_ahead' && this.outbox.add([labelled]) === 0) this.outboxFull(1);
    this.wake?.();
  }

  private outboxFull(n: number): void {
    this.ctx.metrics.add('errors', n, 'outbox_full');
    if (!this.outboxFullWarned) {
      this.outboxFullWarned = true;
      this.ctx.logger.warn('export outbox full; alerts past it are not durable', { exporter: this.ctx.name, maxAlerts: this.outbox?.maxAlerts });
    }
  }

  /**
   * Open the outbox (re-queueing what it holds, ahead of new alerts) and start
   * delivering. Throws when the outbox file cannot be opened. Idempotent.
   */
  start(): void {
    if (this.running) return;
    if (this.outbox) {
      const path = this.outbox.path;
      this.recovered = this.outbox.open((record) =>
        this.ctx.deadLetter({
          stage: 'export',
          reason: record.torn ? 'outbox_torn_record' : 'outbox_corrupt_record',
          message: `${record.message} (outbox ${path} line ${record.line})`,
          raw: record.raw,
          location: `${path}:${record.line}`,
        }),
      );
      this.recoveredCount = this.recovered.length;
      if (this.recovered.length > 0)
        this.ctx.logger.info('re-sending alerts from the outbox', { exporter: this.ctx.name, alerts: this.recovered.length, path });
    }
    this.running = this.loop();
  }

  private take(): Alert[] {
    if (this.recovered.length > 0) return this.recovered.splice(0, this.batchSize);
    return this.queue.takeUpTo(this.batchSize);
  }

  private async loop(): Promise<void> {
    for (;;) {
      if (this.depth === 0) {
        if (this.closing) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      if (this.abort.signal.aborted) {
        const rest = [...this.recovered.splice(0), ...this.queue.takeUpTo(Number.POSITIVE_INFINITY)];
        this.undelivered(rest, 'shutdown_deadline', 'shutdown deadline passed before delivery');
        return;
      }
      const batch = this.take();
      this.releaseRoomWaiters();
      this.inflight = batch;
      await this.commitOutbox();
      await this.send(batch);
      this.inflight = undefined;
    }
  }

  /** Make the outbox's pending writes durable before delivery goes on. A failing disk is counted and logged; delivery continues. */
  private async commitOutbox(): Promise<void> {
    if (!this.outbox) return;
    try {
      await this.outbox.commit();
    } catch (err) {
      this.ctx.metrics.add('errors', 1, 'outbox_write_failed');
      this.ctx.logger.error('export outbox write failed', { exporter: this.ctx.name, error: errorMessage(err) });
    }
  }

  /** Write every pending outbox record and sync it. Resolves when alerts enqueued so far are durable. */
  async flushOutbox(): Promise<void> {
    await this.outbox?.commit();
  }

  private releaseRoomWaiters(): void {
    if (!this.hasRoom() || this.roomWaiters.length === 0) return;
    for (const resolve of this.roomWaiters.splice(0)) resolve();
  }

  private async send(batch: Alert[]): Promise<void> {
    try {
      await withRetry(
        async () => {
          const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timeoutMs)]);
          await this.exporter.export(batch, signal);
        },
        {
          ...this.retry,
          signal: this.abort.signal,
          onRetry: (err, attempt, delay) => {
            this.ctx.metrics.add('errors', 1, 'export_retry');
            this.ctx.logger.warn('export failed, retrying', { exporter: this.ctx.name, attempt, delayMs: Math.round(delay), error: errorMessage(err) });
          },
        },
      );
      if (this.inflight !== batch) return;
      this.delivered += batch.length;
      this.ctx.metrics.add('emitted', batch.length);
      this.outbox?.ack(batch);
    } catch (err) {
      if (this.inflight !== batch) return; // already handled at the shutdown deadline
      const permanent = err instanceof PermanentError;
      const cause = err instanceof RetryExhaustedError ? err.lastError : err;
      const reason = permanent ? 'permanent_error' : this.abort.signal.aborted ? 'shutdown_deadline' : 'retries_exhausted';
      if (permanent) {
        this.fail(batch, reason, errorMessage(err));
        this.outbox?.ack(batch);
      } else {
        this.undelivered(batch, reason, errorMessage(err));
      }
      this.ctx.logger.error(permanent || !this.outbox ? 'export failed, alerts dead-lettered' : 'export failed, alerts kept in the outbox for the next start', {
        exporter: this.ctx.name,
        alerts: batch.length,
        error: errorMessage(cause),
      });
    }
  }

  /**
   * Alerts that could not be delivered now but might be later: kept in the
   * outbox (re-sent on the next start) when there is one, counted as errors;
   * dead-lettered otherwise.
   */
  private undelivered(alerts: Alert[], reason: string, message: string): void {
    if (alerts.length === 0) return;
    const outbox = this.outbox;
    if (!outbox) {
      this.fail(alerts, reason, message);
      return;
    }
    const missing = alerts.filter((a) => !outbox.has(a));
    const taken = outbox.add(missing);
    const kept = alerts.length - (missing.length - taken);
    if (kept > 0) this.ctx.metrics.add('errors', kept, reason);
    if (taken < missing.length) this.fail(missing.slice(taken), reason, `${message}; outbox full`);
  }

  private fail(alerts: Alert[], reason: string, message: string): void {
    if (alerts.length === 0) return;
    this.ctx.metrics.add('dropped', alerts.length, reason);
    for (const alert of alerts) {
      this.ctx.deadLetter({ stage: 'export', reason, message: `${message} (delivery ${deliveryKey(alert)})`, alert });
    }
  }

  /**
   * Stop accepting and deliver what is queued. Resolves when the queue is
   * empty, or when `signal` aborts (what is left is kept in the outbox, or
   * dead-lettered with reason `shutdown_deadline`). Closes the outbox.
   */
  async drain(signal: AbortSignal): Promise<void> {
    this.closing = true;
    try {
      this.start();
    } catch (err) {
      // The outbox could not be opened (reported when the pipeline started): nothing can be delivered.
      this.running = Promise.resolve();
      this.fail([...this.recovered.splice(0), ...this.queue.takeUpTo(Number.POSITIVE_INFINITY)], 'outbox_unavailable', errorMessage(err));
    }
    this.wake?.();
    const onAbort = () => this.abort.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    // An exporter that ignores its abort signal cannot hold shutdown hostage: at
    // the deadline the in-flight batch and the queue are given up on at once,
    // kept in the outbox when there is one, dead-lettered otherwise (the
    // in-flight batch may still arrive; its idempotency keys make that harmless).
    const hardStop = new Promise<void>((resolve) => {
      const stop = () => {
        const batch = this.inflight;
        this.inflight = undefined;
        if (batch) this.undelivered(batch, 'shutdown_deadline', 'exporter still busy at the shutdown deadline');
        this.undelivered(
          [...this.recovered.splice(0), ...this.queue.takeUpTo(Number.POSITIVE_INFINITY)],
          'shutdown_deadline',
          'shutdown deadline passed before delivery',
        );
        resolve();
      };
      if (this.abort.signal.aborted) stop();
      else this.abort.signal.addEventListener('abort', stop, { once: true });
    });
    try {
      await Promise.race([this.running, hardStop]);
    } finally {
      signal.removeEventListener('abort', onAbort);
      for (const resolve of this.roomWaiters.splice(0)) resolve();
      try {
        await this.outbox?.close();
      } catch (err) {
        this.ctx.metrics.add('errors', 1, 'outbox_write_failed');
        this.ctx.logger.error('export outbox close failed', { exporter: this.ctx.name, error: errorMessage(err) });
      }
    }
  }
}
