import type { Logger as OtelLogger } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
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
import { DELIVERY_KEY_ATTRIBUTE, toLogRecord } from './mapping.js';

export { ALERT_EVENT_NAME, DELIVERY_KEY_ATTRIBUTE, SEVERITY_NUMBER, toLogRecord } from './mapping.js';

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
    /** Records the SDK's batch processor holds. The exporter never emits more than this before a flush, so none is dropped. */
    maxQueueSize: z.number().int().positive().default(8192),
    /** Records per OTLP request. */
    maxExportBatchSize: z.number().int().positive().default(512),
    /** Delay of the SDK's scheduled export, ms (exports are also flushed at the end of every batch). */
    scheduledDelayMs: z.number().int().positive().default(1000),
    ...exporterDeliveryShape,
  })
  .strict();

export type OtlpExporterConfig = z.output<typeof otlpConfigSchema>;

type ExportResultCallback = Parameters<LogRecordExporter['export']>[1];
/** `ExportResultCode.SUCCESS` of @opentelemetry/core. */
const SUCCESS = 0;

/** Wraps the OTLP exporter to see which records each request delivered or failed. */
class ObservedExporter implements LogRecordExporter {
  exported = 0;
  failed = 0;
  lastError: unknown;

  constructor(
    private readonly inner: LogRecordExporter,
    private readonly done: DeliveredKeys,
  ) {}

  export(records: ReadableLogRecord[], resultCallback: ExportResultCallback): void {
    this.inner.export(records, (result) => {
      if (result.code === SUCCESS) {
        this.exported += records.length;
        for (const r of records) {
          const key = r.attributes[DELIVERY_KEY_ATTRIBUTE];
          if (typeof key === 'string') this.done.add(key);
        }
      } else {
        this.failed += records.length;
        this.lastError = result.error ?? new Error('OTLP export failed');
      }
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/**
 * Alerts as OpenTelemetry log records, through the logs SDK's
 * BatchLogRecordProcessor and the OTLP/HTTP (JSON) exporter.
 *
 * The SDK's processor drops records silently once its queue is full; this
 * exporter never lets that happen: it emits at most `maxQueueSize` records
 * between flushes and awaits each flush (backpressure reaches the pipeline
 * through the export queue). Records the SDK still failed to send (a collector
 * error, a timeout, a drop) are detected per delivery key: counted, and the
 * export rejects with a RetryableError so only those are sent again.
 */
export class OtlpLogsExporter implements Exporter {
  readonly delivery: ExporterDelivery;
  private readonly provider: LoggerProvider;
  private readonly logger: OtelLogger;
  private readonly observed: ObservedExporter;
  private readonly done = new DeliveredKeys({ maxKeys: 200_000, ttlMs: 3_600_000 });
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private shutdownPromise: Promise<void> | undefined;
  /** Records emitted into the SDK. */
  emitted = 0;
  /** Records the SDK dropped or failed to deliver (each was then retried). */
  undelivered = 0;

  constructor(
    private readonly ctx: Pick<ComponentContext, 'deadLetter' | 'metrics'>,
    private readonly config: OtlpExporterConfig,
  ) {
    this.delivery = deliveryFromConfig(config);
    const inner = new OTLPLogExporter({
      url: config.url,
      headers: config.headers,
      timeoutMillis: config.timeoutMs,
      ...(config.compression === 'gzip' ? { compression: 'gzip' as never } : {}),
    });
    this.observed = new ObservedExporter(inner, this.done);
    const r = config.resource;
    const processor = new BatchLogRecordProcessor({
      exporter: this.observed,
      maxQueueSize: config.maxQueueSize,
      maxExportBatchSize: Math.min(config.maxExportBatchSize, config.maxQueueSize),
      scheduledDelayMillis: config.scheduledDelayMs,
      exportTimeoutMillis: config.timeoutMs + 1000,
    });
    this.provider = new LoggerProvider({
      resource: resourceFromAttributes({
        'service.name': r.serviceName,
        ...(r.serviceVersion ? { 'service.version': r.serviceVersion } : {}),
        ...(r.cluster ? { 'k8s.cluster.name': r.cluster } : {}),
        ...(r.environment ? { 'deployment.environment.name': r.environment } : {}),
        ...r.attributes,
      }),
      processors: [processor],
      logRecordLimits: { attributeCountLimit: 1024 },
    });
    this.logger = this.provider.getLogger('@outflow/exporter-otlp', '0.1.0');
  }

  export(batch: readonly Alert[], _signal: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(new PermanentError('OTLP exporter is shut down'));
    const alerts = usableAlerts(batch, this.ctx);
    if (alerts.length === 0) return Promise.resolve();
    const run = this.chain.then(() => this.send(alerts));
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async send(alerts: Alert[]): Promise<void> {
    const pending = alerts.filter((a) => !this.done.has(deliveryKey(a)));
    const room = this.config.maxQueueSize;
    for (let i = 0; i < pending.length; i += room) {
      const chunk = pending.slice(i, i + room);
      const failedBefore = this.observed.failed;
      for (const alert of chunk) this.logger.emit(toLogRecord(alert));
      this.emitted += chunk.length;
      await this.provider.forceFlush();
      const missing = chunk.filter((a) => !this.done.has(deliveryKey(a)));
      if (missing.length === 0) continue;
      this.undelivered += missing.length;
      const failed = this.observed.failed - failedBefore;
      if (failed === 0) this.ctx.metrics.add('errors', missing.length, 'sdk_dropped');
      const error = this.observed.lastError as { code?: unknown; message?: string } | undefined;
      const status = typeof error?.code === 'number' ? error.code : undefined;
      const message = `${missing.length} of ${chunk.length} log records not accepted by ${this.config.url}: ${failed === 0 ? 'dropped by the SDK' : errorMessage(error)}`;
      if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) throw new PermanentError(message, { cause: error });
      throw new RetryableError(message, { cause: error });
    }
  }

  async forceFlush(): Promise<void> {
    await this.chain;
    await this.provider.forceFlush();
  }

  shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      this.closed = true;
      await this.chain;
      await this.provider.shutdown();
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
