/** One configuration problem, located by its path from the pipeline root. */
export interface ConfigIssue {
  /** Dotted path, e.g. `receivers[0].http.port`. Empty for the root. */
  path: string;
  message: string;
}

/** Thrown at start when any component's configuration is invalid; carries every issue, not only the first. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], context?: string) {
    const lines = issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`);
    super(`${context ?? 'Invalid configuration'} (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`);
    this.issues = issues;
  }
}

/** A failure worth retrying: network errors, timeouts, 5xx, 429. */
export class RetryableError extends Error {
  override readonly name = 'RetryableError';
  /** Server-requested delay before the next attempt (e.g. `Retry-After`), in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** A failure that retrying cannot fix: 4xx other than 408/429, invalid payloads, auth failures. */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

export function isRetryable(error: unknown): boolean {
  if (error instanceof PermanentError) return false;
  if (error instanceof RetryableError) return true;
  // Errors of unknown type (network resets, bugs in third-party code) are retried a bounded number of times.
  return true;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Join path segments as `a.b[0].c`. */
export function formatPath(segments: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${String(segment)}` : String(segment);
  }
  return out;
}
