import type { Observable, SchedulerLike } from 'rxjs';
import type { Alert, Finding } from '../alert.js';
import type { ComponentContext } from '../component.js';
import type { EventKind, OutflowEvent } from '../events.js';
import type { CheckpointHandle } from '../state/checkpoint.js';
import type { Processor } from './processor.js';

/** What a detection gets besides its input stream. */
export interface DetectionContext extends ComponentContext {
  /**
   * Event-time watermark: no event older than this is expected any more.
   * Emits after each batch in which it advanced, and `+Infinity` when every
   * finite source has completed. Window operators fire on it.
   */
  readonly watermark$: Observable<number>;
  /** Alerts of the whole pipeline after hygiene, for correlation detections. Filter out your own. */
  readonly alerts$: Observable<Alert>;
  /** Current watermark value. */
  watermark(): number;
  /** Send an event that came too late for its window to the late side output (counted). */
  late(event: OutflowEvent, reason?: string): void;
  /**
   * Report an exception raised while handling `event`: counted as an error and
   * dead-lettered with the event. Use inside operators that catch per event.
   */
  reportError(error: unknown, event?: unknown): void;
  /** Register keyed state so its size shows in the `state_keys` gauge. */
  registerState(name: string, state: { readonly size: number }): void;
  /**
   * Register state to checkpoint under `name` (unique within the detection).
   * When the pipeline was restored from a checkpoint holding state for this
   * detection and name with the same `version`, `handle.restore` is called
   * right away with it; with another version the state is dropped (counted as
   * `errors{reason=checkpoint_version_mismatch}`) and the operator relearns.
   */
  registerCheckpoint(name: string, handle: CheckpointHandle): void;
  readonly scheduler: SchedulerLike;
}

/**
 * An analytic. `connect` is called once at start with the stream of events of
 * the kinds it declares and returns the stream of its findings.
 *
 * Exceptions must not escape per event: build with the error-isolating
 * operators of core (`safeMap`, `rule`, `detect`, windows) or catch yourself
 * and call `ctx.reportError`. If the returned stream errors anyway, the
 * pipeline counts and dead-letters it and reconnects the detection (its
 * operator state is lost; a warning is logged).
 */
export interface Detection {
  readonly id: string;
  readonly title: string;
  /** Event kinds routed to this detection. Omit to receive every event. */
  readonly kinds?: readonly EventKind[];
  connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding>;
}

/** Decides whether a finding is suppressed (an exception, a suppression window). Returns the reason when it is. */
export interface FindingSuppressor {
  readonly name: string;
  check(finding: Finding): string | undefined;
}

/** Several detections and the processors and suppressors they need, as one unit (a preset such as `t1537`). */
export interface DetectionBundle {
  readonly detections: readonly Detection[];
  /** Run before the detections, in order (enrichers). */
  readonly processors?: readonly Processor[];
  /** Applied to every finding of the pipeline, after the pipeline's own suppressors. */
  readonly suppressors?: readonly FindingSuppressor[];
}

export function isDetectionBundle(value: unknown): value is DetectionBundle {
  return typeof value === 'object' && value !== null && Array.isArray((value as DetectionBundle).detections);
}
