import type { Alert } from '../alert.js';

/**
 * Delivers alerts. `export` receives a batch and resolves when the destination
 * has accepted all of it. Throw `RetryableError` for failures worth retrying
 * (network, 5xx, 429) and `PermanentError` for the rest; the pipeline retries
 * with backoff and jitter, and dead-letters what it cannot deliver.
 */
export interface Exporter {
  export(batch: readonly Alert[], signal: AbortSignal): Promise<void>;
  /** Flush buffers and release resources. Idempotent. */
  shutdown(): Promise<void>;
  start?(): Promise<void> | void;
  forceFlush?(): Promise<void>;
}
