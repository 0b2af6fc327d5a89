import { type Baseline, defineComponent, parseConfig, z } from '@outflow/core';
import { decay, fnv1a, isFiniteNumber, jsonBytes, mix32 } from './util.js';
import type { DistinctView } from './views.js';

export const distinctSchema = z
  .object({
    /** log2 of the register count: 10 gives 1024 registers, about 3 % standard error. */
    precision: z.number().int().min(4).max(14).default(10),
    /** Distinct items are counted per period of this length (event time), e.g. distinct destinations per hour. */
    periodMs: z.number().int().positive().default(3_600_000),
    /** Half-life, in periods, of the mean and variance of past periods' distinct counts. */
    halfLifePeriods: z
      .number()
      .positive()
      .default(24 * 7),
    /** Empty periods between two observations are learned as zero counts, up to this many. */
    maxGapPeriods: z.number().int().nonnegative().default(24),
  })
  .strict();

export type DistinctConfig = z.output<typeof distinctSchema>;
export type DistinctConfigInput = z.input<typeof distinctSchema>;

export interface DistinctState {
  n: number;
  since: number;
  /** Index of the current period (floor(time / periodMs)). */
  period: number;
  /** HyperLogLog registers of the current period, with the running sum of 2^-register and the count of zero registers. */
  registers: number[];
  harmonic: number;
  zeros: number;
  /** Exponentially weighted moments of completed periods' distinct counts. */
  periods: number;
  w: number;
  mean: number;
  s: number;
}

const ALPHA: Record<number, number> = { 16: 0.673, 32: 0.697, 64: 0.709 };

/**
 * Distinct items per period with HyperLogLog (fixed registers per key), and
 * the exponentially weighted mean and variance of the counts of past periods:
 * "this workload talked to 40 distinct destinations this hour; it usually
 * talks to 5 ± 2".
 */
export class DistinctBaseline implements Baseline<DistinctState, string>, DistinctView<DistinctState> {
  readonly type = 'distinct_count';
  readonly config: DistinctConfig;
  private readonly m: number;
  private readonly alphaMM: number;
  private readonly d: number;
  /** The last item hashed: a score is usually followed by the update of the same item. */
  private lastItem: string | undefined;
  private lastHash = 0;

  private hash(item: string): number {
    if (item !== this.lastItem) {
      this.lastHash = mix32(fnv1a(item));
      this.lastItem = item;
    }
    return this.lastHash;
  }

  constructor(config: DistinctConfigInput = {}) {
    this.config = parseConfig(distinctSchema, config, '', 'Invalid baseline "distinct_count" configuration');
    this.m = 1 << this.config.precision;
    this.alphaMM = (ALPHA[this.m] ?? 0.7213 / (1 + 1.079 / this.m)) * this.m * this.m;
    this.d = decay(1, this.config.halfLifePeriods);
  }

  init(time: number): DistinctState {
    return {
      n: 0,
      since: time,
      period: Math.floor(time / this.config.periodMs),
      registers: new Array<number>(this.m).fill(0),
      harmonic: this.m,
      zeros: this.m,
      periods: 0,
      w: 0,
      mean: 0,
      s: 0,
    };
  }

  private learnCount(state: DistinctState, count: number): void {
    const w = this.d * state.w + 1;
    const delta = count - state.mean;
    const mean = state.mean + delta / w;
    state.s = Math.max(0, this.d * state.s + delta * (count - mean));
    state.mean = mean;
    state.w = w;
    state.periods++;
  }

  /** Close periods up to the one containing `time`. */
  private roll(state: DistinctState, time: number): void {
    const p = Math.floor(time / this.config.periodMs);
    if (p <= state.period) return;
    if (state.n > 0) {
      this.learnCount(state, this.estimateFrom(state.harmonic, state.zeros));
      const gap = Math.min(p - state.period - 1, this.config.maxGapPeriods);
      for (let i = 0; i < gap; i++) this.learnCount(state, 0);
    }
    state.registers.fill(0);
    state.harmonic = this.m;
    state.zeros = this.m;
    state.period = p;
  }

  /** Register index of a hash. */
  private index(h: number): number {
    return h >>> (32 - this.config.precision);
  }

  /** Rank (position of the first 1 bit after the index bits) of a hash. */
  private rank(h: number): number {
    const p = this.config.precision;
    const rest = (h << p) >>> 0;
    return rest === 0 ? 32 - p + 1 : Math.clz32(rest) + 1;
  }

  update(state: DistinctState, item: string, time: number): DistinctState {
    if (typeof item !== 'string' || !isFiniteNumber(time)) return state;
    if (state.n === 0) {
      state.since = time;
      state.period = Math.floor(time / this.config.periodMs);
    }
    this.roll(state, time);
    const h = this.hash(item);
    const index = this.index(h);
    const rank = this.rank(h);
    const old = state.registers[index] as number;
    if (rank > old) {
      state.registers[index] = rank;
      state.harmonic += 2 ** -rank - 2 ** -old;
      if (old === 0) state.zeros--;
    }
    state.n++;
    return state;
  }

  /** HyperLogLog estimate from the registers, with the small-range (linear counting) correction. */
  estimate(registers: readonly number[]): number {
    let sum = 0;
    let zeros = 0;
    for (const r of registers) {
      sum += 2 ** -r;
      if (r === 0) zeros++;
    }
    return this.estimateFrom(sum, zeros);
  }

  /** HyperLogLog estimate from Σ 2^-register and the number of zero registers. */
  estimateFrom(harmonic: number, zeros: number): number {
    const e = this.alphaMM / harmonic;
    if (e <= 2.5 * this.m && zeros > 0) return this.m * Math.log(this.m / zeros);
    return e;
  }

  distinct(state: DistinctState, time: number, item?: string): number {
    const p = Math.floor(time / this.config.periodMs);
    if (p > state.period) return item === undefined ? 0 : 1;
    if (item === undefined) return this.estimateFrom(state.harmonic, state.zeros);
    const h = this.hash(item);
    const index = this.index(h);
    const rank = this.rank(h);
    const old = state.registers[index] as number;
    if (rank <= old) return this.estimateFrom(state.harmonic, state.zeros);
    return this.estimateFrom(state.harmonic + 2 ** -rank - 2 ** -old, old === 0 ? state.zeros - 1 : state.zeros);
  }

  samples(state: DistinctState): number {
    return state.n;
  }

  since(state: DistinctState): number {
    return state.since;
  }

  sizeOf(state: DistinctState): number {
    return jsonBytes(state);
  }

  mean(state: DistinctState): number {
    return state.mean;
  }

  variance(state: DistinctState): number {
    return state.w > 0 ? state.s / state.w : 0;
  }

  /** Completed periods behind the moments. */
  support(state: DistinctState): number {
    return state.periods;
  }
}

export const distinctBaseline = defineComponent({
  type: 'distinct_count',
  kind: 'baseline',
  stability: 'alpha',
  description: 'Distinct items per period (HyperLogLog, fixed registers) and the moments of past periods',
  schema: distinctSchema,
  create: (_ctx, config) => new DistinctBaseline(config),
});
