import { type Baseline, ConfigError, defineComponent, parseConfig, z } from '@outflow/core';
import { ewmaStep } from './ewma.js';
import { decay, isFiniteNumber, jsonBytes } from './util.js';
import type { MomentsView } from './views.js';

const HOUR = 3_600_000;

export const seasonalSchema = z
  .object({
    /** Width of one bucket, ms. */
    bucketMs: z.number().int().positive().default(HOUR),
    /** Buckets in one season: 168 = hour of day × day of week, 24 = hour of day. */
    buckets: z.number().int().min(1).max(10_080).default(168),
    /** Shift applied to event time before bucketing, ms (e.g. a time zone offset). */
    offsetMs: z.number().int().default(0),
    /** Half-life of a bucket's observations, ms of event time. */
    halfLifeMs: z
      .number()
      .positive()
      .default(28 * 86_400_000),
    /** When set, a bucket's weights halve every this many of its observations instead. */
    halfLifeSamples: z.number().positive().optional(),
    /** A bucket with fewer observations answers with the all-buckets moments. */
    minBucketSamples: z.number().int().nonnegative().default(3),
  })
  .strict();

export type SeasonalConfig = z.output<typeof seasonalSchema>;
export type SeasonalConfigInput = z.input<typeof seasonalSchema>;

/** One EWMA per bucket, as parallel arrays, plus an all-buckets EWMA for buckets still short of data. */
export interface SeasonalState {
  n: number;
  since: number;
  last: number;
  /** Per bucket: decayed weight, mean, decayed sum of squares, observation count, latest event time. */
  w: number[];
  mean: number[];
  s: number[];
  count: number[];
  at: number[];
  all: { w: number; mean: number; s: number };
}

/**
 * Seasonal profile: the season (a week by default) is cut into buckets (hour
 * of day × day of week) and each bucket keeps its own exponentially weighted
 * mean and variance, so "3 a.m. on Sunday" is compared with other Sunday
 * 3 a.m.s. State size is fixed by the bucket count.
 */
export class SeasonalBaseline implements Baseline<SeasonalState, number>, MomentsView<SeasonalState> {
  readonly type = 'seasonal';
  readonly config: SeasonalConfig;
  private readonly perSample: number | undefined;

  constructor(config: SeasonalConfigInput = {}) {
    this.config = parseConfig(seasonalSchema, config, '', 'Invalid baseline "seasonal" configuration');
    if (this.config.bucketMs * this.config.buckets > 366 * 86_400_000)
      throw new ConfigError([{ path: 'buckets', message: 'a season (bucketMs × buckets) longer than a year' }], 'Invalid baseline "seasonal" configuration');
    this.perSample = this.config.halfLifeSamples === undefined ? undefined : 2 ** (-1 / this.config.halfLifeSamples);
  }

  /** Bucket index of an event time. */
  bucket(time: number): number {
    const b = Math.floor((time + this.config.offsetMs) / this.config.bucketMs) % this.config.buckets;
    return b < 0 ? b + this.config.buckets : b;
  }

  init(time: number): SeasonalState {
    const k = this.config.buckets;
    const zeros = () => new Array<number>(k).fill(0);
    return { n: 0, since: time, last: time, w: zeros(), mean: zeros(), s: zeros(), count: zeros(), at: zeros(), all: { w: 0, mean: 0, s: 0 } };
  }

  update(state: SeasonalState, x: number, time: number): SeasonalState {
    if (!isFiniteNumber(x) || !isFiniteNumber(time)) return state;
    if (state.n === 0) {
      state.since = time;
      state.last = time;
    }
    const b = this.bucket(time);
    const count = state.count[b] as number;
    const d = this.perSample ?? (count === 0 ? 1 : decay(time - (state.at[b] as number), this.config.halfLifeMs));
    const w = d * (state.w[b] as number) + 1;
    const mean0 = state.mean[b] as number;
    const delta = x - mean0;
    const mean = mean0 + delta / w;
    const s = d * (state.s[b] as number) + delta * (x - mean);
    state.w[b] = w;
    state.mean[b] = mean;
    state.s[b] = Math.max(s, 0);
    state.count[b] = count + 1;
    if (count === 0 || time > (state.at[b] as number)) state.at[b] = time;
    ewmaStep(state.all, x, this.perSample ?? decay(time - state.last, this.config.halfLifeMs));
    if (time > state.last) state.last = time;
    state.n++;
    return state;
  }

  samples(state: SeasonalState): number {
    return state.n;
  }

  since(state: SeasonalState): number {
    return state.since;
  }

  sizeOf(state: SeasonalState): number {
    return jsonBytes(state);
  }

  private useBucket(state: SeasonalState, b: number): boolean {
    return (state.count[b] as number) >= this.config.minBucketSamples && (state.count[b] as number) > 0;
  }

  mean(state: SeasonalState, time: number): number {
    const b = this.bucket(time);
    return this.useBucket(state, b) ? (state.mean[b] as number) : state.all.mean;
  }

  variance(state: SeasonalState, time: number): number {
    const b = this.bucket(time);
    if (this.useBucket(state, b)) return (state.w[b] as number) > 0 ? (state.s[b] as number) / (state.w[b] as number) : 0;
    return state.all.w > 0 ? state.all.s / state.all.w : 0;
  }

  support(state: SeasonalState, time: number): number {
    const b = this.bucket(time);
    return this.useBucket(state, b) ? (state.count[b] as number) : state.n;
  }
}

export const seasonalBaseline = defineComponent({
  type: 'seasonal',
  kind: 'baseline',
  stability: 'alpha',
  description: 'Seasonal profile: an exponentially weighted mean and variance per time bucket (hour of day × day of week by default)',
  schema: seasonalSchema,
  create: (_ctx, config) => new SeasonalBaseline(config),
});
