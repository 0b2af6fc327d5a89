import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { Alert } from '@outflow/core';
import { type OtlpExporterConfig, resourceAttributes, SCOPE_NAME, SCOPE_VERSION } from './config.js';
import { encodeKeyValues } from './mapping.js';
import type { Failure, RoundResult, Sender } from './sender.js';
import { JsonWriter, writeAlert } from './writer.js';

const gzip = promisify(gzipCallback);
const SUFFIX = Buffer.from(']}]}]}');

/** Outcome of one OTLP request. */
type Outcome = { ok: true; rejected: number } | ({ ok: false } & Omit<Failure, 'records'>);

/**
 * The `direct` encoder: records written straight into the OTLP JSON request body
 * (`writeAlert`, the same record as `encodeLogRecord(toLogRecord(alert))`) and
 * posted with keep-alive connections, `concurrency` requests at a time.
 */
export class DirectSender implements Sender {
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;
  private readonly headers: Record<string, string>;
  /** `{"resourceLogs":[{"resource":...,"scopeLogs":[{"scope":...,"logRecords":[` */
  private readonly prefix: Buffer;
  /**
   * Writers whose last body is no longer referenced (its request finished writing it and was answered), reused for
   * the next bodies: a request body is about 1.8 MB, and a fresh one per request (grown, then collected) cost more
   * than writing it.
   */
  private readonly writers: JsonWriter[] = [];
  /** Bytes per record of the last body: the size a new writer starts with. */
  private recordBytes = 3_584;

  constructor(private readonly config: OtlpExporterConfig) {
    this.url = new URL(config.url);
    const https = this.url.protocol === 'https:';
    this.agent = https
      ? new HttpsAgent({ keepAlive: true, maxSockets: config.concurrency })
      : new HttpAgent({ keepAlive: true, maxSockets: config.concurrency });
    this.request = https ? (httpsRequest as unknown as typeof httpRequest) : httpRequest;
    this.headers = { ...config.headers, 'content-type': 'application/json', ...(config.compression === 'gzip' ? { 'content-encoding': 'gzip' } : {}) };
    this.prefix = Buffer.from(
      `{"resourceLogs":[{"resource":{"attributes":${encodeKeyValues(resourceAttributes(config))},"droppedAttributesCount":0},"scopeLogs":[{"scope":{"name":${JSON.stringify(SCOPE_NAME)},"version":${JSON.stringify(SCOPE_VERSION)}},"logRecords":[`,
    );
  }

  async send(alerts: readonly Alert[], signal: AbortSignal): Promise<RoundResult> {
    const size = Math.max(1, this.config.maxExportBatchSize);
    const chunks: (readonly Alert[])[] = [];
    for (let i = 0; i < alerts.length; i += size) chunks.push(alerts.length <= size ? alerts : alerts.slice(i, i + size));
    const missing: Alert[] = [];
    const failures: Failure[] = [];
    let rejected = 0;
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++] as readonly Alert[];
        const outcome = await this.post(chunk, signal);
        if (outcome.ok) rejected += outcome.rejected;
        else {
          failures.push({ status: outcome.status, error: outcome.error, records: chunk.length });
          missing.push(...chunk);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.config.concurrency, chunks.length) }, worker));
    return { missing, failures, dropped: 0, rejected };
  }

  /** Encode and POST one request's records. Never throws: failures are outcomes. */
  private async post(chunk: readonly Alert[], signal: AbortSignal): Promise<Outcome> {
    const w = this.writers.pop() ?? new JsonWriter(Math.ceil(chunk.length * this.recordBytes * 1.25) + this.prefix.length + 16);
    w.reset();
    w.bytes(this.prefix);
    for (let i = 0; i < chunk.length; i++) {
      if (i > 0) w.byte(0x2c);
      writeAlert(w, chunk[i] as Alert);
    }
    w.bytes(SUFFIX);
    this.recordBytes = Math.max(64, Math.ceil(w.pos / chunk.length));
    let body: Buffer;
    let shared = true;
    try {
      if (this.config.compression === 'gzip') {
        body = await gzip(w.view());
        shared = false;
      } else body = w.view();
    } catch (error) {
      this.writers.push(w);
      return { ok: false, error };
    }
    if (!shared) this.writers.push(w);
    const timeout = AbortSignal.timeout(this.config.timeoutMs);
    const abort = AbortSignal.any([signal, timeout]);
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const settle = (o: Outcome) => {
        if (settled) return;
        settled = true;
        resolve(o);
      };
      const req = this.request(
        this.url,
        { method: 'POST', agent: this.agent, headers: { ...this.headers, 'content-length': String(body.length) }, signal: abort },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let length = 0;
          res.on('data', (c: Buffer) => {
            // a response body is small (`{}` or a partial success); do not buffer an oversized one
            if (length < 65_536) chunks.push(c);
            length += c.length;
          });
          res.on('error', (error) => settle({ ok: false, error }));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) {
              settle({ ok: false, status });
              return;
            }
            let rejected = 0;
            if (length > 2 && length < 65_536) {
              try {
                const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { partialSuccess?: { rejectedLogRecords?: unknown } };
                rejected = Number(parsed.partialSuccess?.rejectedLogRecords ?? 0) || 0;
              } catch {
                // not JSON: a 2xx is still an acceptance
              }
            }
            settle({ ok: true, rejected });
          });
        },
      );
      req.on('error', (error) => settle({ ok: false, error: timeout.aborted ? new Error(`OTLP request timed out after ${this.config.timeoutMs} ms`) : error }));
      if (shared) {
        // The body is the writer's buffer: it is reused only once the request wrote all of it ('finish') and is over
        // ('close'). A request that never finished writing leaves its writer to the garbage collector.
        let finished = false;
        req.once('finish', () => {
          finished = true;
        });
        req.once('close', () => {
          if (finished && this.writers.length < this.config.concurrency) this.writers.push(w);
        });
      }
      req.end(body);
    });
  }

  async shutdown(): Promise<void> {
    this.agent.destroy();
  }
}
