import { type Alert, deliveryKey } from '../alert.js';
import type { ComponentContext } from '../component.js';
import type { Exporter } from '../contracts/exporter.js';
import { errorMessage, PermanentError } from '../errors.js';
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

/**
 * Drives one exporter: a bounded queue, batching (whatever is queued when the
 * exporter is free, up to `batchSize`), a per-attempt timeout, retry with
 * backoff on retryable errors, and dead-lettering of what cannot be delivered.
 */
export class ExportRunner {
  private readonly queue: BoundedQueue<Alert>;
  private readonly batchSize: number;
  private readonly timeoutMs: number;
  private readonly retry: RetryOptions;
  private readonly policy: 'block' | 'drop_newest';
  private readonly capacity: number;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private roomWaiters: (() => void)[] = [];
  private closing = false;
  private inflight: Alert[] | undefined;
  private readonly abort = new AbortController();
  /** Alerts delivered, by this runner. */
  delivered = 0;

  constructor(
    readonly exporter: Exporter,
    private readonly ctx: ComponentContext,
    options: ExportQueueOptions = {},
  ) {
    this.capacity = options.capacity ?? 10_000;
    this.policy = options.policy ?? 'block';
    this.batchSize = options.batchSize ?? 512;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retry = options.retry ?? {};
    // Under `block` the queue holds up to twice its capacity: the pipeline
    // stops taking new events at `capacity`, and the alerts of the batch in
    // flight still fit. Past that, alerts are dropped and counted.
    this.queue = new BoundedQueue<Alert>({
      capacity: this.policy === 'block' ? this.capacity * 2 : this.capacity,
      policy: 'drop_newest',
      onDrop: (alert, _w, reason) => this.fail([alert], reason, `export queue of ${this.ctx.name} full`),
    });
    ctx.metrics.gauge('queue_depth', () => this.queue.length, { queue: 'export' });
  }

  get depth(): number {
    return this.queue.length;
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

  enqueue(alert: Alert): void {
    if (this.closing) {
      this.fail([alert], 'exporter_closed', 'alert arrived after the exporter queue closed');
      return;
    }
    if (!this.queue.offer(alert)) {
      this.fail([alert], 'queue_full', `export queue of ${this.ctx.name} full`);
      return;
    }
    this.wake?.();
  }

  start(): void {
    this.running ??= this.loop();
  }

  private async loop(): Promise<void> {
    for (;;) {
      if (this.queue.length === 0) {
        if (this.closing) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      if (this.abort.signal.aborted) {
        this.fail(this.queue.takeUpTo(Number.POSITIVE_INFINITY), 'shutdown_deadline', 'shutdown deadline passed before delivery');
        return;
      }
      const batch = this.queue.takeUpTo(this.batchSize);
      this.releaseRoomWaiters();
      this.inflight = batch;
      await this.send(batch);
      this.inflight = undefined;
    }
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
    } catch (err) {
      if (this.inflight !== batch) return; // already dead-lettered at the shutdown deadline
      const permanent = err instanceof PermanentError;
      const cause = err instanceof RetryExhaustedError ? err.lastError : err;
      const reason = permanent ? 'permanent_error' : this.abort.signal.aborted ? 'shutdown_deadline' : 'retries_exhausted';
      this.fail(batch, reason, errorMessage(err));
      this.ctx.logger.error('export failed, alerts dead-lettered', {
        exporter: this.ctx.name,
        alerts: batch.length,
        error: errorMessage(cause),
      });
    }
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
   * empty, or when `signal` aborts (what is left is dead-lettered with reason
   * `shutdown_deadline`).
   */
  async drain(signal: AbortSignal): Promise<void> {
    this.closing = true;
    this.start();
    this.wake?.();
    const onAbort = () => this.abort.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    // An exporter that ignores its abort signal cannot hold shutdown hostage: at
    // the deadline the in-flight batch and the queue are dead-lettered at once
    // (the in-flight batch may still arrive; its idempotency keys make that harmless).
    const hardStop = new Promise<void>((resolve) => {
      const stop = () => {
        const batch = this.inflight;
        this.inflight = undefined;
        if (batch) this.fail(batch, 'shutdown_deadline', 'exporter still busy at the shutdown deadline');
        this.fail(this.queue.takeUpTo(Number.POSITIVE_INFINITY), 'shutdown_deadline', 'shutdown deadline passed before delivery');
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
    }
  }
}
