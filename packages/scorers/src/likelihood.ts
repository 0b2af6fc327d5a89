import { jsonBytes } from '@outflow/baselines';
import type { Baseline, Score, Scorer } from '@outflow/core';
import { parseConfig, z } from '@outflow/core';
import { formatNumber } from './format.js';
import { clamp01, normalTail } from './math.js';
import { explanation, type Model } from './model.js';

export const likelihoodSchema = z
  .object({
    /** Raw scores averaged over this many latest observations. */
    window: z.number().int().min(1).max(1000).default(10),
    /** Observations before the likelihood says anything (probability 0.5 until then). */
    warmupSamples: z.number().int().nonnegative().default(0),
    /** Averages of the first this-many observations are left out of the distribution (the inner model is still learning). */
    skipSamples: z.number().int().nonnegative().default(0),
    /** Raw score: the inner probability, or the inner value divided by `scale` and clipped to [0, 1]. */
    input: z.enum(['probability', 'value']).default('probability'),
    scale: z.number().positive().default(1),
    /** Floors on the mean and variance of averaged raw scores. */
    minMean: z.number().nonnegative().default(0.03),
    minVariance: z.number().positive().default(0.0003),
    /** Tail probability of the "red zone"; consecutive red observations after the first are damped to `yellowZone`. */
    redZone: z.number().gt(0).lt(1).default(1e-5),
    yellowZone: z.number().gt(0).lt(1).default(1e-3),
    /** Smallest tail probability reported, so the output stays below 1. */
    floor: z.number().gt(0).lt(1e-3).default(1e-12),
  })
  .strict();

export type LikelihoodConfig = z.output<typeof likelihoodSchema>;
export type LikelihoodConfigInput = z.input<typeof likelihoodSchema>;

export interface LikelihoodState<S> {
  n: number;
  since: number;
  inner: S;
  /** Ring of the latest raw scores, its next slot and running sum. */
  ring: number[];
  next: number;
  sum: number;
  /** Running mean and sum of squares (Welford) of the averaged raw scores. */
  count: number;
  mean: number;
  m2: number;
  /** Tail probability at the previous observation (for the red-zone filter). */
  prevTail: number;
}

/**
 * Anomaly likelihood, after Numenta's HTM detector: average an inner model's
 * raw scores over a short window and ask how unusual that average is against
 * the distribution of past averages (a normal fit with floors). A key whose
 * raw scores are always noisy gets used to it; a burst of surprise stands
 * out. Only the first observation of a run in the red zone keeps its full
 * likelihood, so one incident gives one spike. `probability` is 1 − tail,
 * `value` Numenta's log scale of it (0.5 at a tail of 1e-5).
 */
export function likelihood<S, F>(inner: Model<S, F>, config: LikelihoodConfigInput = {}): Model<LikelihoodState<S>, F> {
  const c = parseConfig(likelihoodSchema, config, '', 'Invalid scorer "likelihood" configuration');
  const w = c.window;
  const rawOf = (s: S, f: F, t: number): number => {
    if (c.input === 'value') return clamp01((inner.scorer.value ? inner.scorer.value(s, f, t) : inner.scorer.score(s, f, t).value) / c.scale);
    const p = inner.scorer.probability ? inner.scorer.probability(s, f, t) : inner.scorer.score(s, f, t).probability;
    return clamp01(p);
  };
  const average = (st: LikelihoodState<S>, raw: number): number => {
    const sum = st.sum - (st.ring[st.next] as number) + raw;
    return sum / Math.min(st.n + 1, w);
  };
  /** Unfiltered tail probability of an average (1 before warm-up). */
  const tailOf = (st: LikelihoodState<S>, avg: number): number => {
    if (st.n < c.warmupSamples) return 1;
    const mean = Math.max(st.mean, c.minMean);
    const variance = st.count > 0 ? st.m2 / st.count : 0;
    const sd = Math.sqrt(Math.max(variance, c.minVariance));
    const x = avg < mean ? 2 * mean - avg : avg;
    return normalTail((x - mean) / sd);
  };
  const filtered = (st: LikelihoodState<S>, tail: number): number => {
    if (st.n < c.warmupSamples) return 0.5;
    const t = tail <= c.redZone && st.prevTail <= c.redZone ? c.yellowZone : tail;
    return Math.max(t, c.floor);
  };
  const logScale = (tail: number) => Math.min(1, Math.max(0, Math.log(tail + 1e-10) / Math.log(1e-10)));

  const baseline: Baseline<LikelihoodState<S>, F> = {
    type: `likelihood(${inner.baseline.type})`,
    init(time) {
      return {
        n: 0,
        since: time,
        inner: inner.baseline.init(time),
        ring: new Array<number>(w).fill(0),
        next: 0,
        sum: 0,
        count: 0,
        mean: 0,
        m2: 0,
        prevTail: 1,
      };
    },
    update(st, feature, time) {
      const before = inner.baseline.samples(st.inner);
      const raw = rawOf(st.inner, feature, time);
      const avg = average(st, raw);
      if (st.n >= c.warmupSamples) st.prevTail = tailOf(st, avg);
      st.inner = inner.baseline.update(st.inner, feature, time);
      if (inner.baseline.samples(st.inner) === before) return st; // the inner model rejected it: learn nothing
      st.sum += raw - (st.ring[st.next] as number);
      st.ring[st.next] = raw;
      st.next = (st.next + 1) % w;
      if (st.n >= c.skipSamples) {
        st.count++;
        const d = avg - st.mean;
        st.mean += d / st.count;
        st.m2 += d * (avg - st.mean);
      }
      if (st.n === 0) st.since = time;
      st.n++;
      return st;
    },
    samples: (st) => st.n,
    since: (st) => st.since,
    sizeOf: (st) => jsonBytes(st),
  };

  const scorer: Scorer<LikelihoodState<S>, F> = {
    type: `likelihood(${inner.scorer.type})`,
    probability(st, feature, time) {
      const tail = filtered(st, tailOf(st, average(st, rawOf(st.inner, feature, time))));
      return 1 - tail;
    },
    value(st, feature, time) {
      return logScale(filtered(st, tailOf(st, average(st, rawOf(st.inner, feature, time)))));
    },
    score(st, feature, time): Score {
      const raw = rawOf(st.inner, feature, time);
      const avg = average(st, raw);
      const unfiltered = tailOf(st, avg);
      const tail = filtered(st, unfiltered);
      const innerScore = inner.scorer.score(st.inner, feature, time);
      const variance = st.count > 0 ? st.m2 / st.count : 0;
      return {
        value: logScale(tail),
        probability: 1 - tail,
        explanation: explanation(baseline, st, time, scorer.type, innerScore.explanation.observed, innerScore.explanation.expected, {
          raw,
          averaged: avg,
          usualAverage: formatNumber(Math.max(st.mean, c.minMean)),
          usualSpread: formatNumber(Math.sqrt(Math.max(variance, c.minVariance))),
          tail: unfiltered,
          repeated: tail !== unfiltered,
        }),
      };
    },
  };
  return { baseline, scorer };
}
