import type { QuantileView, RangeView } from '@outflow/baselines';
import { type Baseline, parseConfig, type Score, type Scorer, z } from '@outflow/core';
import { formatNumber } from './format.js';
import { emptyScore, explanation } from './model.js';
import { directionSchema } from './z-score.js';

export const quantileExceedanceSchema = z
  .object({
    /** The quantile that bounds normal, e.g. 0.99 (and 1 − q below, for `down`/`both`). */
    quantile: z.number().gt(0.5).lt(1).default(0.99),
    direction: directionSchema.default('up'),
  })
  .strict();

export type QuantileExceedanceConfigInput = z.input<typeof quantileExceedanceSchema>;

/**
 * Quantile exceedance (quantile_sketch): `value` is how far beyond the
 * q-quantile the observation lies, in units of the distance from the median
 * to that quantile (> 0 means exceeded); `probability` is the fraction of
 * what was learned that lies on the near side of the observation (its rank),
 * so a threshold of 0.999 means "beyond everything but the top 0.1 %".
 */
export class QuantileExceedanceScorer<S> implements Scorer<S, number> {
  readonly type = 'quantile_exceedance';
  readonly config: z.output<typeof quantileExceedanceSchema>;

  constructor(
    private readonly baseline: Baseline<S, number> & QuantileView<S>,
    config: QuantileExceedanceConfigInput = {},
  ) {
    this.config = parseConfig(quantileExceedanceSchema, config, '', 'Invalid scorer "quantile_exceedance" configuration');
  }

  private parts(state: S, x: number): { value: number; probability: number; lo: number; hi: number; median: number } | undefined {
    if (typeof x !== 'number' || !Number.isFinite(x) || this.baseline.samples(state) === 0) return undefined;
    const b = this.baseline;
    const q = this.config.quantile;
    const median = b.median(state);
    if (Number.isNaN(median)) return undefined;
    const hi = b.quantile(state, q);
    const lo = b.quantile(state, 1 - q);
    const up = (x - hi) / Math.max(hi - median, Math.abs(median) * 1e-6, 1e-12);
    const down = (lo - x) / Math.max(median - lo, Math.abs(median) * 1e-6, 1e-12);
    const rank = b.rank(state, x);
    let value: number;
    let probability: number;
    if (this.config.direction === 'up') {
      value = up;
      probability = rank;
    } else if (this.config.direction === 'down') {
      value = down;
      probability = 1 - rank;
    } else {
      value = Math.max(up, down);
      probability = Math.max(rank, 1 - rank);
    }
    return { value, probability, lo, hi, median };
  }

  probability(state: S, x: number): number {
    return this.parts(state, x)?.probability ?? 0;
  }

  value(state: S, x: number): number {
    return this.parts(state, x)?.value ?? 0;
  }

  score(state: S, x: number, time: number): Score {
    const p = this.parts(state, x);
    if (!p) return emptyScore(this.baseline, state, time, this.type, String(x), Number.isFinite(x) ? 'nothing learned yet' : 'not a finite number');
    const q = this.config.quantile;
    const expected =
      this.config.direction === 'up'
        ? `≤ ${formatNumber(p.hi)} (p${q * 100}), median ${formatNumber(p.median)}`
        : this.config.direction === 'down'
          ? `≥ ${formatNumber(p.lo)} (p${+((1 - q) * 100).toFixed(4)}), median ${formatNumber(p.median)}`
          : `${formatNumber(p.lo)} … ${formatNumber(p.hi)} (p${+((1 - q) * 100).toFixed(4)}–p${q * 100}), median ${formatNumber(p.median)}`;
    return {
      value: p.value,
      probability: p.probability,
      explanation: explanation(this.baseline, state, time, this.type, formatNumber(x), expected, {
        exceedance: p.value,
        rank: p.probability,
        quantile: q,
        low: p.lo,
        high: p.hi,
      }),
    };
  }
}

export const outOfRangeSchema = z
  .object({
    /** Margin beyond the learned [min, max], as a fraction of its width. */
    tolerance: z.number().nonnegative().default(0.05),
    direction: directionSchema.default('both'),
  })
  .strict();

export type OutOfRangeConfigInput = z.input<typeof outOfRangeSchema>;

/**
 * Out of range (welford, quantile_sketch): probability 1 when the observation
 * falls outside everything ever learned, widened by `tolerance` × the range
 * width — a new extreme. `value` is the distance beyond the nearer bound in
 * range widths (negative inside).
 */
export class OutOfRangeScorer<S> implements Scorer<S, number> {
  readonly type = 'out_of_range';
  readonly config: z.output<typeof outOfRangeSchema>;

  constructor(
    private readonly baseline: Baseline<S, number> & RangeView<S>,
    config: OutOfRangeConfigInput = {},
  ) {
    this.config = parseConfig(outOfRangeSchema, config, '', 'Invalid scorer "out_of_range" configuration');
  }

  private beyond(state: S, x: number): number | undefined {
    if (typeof x !== 'number' || !Number.isFinite(x)) return undefined;
    const lo = this.baseline.min(state);
    const hi = this.baseline.max(state);
    if (lo === undefined || hi === undefined || !(hi > lo)) return undefined;
    const width = hi - lo;
    const above = (x - hi) / width;
    const below = (lo - x) / width;
    return this.config.direction === 'up' ? above : this.config.direction === 'down' ? below : Math.max(above, below);
  }

  probability(state: S, x: number): number {
    const v = this.beyond(state, x);
    return v !== undefined && v > this.config.tolerance ? 1 : 0;
  }

  value(state: S, x: number): number {
    return this.beyond(state, x) ?? 0;
  }

  score(state: S, x: number, time: number): Score {
    const v = this.beyond(state, x);
    if (v === undefined)
      return emptyScore(this.baseline, state, time, this.type, String(x), Number.isFinite(x) ? 'no range learned yet' : 'not a finite number');
    const lo = this.baseline.min(state) as number;
    const hi = this.baseline.max(state) as number;
    const margin = this.config.tolerance * (hi - lo);
    return {
      value: v,
      probability: v > this.config.tolerance ? 1 : 0,
      explanation: explanation(
        this.baseline,
        state,
        time,
        this.type,
        formatNumber(x),
        `within ${formatNumber(lo - margin)} … ${formatNumber(hi + margin)} (seen ${formatNumber(lo)} … ${formatNumber(hi)})`,
        {
          beyond: v,
          min: lo,
          max: hi,
        },
      ),
    };
  }
}
