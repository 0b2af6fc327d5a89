import type { OutflowEvent } from '../events.js';
import type { CheckpointHandle } from '../state/checkpoint.js';

/**
 * Runs on every event before detections see it: enrichment (workload identity,
 * destination class), filtering, normalization.
 *
 * `process` is called once per event, synchronously, on the hot path: keep it
 * allocation-light. It may enrich the event in place and return it, return a
 * replacement, or return `undefined` to drop it (counted as `dropped{reason=filtered}`).
 * An exception is counted, the event dead-lettered, and the stream goes on.
 */
export interface Processor {
  /** Name for metrics and checkpoints (unique within its bundle); default `processor<index>`. */
  readonly name?: string;
  /**
   * State worth keeping across restarts (an IP → workload index learned from
   * the audit stream, bucket owners learned from CloudTrail): saved with each
   * pipeline checkpoint and restored at start, like a detection's.
   */
  readonly checkpoint?: CheckpointHandle;
  process(event: OutflowEvent): OutflowEvent | undefined;
  /** Optional async setup (open a watch, load an inventory). */
  start?(): Promise<void> | void;
  shutdown?(): Promise<void> | void;
}
