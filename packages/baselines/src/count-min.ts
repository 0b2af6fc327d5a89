import { type Baseline, defineComponent, parseConfig, z } from '@outflow/core';
import { fnv1a, forwardWeight, isFiniteNumber, jsonBytes, mix32, RESCALE_AT } from './util.js';
import type { FrequencyView } from './views.js';

export const countMinSchema = z
  .object({
    /** Counters per row. Error of a count is about total × e / width. */
    width: z.number().int().min(16).max(65_536).default(256),
    /** Rows (hash functions). Error probability about e^-depth. */
    depth: z.number().int().min(1).max(16).default(4),
    /** When set, counts lose half their weight every this many ms of event time (forward decay). */
    halfLifeMs: z.number().positive().optional(),
  })
  .strict();

export type CountMinConfig = z.output<typeof countMinSchema>;
export type CountMinConfigInput = z.input<typeof countMinSchema>;

export interface CountMinState {
  n: number;
  since: number;
  landmark: number;
  total: number;
  /** depth × width counters, row-major. */
  counters: number[];
}

/** Column of `item`'s hash in row `row` (double hashing). */
export function countMinColumn(h1: number, h2: number, row: number, width: number): number {
  return ((h1 + Math.imul(row, h2)) >>> 0) % width;
}

/**
 * Count-min sketch of item frequencies (fixed width × depth per key), with
 * optional forward decay: how often has this key used this item, relative to
 * everything it used. Estimates never undercount.
 */
export class CountMinBaseline implements Baseline<CountMinState, string>, FrequencyView<CountMinState> {
  readonly type = 'count_min';
  readonly config: CountMinConfig;
  /** The last item hashed: a score is usually followed by the update of the same item. */
  private lastItem: string | undefined;
  private lastHash = 0;

  constructor(config: CountMinConfigInput = {}) {
    this.config = parseConfig(countMinSchema, config, '', 'Invalid baseline "count_min" configuration');
  }

  private hash(item: string): number {
    if (item !== this.lastItem) {
      this.lastHash = fnv1a(item);
      this.lastItem = item;
    }
    return this.lastHash;
  }

  init(time: number): CountMinState {
    return { n: 0, since: time, landmark: time, total: 0, counters: new Array<number>(this.config.width * this.config.depth).fill(0) };
  }

  update(state: CountMinState, item: string, time: number): CountMinState {
    if (typeof item !== 'string' || !isFiniteNumber(time)) return state;
    if (state.n === 0) {
      state.since = time;
      state.landmark = time;
    }
    let w = forwardWeight(time, state.landmark, this.config.halfLifeMs);
    if (w > RESCALE_AT) {
      const f = 1 / w;
      for (let i = 0; i < state.counters.length; i++) state.counters[i] = (state.counters[i] as number) * f;
      state.total *= f;
      state.landmark = time;
      w = 1;
    }
    const h1 = this.hash(item);
    const h2 = mix32(h1) | 1;
    const { width, depth } = this.config;
    for (let r = 0; r < depth; r++) {
      const i = r * width + countMinColumn(h1, h2, r, width);
      state.counters[i] = (state.counters[i] as number) + w;
    }
    state.total += w;
    state.n++;
    return state;
  }

  count(state: CountMinState, item: string): number {
    if (typeof item !== 'string' || state.total <= 0) return 0;
    const h1 = this.hash(item);
    const h2 = mix32(h1) | 1;
    const { width, depth } = this.config;
    let min = Number.POSITIVE_INFINITY;
    for (let r = 0; r < depth; r++) {
      const c = state.counters[r * width + countMinColumn(h1, h2, r, width)] as number;
      if (c < min) min = c;
    }
    return min;
  }

  total(state: CountMinState): number {
    return state.total;
  }

  samples(state: CountMinState): number {
    return state.n;
  }

  since(state: CountMinState): number {
    return state.since;
  }

  sizeOf(state: CountMinState): number {
    return jsonBytes(state);
  }
}

export const countMinBaseline = defineComponent({
  type: 'count_min',
  kind: 'baseline',
  stability: 'alpha',
  description: 'Count-min sketch of item frequencies (fixed size per key, optional decay) for rarity',
  schema: countMinSchema,
  create: (_ctx, config) => new CountMinBaseline(config),
});
