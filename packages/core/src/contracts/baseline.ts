/**
 * Baselines learn what is normal for one key; scorers rate an observation
 * against what a baseline learned. State is plain data (JSON-serialisable) so
 * it can be snapshot, checkpointed and restored.
 */

/** Learns one key's normal. Pure: returns the new state (may mutate and return the same object). */
export interface Baseline<S, F> {
  readonly type: string;
  init(time: number): S;
  update(state: S, feature: F, time: number): S;
  /** Number of observations learned. */
  samples(state: S): number;
  /** Event time of the first observation learned. */
  since(state: S): number;
  /** Approximate retained size of one key's state in bytes (for bounded-memory checks). */
  sizeOf?(state: S): number;
}

/** Why a score is what it is. */
export interface ScoreExplanation {
  scorer: string;
  /** The observed value, rendered for humans. */
  observed: string;
  /** The expected value or range, rendered for humans. */
  expected: string;
  /** Age of the baseline (ms of event time) and its sample count. */
  baselineAgeMs: number;
  samples: number;
  details?: Readonly<Record<string, number | string | boolean>>;
}

/** Higher is more anomalous. `value` is in the scorer's own unit (a z value); `probability` maps it to [0, 1] for combining and thresholds. */
export interface Score {
  value: number;
  probability: number;
  explanation: ScoreExplanation;
}

export interface Scorer<S, F> {
  readonly type: string;
  score(state: S, feature: F, time: number): Score;
  /**
   * Optional fast path: the same number as `score(state, feature, time).probability`,
   * without building the explanation. Per-event callers (the `detect` operator)
   * use it and build the full Score only for what crosses their threshold.
   */
  probability?(state: S, feature: F, time: number): number;
  /** Optional fast path: the same number as `score(state, feature, time).value`, without building the explanation. */
  value?(state: S, feature: F, time: number): number;
}
