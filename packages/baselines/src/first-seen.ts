import { type Baseline, defineComponent, parseConfig, z } from '@outflow/core';
import { fnv1a, isFiniteNumber, jsonBytes, mix32 } from './util.js';
import type { MembershipView } from './views.js';

const DAY = 86_400_000;
const MAX_ITEM_CHARS = 128;

/**
 * An empty exact set: a plain object without a prototype, which V8 creates in
 * dictionary mode (a hash table) from the start, rather than growing a chain
 * of hidden classes, one per item name, before falling back to one — inserts
 * several times cheaper. Still plain data for JSON (snapshots unchanged).
 */
export function exactItems(): Record<string, number> {
  return Object.create(null) as Record<string, number>;
}

/**
 * An item's last-seen time in an exact set, or undefined. Every value is a
 * number, so `typeof` tells an own item from anything a prototype could hold
 * (a set restored from JSON has Object.prototype): one lookup, no hasOwn.
 */
function lastSeen(items: Record<string, number>, key: string): number | undefined {
  const t = items[key];
  return typeof t === 'number' ? t : undefined;
}

/**
 * The key an item is remembered under: items longer than 128 characters by two
 * 32-bit hashes (so one key's state stays bounded in bytes), and `__proto__`
 * renamed so that it is an ordinary property of the plain-object state.
 */
function canonical(item: string): string {
  if (item.length > MAX_ITEM_CHARS) return `\u0000#${fnv1a(item).toString(36)}${fnv1a(item, 0x2545f491).toString(36)}`;
  return item === '__proto__' ? '\u0000__proto__' : item;
}

export const firstSeenSchema = z
  .object({
    /** An item not seen for this long (event time) is new again (in filter mode: after up to forgetMs × (1 + 1/generations)). */
    forgetMs: z
      .number()
      .positive()
      .default(30 * DAY),
    /** Event time the set must have learned before anything counts as new. */
    learnMs: z.number().nonnegative().default(0),
    /** Items kept exactly (with their last-seen time); past this the set moves to an aging Bloom filter. */
    maxExact: z.number().int().positive().default(512),
    /** Bits per filter generation (a multiple of 32). */
    filterBits: z
      .number()
      .int()
      .min(256)
      .max(1 << 20)
      .refine((v) => v % 32 === 0, 'must be a multiple of 32')
      .default(8192),
    /** Hash functions per item. */
    hashes: z.number().int().min(1).max(16).default(4),
    /** Filter generations spanning the forget horizon (one more is kept for the current span). */
    generations: z.number().int().min(1).max(16).default(3),
  })
  .strict();

export type FirstSeenConfig = z.output<typeof firstSeenSchema>;
export type FirstSeenConfigInput = z.input<typeof firstSeenSchema>;

/**
 * Exact mode: `items` maps each item to its last-seen time. Filter mode
 * (`items` null): `gens[g]` is a Bloom filter (32-bit words) of the items seen
 * during span `genIds[g]` (span = forgetMs / generations).
 */
export interface FirstSeenState {
  n: number;
  since: number;
  last: number;
  items: Record<string, number> | null;
  exact: number;
  gens: number[][] | null;
  genIds: number[] | null;
  /** Items inserted into the filter (an upper bound on the distinct items it holds). */
  inserted: number;
}

/**
 * First-seen set with learn and forget windows: remembers which items (e.g.
 * destination domains, API operations) a key has used, and since when. Exact
 * with last-seen times up to `maxExact` items, then an aging Bloom filter
 * whose generations expire with the forget horizon — a fixed size per key.
 */
export class FirstSeenBaseline implements Baseline<FirstSeenState, string>, MembershipView<FirstSeenState> {
  readonly type = 'first_seen';
  readonly config: FirstSeenConfig;
  private readonly span: number;
  private readonly words: number;

  constructor(config: FirstSeenConfigInput = {}) {
    this.config = parseConfig(firstSeenSchema, config, '', 'Invalid baseline "first_seen" configuration');
    this.span = this.config.forgetMs / this.config.generations;
    this.words = this.config.filterBits / 32;
  }

  get forgetMs(): number {
    return this.config.forgetMs;
  }

  get learnMs(): number {
    return this.config.learnMs;
  }

  init(time: number): FirstSeenState {
    return { n: 0, since: time, last: time, items: exactItems(), exact: 0, gens: null, genIds: null, inserted: 0 };
  }

  update(state: FirstSeenState, item: string, time: number): FirstSeenState {
    if (typeof item !== 'string' || !isFiniteNumber(time)) return state;
    item = canonical(item);
    if (state.n === 0) {
      state.since = time;
      state.last = time;
    }
    state.n++;
    if (time > state.last) state.last = time;
    if (state.items !== null) {
      const k = item;
      const prev = lastSeen(state.items, k);
      if (prev === undefined) {
        if (state.exact >= this.config.maxExact) this.prune(state, state.last);
        if (state.items !== null && state.exact >= this.config.maxExact) this.toFilter(state);
      }
      if (state.items !== null) {
        if (prev === undefined) state.exact++;
        if (prev === undefined || time > prev) state.items[k] = time;
        return state;
      }
    }
    this.insert(state, item, time);
    return state;
  }

  /** Drop exact items older than the forget horizon. */
  private prune(state: FirstSeenState, now: number): void {
    const items = state.items as Record<string, number>;
    const horizon = now - this.config.forgetMs;
    const kept = exactItems();
    let n = 0;
    for (const k of Object.keys(items)) {
      const t = items[k] as number;
      if (t > horizon) {
        kept[k] = t;
        n++;
      }
    }
    state.items = kept;
    state.exact = n;
  }

  private toFilter(state: FirstSeenState): void {
    const items = state.items as Record<string, number>;
    const g = this.config.generations + 1;
    state.gens = Array.from({ length: g }, () => new Array<number>(this.words).fill(0));
    state.genIds = new Array<number>(g).fill(-1);
    state.items = null;
    state.exact = 0;
    for (const k of Object.keys(items)) this.insert(state, k, items[k] as number);
  }

  private slot(state: FirstSeenState, time: number, create: boolean): number[] | undefined {
    const id = Math.floor(time / this.span);
    const gens = state.gens as number[][];
    const ids = state.genIds as number[];
    const g = id % gens.length;
    if (ids[g] === id) return gens[g];
    if (!create || (ids[g] as number) > id) return undefined;
    (gens[g] as number[]).fill(0);
    ids[g] = id;
    return gens[g];
  }

  private insert(state: FirstSeenState, item: string, time: number): void {
    const bits = this.slot(state, time, true);
    if (!bits) return; // older than every generation kept: nothing to remember
    const h1 = fnv1a(item);
    const h2 = mix32(h1 ^ 0x9e3779b9) | 1;
    const m = this.config.filterBits;
    let fresh = false;
    for (let i = 0; i < this.config.hashes; i++) {
      const bit = (h1 + Math.imul(i, h2)) >>> 0;
      const b = bit % m;
      const word = b >>> 5;
      const mask = 1 << (b & 31);
      const w = bits[word] as number;
      if ((w & mask) === 0) {
        fresh = true;
        bits[word] = w | mask;
      }
    }
    if (fresh) state.inserted++;
  }

  private inFilter(state: FirstSeenState, item: string, time: number): boolean {
    const gens = state.gens as number[][];
    const ids = state.genIds as number[];
    const oldest = Math.floor((time - this.config.forgetMs) / this.span);
    const h1 = fnv1a(item);
    const h2 = mix32(h1 ^ 0x9e3779b9) | 1;
    const m = this.config.filterBits;
    for (let g = 0; g < gens.length; g++) {
      const id = ids[g] as number;
      if (id < 0 || id < oldest) continue;
      const bits = gens[g] as number[];
      let all = true;
      for (let i = 0; i < this.config.hashes && all; i++) {
        const b = ((h1 + Math.imul(i, h2)) >>> 0) % m;
        if (((bits[b >>> 5] as number) & (1 << (b & 31))) === 0) all = false;
      }
      if (all) return true;
    }
    return false;
  }

  known(state: FirstSeenState, item: string, time: number): boolean {
    if (typeof item !== 'string') return false;
    item = canonical(item);
    if (state.items !== null) {
      const t = lastSeen(state.items, item);
      return t !== undefined && time - t <= this.config.forgetMs;
    }
    return this.inFilter(state, item, time);
  }

  size(state: FirstSeenState): number {
    return state.items !== null ? state.exact : state.inserted;
  }

  approximate(state: FirstSeenState): boolean {
    return state.items === null;
  }

  samples(state: FirstSeenState): number {
    return state.n;
  }

  since(state: FirstSeenState): number {
    return state.since;
  }

  sizeOf(state: FirstSeenState): number {
    return jsonBytes(state);
  }
}

export const firstSeenBaseline = defineComponent({
  type: 'first_seen',
  kind: 'baseline',
  stability: 'alpha',
  description: 'First-seen set with learn and forget windows: exact up to a size, then an aging Bloom filter',
  schema: firstSeenSchema,
  create: (_ctx, config) => new FirstSeenBaseline(config),
});
