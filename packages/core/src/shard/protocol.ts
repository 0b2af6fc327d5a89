import type { Alert } from '../alert.js';
import type { Decoder } from '../contracts/receiver.js';
import type { OutflowEvent } from '../events.js';
import type { PipelineOptions, ShutdownReport } from '../runtime/pipeline.js';
import type { StatEntry } from '../telemetry.js';

/** What a shard module's `createShard` is told. */
export interface ShardInfo {
  /** This shard, 0 .. count-1. */
  index: number;
  count: number;
  /** The `data` given to `startShardedPipeline` (structured-cloned). */
  data: unknown;
}

/**
 * What a shard module returns: its pipeline, and the decoders of the raw
 * records the main thread routes to it.
 *
 * ```ts
 * // shard.js, loaded by every worker
 * export function createShard(shard) {
 *   return {
 *     pipeline: { detections: t1537(shard.data.preset), exporters: [] },
 *     formats: { aws_vpc_flow: new VpcFlowDecoder() },
 *   };
 * }
 * ```
 */
export interface ShardDefinition {
  /**
   * The shard's pipeline, as for `createPipeline`. Receivers are optional: the
   * shard's input from the main thread is added as a receiver named
   * `shard_input`, and an exporter named `shard_output` hands every alert to
   * the main thread (after the shard's own exporters, if any, got it too).
   */
  pipeline: Omit<PipelineOptions, 'receivers'> & { receivers?: PipelineOptions['receivers'] };
  /** Decoders for `sendRecords(format, ...)`, by format name. Records are decoded in the worker. */
  formats?: Readonly<Record<string, Decoder<string>>>;
}

/** Context of a batch of raw records. */
export interface RecordMeta {
  /** File path or peer the records came from (event `location`, dead-letter location). */
  location?: string;
  /** The first line of the file, for formats whose header names the fields (AWS VPC flow logs). */
  firstLine?: string;
  /** 1-based line number of each record, or of the first record (`firstLineNumber`, the rest consecutive). */
  lines?: ArrayLike<number>;
  firstLineNumber?: number;
  /** Ingest time to stamp as `observedTime`. Default: now. */
  observedTime?: number;
  /** Called once every record of the call has been processed by its shard. */
  onProcessed?: () => void;
}

/** @internal main → worker */
export type ToWorker =
  | {
      t: 'records';
      id: number;
      format: string;
      records: string[];
      lines?: Int32Array;
      location?: string;
      firstLine?: string;
      observedTime: number;
    }
  | { t: 'events'; id: number; events: OutflowEvent[] }
  | { t: 'complete' }
  | { t: 'stats'; id: number }
  | { t: 'shutdown'; deadlineMs: number };

/** @internal worker → main */
export type FromWorker =
  | { t: 'ready' }
  | { t: 'failed'; message: string }
  | { t: 'ack'; id: number }
  | { t: 'alerts'; alerts: Alert[] }
  | { t: 'done' }
  | { t: 'stats'; id: number; stats: StatEntry[] }
  | { t: 'stopped'; report: ShutdownReport };

/** @internal what each worker is started with */
export interface ShardWorkerInit {
  module: string;
  index: number;
  count: number;
  data: unknown;
}
