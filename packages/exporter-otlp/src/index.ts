import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import {
  type Alert,
  type ComponentContext,
  DeliveredKeys,
  defineComponent,
  deliveryFromConfig,
  deliveryKey,
  type Exporter,
  type ExporterDelivery,
  errorMessage,
  exporterDeliveryShape,
  PermanentError,
  RetryableError,
  usableAlerts,
  z,
} from '@outflow/core';
import { encodeKeyValues } from './mapping.js';
import { JsonWriter, writeAlert } from './writer.js';

export { ALERT_EVENT_NAME, DELIVERY_KEY_ATTRIBUTE, encodeLogRecord, SEVERITY_NUMBER, toLogRecord } from './mapping.js';
export { encodeAlert, JsonWriter, writeAlert } from './writer.js';

const gzip = promisify(gzipCallback);
const SUFFIX = Buffer.from(']}]}]}');

const httpUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL');

export const otlpConfigSchema = z
  .object({
    /** OTLP/HTTP logs endpoint (JSON encoding), including the `/v1/logs` path. */
    url: httpUrl.default('http://localhost:4318/v1/logs'),
    /** Extra request headers (authentication for a collector or vendor). */
    headers: z.record(z.string(), z.string()).default({}),
    /** Per-request timeout, ms. */
    timeoutMs: z.number().int().positive().default(10_000),
    compression: z.enum(['none', 'gzip']).default('none'),
    /** Resource attributes of every record. */
    resource: z
      .object({
        /** `service.name` */
        serviceName: z.string().min(1).default('outflow'),
        /** `service.version` */
        serviceVersion: z.string().min(1).optional(),
        /** `k8s.cluster.name` */
        cluster: z.string().min(1).optional(),
        /** `deployment.environment.name` */
        environment: z.string().min(1).optional(),
        /** Further resource attributes. */
        attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
      })
      .strict()
      .prefault({}),
    /** Most records encoded and in flight at once (bounds the exporter's memory); a larger batch is sent in rounds. */
    maxQueueSize: z.number().int().positive().default(8192),
    /** Records per OTLP request. */
    maxExportBatchSize: z.number().int().positive().default(512),
    /** Accepted for compatibility with the SDK-based versions; unused: records are sent as soon as `export` is called. */
    scheduledDelayMs: z.number().int().positive().default(1000),
    /** OTLP requests in flight at once. */
    concurrency: z.number().int().min(1).max(16).default(2),
    ...exporterDeliveryShape,
  })
  .strict();

export type OtlpExporterConfig = z.output<typeof otlpConfigSchema>;

/** Outcome of one OTLP request. */
interface Outcome {
  ok: boolean;
  status?: number;
  error?: unknown;
  /** Log records the collector reported rejecting in a partial success. */
  rejected?: number;
}

/** Statuses worth retrying (OTLP/HTTP specification: 429, 502, 503, 504; and 408 and other 5xx as transient). */
function retryable(status: number | undefined): boolean {
  return status === undefined || status === 408 || status === 429 || status >= 500;
}

/**
 * Alerts as OpenTelemetry log records over OTLP/HTTP (JSON encoding), encoded
 * directly from the alert (the same mapping as `toLogRecord`) and posted with
 * keep-alive connections, `concurrency` requests at a time.
 *
 * No silent drops: `export` resolves only when the collector accepted every
 * record of the batch. Records of a failed request are counted and the call
 * rejects — with a PermanentError for a 4xx other than 408/429, else with a
 * RetryableError — and the retry sends only the records not yet accepted
 * (accepted ones are remembered by delivery key).
 */
export class OtlpLogsExporter implements Exporter {
  readonly delivery: ExporterDelivery;
  private readonly done = new DeliveredKeys({ maxKeys: 200_000, ttlMs: 3_600_000 });
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;
  private readonly headers: Record<string, string>;
  /** `{"resourceLogs":[{"resource":...,"scopeLogs":[{"scope":...,"logRecords":[` */
  private readonly prefix: Buffer;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private shutdownPromise: Promise<void> | undefined;
  /** Records sent (first attempts and retries). */
  emitted = 0;
  /** Records the collector did not accept (each was then retried, or dead-lettered when permanent). */
  undelivered = 0;

  constructor(
    private readonly ctx: Pick<ComponentContext, 'deadLetter' | 'metrics'>,
    private readonly config: OtlpExporterConfig,
  ) {
    const delivery = deliveryFromConfig(config);
    // Batches of several requests' worth, so that `concurrency` requests overlap within one export call
    // (the export runner awaits each call): unless this exporter's own queue.batchSize says otherwise.
    if (config.queue?.batchSize === undefined) delivery.queue = { ...delivery.queue, batchSize: config.maxExportBatchSize * config.concurrency * 2 };
    this.delivery = delivery;
    this.url = new URL(config.url);
    const https = this.url.protocol === 'https:';
    this.agent = https
      ? new HttpsAgent({ keepAlive: true, maxSockets: config.concurrency })
      : new HttpAgent({ keepAlive: true, maxSockets: config.concurrency });
    this.request = https ? (httpsRequest as unknown as typeof httpRequest) : httpRequest;
    this.headers = { ...config.headers, 'content-type': 'application/json', ...(config.compression === 'gzip' ? { 'content-encoding': 'gzip' } : {}) };
    const r = config.resource;
    const resource = {
      'service.name': r.serviceName,
      ...(r.serviceVersion ? { 'service.version': r.serviceVersion } : {}),
      ...(r.cluster ? { 'k8s.cluster.name': r.cluster } : {}),
      ...(r.environment ? { 'deployment.environment.name': r.environment } : {}),
      ...r.attributes,
    };
    this.prefix = Buffer.from(
      `{"resourceLogs":[{"resource":{"attributes":${encodeKeyValues(resource)},"droppedAttributesCount":0},"scopeLogs":[{"scope":{"name":"@outflow/exporter-otlp","version":"0.1.0"},"logRecords":[`,
    );
  }

  export(batch: readonly Alert[], signal: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(new PermanentError('OTLP exporter is shut down'));
    const alerts = usableAlerts(batch, this.ctx);
    if (alerts.length === 0) return Promise.resolve();
    const run = this.chain.then(() => this.send(alerts, signal));
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async send(alerts: Alert[], signal: AbortSignal): Promise<void> {
    // Keys are remembered only for batches that were partly delivered (the runner sends those again): a batch
    // delivered whole is never sent again, so the common case costs no bookkeeping.
    const pending = this.done.size > 0 ? alerts.filter((a) => !this.done.has(deliveryKey(a))) : alerts;
    const delivered: Alert[][] = [];
    const size = Math.max(1, Math.min(this.config.maxExportBatchSize, this.config.maxQueueSize));
    const round = Math.max(size, this.config.maxQueueSize);
    const failed: Outcome[] = [];
    let missing = 0;
    for (let from = 0; from < pending.length; from += round) {
      const slice = pending.slice(from, from + round);
      const chunks: Alert[][] = [];
      for (let i = 0; i < slice.length; i += size) chunks.push(slice.slice(i, i + size));
      let next = 0;
      const worker = async () => {
        while (next < chunks.length) {
          const chunk = chunks[next++] as Alert[];
          const outcome = await this.post(chunk, signal);
          if (outcome.ok) {
            delivered.push(chunk);
            if (outcome.rejected) {
              this.ctx.metrics.add('errors', outcome.rejected, 'rejected_by_collector');
            }
          } else {
            failed.push(outcome);
            missing += chunk.length;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.config.concurrency, chunks.length) }, worker));
    }
    if (failed.length === 0) {
      // a retry of a partly delivered batch: its keys are no longer needed
      if (this.done.size > 0) for (const a of pending) this.done.delete(deliveryKey(a));
      return;
    }
    for (const chunk of delivered) for (const a of chunk) this.done.add(deliveryKey(a));
    this.undelivered += missing;
    const first = failed[0] as Outcome;
    const reason = first.status !== undefined ? `HTTP ${first.status}` : errorMessage(first.error);
    const message = `${missing} of ${pending.length} log records not accepted by ${this.config.url}: ${reason}`;
    if (failed.every((f) => !retryable(f.status))) throw new PermanentError(message, { cause: first.error });
    throw new RetryableError(message, { cause: first.error });
  }

  /** Encode and POST one request's records. Never throws: failures are outcomes. */
  private async post(chunk: readonly Alert[], signal: AbortSignal): Promise<Outcome> {
    const w = new JsonWriter(chunk.length * 3_584 + this.prefix.length + 16);
    w.bytes(this.prefix);
    for (let i = 0; i < chunk.length; i++) {
      if (i > 0) w.byte(0x2c);
      writeAlert(w, chunk[i] as Alert);
    }
    w.bytes(SUFFIX);
    this.emitted += chunk.length;
    let body: Buffer;
    try {
      body = this.config.compression === 'gzip' ? await gzip(w.view()) : w.view();
    } catch (error) {
      return { ok: false, error };
    }
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
      req.end(body);
    });
  }

  async forceFlush(): Promise<void> {
    await this.chain;
  }

  shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      this.closed = true;
      await this.chain;
      this.agent.destroy();
    })();
    return this.shutdownPromise;
  }
}

/** `otlp` exporter: alerts as OpenTelemetry log records over OTLP/HTTP. */
export const otlpLogs = defineComponent({
  type: 'otlp',
  kind: 'exporter',
  stability: 'beta',
  description:
    'Sends alerts as OpenTelemetry log records (event outflow.alert, security_rule.*, k8s.*, container.*, cloud.* attributes) over OTLP/HTTP JSON, with no silent drops.',
  schema: otlpConfigSchema,
  create: (ctx, config) => new OtlpLogsExporter(ctx, config),
});

/** Alias of `otlpLogs`. */
export const otlpExporter = otlpLogs;
