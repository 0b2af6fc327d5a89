import type { MomentsView, QuantileView } from '@outflow/baselines';
import { type Baseline, parseConfig, type Score, type Scorer, z } from '@outflow/core';
import { formatNumber } from './format.js';
import { zProbability } from './math.js';
import { type Direction, emptyScore, explanation } from './model.js';

export const directionSchema = z.enum(['up', 'down', 'both']);

export const zScoreSchema = z
  .object({
    /** Which departures count: above the mean (`up`), below it (`down`) or either. */
    direction: directionSchema.default('both'),
    /** Floor on the standard deviation, in the feature's unit. */
    minStd: z.number().nonnegative().default(0),
    /** Floor on the standard deviation relative to |mean| (0.01 = 1 %), so a near-constant baseline does not turn noise into certainty. */
    minRelStd: z.number().nonnegative().default(0.01),
    /** Observations the estimate needs (a seasonal bucket's own count) before it scores; below, probability 0. */
    minSupport: z.number().int().nonnegative().default(1),
  })
  .strict();

export type ZScoreConfigInput = z.input<typeof zScoreSchema>;

function directed(z: number, direction: Direction): number {
  return direction === 'up' ? z : direction === 'down' ? -z : Math.abs(z);
}

/**
 * z-score against a baseline's mean and variance (ewma, welford, seasonal,
 * quantile_sketch, distinct_count). `value` is the z value in the chosen
 * direction; `probability` its two-sided normal confidence, 1 − 2·P(Z > z).
 */
export class ZScoreScorer<S> implements Scorer<S, number> {
  readonly type = 'z_score';
  readonly config: z.output<typeof zScoreSchema>;

  constructor(
    private readonly baseline: Baseline<S, number> & MomentsView<S>,
    config: ZScoreConfigInput = {},
  ) {
    this.config = parseConfig(zScoreSchema, config, '', 'Invalid scorer "z_score" configuration');
  }

  private std(mean: number, variance: number): number {
    const sd = Math.sqrt(Math.max(variance, 0));
    const floor = Math.max(this.config.minStd, this.config.minRelStd * Math.abs(mean));
    return Math.max(sd, floor);
  }

  /** The directed z value, or undefined when it cannot be computed. */
  z(state: S, x: number, time: number): number | undefined {
    if (typeof x !== 'number' || !Number.isFinite(x)) return undefined;
    const b = this.baseline;
    if (b.support(state, time) < Math.max(1, this.config.minSupport)) return undefined;
    const mean = b.mean(state, time);
    const sd = this.std(mean, b.variance(state, time));
    const diff = x - mean;
    const z = sd > 0 ? diff / sd : diff === 0 ? 0 : diff > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
    return directed(z, this.config.direction);
  }

  probability(state: S, x: number, time: number): number {
    const z = this.z(state, x, time);
    return z === undefined ? 0 : zProbability(z);
  }

  value(state: S, x: number, time: number): number {
    return this.z(state, x, time) ?? 0;
  }

  score(state: S, x: number, time: number): Score {
    const z = this.z(state, x, time);
    if (z === undefined) {
      const why = typeof x === 'number' && Number.isFinite(x) ? 'nothing learned yet' : 'not a finite number';
      return emptyScore(this.baseline, state, time, this.type, String(x), why);
    }
    const mean = this.baseline.mean(state, time);
    const sd = this.std(mean, this.baseline.variance(state, time));
    return {
      value: z,
      probability: zProbability(z),
      explanation: explanation(this.baseline, state, time, this.type, formatNumber(x), `${formatNumber(mean)} ± ${formatNumber(sd)} (mean ± σ)`, {
        z,
        mean,
        std: sd,
        direction: this.config.direction,
      }),
    };
  }
}

export const robustZSchema = z
  .object({
    direction: directionSchema.default('both'),
    /** Floor on the scaled MAD, in the feature's unit. */
    minMad: z.number().nonnegative().default(0),
    /** Floor on the scaled MAD relative to |median|. */
    minRelMad: z.number().nonnegative().default(0.01),
  })
  .strict();

export type RobustZConfigInput = z.input<typeof robustZSchema>;

/** MAD × 1.4826 estimates σ for normal data. */
export const MAD_SCALE = 1.4826;

/**
 * Robust z: distance from the median in units of the scaled median absolute
 * deviation (quantile_sketch). Outliers in what was learned barely move it.
 */
export class RobustZScorer<S> implements Scorer<S, number> {
  readonly type = 'robust_z';
  readonly config: z.output<typeof robustZSchema>;

  constructor(
    private readonly baseline: Baseline<S, number> & QuantileView<S>,
    config: RobustZConfigInput = {},
  ) {
    this.config = parseConfig(robustZSchema, config, '', 'Invalid scorer "robust_z" configuration');
  }

  private scale(median: number, mad: number): number {
    const s = MAD_SCALE * Math.max(mad, 0);
    const floor = Math.max(this.config.minMad, this.config.minRelMad * Math.abs(median));
    return Math.max(s, floor);
  }

  z(state: S, x: number): number | undefined {
    if (typeof x !== 'number' || !Number.isFinite(x)) return undefined;
    const median = this.baseline.median(state);
    if (Number.isNaN(median)) return undefined;
    const s = this.scale(median, this.baseline.mad(state));
    const diff = x - median;
    const z = s > 0 ? diff / s : diff === 0 ? 0 : diff > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
    return directed(z, this.config.direction);
  }

  probability(state: S, x: number): number {
    const z = this.z(state, x);
    return z === undefined ? 0 : zProbability(z);
  }

  value(state: S, x: number): number {
    return this.z(state, x) ?? 0;
  }

  score(state: S, x: number, time: number): Score {
    const z = this.z(state, x);
    if (z === undefined)
      return emptyScore(this.baseline, state, time, this.type, String(x), Number.isFinite(x) ? 'nothing learned yet' : 'not a finite number');
    const median = this.baseline.median(state);
    const mad = this.baseline.mad(state);
    return {
      value: z,
      probability: zProbability(z),
      explanation: explanation(
        this.baseline,
        state,
        time,
        this.type,
        formatNumber(x),
        `median ${formatNumber(median)} ± ${formatNumber(this.scale(median, mad))} (1.4826·MAD)`,
        { z, median, mad, direction: this.config.direction },
      ),
    };
  }
}
