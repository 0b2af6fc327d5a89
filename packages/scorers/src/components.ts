import { BASELINES } from '@outflow/baselines';
import { type Baseline, type ComponentContext, ConfigError, type ConfigIssue, defineComponent, type Scorer, silentLogger, z } from '@outflow/core';
import { asyncScheduler } from 'rxjs';
import type { Model } from './model.js';
import { OutOfRangeScorer, outOfRangeSchema, QuantileExceedanceScorer, quantileExceedanceSchema } from './quantile.js';
import {
  DistinctZScorer,
  distinctZSchema,
  NoveltyScorer,
  noveltySchema,
  RarityScorer,
  raritySchema,
  ThresholdScorer,
  TransitionSurpriseScorer,
  thresholdSchema,
  transitionSurpriseSchema,
} from './set-scorers.js';
import { RobustZScorer, robustZSchema, ZScoreScorer, zScoreSchema } from './z-score.js';

// biome-ignore lint/suspicious/noExplicitAny: a binding pairs with baselines of any state type
type AnyBaseline = Baseline<any, any>;
// biome-ignore lint/suspicious/noExplicitAny: see above
type AnyScorer = Scorer<any, any>;

/** What a scorer component creates: a scorer waiting for the baseline it reads. */
export interface ScorerBinding {
  readonly type: string;
  /** The baseline methods this scorer reads. */
  readonly needs: readonly string[];
  /** Bind to a baseline; throws ConfigError when the baseline lacks what the scorer reads. */
  bind(baseline: AnyBaseline): AnyScorer;
}

// biome-ignore lint/suspicious/noExplicitAny: the capability check below stands in for the type
function binding(type: string, needs: readonly string[], make: (baseline: any) => AnyScorer): ScorerBinding {
  return {
    type,
    needs,
    bind(baseline) {
      const missing = needs.filter((m) => typeof (baseline as unknown as Record<string, unknown>)[m] !== 'function');
      if (missing.length > 0)
        throw new ConfigError(
          [
            {
              path: 'scorer.type',
              message: `scorer "${type}" reads ${needs.join('/')} from its baseline; baseline "${baseline.type}" has no ${missing.join(', ')}`,
            },
          ],
          'Invalid model',
        );
      return make(baseline);
    },
  };
}

const MOMENTS = ['mean', 'variance', 'support'];

export const zScoreScorer = defineComponent({
  type: 'z_score',
  kind: 'scorer',
  stability: 'alpha',
  description: 'z-score against a mean and variance (ewma, welford, seasonal, quantile_sketch, distinct_count)',
  schema: zScoreSchema,
  create: (_ctx, config) => binding('z_score', MOMENTS, (b) => new ZScoreScorer(b, config)),
});

export const robustZScorer = defineComponent({
  type: 'robust_z',
  kind: 'scorer',
  stability: 'alpha',
  description: 'Robust z-score: distance from the median in scaled MADs (quantile_sketch)',
  schema: robustZSchema,
  create: (_ctx, config) => binding('robust_z', ['median', 'mad'], (b) => new RobustZScorer(b, config)),
});

export const quantileExceedanceScorer = defineComponent({
  type: 'quantile_exceedance',
  kind: 'scorer',
  stability: 'alpha',
  description: 'How far beyond a learned quantile an observation lies, and its rank (quantile_sketch)',
  schema: quantileExceedanceSchema,
  create: (_ctx, config) => binding('quantile_exceedance', ['quantile', 'median', 'rank'], (b) => new QuantileExceedanceScorer(b, config)),
});

export const outOfRangeScorer = defineComponent({
  type: 'out_of_range',
  kind: 'scorer',
  stability: 'alpha',
  description: 'A new extreme: outside the learned [min, max] widened by a tolerance (welford, quantile_sketch)',
  schema: outOfRangeSchema,
  create: (_ctx, config) => binding('out_of_range', ['min', 'max'], (b) => new OutOfRangeScorer(b, config)),
});

export const noveltyScorer = defineComponent({
  type: 'novelty',
  kind: 'scorer',
  stability: 'alpha',
  description: 'Never seen, or not seen within the forget horizon (first_seen)',
  schema: noveltySchema,
  create: (_ctx, config) => binding('novelty', ['known', 'size', 'approximate'], (b) => new NoveltyScorer(b, config)),
});

export const rarityScorer = defineComponent({
  type: 'rarity',
  kind: 'scorer',
  stability: 'alpha',
  description: "One minus the item's share of everything learned (count_min)",
  schema: raritySchema,
  create: (_ctx, config) => binding('rarity', ['count', 'total'], (b) => new RarityScorer(b, config)),
});

export const transitionSurpriseScorer = defineComponent({
  type: 'transition_surprise',
  kind: 'scorer',
  stability: 'development',
  description: 'Probability that a level-to-level move was not predicted (transition)',
  schema: transitionSurpriseSchema,
  create: () => binding('transition_surprise', ['surprise', 'describe'], (b) => new TransitionSurpriseScorer(b)),
});

export const distinctZScorer = defineComponent({
  type: 'distinct_z',
  kind: 'scorer',
  stability: 'alpha',
  description: "z of this period's distinct count against past periods (distinct_count)",
  schema: distinctZSchema,
  create: (_ctx, config) => binding('distinct_z', ['distinct', 'mean', 'variance', 'support'], (b) => new DistinctZScorer(b, config)),
});

export const thresholdScorer = defineComponent({
  type: 'threshold',
  kind: 'scorer',
  stability: 'alpha',
  description: 'A fixed limit with a direction (above, below or outside a band); any baseline',
  schema: thresholdSchema,
  create: (_ctx, config) => binding('threshold', ['samples', 'since'], (b) => new ThresholdScorer(b, config)),
});

/** Every scorer component, by type. */
export const SCORERS = {
  z_score: zScoreScorer,
  robust_z: robustZScorer,
  quantile_exceedance: quantileExceedanceScorer,
  out_of_range: outOfRangeScorer,
  novelty: noveltyScorer,
  rarity: rarityScorer,
  transition_surprise: transitionSurpriseScorer,
  distinct_z: distinctZScorer,
  threshold: thresholdScorer,
} as const;

export const modelSpecSchema = z
  .object({
    baseline: z.object({ type: z.string() }).passthrough(),
    scorer: z.object({ type: z.string() }).passthrough(),
  })
  .strict();

export type ModelSpec = z.input<typeof modelSpecSchema>;

const nullContext = (name: string): ComponentContext =>
  ({
    name,
    type: name,
    kind: 'baseline',
    metrics: { add() {}, gauge() {} },
    logger: silentLogger,
    deadLetter() {},
    clock: { now: () => Date.now() },
    scheduler: asyncScheduler,
    signal: new AbortController().signal,
  }) as unknown as ComponentContext;

/**
 * Build a model from plain configuration, e.g.
 * `{ baseline: { type: 'ewma', halfLifeMs: 3600000 }, scorer: { type: 'z_score', direction: 'up' } }`.
 * Every problem (unknown types, bad options, a scorer that cannot read the
 * baseline) is reported at once, with its path.
 */
export function createModel(spec: unknown, path = 'model', ctx?: ComponentContext): Model<unknown, unknown> {
  const issues: ConfigIssue[] = [];
  const at = (p: string) => (path ? `${path}.${p}` : p);
  const parsed = modelSpecSchema.safeParse(spec ?? {});
  if (!parsed.success)
    throw new ConfigError(
      parsed.error.issues.map((i) => ({ path: at(i.path.join('.')), message: i.message })),
      'Invalid model',
    );
  const { type: bType, ...bConfig } = parsed.data.baseline;
  const { type: sType, ...sConfig } = parsed.data.scorer;
  const bFactory = (BASELINES as Record<string, (typeof BASELINES)[keyof typeof BASELINES]>)[bType];
  const sFactory = (SCORERS as Record<string, (typeof SCORERS)[keyof typeof SCORERS]>)[sType];
  if (!bFactory) issues.push({ path: at('baseline.type'), message: `unknown baseline "${bType}" (known: ${Object.keys(BASELINES).join(', ')})` });
  if (!sFactory) issues.push({ path: at('scorer.type'), message: `unknown scorer "${sType}" (known: ${Object.keys(SCORERS).join(', ')})` });
  let bValid: unknown;
  let sValid: unknown;
  for (const [factory, config, name, set] of [
    [bFactory, bConfig, 'baseline', (v: unknown) => (bValid = v)],
    [sFactory, sConfig, 'scorer', (v: unknown) => (sValid = v)],
  ] as const) {
    if (!factory) continue;
    try {
      set((factory as { validate(c: unknown, p: string): unknown }).validate(config, at(name)));
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      else throw err;
    }
  }
  if (issues.length > 0) throw new ConfigError(issues, 'Invalid model');
  const baseline = (bFactory as unknown as { create(c: ComponentContext, v: unknown): AnyBaseline }).create(ctx ?? nullContext(bType), bValid);
  const bind = (sFactory as unknown as { create(c: ComponentContext, v: unknown): ScorerBinding }).create(ctx ?? nullContext(sType), sValid);
  try {
    return { baseline, scorer: bind.bind(baseline) };
  } catch (err) {
    if (err instanceof ConfigError)
      throw new ConfigError(
        err.issues.map((i) => ({ path: at(i.path), message: i.message })),
        'Invalid model',
      );
    throw err;
  }
}
