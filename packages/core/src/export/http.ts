import { Agent as HttpAgent, request as httpRequestRaw, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions, request as httpsRequestRaw } from 'node:https';
import { errorMessage, PermanentError, RetryableError } from '../errors.js';

/** Parse a `Retry-After` header (delay in seconds, or an HTTP date) into ms from `now`. */
export function parseRetryAfter(value: string | readonly string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  const text = v.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** True for statuses worth retrying: 408, 425, 429 and every 5xx except 501 and 505. */
export function isRetryableStatus(status: number): boolean {
  if (status === 408 || status === 425 || status === 429) return true;
  return status >= 500 && status !== 501 && status !== 505;
}

/**
 * The error for a non-2xx HTTP response: RetryableError (with the server's
 * Retry-After) for retryable statuses, PermanentError for the rest.
 */
export function httpStatusError(what: string, status: number, headers: IncomingHttpHeaders, body?: string): RetryableError | PermanentError {
  const detail = body ? `: ${body.slice(0, 200)}` : '';
  const message = `${what} answered HTTP ${status}${detail}`;
  if (!isRetryableStatus(status)) return new PermanentError(message);
  const retryAfterMs = parseRetryAfter(headers['retry-after']);
  return new RetryableError(message, retryAfterMs === undefined ? undefined : { retryAfterMs });
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Aborts the request (the caller's deadline, shutdown). */
  signal?: AbortSignal;
  /** Per-request timeout, ms, covering connect, upload and the whole response. */
  timeoutMs?: number;
  agent?: HttpAgent | HttpsAgent;
  /** Cap on the response body kept, bytes. Default 1 MiB. */
  maxResponseBytes?: number;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A keep-alive agent for `url`'s scheme. */
export function createAgent(url: URL | string, options: HttpsAgentOptions = {}): HttpAgent | HttpsAgent {
  const u = typeof url === 'string' ? new URL(url) : url;
  const base = { keepAlive: true, maxSockets: 16, ...options };
  return u.protocol === 'https:' ? new HttpsAgent(base) : new HttpAgent(base);
}

/**
 * One HTTP request with node:http(s). Network errors, timeouts and aborts
 * reject with RetryableError; every HTTP status resolves (check it with
 * `httpStatusError`).
 */
export function httpRequest(url: URL | string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const send = u.protocol === 'https:' ? httpsRequestRaw : httpRequestRaw;
  const maxBytes = options.maxResponseBytes ?? 1 << 20;
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: Error | undefined, res?: HttpResponse) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(res as HttpResponse);
    };
    const headers: Record<string, string | number> = { ...options.headers };
    if (options.body !== undefined) headers['content-length'] = Buffer.byteLength(options.body);
    const req = send(u, { method: options.method ?? 'GET', headers, ...(options.agent ? { agent: options.agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < maxBytes) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('error', (err) => finish(new RetryableError(`reading the response of ${u.origin} failed: ${err.message}`, { cause: err })));
      res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    const onAbort = () => {
      const reason = options.signal?.reason;
      req.destroy();
      finish(new RetryableError(`request to ${u.origin} aborted: ${reason === undefined ? 'aborted' : errorMessage(reason)}`, { cause: reason }));
    };
    if (options.signal?.aborted) {
      onAbort();
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        req.destroy();
        finish(new RetryableError(`request to ${u.origin} timed out after ${options.timeoutMs} ms`));
      }, options.timeoutMs);
    }
    req.on('error', (err: NodeJS.ErrnoException) => finish(new RetryableError(`request to ${u.origin} failed: ${err.code ?? err.message}`, { cause: err })));
    req.end(options.body);
  });
}
