import type { DistinctView, FrequencyView, MembershipView, TransitionView } from '@outflow/baselines';
import { type Baseline, parseConfig, type Score, type Scorer, z } from '@outflow/core';
import { formatDuration, formatNumber } from './format.js';
import { zProbability } from './math.js';
import { emptyScore, explanation } from './model.js';

export const noveltySchema = z
  .object({
    /** Probability given to a never-seen (or forgotten) item once the set has learned for `learnMs`. */
    probability: z.number().gt(0).max(1).default(1),
  })
  .strict();

export type NoveltyConfigInput = z.input<typeof noveltySchema>;

function quote(item: unknown): string {
  const text = typeof item === 'string' ? item : String(item);
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}

/**
 * Novelty (first_seen): an item never seen, or not seen within the forget
 * horizon, scores `probability` (1 by default); a known item scores 0. While
 * the set is younger than its `learnMs`, nothing is novel.
 */
export class NoveltyScorer<S> implements Scorer<S, string> {
  readonly type = 'novelty';
  readonly config: z.output<typeof noveltySchema>;

  constructor(
    private readonly baseline: Baseline<S, string> & MembershipView<S>,
    config: NoveltyConfigInput = {},
  ) {
    this.config = parseConfig(noveltySchema, config, '', 'Invalid scorer "novelty" configuration');
  }

  private learning(state: S, time: number): boolean {
    const b = this.baseline;
    return b.learnMs > 0 && (b.samples(state) === 0 || time - b.since(state) < b.learnMs);
  }

  probability(state: S, item: string, time: number): number {
    if (typeof item !== 'string' || this.learning(state, time)) return 0;
    return this.baseline.known(state, item, time) ? 0 : this.config.probability;
  }

  value(state: S, item: string, time: number): number {
    return this.probability(state, item, time) > 0 ? 1 : 0;
  }

  score(state: S, item: string, time: number): Score {
    const b = this.baseline;
    if (typeof item !== 'string') return emptyScore(b, state, time, this.type, quote(item), 'not a string');
    const known = b.known(state, item, time);
    const learning = this.learning(state, time);
    const novel = !known && !learning;
    const approx = b.approximate(state) ? ' (approximate: Bloom filter)' : '';
    return {
      value: novel ? 1 : 0,
      probability: novel ? this.config.probability : 0,
      explanation: explanation(
        b,
        state,
        time,
        this.type,
        `${quote(item)} ${known ? 'seen before' : 'not seen'} within ${formatDuration(b.forgetMs)}`,
        learning
          ? `still learning (${formatDuration(b.learnMs)} of history needed)`
          : `one of ${formatNumber(b.size(state))} items seen in the last ${formatDuration(b.forgetMs)}${approx}`,
        { known, learning, remembered: b.size(state) },
      ),
    };
  }
}

export const raritySchema = z
  .object({
    /** Total (decayed) count the sketch needs before rarity means anything; below, probability 0. */
    minTotal: z.number().nonnegative().default(10),
  })
  .strict();

export type RarityConfigInput = z.input<typeof raritySchema>;

/**
 * Rarity (count_min): `probability` is 1 − the item's share of everything
 * learned (1 for an item never seen), `value` the surprisal in bits,
 * −log2((count + 1) / (total + 1)).
 */
export class RarityScorer<S> implements Scorer<S, string> {
  readonly type = 'rarity';
  readonly config: z.output<typeof raritySchema>;

  constructor(
    private readonly baseline: Baseline<S, string> & FrequencyView<S>,
    config: RarityConfigInput = {},
  ) {
    this.config = parseConfig(raritySchema, config, '', 'Invalid scorer "rarity" configuration');
  }

  probability(state: S, item: string): number {
    if (typeof item !== 'string') return 0;
    const total = this.baseline.total(state);
    if (total < this.config.minTotal || total <= 0) return 0;
    const share = this.baseline.count(state, item) / total;
    return share >= 1 ? 0 : 1 - share;
  }

  value(state: S, item: string): number {
    if (typeof item !== 'string') return 0;
    return -Math.log2((this.baseline.count(state, item) + 1) / (this.baseline.total(state) + 1));
  }

  score(state: S, item: string, time: number): Score {
    const b = this.baseline;
    if (typeof item !== 'string') return emptyScore(b, state, time, this.type, quote(item), 'not a string');
    const total = b.total(state);
    const count = b.count(state, item);
    const probability = this.probability(state, item);
    return {
      value: -Math.log2((count + 1) / (total + 1)),
      probability,
      explanation: explanation(
        b,
        state,
        time,
        this.type,
        `${quote(item)} seen about ${formatNumber(count)} times`,
        total < this.config.minTotal
          ? `still learning (${formatNumber(total)} of ${this.config.minTotal} observations)`
          : `out of ${formatNumber(total)} observations`,
        { count, total, share: total > 0 ? count / total : 0 },
      ),
    };
  }
}

export const transitionSurpriseSchema = z.object({}).strict();

/** Transition surprise (transition): probability that the move into this level was not predicted from the previous level(s). */
export class TransitionSurpriseScorer<S> implements Scorer<S, number> {
  readonly type = 'transition_surprise';

  constructor(
    private readonly baseline: Baseline<S, number> & TransitionView<S, number>,
    config: z.input<typeof transitionSurpriseSchema> = {},
  ) {
    parseConfig(transitionSurpriseSchema, config, '', 'Invalid scorer "transition_surprise" configuration');
  }

  probability(state: S, x: number): number {
    return this.baseline.surprise(state, x);
  }

  value(state: S, x: number): number {
    return this.baseline.surprise(state, x);
  }

  score(state: S, x: number, time: number): Score {
    const p = this.baseline.surprise(state, x);
    const d = this.baseline.describe(state, x);
    return { value: p, probability: p, explanation: explanation(this.baseline, state, time, this.type, d.observed, d.expected, { surprise: p }) };
  }
}

export const thresholdSchema = z
  .object({
    /** Anomalous above this value. */
    above: z.number().optional(),
    /** Anomalous below this value. */
    below: z.number().optional(),
  })
  .strict()
  .refine((c) => c.above !== undefined || c.below !== undefined, 'set above, below or both');

export type ThresholdConfigInput = z.input<typeof thresholdSchema>;

/**
 * A fixed threshold with a direction, for limits that need no learning
 * ("more than 10 GB in an hour is always worth a look"). Works with any
 * baseline (only its age and sample count are reported). `value` is the
 * distance beyond the limit (negative inside); probability is 1 beyond it.
 */
export class ThresholdScorer<S> implements Scorer<S, number> {
  readonly type = 'threshold';
  readonly config: z.output<typeof thresholdSchema>;

  constructor(
    private readonly baseline: Baseline<S, number>,
    config: ThresholdConfigInput,
  ) {
    this.config = parseConfig(thresholdSchema, config, '', 'Invalid scorer "threshold" configuration');
  }

  private beyond(x: number): number {
    const { above, below } = this.config;
    let v = Number.NEGATIVE_INFINITY;
    if (above !== undefined) v = x - above;
    if (below !== undefined) v = Math.max(v, below - x);
    return v;
  }

  probability(_state: S, x: number): number {
    return typeof x === 'number' && Number.isFinite(x) && this.beyond(x) > 0 ? 1 : 0;
  }

  value(_state: S, x: number): number {
    return typeof x === 'number' && Number.isFinite(x) ? this.beyond(x) : 0;
  }

  score(state: S, x: number, time: number): Score {
    if (typeof x !== 'number' || !Number.isFinite(x)) return emptyScore(this.baseline, state, time, this.type, String(x), 'not a finite number');
    const { above, below } = this.config;
    const expected =
      above !== undefined && below !== undefined
        ? `${formatNumber(below)} … ${formatNumber(above)}`
        : above !== undefined
          ? `≤ ${formatNumber(above)}`
          : `≥ ${formatNumber(below as number)}`;
    const v = this.beyond(x);
    return { value: v, probability: v > 0 ? 1 : 0, explanation: explanation(this.baseline, state, time, this.type, formatNumber(x), expected, { beyond: v }) };
  }
}

export const distinctZSchema = z
  .object({
    /** Floor on the standard deviation of past periods' counts. */
    minStd: z.number().nonnegative().default(1),
    /** Completed periods needed before it scores; below, probability 0. */
    minPeriods: z.number().int().nonnegative().default(3),
  })
  .strict();

export type DistinctZConfigInput = z.input<typeof distinctZSchema>;

/**
 * Distinct-count surge (distinct_count): z of the number of distinct items in
 * the current period, this item included, against the counts of past periods
 * — "40 distinct destinations this hour; usually 5 ± 2". Upwards only.
 */
export class DistinctZScorer<S> implements Scorer<S, string> {
  readonly type = 'distinct_z';
  readonly config: z.output<typeof distinctZSchema>;

  constructor(
    private readonly baseline: Baseline<S, string> & DistinctView<S>,
    config: DistinctZConfigInput = {},
  ) {
    this.config = parseConfig(distinctZSchema, config, '', 'Invalid scorer "distinct_z" configuration');
  }

  private z(state: S, item: string, time: number): { z: number; count: number; mean: number; sd: number } | undefined {
    if (typeof item !== 'string' || !Number.isFinite(time)) return undefined;
    const b = this.baseline;
    if (b.support(state, time) < Math.max(1, this.config.minPeriods)) return undefined;
    const count = b.distinct(state, time, item);
    const mean = b.mean(state, time);
    const sd = Math.max(Math.sqrt(b.variance(state, time)), this.config.minStd);
    return { z: (count - mean) / sd, count, mean, sd };
  }

  probability(state: S, item: string, time: number): number {
    const r = this.z(state, item, time);
    return r === undefined ? 0 : zProbability(r.z);
  }

  value(state: S, item: string, time: number): number {
    return this.z(state, item, time)?.z ?? 0;
  }

  score(state: S, item: string, time: number): Score {
    const r = this.z(state, item, time);
    if (!r) return emptyScore(this.baseline, state, time, this.type, quote(item), typeof item === 'string' ? 'still learning past periods' : 'not a string');
    return {
      value: r.z,
      probability: zProbability(r.z),
      explanation: explanation(
        this.baseline,
        state,
        time,
        this.type,
        `${formatNumber(Math.round(r.count))} distinct items this period (with ${quote(item)})`,
        `${formatNumber(r.mean)} ± ${formatNumber(r.sd)} per period`,
        { z: r.z, count: r.count, mean: r.mean, std: r.sd },
      ),
    };
  }
}
