import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { z } from '@outflow/core';
import { DEFAULT_PREFIX } from './keys.js';

const ms = (n: number) => n * 1_000_000; // JetStream durations are nanoseconds

/** Settings of the events stream (created when missing; an existing stream is used as it is). */
export const eventsStreamSchema = z
  .object({
    /** Stream name. */
    name: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only')
      .default('OUTFLOW_EVENTS'),
    /** Subject prefix: the stream stores `<prefix>.events.<partition>`. */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'a subject prefix without wildcards')
      .default(DEFAULT_PREFIX),
    /** Number of partitions; must equal the `partition(N,1)` of the server's subject mapping. */
    partitions: z.number().int().min(1).max(1024).default(12),
    /**
     * Events older than this are removed (ms). Must exceed the checkpoint
     * interval plus the time a partition takes to move, or a restored owner
     * finds its position gone (counted `errors{reason=position_expired}`).
     */
    maxAgeMs: z
      .number()
      .int()
      .positive()
      .default(7 * 86_400_000),
    /** Most bytes kept (oldest removed first); 0 for no limit. */
    maxBytes: z.number().int().nonnegative().default(0),
    /** Publishes with a `Nats-Msg-Id` seen within this window are dropped as duplicates (ms). */
    duplicateWindowMs: z.number().int().positive().default(600_000),
    storage: z.enum(['file', 'memory']).default('file'),
    replicas: z.number().int().min(1).max(5).default(1),
  })
  .strict();

export type EventsStreamConfig = z.output<typeof eventsStreamSchema>;

/** Settings of the alerts stream. */
export const alertsStreamSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only')
      .default('OUTFLOW_ALERTS'),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'a subject prefix without wildcards')
      .default(DEFAULT_PREFIX),
    /** Alerts older than this are removed (ms). */
    maxAgeMs: z
      .number()
      .int()
      .positive()
      .default(30 * 86_400_000),
    /**
     * A delivery whose key (`Nats-Msg-Id` = the alert's delivery key) was seen
     * within this window is dropped by the server (ms): covers a detector's
     * replay after a crash or a partition move.
     */
    duplicateWindowMs: z.number().int().positive().default(3_600_000),
    storage: z.enum(['file', 'memory']).default('file'),
    replicas: z.number().int().min(1).max(5).default(1),
  })
  .strict();

export type AlertsStreamConfig = z.output<typeof alertsStreamSchema>;

function isNotFound(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

async function ensure(jsm: JetStreamManager, name: string, subjects: string[], config: Record<string, unknown>): Promise<void> {
  try {
    const info = await jsm.streams.info(name);
    const missing = subjects.filter((s) => !info.config.subjects?.includes(s));
    if (missing.length > 0) await jsm.streams.update(name, { ...info.config, subjects: [...(info.config.subjects ?? []), ...missing] });
    return;
  } catch (err) {
    if (!isNotFound(err, JetStreamApiCodes.StreamNotFound)) throw err;
  }
  try {
    await jsm.streams.add({ name, subjects, ...config });
  } catch (err) {
    // Another instance created it in between: fine.
    if (!/already in use|exists/i.test(String((err as Error)?.message))) throw err;
  }
}

/** Create the events stream unless it exists. Retention: limits (age, bytes), so positions can be replayed after a restore. */
export async function ensureEventsStream(jsm: JetStreamManager, config: EventsStreamConfig): Promise<void> {
  await ensure(jsm, config.name, [`${config.prefix}.events.*`], {
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    storage: config.storage === 'memory' ? StorageType.Memory : StorageType.File,
    num_replicas: config.replicas,
    max_age: ms(config.maxAgeMs),
    max_bytes: config.maxBytes > 0 ? config.maxBytes : -1,
    duplicate_window: ms(config.duplicateWindowMs),
    description: `Outflow events in ${config.partitions} partitions (${config.prefix}.events.<0..${config.partitions - 1}>)`,
  });
}

/** Create the alerts stream unless it exists. */
export async function ensureAlertsStream(jsm: JetStreamManager, config: AlertsStreamConfig): Promise<void> {
  await ensure(jsm, config.name, [`${config.prefix}.alerts.>`], {
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    storage: config.storage === 'memory' ? StorageType.Memory : StorageType.File,
    num_replicas: config.replicas,
    max_age: ms(config.maxAgeMs),
    duplicate_window: ms(config.duplicateWindowMs),
    description: 'Outflow alerts, one message per delivery (Nats-Msg-Id = delivery key)',
  });
}

export { isNotFound, ms as nanos };
