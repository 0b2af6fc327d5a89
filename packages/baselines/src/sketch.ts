import { type Baseline, defineComponent, parseConfig, z } from '@outflow/core';
import { forwardWeight, isFiniteNumber, jsonBytes, RESCALE_AT } from './util.js';
import type { MomentsView, QuantileView, RangeView } from './views.js';

export const sketchSchema = z
  .object({
    /** Relative accuracy of every quantile (DDSketch's α): the answer is within ±α of the true value, relatively. */
    relativeAccuracy: z.number().gt(0).lt(1).default(0.02),
    /**
     * Most bins per sign. Past it, the lowest-magnitude bins are merged while they hold at most 1 % of the
     * weight (the range moved up); otherwise a value beyond the budget is an outlier and lands in the
     * highest bin (its exact value still counts as the maximum).
     */
    maxBins: z.number().int().min(16).max(8192).default(512),
    /** When set, observations lose half their weight every this many ms of event time (forward decay). */
    halfLifeMs: z.number().positive().optional(),
    /** Median and MAD are recomputed every this many observations, or every n/64 once that is more (every one for the first 64). */
    refreshEvery: z.number().int().positive().default(16),
  })
  .strict();

export type SketchConfig = z.output<typeof sketchSchema>;
export type SketchConfigInput = z.input<typeof sketchSchema>;

/** Contiguous bins: `counts[i]` is the weight of bin `offset + i`. */
export interface SketchStore {
  offset: number;
  counts: number[];
}

export interface SketchState {
  n: number;
  since: number;
  /** Forward-decay landmark (event time); weights are relative to it. */
  landmark: number;
  total: number;
  zero: number;
  pos: SketchStore;
  /** Bins of |x| for negative x. */
  neg: SketchStore;
  min: number | null;
  max: number | null;
  /** Cached robust statistics and the sample count they were computed at. */
  median: number | null;
  mad: number | null;
  statsAt: number;
  /** Decayed first and second moments, for the moments view. */
  sum: number;
  sumSq: number;
}

const MIN_INDEXABLE = 1e-9;
/** Past the bin budget, the lowest bins are merged only while they hold at most this share of the weight. */
const COLLAPSE_FRACTION = 0.01;

function addToStore(store: SketchStore, key: number, weight: number, maxBins: number): void {
  const counts = store.counts;
  if (counts.length === 0) {
    store.offset = key;
    counts.push(weight);
    return;
  }
  const idx = key - store.offset;
  if (idx >= 0 && idx < counts.length) {
    counts[idx] = (counts[idx] as number) + weight;
    return;
  }
  if (idx >= counts.length) {
    if (idx >= maxBins) {
      // Past the bin budget: merge the lowest bins if they hold little weight (the range is moving up);
      // otherwise the new value is an outlier above the bulk, and goes into the highest bin the budget allows.
      const drop = idx + 1 - maxBins;
      let low = 0;
      let all = 0;
      for (let i = 0; i < counts.length; i++) {
        const c = counts[i] as number;
        all += c;
        if (i < drop) low += c;
      }
      if (low > COLLAPSE_FRACTION * all) {
        for (let i = counts.length; i < maxBins; i++) counts.push(0);
        counts[maxBins - 1] = (counts[maxBins - 1] as number) + weight;
        return;
      }
    }
    for (let i = counts.length; i <= idx; i++) counts.push(0);
    counts[idx] = (counts[idx] as number) + weight;
    if (counts.length > maxBins) {
      const drop = counts.length - maxBins;
      let merged = 0;
      for (let i = 0; i < drop; i++) merged += counts[i] as number;
      counts.splice(0, drop);
      counts[0] = (counts[0] as number) + merged;
      store.offset += drop;
    }
    return;
  }
  // Below the lowest bin: extend downwards as far as the bin budget allows, else merge into the lowest bin.
  const highest = store.offset + counts.length - 1;
  const lowestAllowed = highest - maxBins + 1;
  const target = Math.max(key, lowestAllowed);
  const grow = store.offset - target;
  if (grow > 0) {
    counts.unshift(...new Array<number>(grow).fill(0));
    store.offset = target;
  }
  counts[0] = (counts[0] as number) + weight;
}

/**
 * A quantile sketch in the manner of DDSketch (logarithmic bins, relative
 * accuracy guarantee), written so that its whole state is plain arrays and a
 * JSON round trip restores it exactly. Bounded: at most `maxBins` bins per
 * sign; one extreme outlier cannot push the bulk of the data out of them. Optional forward decay
 * makes it forget with a half-life in event time. Keeps the exact minimum
 * and maximum (never decayed) for range checks.
 */
export class SketchBaseline implements Baseline<SketchState, number>, QuantileView<SketchState>, RangeView<SketchState>, MomentsView<SketchState> {
  readonly type = 'quantile_sketch';
  readonly config: SketchConfig;
  private readonly gamma: number;
  private readonly lnGamma: number;

  constructor(config: SketchConfigInput = {}) {
    this.config = parseConfig(sketchSchema, config, '', 'Invalid baseline "quantile_sketch" configuration');
    const a = this.config.relativeAccuracy;
    this.gamma = (1 + a) / (1 - a);
    this.lnGamma = Math.log(this.gamma);
  }

  /** Bin key of a positive magnitude. */
  key(magnitude: number): number {
    return Math.ceil(Math.log(magnitude) / this.lnGamma);
  }

  /** Representative value of a bin key (relative error at most α for every value in the bin). */
  value(key: number): number {
    return (2 * this.gamma ** key) / (1 + this.gamma);
  }

  init(time: number): SketchState {
    return {
      n: 0,
      since: time,
      landmark: time,
      total: 0,
      zero: 0,
      pos: { offset: 0, counts: [] },
      neg: { offset: 0, counts: [] },
      min: null,
      max: null,
      median: null,
      mad: null,
      statsAt: 0,
      sum: 0,
      sumSq: 0,
    };
  }

  update(state: SketchState, x: number, time: number): SketchState {
    if (!isFiniteNumber(x) || !isFiniteNumber(time)) return state;
    if (state.n === 0) {
      state.since = time;
      state.landmark = time;
    }
    let w = forwardWeight(time, state.landmark, this.config.halfLifeMs);
    if (w > RESCALE_AT) {
      this.rescale(state, 1 / w);
      state.landmark = time;
      w = 1;
    }
    const maxBins = this.config.maxBins;
    if (x > MIN_INDEXABLE) addToStore(state.pos, this.key(x), w, maxBins);
    else if (x < -MIN_INDEXABLE) addToStore(state.neg, this.key(-x), w, maxBins);
    else state.zero += w;
    state.total += w;
    state.sum += w * x;
    state.sumSq += w * x * x;
    if (state.min === null || x < state.min) state.min = x;
    if (state.max === null || x > state.max) state.max = x;
    state.n++;
    const due = Math.max(state.n >> 6, this.config.refreshEvery);
    if (state.n <= 64 || state.n - state.statsAt >= due) this.refresh(state);
    return state;
  }

  private rescale(state: SketchState, f: number): void {
    for (const store of [state.pos, state.neg]) for (let i = 0; i < store.counts.length; i++) store.counts[i] = (store.counts[i] as number) * f;
    state.zero *= f;
    state.total *= f;
    state.sum *= f;
    state.sumSq *= f;
  }

  /** Recompute the cached median and MAD now. */
  refresh(state: SketchState): void {
    const median = this.quantileExact(state, 0.5);
    state.median = Number.isNaN(median) ? null : median;
    state.mad = state.median === null ? null : this.madExact(state, state.median);
    state.statsAt = state.n;
  }

  samples(state: SketchState): number {
    return state.n;
  }

  since(state: SketchState): number {
    return state.since;
  }

  sizeOf(state: SketchState): number {
    return jsonBytes(state);
  }

  /** Bins in ascending value order, as parallel arrays. */
  private bins(state: SketchState): { values: number[]; weights: number[] } {
    const values: number[] = [];
    const weights: number[] = [];
    const neg = state.neg;
    const g = this.gamma;
    if (neg.counts.length > 0) {
      let v = this.value(neg.offset + neg.counts.length - 1);
      for (let i = neg.counts.length - 1; i >= 0; i--, v /= g) {
        const c = neg.counts[i] as number;
        if (c > 0) {
          values.push(-v);
          weights.push(c);
        }
      }
    }
    if (state.zero > 0) {
      values.push(0);
      weights.push(state.zero);
    }
    const pos = state.pos;
    let v = this.value(pos.offset);
    for (let i = 0; i < pos.counts.length; i++, v *= g) {
      const c = pos.counts[i] as number;
      if (c > 0) {
        values.push(v);
        weights.push(c);
      }
    }
    return { values, weights };
  }

  private clamp(state: SketchState, v: number): number {
    if (state.min !== null && v < state.min) return state.min;
    if (state.max !== null && v > state.max) return state.max;
    return v;
  }

  private quantileExact(state: SketchState, q: number): number {
    if (state.n === 0 || !(state.total > 0)) return Number.NaN;
    if (q <= 0) return state.min as number;
    if (q >= 1) return state.max as number;
    const target = q * state.total;
    let cum = 0;
    const neg = state.neg;
    for (let i = neg.counts.length - 1; i >= 0; i--) {
      cum += neg.counts[i] as number;
      if (cum >= target && (neg.counts[i] as number) > 0) return this.clamp(state, -this.value(neg.offset + i));
    }
    cum += state.zero;
    if (cum >= target && state.zero > 0) return this.clamp(state, 0);
    const pos = state.pos;
    for (let i = 0; i < pos.counts.length; i++) {
      cum += pos.counts[i] as number;
      if (cum >= target && (pos.counts[i] as number) > 0) return this.clamp(state, this.value(pos.offset + i));
    }
    return state.max as number;
  }

  private madExact(state: SketchState, median: number): number {
    const { values, weights } = this.bins(state);
    if (values.length === 0) return Number.NaN;
    // Walk outwards from the median: distances grow on both sides, so merging the two sides gives them in order.
    let hi = 0;
    while (hi < values.length && (values[hi] as number) < median) hi++;
    let lo = hi - 1;
    const half = state.total / 2;
    let cum = 0;
    while (lo >= 0 || hi < values.length) {
      const dl = lo >= 0 ? median - (values[lo] as number) : Number.POSITIVE_INFINITY;
      const dh = hi < values.length ? (values[hi] as number) - median : Number.POSITIVE_INFINITY;
      if (dl <= dh) {
        cum += weights[lo] as number;
        lo--;
        if (cum >= half) return dl;
      } else {
        cum += weights[hi] as number;
        hi++;
        if (cum >= half) return dh;
      }
    }
    return 0;
  }

  quantile(state: SketchState, q: number): number {
    return this.quantileExact(state, q);
  }

  /** The cached median (refreshed as `refreshEvery` says; call `refresh` for an exact one). */
  median(state: SketchState): number {
    return state.median ?? Number.NaN;
  }

  /** The cached MAD (refreshed with the median). */
  mad(state: SketchState): number {
    return state.mad ?? Number.NaN;
  }

  /** Mid-rank: weight in lower bins plus half the weight of the value's own bin, over the total; 1 above the maximum, 0 below the minimum. */
  rank(state: SketchState, value: number): number {
    if (!(state.total > 0) || Number.isNaN(value)) return 0;
    if (state.max !== null && value > state.max) return 1;
    if (state.min !== null && value < state.min) return 0;
    let below = 0;
    let own = 0;
    const neg = state.neg;
    const pos = state.pos;
    if (value < -MIN_INDEXABLE) {
      const k = this.key(-value);
      for (let i = 0; i < neg.counts.length; i++) {
        const key = neg.offset + i;
        if (key > k) below += neg.counts[i] as number;
        else if (key === k) own += neg.counts[i] as number;
      }
    } else {
      for (const c of neg.counts) below += c;
      if (value > MIN_INDEXABLE) {
        below += state.zero;
        const k = this.key(value);
        for (let i = 0; i < pos.counts.length && pos.offset + i <= k; i++) {
          if (pos.offset + i < k) below += pos.counts[i] as number;
          else own += pos.counts[i] as number;
        }
      } else own = state.zero;
    }
    const r = (below + own / 2) / state.total;
    return Math.min(r, 1);
  }

  min(state: SketchState): number | undefined {
    return state.min ?? undefined;
  }

  max(state: SketchState): number | undefined {
    return state.max ?? undefined;
  }

  mean(state: SketchState): number {
    return state.total > 0 ? state.sum / state.total : 0;
  }

  variance(state: SketchState): number {
    if (!(state.total > 0)) return 0;
    const m = state.sum / state.total;
    const v = state.sumSq / state.total - m * m;
    return Math.max(v, 0);
  }

  support(state: SketchState): number {
    return state.n;
  }
}

export const sketchBaseline = defineComponent({
  type: 'quantile_sketch',
  kind: 'baseline',
  stability: 'alpha',
  description: 'DDSketch-style log-bucket quantile sketch (bounded bins, relative accuracy, optional decay): median, MAD, high quantiles, exact range',
  schema: sketchSchema,
  create: (_ctx, config) => new SketchBaseline(config),
});
