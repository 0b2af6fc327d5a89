import {
  type ComponentContext,
  type ComponentMetrics,
  type DecodeError,
  type DecodeMeta,
  type Decoder,
  type DecodeSink,
  decodeRecords,
  errorMessage,
  type OutflowEvent,
  type Receiver,
  type ReceiverHost,
} from '@outflow/core';
import type { FileSourceConfig, HttpServerConfig, UdpConfig } from './config.js';
import { FileSource } from './file-source.js';
import { busyResponse, HttpIngestServer, type IngestRequest, type IngestResponse } from './http-server.js';
import { UdpListener, type UdpPeer } from './udp.js';

/** How a file format is framed and decoded. A core `FormatDefinition` fits as is. */
export interface FileFormat {
  name: string;
  framing: 'lines' | 'document';
  decoder: Decoder<string>;
}

function withDetail(location: string, error: DecodeError, known?: string): string {
  return error.location !== undefined && error.location !== known ? `${location}#${error.location}` : location;
}

/**
 * Metrics for a transport running under a receiver host: the host already
 * counts events `received` and batches `refused{queue_full}`, so the
 * transport's own per-request `received` and `refused{busy}` are left out.
 */
function transportMetrics(metrics: ComponentMetrics): ComponentMetrics {
  return {
    add: (counter, n, reason) => {
      if (counter === 'received' || (counter === 'refused' && reason === 'busy')) return;
      metrics.add(counter, n, reason);
    },
    gauge: (name, read, labels) => metrics.gauge(name, read, labels),
  };
}

/**
 * A receiver reading files with a FileSource and decoding each record with
 * `format.decoder`. Each batch of records becomes one `host.emit` (awaited:
 * the files are read no faster than the pipeline takes them); undecodable
 * records are dead-lettered with `location` = `path:line`. With follow=false
 * the receiver completes once every file was read.
 */
export function createFileReceiver(ctx: ComponentContext, config: FileSourceConfig, format: FileFormat): Receiver {
  let source: FileSource | undefined;
  let shut = false;
  const decoder = format.decoder;
  return {
    async start(host: ReceiverHost) {
      if (shut || source) return;
      source = new FileSource(config, {
        framing: format.framing,
        signal: ctx.signal,
        logger: ctx.logger,
        metrics: transportMetrics(ctx.metrics),
        onRecords: async (batch) => {
          const meta: DecodeMeta = { observedTime: host.now(), location: batch.path, line: batch.firstLineNumber, receiver: host.name };
          if (batch.firstLine !== undefined) meta.firstLine = batch.firstLine;
          const { lineNumbers, firstLineNumber } = batch;
          const events = decodeRecords(decoder, batch.records, host, meta, lineNumbers ? (i) => lineNumbers[i] : (i) => firstLineNumber + i);
          if (events.length > 0) await host.emit(events);
        },
        onError: (e) =>
          host.deadLetter({
            stage: 'receive',
            reason: e.reason,
            message: e.message,
            ...(e.raw !== undefined ? { raw: e.raw } : {}),
            ...(e.location !== undefined ? { location: e.location } : {}),
          }),
      });
      await source.start();
      if (!config.follow) {
        void source.done.then(() => {
          if (!shut) host.complete();
        });
      }
    },
    async shutdown() {
      shut = true;
      await source?.stop();
    },
  };
}

/** A route of an HTTP receiver: the request and the pipeline door. */
export type HttpRoute = (req: IngestRequest, host: ReceiverHost) => IngestResponse | Promise<IngestResponse>;

export type HttpReceiver = Receiver & { address(): { port: number; url: string } | undefined };

/** `http://address`, IPv6 addresses bracketed. */
export function httpLocation(remoteAddress: string): string {
  return `http://${remoteAddress.includes(':') ? `[${remoteAddress}]` : remoteAddress}`;
}

/**
 * A receiver serving `routes` with an HttpIngestServer. A route that throws is
 * answered 500 and its request body is dead-lettered (`handler_exception`).
 */
export function createHttpReceiver(ctx: ComponentContext, config: HttpServerConfig, routes: Record<string, HttpRoute>): HttpReceiver {
  let server: HttpIngestServer | undefined;
  let shut = false;
  return {
    async start(host: ReceiverHost) {
      if (shut || server) return;
      const wrapped: Record<string, (req: IngestRequest) => Promise<IngestResponse>> = {};
      for (const [path, route] of Object.entries(routes)) {
        wrapped[path] = async (req) => {
          try {
            return await route(req, host);
          } catch (err) {
            host.deadLetter({
              stage: 'receive',
              reason: 'handler_exception',
              message: errorMessage(err),
              raw: req.body,
              location: httpLocation(req.remoteAddress),
            });
            return { status: 500, body: 'internal error' };
          }
        };
      }
      server = new HttpIngestServer(config, wrapped, { logger: ctx.logger, metrics: transportMetrics(ctx.metrics), name: ctx.name });
      await server.start();
    },
    async shutdown() {
      shut = true;
      await server?.stop();
    },
    address: () => server?.address(),
  };
}

/** Options of decodeHttpBody. A receiver's HttpServerConfig fits as is (its busyStatus and retryAfterSeconds are used). */
export interface DecodeHttpBodyOptions {
  /** Status when the pipeline is full. Default 429. */
  busyStatus?: 429 | 503;
  /** `Retry-After` seconds sent with the busy status. Default 1. */
  retryAfterSeconds?: number;
}

/**
 * The usual handler body: decode `req.body` as UTF-8 with `decoder`, dead-letter
 * what does not decode (location `http://<remote>`), and queue the events with
 * `host.tryEmit`. Answers:
 * - 400 with the first reason when nothing decoded and something failed;
 * - the busy response (429/503 + Retry-After) when the pipeline is full, so the sender retries;
 * - 200 otherwise. A partly bad body is accepted: its good events are queued
 *   and its bad records dead-lettered (a retry would duplicate the good ones).
 */
export function decodeHttpBody(req: IngestRequest, host: ReceiverHost, decoder: Decoder<string>, options: DecodeHttpBodyOptions = {}): IngestResponse {
  const location = httpLocation(req.remoteAddress);
  const events: OutflowEvent[] = [];
  let failed = 0;
  let firstReason: string | undefined;
  const text = req.body.toString('utf8');
  const sink: DecodeSink = {
    event: (e) => events.push(e),
    error: (e) => {
      failed++;
      firstReason ??= e.reason;
      host.deadLetter({ stage: 'decode', reason: e.reason, message: e.message, raw: e.raw, location: withDetail(location, e) });
    },
  };
  try {
    decoder.decode(text, sink, { observedTime: host.now(), location, receiver: host.name });
  } catch (err) {
    failed++;
    firstReason ??= 'decoder_exception';
    host.deadLetter({
      stage: 'decode',
      reason: 'decoder_exception',
      message: `decoder ${decoder.format} threw: ${errorMessage(err)}`,
      raw: req.body,
      location,
    });
  }
  if (events.length === 0) {
    if (failed > 0) return { status: 400, body: `no valid records (${failed} rejected, first reason: ${firstReason})` };
    return { status: 200 };
  }
  if (!host.tryEmit(events)) return busyResponse({ busyStatus: options.busyStatus ?? 429, retryAfterSeconds: options.retryAfterSeconds ?? 1 });
  return { status: 200 };
}

/**
 * Several transports run as one receiver: starts them in order (shutting the
 * started ones down again when one fails to start), completes only when every
 * transport has completed (an HTTP server never does, so finite file input next
 * to one does not end the receiver), and shuts them all down. `address()` is the
 * HTTP transport's, when one is given.
 */
export function combineReceivers(parts: readonly Receiver[], http?: HttpReceiver): HttpReceiver {
  let shut: Promise<void> | undefined;
  return {
    async start(host: ReceiverHost) {
      let pending = parts.length;
      // One host per transport would complete the pipeline early: complete only when every transport has.
      // Delegate rather than spread: a host may keep its methods on a prototype.
      const shared: ReceiverHost =
        parts.length === 1
          ? host
          : {
              name: host.name,
              metrics: host.metrics,
              restoredPosition: host.restoredPosition,
              emit: (batch, options) => host.emit(batch, options),
              tryEmit: (batch, options) => host.tryEmit(batch, options),
              deadLetter: (entry) => host.deadLetter(entry),
              now: () => host.now(),
              complete: () => {
                if (--pending === 0) host.complete();
              },
            };
      const started: Receiver[] = [];
      try {
        for (const part of parts) {
          started.push(part);
          await part.start(shared);
        }
      } catch (err) {
        await Promise.allSettled(started.map((p) => p.shutdown()));
        throw err;
      }
    },
    shutdown() {
      shut ??= Promise.allSettled(parts.map((p) => p.shutdown())).then(() => undefined);
      return shut;
    },
    address: () => http?.address(),
  };
}

/** What `createFileHttpReceiver` runs: files, HTTP POSTs, or both, of one format. */
export interface FileHttpReceiverOptions {
  /** Read files (tailed with checkpoints when `follow`). */
  file?: FileSourceConfig | undefined;
  /** Serve POSTs (bodies decoded with `decodeHttpBody`). */
  http?: HttpServerConfig | undefined;
  /** URL paths that accept POSTs. */
  paths: readonly string[];
  /** Name, file framing and decoder of the format. */
  format: FileFormat;
}

/**
 * The usual receiver of a JSON source that is both written to files and
 * POSTed: a file receiver (when `file` is set) and an HTTP receiver serving
 * `paths` (when `http` is set), run as one with `combineReceivers`, files first.
 */
export function createFileHttpReceiver(ctx: ComponentContext, options: FileHttpReceiverOptions): HttpReceiver {
  const { file, http: httpConfig, format } = options;
  const parts: Receiver[] = [];
  if (file) parts.push(createFileReceiver(ctx, file, format));
  let http: HttpReceiver | undefined;
  if (httpConfig) {
    const route: HttpRoute = (req, host) => decodeHttpBody(req, host, format.decoder, httpConfig);
    http = createHttpReceiver(ctx, httpConfig, Object.fromEntries(options.paths.map((path) => [path, route])));
    parts.push(http);
  }
  return combineReceivers(parts, http);
}

export type UdpReceiver = Receiver & { address(): { port: number } | undefined };

/**
 * A receiver listening for datagrams. `onDatagram` decodes and emits (usually
 * `host.tryEmit`, counting refusals; UDP has no backpressure). A handler that
 * throws has its datagram dead-lettered; oversize datagrams are dead-lettered
 * with a prefix of their bytes.
 */
export function createUdpReceiver(ctx: ComponentContext, config: UdpConfig, onDatagram: (msg: Buffer, peer: UdpPeer, host: ReceiverHost) => void): UdpReceiver {
  let listener: UdpListener | undefined;
  let shut = false;
  return {
    async start(host: ReceiverHost) {
      if (shut || listener) return;
      listener = new UdpListener(config, (msg, peer) => onDatagram(msg, peer, host), {
        logger: ctx.logger,
        metrics: transportMetrics(host.metrics),
        onError: (e) =>
          host.deadLetter({
            stage: e.reason === 'handler_exception' ? 'decode' : 'receive',
            reason: e.reason,
            message: e.message,
            ...(e.raw !== undefined ? { raw: e.raw } : {}),
            ...(e.location !== undefined ? { location: e.location } : {}),
          }),
      });
      await listener.start();
    },
    async shutdown() {
      shut = true;
      await listener?.stop();
    },
    address: () => listener?.address(),
  };
}

/** A receiver fed by the host application's own HTTP server: see `createPushReceiver`. */
export interface PushReceiver extends Receiver {
  /**
   * Decode a request body with `decoder` and hand the events to the pipeline.
   * Answers like the built-in HTTP receivers: 200 when accepted (bad records
   * dead-lettered), 400 when nothing in the body decoded, 429/503 with
   * Retry-After when the pipeline is full, 503 before start or after shutdown.
   */
  handle(
    request: { body: Buffer | string; remoteAddress?: string; headers?: Record<string, string | string[] | undefined> },
    decoder: Decoder<string>,
  ): IngestResponse;
}

/**
 * A receiver without a server of its own, for services that already run one
 * (Express, Fastify, node:http): mount `receiver.handle(...)` on your routes and
 * add the receiver to a pipeline. Authentication, TLS and body limits are your
 * server's job here.
 */
export function createPushReceiver(options: { busyStatus?: 429 | 503; retryAfterSeconds?: number } = {}): PushReceiver {
  let host: ReceiverHost | undefined;
  let stopped = false;
  return {
    async start(h: ReceiverHost) {
      host = h;
    },
    async shutdown() {
      stopped = true;
    },
    handle(request, decoder) {
      if (!host || stopped) return { status: 503, body: 'receiver not running', headers: { 'Retry-After': '1' } };
      const body = typeof request.body === 'string' ? Buffer.from(request.body) : request.body;
      return decodeHttpBody(
        { method: 'POST', path: '/', headers: request.headers ?? {}, body, remoteAddress: request.remoteAddress ?? 'unknown' },
        host,
        decoder,
        options,
      );
    },
  };
}
