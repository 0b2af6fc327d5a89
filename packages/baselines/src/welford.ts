import { type Baseline, defineComponent, parseConfig, z } from '@outflow/core';
import { isFiniteNumber, jsonBytes } from './util.js';
import type { MomentsView, RangeView } from './views.js';

export const welfordSchema = z.object({}).strict();
export type WelfordConfigInput = z.input<typeof welfordSchema>;

/** Running count, mean, sum of squared deviations, minimum and maximum (null before the first observation). */
export interface WelfordState {
  n: number;
  since: number;
  mean: number;
  m2: number;
  min: number | null;
  max: number | null;
}

/**
 * Welford's exact running mean and variance, with the range seen. It never
 * forgets: pair it with the key TTL of `detect`, or use `ewma` to forget.
 */
export class WelfordBaseline implements Baseline<WelfordState, number>, MomentsView<WelfordState>, RangeView<WelfordState> {
  readonly type = 'welford';

  constructor(config: WelfordConfigInput = {}) {
    parseConfig(welfordSchema, config, '', 'Invalid baseline "welford" configuration');
  }

  init(time: number): WelfordState {
    return { n: 0, since: time, mean: 0, m2: 0, min: null, max: null };
  }

  update(state: WelfordState, x: number, time: number): WelfordState {
    if (!isFiniteNumber(x) || !isFiniteNumber(time)) return state;
    if (state.n === 0) state.since = time;
    state.n++;
    const delta = x - state.mean;
    state.mean += delta / state.n;
    state.m2 += delta * (x - state.mean);
    if (state.min === null || x < state.min) state.min = x;
    if (state.max === null || x > state.max) state.max = x;
    return state;
  }

  samples(state: WelfordState): number {
    return state.n;
  }

  since(state: WelfordState): number {
    return state.since;
  }

  sizeOf(state: WelfordState): number {
    return jsonBytes(state);
  }

  mean(state: WelfordState): number {
    return state.mean;
  }

  /** Population variance. */
  variance(state: WelfordState): number {
    return state.n > 0 ? state.m2 / state.n : 0;
  }

  support(state: WelfordState): number {
    return state.n;
  }

  min(state: WelfordState): number | undefined {
    return state.min ?? undefined;
  }

  max(state: WelfordState): number | undefined {
    return state.max ?? undefined;
  }
}

export const welfordBaseline = defineComponent({
  type: 'welford',
  kind: 'baseline',
  stability: 'alpha',
  description: "Welford's exact running mean, variance and range (never forgets)",
  schema: welfordSchema,
  create: () => new WelfordBaseline(),
});
