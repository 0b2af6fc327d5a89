import { type Baseline, defineComponent, parseConfig, z } from '@outflow/core';
import { decay, isFiniteNumber, jsonBytes } from './util.js';
import type { MomentsView } from './views.js';

export const ewmaSchema = z
  .object({
    /** Half-life of an observation's weight, in ms of event time. */
    halfLifeMs: z.number().positive().default(86_400_000),
    /** When set, weights halve every this many observations instead of every `halfLifeMs`. */
    halfLifeSamples: z.number().positive().optional(),
    /** Winsorise what is learned to mean ± clipSigma·σ once `clipAfter` observations were learned (poisoning guard). */
    clipSigma: z.number().positive().optional(),
    /** Observations learned before clipping starts. */
    clipAfter: z.number().int().nonnegative().default(30),
  })
  .strict();

export type EwmaConfig = z.output<typeof ewmaSchema>;
export type EwmaConfigInput = z.input<typeof ewmaSchema>;

/** Exponentially weighted mean and variance. `w` is the decayed weight, `s` the decayed sum of squared deviations. */
export interface EwmaState {
  n: number;
  since: number;
  last: number;
  w: number;
  mean: number;
  s: number;
}

/** One exponentially weighted moments step (West's weighted update); exported for baselines that hold many of them. */
export function ewmaStep(st: { w: number; mean: number; s: number }, x: number, d: number): void {
  const w = d * st.w + 1;
  const delta = x - st.mean;
  const mean = st.mean + delta / w;
  st.s = d * st.s + delta * (x - mean);
  if (st.s < 0) st.s = 0;
  st.mean = mean;
  st.w = w;
}

/**
 * EWMA mean and variance with a half-life in event time (or in observations).
 * Weights decay by elapsed event time, so irregular streams are handled; an
 * observation older than the latest is learned with no extra decay. Early on
 * it is the plain running mean, converging to the exponential average.
 */
export class EwmaBaseline implements Baseline<EwmaState, number>, MomentsView<EwmaState> {
  readonly type = 'ewma';
  readonly config: EwmaConfig;
  private readonly perSample: number | undefined;

  constructor(config: EwmaConfigInput = {}) {
    this.config = parseConfig(ewmaSchema, config, '', 'Invalid baseline "ewma" configuration');
    this.perSample = this.config.halfLifeSamples === undefined ? undefined : 2 ** (-1 / this.config.halfLifeSamples);
  }

  init(time: number): EwmaState {
    return { n: 0, since: time, last: time, w: 0, mean: 0, s: 0 };
  }

  update(state: EwmaState, x: number, time: number): EwmaState {
    if (!isFiniteNumber(x) || !isFiniteNumber(time)) return state;
    if (state.n === 0) {
      state.since = time;
      state.last = time;
    }
    const d = this.perSample ?? decay(time - state.last, this.config.halfLifeMs);
    let value = x;
    const clip = this.config.clipSigma;
    if (clip !== undefined && state.n >= this.config.clipAfter && state.w > 0) {
      const sd = Math.sqrt(state.s / state.w);
      const lo = state.mean - clip * sd;
      const hi = state.mean + clip * sd;
      value = value < lo ? lo : Math.min(value, hi);
    }
    ewmaStep(state, value, d);
    if (time > state.last) state.last = time;
    state.n++;
    return state;
  }

  samples(state: EwmaState): number {
    return state.n;
  }

  since(state: EwmaState): number {
    return state.since;
  }

  sizeOf(state: EwmaState): number {
    return jsonBytes(state);
  }

  mean(state: EwmaState): number {
    return state.mean;
  }

  variance(state: EwmaState): number {
    return state.w > 0 ? state.s / state.w : 0;
  }

  support(state: EwmaState): number {
    return state.n;
  }
}

export const ewmaBaseline = defineComponent({
  type: 'ewma',
  kind: 'baseline',
  stability: 'alpha',
  description: 'Exponentially weighted mean and variance with a half-life in event time or in observations',
  schema: ewmaSchema,
  create: (_ctx, config) => new EwmaBaseline(config),
});
