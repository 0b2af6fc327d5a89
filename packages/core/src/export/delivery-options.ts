import { z } from 'zod';
import type { RetryOptions } from '../runtime/retry.js';
import { type AlertRoute, alertRouteSchema } from './route.js';

/** Zod schema of an http:// or https:// URL (an exporter's endpoint). */
export const httpUrlSchema = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL');

/** Queue settings of one exporter. */
export interface ExporterQueueSettings {
  /** Alerts queued. Default 10 000. */
  capacity?: number;
  /** When full: `block` (backpressure on the pipeline) or `drop_newest` (counted). Default `block`. */
  policy?: 'block' | 'drop_newest';
  /** Most alerts per export call. Default 512. */
  batchSize?: number;
}

/**
 * Delivery settings an exporter carries in its own configuration (every
 * exporter of Outflow accepts these keys). An exporter exposes them as its
 * `delivery` property; the pipeline's export runner applies them.
 */
export interface ExporterDelivery {
  route?: AlertRoute;
  /** Static fields added to the labels of every alert this exporter delivers (the alert's own labels win). */
  labels?: Readonly<Record<string, string>>;
  queue?: ExporterQueueSettings;
  retry?: Pick<RetryOptions, 'maxAttempts' | 'initialDelayMs' | 'maxDelayMs' | 'maxElapsedMs'>;
}

/** An exporter that carries delivery settings from its configuration. */
export interface ExporterWithDelivery {
  readonly delivery?: ExporterDelivery;
}

const positiveInt = z.number().int().positive();

/**
 * Zod shape of the delivery keys, to spread into an exporter's config schema:
 * `z.object({ url: z.string(), ...exporterDeliveryShape }).strict()`.
 */
export const exporterDeliveryShape = {
  route: alertRouteSchema.optional(),
  labels: z.record(z.string(), z.string()).optional(),
  queue: z
    .object({
      capacity: positiveInt.optional(),
      policy: z.enum(['block', 'drop_newest']).optional(),
      batchSize: positiveInt.optional(),
    })
    .strict()
    .optional(),
  retry: z
    .object({
      maxAttempts: positiveInt.optional(),
      initialDelayMs: z.number().nonnegative().optional(),
      maxDelayMs: z.number().nonnegative().optional(),
      maxElapsedMs: z.number().nonnegative().optional(),
    })
    .strict()
    .optional(),
};

/** Pick the delivery keys out of a validated exporter config. */
export function deliveryFromConfig(config: {
  route?: AlertRoute | undefined;
  labels?: Readonly<Record<string, string>> | undefined;
  queue?: ExporterQueueSettings | undefined;
  retry?: ExporterDelivery['retry'] | undefined;
}): ExporterDelivery {
  return {
    ...(config.route ? { route: config.route } : {}),
    ...(config.labels ? { labels: config.labels } : {}),
    ...(config.queue ? { queue: config.queue } : {}),
    ...(config.retry ? { retry: config.retry } : {}),
  };
}
