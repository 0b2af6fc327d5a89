import { baselineConformance, normalSamples } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import {
  CountMinBaseline,
  DistinctBaseline,
  EwmaBaseline,
  FirstSeenBaseline,
  SeasonalBaseline,
  SketchBaseline,
  TransitionBaseline,
  WelfordBaseline,
} from '../src/index.js';

const num = normalSamples(42, 20_000, 1000, 100);
const badNumbers = [Number.NaN, Number.POSITIVE_INFINITY, 'x' as unknown as number, undefined as unknown as number];
const badItems = [undefined as unknown as string, 42 as unknown as string, null as unknown as string];
// Items drawn from a growing vocabulary, so set baselines are pushed to their bounds.
const item = (i: number) => `dest-${(i * 7919) % Math.max(10, i)}.example`;

defineConformanceTests('ewma', baselineConformance({ baseline: new EwmaBaseline({ halfLifeMs: 3_600_000 }), sample: num, invalid: badNumbers, maxBytes: 200 }));
defineConformanceTests('welford', baselineConformance({ baseline: new WelfordBaseline(), sample: num, invalid: badNumbers, maxBytes: 200 }));
defineConformanceTests('seasonal', baselineConformance({ baseline: new SeasonalBaseline(), sample: num, invalid: badNumbers, maxBytes: 20_000 }));
defineConformanceTests(
  'quantile_sketch',
  baselineConformance({ baseline: new SketchBaseline({ halfLifeMs: 86_400_000 }), sample: num, invalid: badNumbers, maxBytes: 24_000 }),
);
defineConformanceTests('first_seen', baselineConformance({ baseline: new FirstSeenBaseline(), sample: item, invalid: badItems, maxBytes: 40_000 }));
defineConformanceTests('distinct_count', baselineConformance({ baseline: new DistinctBaseline(), sample: item, invalid: badItems, maxBytes: 4_000 }));
defineConformanceTests('count_min', baselineConformance({ baseline: new CountMinBaseline(), sample: item, invalid: badItems, maxBytes: 8_000 }));
defineConformanceTests('transition', baselineConformance({ baseline: new TransitionBaseline(), sample: num, invalid: badNumbers, maxBytes: 12_000 }));
