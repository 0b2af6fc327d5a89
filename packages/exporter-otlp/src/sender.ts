import { type Alert, errorMessage, PermanentError, RetryableError } from '@outflow/core';

/** One OTLP request that failed. */
export interface Failure {
  /** HTTP status of the answer, when there was one. */
  status?: number | undefined;
  error?: unknown;
  /** Log records of the request. */
  records: number;
}

/** What became of one round (at most `maxQueueSize` records) handed to a sender. */
export interface RoundResult {
  /** Records of the round the collector did not accept (failed requests, or dropped before any request). */
  missing: readonly Alert[];
  failures: readonly Failure[];
  /** Of `missing`, those lost without a failed request (the SDK's processor dropped them). */
  dropped: number;
  /** Records the collector reported rejecting in a partial success (accepted otherwise: not retried). */
  rejected: number;
}

/** Encodes and posts alerts as OTLP log records: the SDK path (`sdk.ts`) or the direct encoder (`direct.ts`). */
export interface Sender {
  /** Send one round of records and settle when each was accepted or failed. Never throws: failures are in the result. */
  send(alerts: readonly Alert[], signal: AbortSignal): Promise<RoundResult>;
  shutdown(): Promise<void>;
}

/** Statuses worth retrying (OTLP/HTTP specification: 429, 502, 503, 504; and 408 and other 5xx as transient); no status (a network error, a timeout) too. */
export function retryable(status: number | undefined): boolean {
  return status === undefined || status === 408 || status === 429 || status >= 500;
}

/**
 * The error an export call rejects with when records were not accepted: a PermanentError when every failed request was
 * answered with a status not worth retrying (a 4xx other than 408/429), else a RetryableError.
 */
export function notAcceptedError(url: string, result: RoundResult, of: number, unsent: number): Error {
  const first = result.failures[0];
  const reason =
    first === undefined ? 'dropped by the SDK' : first.status !== undefined ? `HTTP ${first.status}` : errorMessage(first.error ?? 'export failed');
  const message = `${result.missing.length} of ${of} log records not accepted by ${url}: ${reason}${unsent > 0 ? ` (${unsent} more not sent yet)` : ''}`;
  if (result.failures.length > 0 && result.failures.every((f) => !retryable(f.status))) return new PermanentError(message, { cause: first?.error });
  return new RetryableError(message, { cause: first?.error });
}
