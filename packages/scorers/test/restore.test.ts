import {
  CountMinBaseline,
  DistinctBaseline,
  EwmaBaseline,
  FirstSeenBaseline,
  SeasonalBaseline,
  SketchBaseline,
  TransitionBaseline,
  WelfordBaseline,
} from '@outflow/baselines';
import type { Baseline, Scorer } from '@outflow/core';
import { MIN, normalSamples, roundTrip, T0 } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import {
  combine,
  DistinctZScorer,
  likelihood,
  NoveltyScorer,
  OutOfRangeScorer,
  QuantileExceedanceScorer,
  RarityScorer,
  RobustZScorer,
  ThresholdScorer,
  TransitionSurpriseScorer,
  ZScoreScorer,
} from '../src/index.js';

// biome-ignore lint/suspicious/noExplicitAny: a table of models with different state types
type Case = { name: string; baseline: Baseline<any, any>; scorer: Scorer<any, any>; sample: (i: number) => unknown; probes: unknown[]; maxBytes: number };

const num = normalSamples(8, 20_000, 500, 40);
const item = (i: number) => `host-${(i * 7919) % Math.max(10, i)}`;

function cases(): Case[] {
  const ewma = new EwmaBaseline({ halfLifeMs: 3_600_000 });
  const welford = new WelfordBaseline();
  const seasonal = new SeasonalBaseline();
  const sketch = new SketchBaseline({ halfLifeMs: 86_400_000 });
  const seen = new FirstSeenBaseline();
  const cm = new CountMinBaseline();
  const distinct = new DistinctBaseline({ periodMs: 600_000 });
  const transition = new TransitionBaseline();
  const numbers = [num(3), 900, -5, Number.NaN];
  const items = ['host-1', 'never-seen', ''];
  return [
    { name: 'z_score', baseline: ewma, scorer: new ZScoreScorer(ewma), sample: num, probes: numbers, maxBytes: 300 },
    { name: 'z_score/seasonal', baseline: seasonal, scorer: new ZScoreScorer(seasonal), sample: num, probes: numbers, maxBytes: 20_000 },
    { name: 'robust_z', baseline: sketch, scorer: new RobustZScorer(sketch), sample: num, probes: numbers, maxBytes: 24_000 },
    { name: 'quantile_exceedance', baseline: sketch, scorer: new QuantileExceedanceScorer(sketch), sample: num, probes: numbers, maxBytes: 24_000 },
    { name: 'out_of_range', baseline: welford, scorer: new OutOfRangeScorer(welford), sample: num, probes: numbers, maxBytes: 300 },
    { name: 'threshold', baseline: welford, scorer: new ThresholdScorer(welford, { above: 700 }), sample: num, probes: numbers, maxBytes: 300 },
    { name: 'novelty', baseline: seen, scorer: new NoveltyScorer(seen), sample: item, probes: items, maxBytes: 40_000 },
    { name: 'rarity', baseline: cm, scorer: new RarityScorer(cm), sample: item, probes: items, maxBytes: 8_000 },
    { name: 'distinct_z', baseline: distinct, scorer: new DistinctZScorer(distinct), sample: item, probes: items, maxBytes: 4_000 },
    { name: 'transition_surprise', baseline: transition, scorer: new TransitionSurpriseScorer(transition), sample: num, probes: numbers, maxBytes: 12_000 },
    {
      name: 'likelihood(combine)',
      ...likelihood(
        combine<number>({ z: { baseline: ewma, scorer: new ZScoreScorer(ewma) }, range: { baseline: welford, scorer: new OutOfRangeScorer(welford) } }),
        { window: 10 },
      ),
      sample: num,
      probes: numbers,
      maxBytes: 1_000,
    },
  ];
}

describe('every scorer scores a restored state exactly as the original, and its model stays bounded', () => {
  for (const c of cases()) {
    it(c.name, () => {
      let s = c.baseline.init(T0);
      for (let i = 0; i < 20_000; i++) s = c.baseline.update(s, c.sample(i), T0 + i * MIN);
      const restored = roundTrip(s);
      const at = T0 + 20_000 * MIN;
      for (const p of c.probes) expect(c.scorer.score(restored, p, at)).toEqual(c.scorer.score(s, p, at));
      expect(Buffer.byteLength(JSON.stringify(s))).toBeLessThanOrEqual(c.maxBytes);
      if (c.baseline.sizeOf) expect(c.baseline.sizeOf(s)).toBeLessThanOrEqual(c.maxBytes);
    });
  }
});
