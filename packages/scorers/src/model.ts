import type { Baseline, Score, ScoreExplanation, Scorer } from '@outflow/core';

/** A baseline and the scorer that reads it: what `detect` takes. */
export interface Model<S, F> {
  baseline: Baseline<S, F>;
  scorer: Scorer<S, F>;
}

export type Direction = 'up' | 'down' | 'both';

/** Fill the baseline part of an explanation (age, samples) for a score at `time`. */
export function explanation<S>(
  baseline: Baseline<S, never> | Baseline<S, unknown>,
  state: S,
  time: number,
  scorer: string,
  observed: string,
  expected: string,
  details?: Record<string, number | string | boolean>,
): ScoreExplanation {
  const samples = (baseline as Baseline<S, unknown>).samples(state);
  const since = samples > 0 ? (baseline as Baseline<S, unknown>).since(state) : time;
  const age = Number.isFinite(time) && time > since ? time - since : 0;
  const out: ScoreExplanation = { scorer, observed, expected, baselineAgeMs: age, samples };
  if (details) out.details = details;
  return out;
}

/** A score of nothing (bad input, nothing learned): value 0, probability 0. */
export function emptyScore<S>(baseline: Baseline<S, unknown>, state: S, time: number, scorer: string, observed: string, why: string): Score {
  return { value: 0, probability: 0, explanation: explanation(baseline, state, time, scorer, observed, why) };
}
