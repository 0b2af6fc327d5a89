import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { type ComponentMetrics, errorMessage, type Logger, silentLogger } from '@outflow/core';
import type { HttpServerConfig } from './config.js';

const gunzipAsync = promisify(gunzip);

/** One HTTP request as a handler sees it: the body is read in full (bounded) before the handler runs. */
export interface IngestRequest {
  method: string;
  /** URL path without the query string. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Gunzipped when Content-Encoding: gzip; the decompressed size is also limited by maxBodyBytes. */
  body: Buffer;
  remoteAddress: string;
}

export interface IngestResponse {
  status: number;
  body?: string | Buffer;
  headers?: Record<string, string>;
}

export type HttpHandler = (req: IngestRequest) => IngestResponse | Promise<IngestResponse>;

export interface HttpIngestServerOptions {
  logger?: Logger;
  /** Where request outcomes are counted: `received` per accepted request, `refused` by reason, `errors{handler_exception}`. */
  metrics?: ComponentMetrics;
  /** Used in log messages. */
  name?: string;
  /** How long stop() waits for in-flight handlers before closing their connections. Default 2000 ms. */
  stopGraceMs?: number;
}

/** Reasons a request is refused, as counted in `refused{reason}`. */
export type RefusalReason = 'unauthorized' | 'too_large' | 'busy' | 'bad_method' | 'not_found' | 'timeout' | 'bad_encoding';

/** What a receiver answers when `host.tryEmit(batch)` is false. */
export function busyResponse(config: Pick<HttpServerConfig, 'busyStatus' | 'retryAfterSeconds'>): IngestResponse {
  return { status: config.busyStatus, headers: { 'Retry-After': String(config.retryAfterSeconds) } };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Format `host:port` for a URL, bracketing IPv6 literals. */
function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

class RequestState {
  done = false;
  phase: 'reading' | 'handling' = 'reading';
  timer: NodeJS.Timeout | undefined;
  /** Ends a body read in progress (the response went out early). */
  stopReading: (() => void) | undefined;
}

/**
 * A small HTTP(S) server for push receivers. Only POST to a configured path is
 * accepted; the body is read in full, bounded by `maxBodyBytes` (before and
 * after gunzip), then handed to the route's handler. Bearer-token checks, TLS,
 * request timeouts and outcome counting are done here so every receiver gets
 * the same behaviour.
 */
export class HttpIngestServer {
  private server: Server | undefined;
  private tokenDigest: Buffer | undefined;
  private startPromise: Promise<{ port: number; url: string }> | undefined;
  private stopPromise: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly logger: Logger;
  private addressInfo: { port: number; url: string } | undefined;
  private stopping = false;

  constructor(
    readonly config: HttpServerConfig,
    readonly routes: Record<string, HttpHandler>,
    readonly options: HttpIngestServerOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
  }

  /** Port and base URL once started. */
  address(): { port: number; url: string } | undefined {
    return this.addressInfo;
  }

  /** Bind and listen. Rejects when a token, key or certificate file cannot be read or the port cannot be bound. Calling it twice returns the same promise. */
  start(): Promise<{ port: number; url: string }> {
    this.startPromise ??= this.doStart();
    return this.startPromise;
  }

  private async doStart(): Promise<{ port: number; url: string }> {
    const { config } = this;
    let token = config.bearerToken;
    if (token === undefined && config.bearerTokenFile !== undefined) {
      token = (await readFile(config.bearerTokenFile, 'utf8')).trim();
      if (token.length === 0) throw new Error(`bearer token file ${config.bearerTokenFile} is empty`);
    }
    this.tokenDigest = token === undefined ? undefined : digest(token);
    const listener = (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res);
    let server: Server;
    if (config.tls) {
      const [key, cert, ca] = await Promise.all([
        readFile(config.tls.keyFile),
        readFile(config.tls.certFile),
        config.tls.caFile ? readFile(config.tls.caFile) : Promise.resolve(undefined),
      ]);
      server = createHttpsServer(
        {
          key,
          cert,
          ...(ca ? { ca } : {}),
          requestCert: config.tls.requireClientCert,
          rejectUnauthorized: config.tls.requireClientCert,
        },
        listener,
      ) as unknown as Server;
    } else {
      server = createHttpServer(listener);
    }
    // Node's own limits as a backstop; the per-request timer below answers 408 first.
    server.headersTimeout = Math.min(60_000, config.requestTimeoutMs);
    server.requestTimeout = config.requestTimeoutMs + 5_000;
    server.on('clientError', (err, socket) => {
      this.logger.debug('http client error', { server: this.options.name, error: errorMessage(err) });
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen(config.port, config.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.logger.error('http server error', { server: this.options.name, error: errorMessage(err) }));
    const port = (server.address() as AddressInfo).port;
    this.addressInfo = { port, url: `${config.tls ? 'https' : 'http'}://${urlHost(config.host)}:${port}` };
    this.logger.info('http server listening', { server: this.options.name, url: this.addressInfo.url });
    return this.addressInfo;
  }

  /** Stop listening, close idle keep-alive sockets, wait briefly for in-flight handlers, then close everything. Idempotent; safe before start. */
  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    this.stopping = true;
    if (this.startPromise) await this.startPromise.catch(() => undefined);
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    if (this.inFlight.size > 0) {
      const grace = new Promise<void>((resolve) => setTimeout(resolve, this.options.stopGraceMs ?? 2_000).unref());
      await Promise.race([Promise.allSettled([...this.inFlight]), grace]);
    }
    server.closeAllConnections();
    await closed;
  }

  private count(counter: 'received' | 'refused' | 'errors', reason?: string): void {
    this.options.metrics?.add(counter, 1, reason);
  }

  private send(req: IncomingMessage, res: ServerResponse, state: RequestState, response: IngestResponse, close = false): void {
    if (state.done || res.headersSent || res.destroyed) return;
    state.done = true;
    if (state.timer) clearTimeout(state.timer);
    const headers: Record<string, string> = { ...(response.headers ?? {}) };
    const body = response.body ?? '';
    const hasType = Object.keys(headers).some((h) => h.toLowerCase() === 'content-type');
    if (!hasType && body.length > 0) headers['Content-Type'] = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream';
    if (close || this.stopping) headers.Connection = 'close';
    try {
      res.writeHead(response.status, headers);
      res.end(body);
    } catch (err) {
      this.logger.warn('http response failed', { server: this.options.name, error: errorMessage(err) });
      res.destroy();
      return;
    }
    if (close) {
      // Stop reading the rest of the body: drop the connection once the response is out.
      state.stopReading?.();
      res.once('finish', () => setImmediate(() => req.socket.destroy()));
    }
  }

  private refuse(req: IncomingMessage, res: ServerResponse, state: RequestState, reason: RefusalReason, response: IngestResponse, close = false): void {
    if (state.done) return;
    this.count('refused', reason);
    this.send(req, res, state, response, close);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const state = new RequestState();
    const work = this.handle(req, res, state).catch((err: unknown) => {
      this.logger.error('http request failed', { server: this.options.name, error: errorMessage(err) });
      this.count('errors', 'exception');
      this.send(req, res, state, { status: 500, body: 'internal error' });
    });
    this.inFlight.add(work);
    void work.finally(() => {
      this.inFlight.delete(work);
      if (state.timer) clearTimeout(state.timer);
    });
  }

  private authorized(req: IncomingMessage): boolean {
    if (!this.tokenDigest) return true;
    const header = req.headers.authorization;
    if (typeof header !== 'string') return false;
    const m = /^Bearer[ \t]+(.+)$/i.exec(header.trim());
    if (!m?.[1]) return false;
    // Compare fixed-length digests so the comparison time does not depend on the token.
    return timingSafeEqual(digest(m[1].trim()), this.tokenDigest);
  }

  private async handle(req: IncomingMessage, res: ServerResponse, state: RequestState): Promise<void> {
    const { config } = this;
    state.timer = setTimeout(() => {
      if (state.done) return;
      if (state.phase === 'reading') this.refuse(req, res, state, 'timeout', { status: 408, body: 'request timeout' }, true);
      else this.refuse(req, res, state, 'timeout', { status: 503, body: 'handler timeout', headers: { 'Retry-After': String(config.retryAfterSeconds) } });
    }, config.requestTimeoutMs);
    state.timer.unref();

    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    if (!this.authorized(req)) {
      this.refuse(
        req,
        res,
        state,
        'unauthorized',
        { status: 401, body: 'unauthorized', headers: { 'WWW-Authenticate': 'Bearer realm="outflow"' } },
        req.headers['content-length'] !== '0',
      );
      return;
    }
    const handler = Object.hasOwn(this.routes, path) ? this.routes[path] : undefined;
    if (!handler) {
      this.refuse(req, res, state, 'not_found', { status: 404, body: 'not found' }, true);
      return;
    }
    if (method !== 'POST') {
      this.refuse(req, res, state, 'bad_method', { status: 405, body: 'method not allowed', headers: { Allow: 'POST' } }, true);
      return;
    }
    const encoding = (req.headers['content-encoding'] ?? 'identity').toString().trim().toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
      this.refuse(req, res, state, 'bad_encoding', { status: 415, body: `unsupported content-encoding ${encoding}` }, true);
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > config.maxBodyBytes) {
      this.refuse(req, res, state, 'too_large', { status: 413, body: `body exceeds ${config.maxBodyBytes} bytes` }, true);
      return;
    }
    let body = await this.readBody(req, config.maxBodyBytes, state);
    if (state.done) return;
    if (body === 'too_large') {
      this.refuse(req, res, state, 'too_large', { status: 413, body: `body exceeds ${config.maxBodyBytes} bytes` }, true);
      return;
    }
    if (body === 'aborted') {
      state.done = true;
      return;
    }
    if (encoding !== 'identity') {
      try {
        body = await gunzipAsync(body, { maxOutputLength: config.maxBodyBytes });
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
          this.refuse(req, res, state, 'too_large', { status: 413, body: `decompressed body exceeds ${config.maxBodyBytes} bytes` });
        } else {
          this.refuse(req, res, state, 'bad_encoding', { status: 400, body: `invalid gzip body: ${errorMessage(err)}` });
        }
        return;
      }
      if (state.done) return;
    }
    state.phase = 'handling';
    let response: IngestResponse;
    try {
      response = await handler({ method, path, headers: req.headers, body, remoteAddress: req.socket.remoteAddress ?? '' });
    } catch (err) {
      this.count('errors', 'handler_exception');
      this.logger.error('http handler threw', { server: this.options.name, path, error: errorMessage(err) });
      this.send(req, res, state, { status: 500, body: 'internal error' });
      return;
    }
    if (state.done) return;
    if (response.status === config.busyStatus) {
      this.refuse(req, res, state, 'busy', response);
      return;
    }
    if (response.status >= 200 && response.status < 300) this.count('received');
    this.send(req, res, state, response);
  }

  private readBody(req: IncomingMessage, max: number, state: RequestState): Promise<Buffer | 'too_large' | 'aborted'> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const finish = (value: Buffer | 'too_large' | 'aborted') => {
        if (settled) return;
        settled = true;
        state.stopReading = undefined;
        req.off('data', onData);
        if (!Buffer.isBuffer(value)) req.pause();
        resolve(value);
      };
      state.stopReading = () => finish('aborted');
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          finish('too_large');
          return;
        }
        chunks.push(chunk);
      };
      req.on('data', onData);
      req.once('end', () => finish(Buffer.concat(chunks, size)));
      req.once('error', () => finish('aborted'));
      req.once('close', () => finish(req.complete ? Buffer.concat(chunks, size) : 'aborted'));
    });
  }
}
