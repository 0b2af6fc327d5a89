/**
 * What a scorer may ask of a baseline's state. A baseline implements the views
 * that make sense for it; a scorer names the view it needs, so pairing a
 * scorer with a baseline that cannot serve it is a type error.
 */

/** Mean and variance of what was learned (at `time`, for baselines whose expectation depends on time). */
export interface MomentsView<S> {
  mean(state: S, time: number): number;
  variance(state: S, time: number): number;
  /** Observations behind the estimate at `time` (a seasonal bucket's own count). */
  support(state: S, time: number): number;
}

/** Quantiles of what was learned. */
export interface QuantileView<S> {
  /** The q-quantile, q in [0, 1]; NaN when nothing was learned. */
  quantile(state: S, q: number): number;
  median(state: S): number;
  /** Median absolute deviation from the median. */
  mad(state: S): number;
  /** Mid-rank of `value` among what was learned, in [0, 1]: 1 above everything, 0 below everything. */
  rank(state: S, value: number): number;
}

/** Smallest and largest value learned (undefined when nothing was). */
export interface RangeView<S> {
  min(state: S): number | undefined;
  max(state: S): number | undefined;
}

/** Whether an item was seen within the baseline's forget horizon. */
export interface MembershipView<S> {
  /** True when `item` was learned within the forget horizon as of `time` (a filter may rarely answer true for an unseen item). */
  known(state: S, item: string, time: number): boolean;
  /** Distinct items remembered (an estimate once the baseline uses a filter). */
  size(state: S): number;
  /** The forget horizon, ms of event time. */
  readonly forgetMs: number;
  /** Event time the baseline needs to have learned before novelty counts, ms. */
  readonly learnMs: number;
  /** True once the state holds items only in its probabilistic filter. */
  approximate(state: S): boolean;
}

/** How often an item was learned, relative to everything learned. */
export interface FrequencyView<S> {
  /** Estimated (decayed) count of `item`; never below the true count. */
  count(state: S, item: string): number;
  /** Total (decayed) count. */
  total(state: S): number;
}

/** Distinct items in the current period, and the moments of past periods' distinct counts. */
export interface DistinctView<S> extends MomentsView<S> {
  /** Estimated distinct items in the period containing `time`, counting `item` too when given. */
  distinct(state: S, time: number, item?: string): number;
}

/** Conditional rarity of a symbol given the previous ones (a quantised sequence). */
export interface TransitionView<S, F> {
  /** Probability, in [0, 1], that the transition into `feature` was not predicted; 0 while the quantiser is still warming up. */
  surprise(state: S, feature: F): number;
  /** Describe the transition for explanations, e.g. `level 7 → 12`. */
  describe(state: S, feature: F): { observed: string; expected: string };
}
