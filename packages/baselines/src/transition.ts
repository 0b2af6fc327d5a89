import { type Baseline, defineComponent, parseConfig, z } from '@outflow/core';
import { countMinColumn } from './count-min.js';
import { isFiniteNumber, jsonBytes, mix32 } from './util.js';
import type { TransitionView } from './views.js';

export const transitionSchema = z
  .object({
    /** Quantisation levels across the range seen during warm-up (values outside it get levels of their own). */
    levels: z.number().int().min(2).max(10_000).default(20),
    /** Observations used to learn the range before the quantiser is fixed and transitions are counted. */
    warmupSamples: z.number().int().min(2).default(100),
    /** Previous levels that form the context of a transition. */
    order: z.number().int().min(1).max(4).default(1),
    /** Count-min width and depth for transition and context counts. */
    width: z.number().int().min(16).max(65_536).default(512),
    depth: z.number().int().min(1).max(8).default(4),
  })
  .strict();

export type TransitionConfig = z.output<typeof transitionSchema>;
export type TransitionConfigInput = z.input<typeof transitionSchema>;

export interface TransitionState {
  n: number;
  since: number;
  lo: number | null;
  hi: number | null;
  /** Level width, fixed at the end of warm-up (null before). */
  res: number | null;
  /** The last `order` levels. */
  prev: number[];
  /** Count-min counters of (context → level) transitions and of contexts, depth × width each. */
  pairs: number[];
  contexts: number[];
}

/**
 * A first- (or higher-) order Markov model of a numeric stream quantised into
 * levels: how surprising is it that the value moved from level a to level b?
 * A cheap stand-in for "prediction error" in sequence models. Counts live in
 * two count-min sketches, so the state has a fixed size.
 */
export class TransitionBaseline implements Baseline<TransitionState, number>, TransitionView<TransitionState, number> {
  readonly type = 'transition';
  readonly config: TransitionConfig;

  constructor(config: TransitionConfigInput = {}) {
    this.config = parseConfig(transitionSchema, config, '', 'Invalid baseline "transition" configuration');
  }

  init(time: number): TransitionState {
    const size = this.config.width * this.config.depth;
    return { n: 0, since: time, lo: null, hi: null, res: null, prev: [], pairs: new Array<number>(size).fill(0), contexts: new Array<number>(size).fill(0) };
  }

  /** Level of a value (null before the quantiser is fixed). */
  level(state: TransitionState, x: number): number | null {
    return state.res === null ? null : Math.floor(x / state.res);
  }

  private contextHash(prev: readonly number[]): number {
    let h = 0x811c9dc5;
    for (const p of prev) h = mix32(h ^ mix32(p | 0));
    return h;
  }

  private read(counters: readonly number[], h: number): number {
    const { width, depth } = this.config;
    const h2 = mix32(h ^ 0x5bd1e995) | 1;
    let min = Number.POSITIVE_INFINITY;
    for (let r = 0; r < depth; r++) {
      const c = counters[r * width + countMinColumn(h, h2, r, width)] as number;
      if (c < min) min = c;
    }
    return min;
  }

  private bump(counters: number[], h: number): void {
    const { width, depth } = this.config;
    const h2 = mix32(h ^ 0x5bd1e995) | 1;
    for (let r = 0; r < depth; r++) {
      const i = r * width + countMinColumn(h, h2, r, width);
      counters[i] = (counters[i] as number) + 1;
    }
  }

  update(state: TransitionState, x: number, time: number): TransitionState {
    if (!isFiniteNumber(x) || !isFiniteNumber(time)) return state;
    if (state.n === 0) state.since = time;
    state.n++;
    if (state.lo === null || x < state.lo) state.lo = x;
    if (state.hi === null || x > state.hi) state.hi = x;
    if (state.res === null && state.n >= this.config.warmupSamples) state.res = Math.max((state.hi - state.lo) / this.config.levels, 1e-9);
    if (state.res === null) return state;
    const level = Math.floor(x / state.res);
    if (state.prev.length === this.config.order) {
      const ctx = this.contextHash(state.prev);
      this.bump(state.contexts, ctx);
      this.bump(state.pairs, mix32(ctx ^ mix32((level | 0) + 0x7f4a7c15)));
      state.prev.shift();
    }
    state.prev.push(level);
    return state;
  }

  /** Counts behind a transition into `x`: how often its context was seen, and how often it led to x's level. */
  counts(state: TransitionState, x: number): { context: number; transition: number } | undefined {
    if (state.res === null || state.prev.length < this.config.order || !isFiniteNumber(x)) return undefined;
    const level = Math.floor(x / state.res);
    const ctx = this.contextHash(state.prev);
    return { context: this.read(state.contexts, ctx), transition: this.read(state.pairs, mix32(ctx ^ mix32((level | 0) + 0x7f4a7c15))) };
  }

  surprise(state: TransitionState, x: number): number {
    if (state.res === null || state.prev.length < this.config.order || !isFiniteNumber(x)) return 0;
    const level = Math.floor(x / state.res);
    const ctx = this.contextHash(state.prev);
    const context = this.read(state.contexts, ctx);
    if (context <= 0) return 1;
    const transition = this.read(state.pairs, mix32(ctx ^ mix32((level | 0) + 0x7f4a7c15)));
    const p = transition / context;
    return p >= 1 ? 0 : 1 - p;
  }

  describe(state: TransitionState, x: number): { observed: string; expected: string } {
    const c = this.counts(state, x);
    const level = this.level(state, x);
    if (!c || level === null) return { observed: `value ${x}`, expected: 'still learning the value range' };
    return {
      observed: `level ${state.prev.join(' → ')} → ${level} (value ${x})`,
      expected: `seen ${Math.round(c.transition)} of ${Math.round(c.context)} times after level ${state.prev.join(' → ')}`,
    };
  }

  samples(state: TransitionState): number {
    return state.n;
  }

  since(state: TransitionState): number {
    return state.since;
  }

  sizeOf(state: TransitionState): number {
    return jsonBytes(state);
  }
}

export const transitionBaseline = defineComponent({
  type: 'transition',
  kind: 'baseline',
  stability: 'development',
  description: 'Markov model of a quantised numeric stream (count-min counts): how surprising each level-to-level move is',
  schema: transitionSchema,
  create: (_ctx, config) => new TransitionBaseline(config),
});
