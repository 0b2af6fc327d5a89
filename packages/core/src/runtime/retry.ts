import { errorMessage, isRetryable, RetryableError } from '../errors.js';

export interface RetryOptions {
  /** Attempts in all, the first included. Default 5. */
  maxAttempts?: number;
  /** First backoff, ms. Default 200. */
  initialDelayMs?: number;
  /** Backoff ceiling, ms. Default 30 000. */
  maxDelayMs?: number;
  /** Backoff growth per attempt. Default 2. */
  multiplier?: number;
  /** Give up once this much time has passed since the first attempt, ms. Default unlimited. */
  maxElapsedMs?: number;
  /** Randomness in [0, 1) for jitter; injectable for tests. */
  random?: () => number;
}

/** Delay before attempt `attempt + 1` (attempt counts from 1): exponential with full jitter, at least the server's Retry-After. */
export function backoffDelay(attempt: number, options: RetryOptions = {}, retryAfterMs?: number): number {
  const initial = options.initialDelayMs ?? 200;
  const max = options.maxDelayMs ?? 30_000;
  const multiplier = options.multiplier ?? 2;
  const ceiling = Math.min(max, initial * multiplier ** (attempt - 1));
  const jittered = ceiling / 2 + (options.random ?? Math.random)() * (ceiling / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}

export class RetryExhaustedError extends Error {
  override readonly name = 'RetryExhaustedError';
  constructor(
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(`gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${errorMessage(lastError)}`, { cause: lastError });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason ?? new Error('aborted'));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason ?? new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Run `attempt` until it succeeds, retrying retryable failures with
 * exponential backoff and full jitter. A permanent error (PermanentError) is
 * thrown at once; exhausting attempts throws RetryExhaustedError. `onRetry` is
 * told about each failure that will be retried.
 */
export async function withRetry<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  options: RetryOptions & { signal?: AbortSignal; onRetry?: (error: unknown, attempt: number, delayMs: number) => void } = {},
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 5;
  const signal = options.signal ?? new AbortController().signal;
  const started = Date.now();
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!isRetryable(err)) throw err;
      if (signal.aborted) throw new RetryExhaustedError(n, err);
      const delay = backoffDelay(n, options, err instanceof RetryableError ? err.retryAfterMs : undefined);
      const elapsedOut = options.maxElapsedMs !== undefined && Date.now() - started + delay > options.maxElapsedMs;
      if (n >= maxAttempts || elapsedOut) throw new RetryExhaustedError(n, err);
      options.onRetry?.(err, n, delay);
      try {
        await sleep(delay, signal);
      } catch {
        throw new RetryExhaustedError(n, err);
      }
    }
  }
}
