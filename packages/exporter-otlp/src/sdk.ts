import type { Logger as OtelLogger } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { type Alert, deliveryKey } from '@outflow/core';
import { type OtlpExporterConfig, resourceAttributes, SCOPE_NAME, SCOPE_VERSION } from './config.js';
import { DELIVERY_KEY_ATTRIBUTE, toLogRecord } from './mapping.js';
import type { Failure, RoundResult, Sender } from './sender.js';

type ExportResultCallback = Parameters<LogRecordExporter['export']>[1];
/** `ExportResultCode.SUCCESS` of @opentelemetry/core. */
const SUCCESS = 0;

/** What the OTLP exporter reported for the records of one round. */
interface Round {
  /** Delivery keys of the records in requests the collector accepted. */
  accepted: Set<string>;
  failures: Failure[];
}

/** Wraps the SDK's OTLP exporter to see which records each of its requests delivered or failed. */
class ObservedExporter implements LogRecordExporter {
  round: Round | undefined;

  constructor(private readonly inner: LogRecordExporter) {}

  export(records: ReadableLogRecord[], resultCallback: ExportResultCallback): void {
    const round = this.round;
    this.inner.export(records, (result) => {
      if (round && result.code === SUCCESS) {
        for (const r of records) {
          const key = r.attributes[DELIVERY_KEY_ATTRIBUTE];
          if (typeof key === 'string') round.accepted.add(key);
        }
      } else if (round) {
        const error = result.error ?? new Error('OTLP export failed');
        // OTLPExporterError carries the HTTP status as `code` (a network error's code is a string)
        const code = (error as { code?: unknown }).code;
        round.failures.push({ status: typeof code === 'number' ? code : undefined, error, records: records.length });
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
 * The `sdk` encoder: records emitted into the OpenTelemetry logs SDK
 * (`toLogRecord`), batched by its BatchLogRecordProcessor and sent by the
 * OTLP/HTTP JSON exporter, one request at a time.
 *
 * The processor drops records silently once its queue (`maxQueueSize`) is
 * full; a round is never larger than the queue and ends with an awaited
 * flush, so it never fills (backpressure instead of drops). What the SDK
 * still failed to send is found per delivery key: a failed request, or a
 * record that no request carried (`dropped`).
 */
export class SdkSender implements Sender {
  private readonly provider: LoggerProvider;
  private readonly logger: OtelLogger;
  private readonly observed: ObservedExporter;

  constructor(config: OtlpExporterConfig) {
    this.observed = new ObservedExporter(
      new OTLPLogExporter({
        url: config.url,
        headers: config.headers,
        timeoutMillis: config.timeoutMs,
        ...(config.compression === 'gzip' ? { compression: 'gzip' as never } : {}),
      }),
    );
    const processor = new BatchLogRecordProcessor({
      exporter: this.observed,
      maxQueueSize: config.maxQueueSize,
      maxExportBatchSize: Math.min(config.maxExportBatchSize, config.maxQueueSize),
      scheduledDelayMillis: config.scheduledDelayMs,
      exportTimeoutMillis: config.timeoutMs + 1000,
    });
    this.provider = new LoggerProvider({
      resource: resourceFromAttributes(resourceAttributes(config)),
      processors: [processor],
      logRecordLimits: { attributeCountLimit: 1024 },
    });
    this.logger = this.provider.getLogger(SCOPE_NAME, SCOPE_VERSION);
  }

  async send(alerts: readonly Alert[], _signal: AbortSignal): Promise<RoundResult> {
    const round: Round = { accepted: new Set(), failures: [] };
    this.observed.round = round;
    let thrown: { error: unknown } | undefined;
    try {
      for (const alert of alerts) this.logger.emit(toLogRecord(alert));
      await this.provider.forceFlush();
    } catch (error) {
      thrown = { error };
    } finally {
      this.observed.round = undefined;
    }
    const missing = alerts.filter((a) => !round.accepted.has(deliveryKey(a)));
    const failed = round.failures.reduce((n, f) => n + f.records, 0);
    // the SDK threw: what no request reported on failed with it
    if (thrown) round.failures.push({ error: thrown.error, records: Math.max(0, missing.length - failed) });
    const unreported = missing.length - round.failures.reduce((n, f) => n + f.records, 0);
    return { missing, failures: round.failures, dropped: Math.max(0, unreported), rejected: 0 };
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
