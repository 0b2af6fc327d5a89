import {
  type Alert,
  type ComponentContext,
  DeliveredKeys,
  defineComponent,
  deliveryFromConfig,
  deliveryKey,
  type Exporter,
  type ExporterDelivery,
  PermanentError,
  usableAlerts,
} from '@outflow/core';
import { type OtlpExporterConfig, otlpConfigSchema } from './config.js';
import { DirectSender } from './direct.js';
import { SdkSender } from './sdk.js';
import { notAcceptedError, type Sender } from './sender.js';

export { type OtlpExporterConfig, otlpConfigSchema, resourceAttributes } from './config.js';
export { ALERT_EVENT_NAME, DELIVERY_KEY_ATTRIBUTE, encodeLogRecord, SEVERITY_NUMBER, toLogRecord } from './mapping.js';
export { encodeAlert, JsonWriter, writeAlert } from './writer.js';

/**
 * Alerts as OpenTelemetry log records over OTLP/HTTP (JSON encoding), mapped
 * by `toLogRecord`, through one of two encoders (`encoder`):
 *
 * - `sdk` (default): the OpenTelemetry logs SDK — BatchLogRecordProcessor and
 *   the OTLP/HTTP exporter of `@opentelemetry/exporter-logs-otlp-http`;
 * - `direct`: the same records written straight into the request body and
 *   posted with keep-alive connections, `concurrency` requests at a time.
 *
 * No silent drops, either way: a batch is handed to the encoder in rounds of
 * at most `maxQueueSize` records, each awaited before the next (backpressure:
 * the SDK's queue never overflows), and `export` resolves only when the
 * collector accepted every record. Records not accepted are counted
 * (`undelivered`; `errors{reason=sdk_dropped}` for records the SDK lost
 * without a failed request) and the call rejects — with a PermanentError for
 * a 4xx other than 408/429, else with a RetryableError — and the retry sends
 * only the records not yet accepted (accepted ones are remembered by delivery key).
 */
export class OtlpLogsExporter implements Exporter {
  readonly delivery: ExporterDelivery;
  private readonly done = new DeliveredKeys({ maxKeys: 200_000, ttlMs: 3_600_000 });
  private readonly sender: Sender;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private shutdownPromise: Promise<void> | undefined;
  /** Records handed to the encoder (first attempts and retries). */
  emitted = 0;
  /** Records the collector did not accept or the SDK dropped (each was then retried, or dead-lettered when permanent). */
  undelivered = 0;

  constructor(
    private readonly ctx: Pick<ComponentContext, 'deadLetter' | 'metrics'>,
    private readonly config: OtlpExporterConfig,
  ) {
    const delivery = deliveryFromConfig(config);
    // The direct encoder overlaps `concurrency` requests within one export call (the export runner awaits each call):
    // batches of several requests' worth, unless this exporter's own queue.batchSize says otherwise.
    if (config.encoder === 'direct' && config.queue?.batchSize === undefined) {
      delivery.queue = { ...delivery.queue, batchSize: config.maxExportBatchSize * config.concurrency * 2 };
    }
    this.delivery = delivery;
    this.sender = config.encoder === 'direct' ? new DirectSender(config) : new SdkSender(config);
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
    const room = this.config.maxQueueSize;
    for (let from = 0; from < pending.length; from += room) {
      const round = pending.length <= room ? pending : pending.slice(from, from + room);
      this.emitted += round.length;
      const result = await this.sender.send(round, signal);
      if (result.rejected > 0) this.ctx.metrics.add('errors', result.rejected, 'rejected_by_collector');
      if (result.missing.length === 0) continue;
      const sent = from + round.length;
      const missing = new Set(result.missing);
      for (let i = 0; i < sent; i++) {
        const a = pending[i] as Alert;
        if (!missing.has(a)) this.done.add(deliveryKey(a));
      }
      this.undelivered += missing.size;
      if (result.dropped > 0) this.ctx.metrics.add('errors', result.dropped, 'sdk_dropped');
      throw notAcceptedError(this.config.url, result, round.length, pending.length - sent);
    }
    // a retry of a partly delivered batch completed: its keys are no longer needed
    if (this.done.size > 0) for (const a of alerts) this.done.delete(deliveryKey(a));
  }

  async forceFlush(): Promise<void> {
    // every export call ends with its records accepted or failed: nothing stays buffered in between
    await this.chain;
  }

  shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      this.closed = true;
      await this.chain;
      await this.sender.shutdown();
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
    'Sends alerts as OpenTelemetry log records (event outflow.alert, security_rule.*, k8s.*, container.*, cloud.* attributes) over OTLP/HTTP JSON, through the OpenTelemetry logs SDK or a direct encoder, with no silent drops.',
  schema: otlpConfigSchema,
  create: (ctx, config) => new OtlpLogsExporter(ctx, config),
});

/** Alias of `otlpLogs`. */
export const otlpExporter = otlpLogs;
