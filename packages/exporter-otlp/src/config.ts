import { exporterDeliveryShape, httpUrlSchema, z } from '@outflow/core';

/** Instrumentation scope of every record. */
export const SCOPE_NAME = '@outflow/exporter-otlp';
export const SCOPE_VERSION = '0.1.0';

export const otlpConfigSchema = z
  .object({
    /** OTLP/HTTP logs endpoint (JSON encoding), including the `/v1/logs` path. */
    url: httpUrlSchema.default('http://localhost:4318/v1/logs'),
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
    /**
     * How records are encoded and sent: `sdk` (default) through the OpenTelemetry logs SDK (BatchLogRecordProcessor and the
     * OTLP/HTTP exporter, one request in flight); `direct`, this package's own OTLP JSON encoder posting `concurrency` requests at once.
     */
    encoder: z.enum(['sdk', 'direct']).default('sdk'),
    /**
     * Most records between two flushes: `sdk`, the size of the SDK processor's queue (never exceeded, so it drops none);
     * `direct`, the records encoded and in flight at once. A larger batch is sent in rounds of this size.
     */
    maxQueueSize: z.number().int().positive().default(8192),
    /** Records per OTLP request (both encoders). */
    maxExportBatchSize: z.number().int().positive().default(512),
    /** `sdk` only: delay of the SDK processor's scheduled export, ms (every export call also flushes at its end). Unused by `direct`. */
    scheduledDelayMs: z.number().int().positive().default(1000),
    /** `direct` only: OTLP requests in flight at once. The `sdk` encoder sends one request at a time. */
    concurrency: z.number().int().min(1).max(16).default(2),
    ...exporterDeliveryShape,
  })
  .strict();

export type OtlpExporterConfig = z.output<typeof otlpConfigSchema>;

/** Resource attributes of every record, from the `resource` settings. */
export function resourceAttributes(config: OtlpExporterConfig): Record<string, string | number | boolean> {
  const r = config.resource;
  return {
    'service.name': r.serviceName,
    ...(r.serviceVersion ? { 'service.version': r.serviceVersion } : {}),
    ...(r.cluster ? { 'k8s.cluster.name': r.cluster } : {}),
    ...(r.environment ? { 'deployment.environment.name': r.environment } : {}),
    ...r.attributes,
  };
}
