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
import { normalSamples, scorerConformance } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
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

const num = normalSamples(99, 2_000, 1000, 50);
const badNumbers = [Number.NaN, Number.NEGATIVE_INFINITY, 'x' as unknown as number];
const item = (i: number) => `svc-${i % 20}.internal`;
const badItems = [undefined as unknown as string, 7 as unknown as string];

const ewma = new EwmaBaseline({ halfLifeMs: 6 * 3_600_000 });
defineConformanceTests(
  'z_score/ewma',
  scorerConformance({ scorer: new ZScoreScorer(ewma), baseline: ewma, sample: num, anomalous: 5000, invalid: badNumbers }),
);
const welford = new WelfordBaseline();
defineConformanceTests(
  'z_score/welford',
  scorerConformance({ scorer: new ZScoreScorer(welford), baseline: welford, sample: num, anomalous: 5000, invalid: badNumbers }),
);
const seasonal = new SeasonalBaseline({ buckets: 24 });
defineConformanceTests(
  'z_score/seasonal',
  scorerConformance({ scorer: new ZScoreScorer(seasonal), baseline: seasonal, sample: num, anomalous: 5000, invalid: badNumbers }),
);
const sketch = new SketchBaseline();
defineConformanceTests(
  'robust_z',
  scorerConformance({ scorer: new RobustZScorer(sketch), baseline: sketch, sample: num, anomalous: 5000, invalid: badNumbers }),
);
defineConformanceTests(
  'quantile_exceedance',
  scorerConformance({ scorer: new QuantileExceedanceScorer(sketch), baseline: sketch, sample: num, anomalous: 5000, invalid: badNumbers }),
);
defineConformanceTests(
  'out_of_range',
  scorerConformance({ scorer: new OutOfRangeScorer(welford), baseline: welford, sample: num, anomalous: 5000, invalid: badNumbers }),
);
defineConformanceTests(
  'threshold',
  scorerConformance({ scorer: new ThresholdScorer(welford, { above: 2000 }), baseline: welford, sample: num, anomalous: 5000, invalid: badNumbers }),
);
const seen = new FirstSeenBaseline();
defineConformanceTests(
  'novelty',
  scorerConformance({ scorer: new NoveltyScorer(seen), baseline: seen, sample: item, anomalous: 'exfil.example', invalid: badItems }),
);
const cm = new CountMinBaseline();
defineConformanceTests(
  'rarity',
  scorerConformance({ scorer: new RarityScorer(cm), baseline: cm, sample: item, anomalous: 'exfil.example', invalid: badItems }),
);
// 7-minute periods: the scored observation (minute 1000) falls in the period of the last samples.
const distinct = new DistinctBaseline({ periodMs: 420_000 });
// Three items per period normally; the anomalous item is scored in a period already holding 20 distinct ones.
defineConformanceTests(
  'distinct_z',
  scorerConformance({
    scorer: new DistinctZScorer(distinct),
    baseline: distinct,
    sample: (i) => `svc-${i % 3}`,
    anomalous: 'exfil.example',
    invalid: badItems,
  }),
);
const transition = new TransitionBaseline();
defineConformanceTests(
  'transition_surprise',
  scorerConformance({
    scorer: new TransitionSurpriseScorer(transition),
    baseline: transition,
    sample: (i) => (i % 2 === 0 ? 100 : 900),
    anomalous: 500,
    invalid: badNumbers,
  }),
);
const combined = combine<number>({
  z: { baseline: ewma, scorer: new ZScoreScorer(ewma) },
  range: { baseline: welford, scorer: new OutOfRangeScorer(welford) },
});
defineConformanceTests('combine_max', scorerConformance({ ...combined, sample: num, anomalous: 5000, invalid: badNumbers }));
const noisy = combine<number>(
  { z: { baseline: ewma, scorer: new ZScoreScorer(ewma) }, limit: { baseline: welford, scorer: new ThresholdScorer(welford, { above: 3000 }) } },
  { mode: 'noisy_or' },
);
defineConformanceTests('combine_noisy_or', scorerConformance({ ...noisy, sample: num, anomalous: 5000, invalid: badNumbers }));
const lik = likelihood({ baseline: welford, scorer: new ZScoreScorer(welford) }, { warmupSamples: 100 });
defineConformanceTests('likelihood', scorerConformance({ ...lik, sample: num, anomalous: 5000, invalid: badNumbers }));
