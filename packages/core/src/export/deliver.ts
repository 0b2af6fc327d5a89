import { type Alert, deliveryKey } from '../alert.js';
import { type Clock, type ComponentContext, systemClock } from '../component.js';
import { errorMessage, PermanentError, RetryableError } from '../errors.js';
import { KeyedState } from '../state/keyed-state.js';

/**
 * Delivery keys an exporter has already delivered (or given up on), so that
 * a retried batch skips them. Bounded: at most `maxKeys`, each kept `ttlMs`
 * of processing time.
 */
export class DeliveredKeys {
  private readonly state: KeyedState<string, true>;
  private readonly clock: Clock;

  constructor(options: { maxKeys?: number; ttlMs?: number; clock?: Clock } = {}) {
    this.state = new KeyedState({ maxKeys: options.maxKeys ?? 100_000, ttlMs: options.ttlMs ?? 3_600_000 });
    this.clock = options.clock ?? systemClock;
  }

  get size(): number {
    return this.state.size;
  }

  has(key: string): boolean {
    return this.state.has(key);
  }

  add(key: string): void {
    const now = this.clock.now();
    this.state.set(key, true, now);
    if (this.state.size % 1024 === 0) this.state.expire(now);
  }

  /** Forget a key (its batch is complete and will not be sent again). */
  delete(key: string): boolean {
    return this.state.delete(key);
  }
}

export interface DeliverEachOptions {
  /** Requests in flight at once. Default 4. */
  concurrency?: number;
  /** Keys delivered by earlier attempts; skipped, and updated as alerts are delivered. */
  done: DeliveredKeys;
  ctx: Pick<ComponentContext, 'deadLetter'>;
  signal: AbortSignal;
  /** What the destination is called in messages. */
  what?: string;
}

export interface DeliverEachResult {
  delivered: number;
  skipped: number;
  rejected: number;
}

/**
 * Deliver a batch one alert at a time (one request per alert), with bounded
 * concurrency and partial success:
 *
 * - alerts whose delivery key is in `done` are skipped (an earlier attempt of
 *   this batch delivered them), so retries never send a delivered alert again;
 * - a PermanentError dead-letters that alert (reason `permanent_error`) and
 *   the rest goes on;
 * - retryable failures are collected, and the call rejects with one
 *   RetryableError (carrying the longest Retry-After) once every alert was
 *   tried, so the export runner retries the batch: only the failed alerts go
 *   out again.
 */
export async function deliverEach(
  batch: readonly Alert[],
  send: (alert: Alert, signal: AbortSignal) => Promise<void>,
  options: DeliverEachOptions,
): Promise<DeliverEachResult> {
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const result: DeliverEachResult = { delivered: 0, skipped: 0, rejected: 0 };
  const failures: unknown[] = [];
  let next = 0;
  const worker = async () => {
    for (;;) {
      if (options.signal.aborted) return;
      const index = next++;
      if (index >= batch.length) return;
      const alert = batch[index] as Alert;
      const key = deliveryKey(alert);
      if (options.done.has(key)) {
        result.skipped++;
        continue;
      }
      try {
        await send(alert, options.signal);
        options.done.add(key);
        result.delivered++;
      } catch (err) {
        if (err instanceof PermanentError) {
          options.done.add(key);
          result.rejected++;
          options.ctx.deadLetter({ stage: 'export', reason: 'permanent_error', message: `${errorMessage(err)} (delivery ${key})`, alert });
        } else {
          failures.push(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, batch.length) }, worker));
  const untried = batch.length - result.delivered - result.skipped - result.rejected - failures.length;
  if (failures.length > 0 || untried > 0) {
    let retryAfterMs: number | undefined;
    for (const f of failures) {
      if (f instanceof RetryableError && f.retryAfterMs !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, f.retryAfterMs);
    }
    const first = failures[0] ?? options.signal.reason;
    const what = options.what ?? 'destination';
    throw new RetryableError(
      `${failures.length + untried} of ${batch.length} alerts not delivered to ${what}: ${first === undefined ? 'aborted' : errorMessage(first)}`,
      retryAfterMs === undefined ? { cause: first } : { cause: first, retryAfterMs },
    );
  }
  return result;
}
