import { CountMinBaseline, EwmaBaseline, FirstSeenBaseline, SeasonalBaseline, SketchBaseline, TransitionBaseline, WelfordBaseline } from '@outflow/baselines';
import { DAY, HOUR, MIN, T0 } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  formatNumber,
  logScale,
  NoveltyScorer,
  normalTail,
  OutOfRangeScorer,
  QuantileExceedanceScorer,
  RarityScorer,
  RobustZScorer,
  ThresholdScorer,
  TransitionSurpriseScorer,
  ZScoreScorer,
  zProbability,
} from '../src/index.js';

function welfordOf(values: number[]) {
  const b = new WelfordBaseline();
  let s = b.init(T0);
  values.forEach((x, i) => {
    s = b.update(s, x, T0 + i * MIN);
  });
  return { b, s };
}

describe('math', () => {
  it('has accurate normal tails', () => {
    expect(normalTail(0)).toBeCloseTo(0.5, 7);
    expect(normalTail(1.959964)).toBeCloseTo(0.025, 6);
    expect(normalTail(5) / 2.866515718791939e-7).toBeCloseTo(1, 5);
    expect(normalTail(-1)).toBeCloseTo(1 - 0.15865525393145707, 6);
    expect(zProbability(2)).toBeCloseTo(0.9544997361036416, 6);
    expect(zProbability(-3)).toBe(0);
    expect(logScale(1 - 1e-5)).toBeCloseTo(0.5, 4);
    expect(logScale(1)).toBe(1);
  });

  it('formats numbers and durations for humans', () => {
    expect(formatNumber(1234.5)).toBe('1235');
    expect(formatNumber(5_200_000_000)).toBe('5.2G');
    expect(formatNumber(276_864)).toBe('276.9k');
    expect(formatNumber(12_345)).toBe('12.35k');
    expect(formatNumber(9999)).toBe('9999');
    expect(formatNumber(0.000012)).toBe('1.20e-5');
    expect(formatDuration(90 * MIN)).toBe('90 min');
    expect(formatDuration(30 * DAY)).toBe('30 d');
  });
});

describe('z_score', () => {
  it('scores the distance from the mean in standard deviations', () => {
    const { b, s } = welfordOf([2, 4, 4, 4, 5, 5, 7, 9]); // mean 5, σ 2
    const both = new ZScoreScorer(b);
    const score = both.score(s, 9, T0 + 8 * MIN);
    expect(score.value).toBe(2);
    expect(score.probability).toBeCloseTo(0.9545, 4);
    expect(score.explanation).toMatchObject({ scorer: 'z_score', observed: '9', expected: '5 ± 2 (mean ± σ)', samples: 8, baselineAgeMs: 8 * MIN });
    expect(both.score(s, 1, T0).value).toBe(2);
    const up = new ZScoreScorer(b, { direction: 'up' });
    expect(up.score(s, 1, T0)).toMatchObject({ value: -2, probability: 0 });
    expect(new ZScoreScorer(b, { direction: 'down' }).probability(s, 1, T0)).toBeCloseTo(0.9545, 4);
  });

  it('floors the deviation so a constant baseline does not make noise certain', () => {
    const { b, s } = welfordOf([100, 100, 100, 100]);
    expect(new ZScoreScorer(b).score(s, 101, T0).value).toBeCloseTo(1, 9); // σ floored at 1 % of 100
    expect(new ZScoreScorer(b, { minRelStd: 0 }).score(s, 101, T0).value).toBe(Number.POSITIVE_INFINITY);
    expect(new ZScoreScorer(b, { minRelStd: 0 }).score(s, 100, T0).value).toBe(0);
  });

  it('reads the bucket of a seasonal profile', () => {
    const b = new SeasonalBaseline({ buckets: 24, minBucketSamples: 2 });
    let s = b.init(T0);
    for (let d = 0; d < 10; d++) for (let h = 0; h < 24; h++) s = b.update(s, h === 3 ? 1000 + (d % 2) * 10 : 10 + (d % 2), T0 + d * DAY + h * HOUR);
    const z = new ZScoreScorer(b, { direction: 'up' });
    expect(z.probability(s, 1000, T0 + 20 * DAY + 3 * HOUR)).toBeLessThan(0.9);
    expect(z.probability(s, 1000, T0 + 20 * DAY + 4 * HOUR)).toBe(1);
  });

  it('waits for support and ignores non-numbers', () => {
    const b = new EwmaBaseline();
    const z = new ZScoreScorer(b, { minSupport: 3 });
    let s = b.init(T0);
    s = b.update(s, 1, T0);
    expect(z.score(s, 100, T0)).toMatchObject({ value: 0, probability: 0 });
    expect(z.score(s, Number.NaN, T0).explanation.expected).toBe('not a finite number');
  });
});

describe('robust_z', () => {
  it('uses the median and 1.4826 × MAD', () => {
    const b = new SketchBaseline({ relativeAccuracy: 0.005 });
    let s = b.init(T0);
    for (let i = 1; i <= 9; i++) s = b.update(s, i, T0 + i);
    const r = new RobustZScorer(b, { direction: 'up', minRelMad: 0 });
    const score = r.score(s, 11, T0 + 10);
    expect(score.value).toBeCloseTo(6 / (1.4826 * 2), 1);
    expect(score.explanation.expected).toMatch(/^median (4\.9\d*|5(\.0\d*)?) ± /);
    // One huge outlier in what was learned barely moves it.
    s = b.update(s, 1e9, T0 + 11);
    b.refresh(s);
    expect(r.score(s, 11, T0 + 12).value).toBeGreaterThan(1.5);
  });
});

describe('quantile_exceedance', () => {
  it('measures how far past the learned quantile an observation lies, and its rank', () => {
    const b = new SketchBaseline({ relativeAccuracy: 0.01, maxBins: 1024 });
    let s = b.init(T0);
    for (let i = 1; i <= 1000; i++) s = b.update(s, i, T0 + i);
    const q = new QuantileExceedanceScorer(b, { quantile: 0.99 });
    const inside = q.score(s, 500, T0);
    const beyond = q.score(s, 1490, T0);
    expect(inside.value).toBeLessThan(0);
    expect(inside.probability).toBeCloseTo(0.5, 2);
    expect(beyond.probability).toBe(1);
    // p99 ≈ 990, median ≈ 500: (1490 − 990) / (990 − 500) ≈ 1.02
    expect(beyond.value).toBeCloseTo(500 / 490, 1);
    expect(beyond.explanation.expected).toMatch(/^≤ (9[89]\d|100\d)(\.\d)? \(p99\), median (49\d|50\d)/);
    expect(new QuantileExceedanceScorer(b, { direction: 'down' }).probability(s, 5)).toBeCloseTo(0.995, 2);
  });
});

describe('out_of_range', () => {
  it('fires on a new extreme beyond the tolerance', () => {
    const { b, s } = welfordOf([10, 20, 15, 12]);
    const r = new OutOfRangeScorer(b, { tolerance: 0.1 });
    expect(r.probability(s, 20.9)).toBe(0);
    expect(r.probability(s, 21.1)).toBe(1);
    expect(r.probability(s, 8.9)).toBe(1);
    expect(r.score(s, 30, T0)).toMatchObject({ value: 1, probability: 1 });
    expect(r.score(s, 30, T0).explanation.expected).toBe('within 9 … 21 (seen 10 … 20)');
    expect(new OutOfRangeScorer(b, { direction: 'up' }).probability(s, 0)).toBe(0);
  });
});

describe('novelty', () => {
  it('scores an unseen item 1 once the set has learned long enough', () => {
    const b = new FirstSeenBaseline({ learnMs: DAY, forgetMs: 7 * DAY });
    const n = new NoveltyScorer(b);
    let s = b.init(T0);
    s = b.update(s, 'a.example', T0);
    expect(n.score(s, 'b.example', T0 + HOUR)).toMatchObject({ probability: 0, explanation: { details: { learning: true } } });
    s = b.update(s, 'a.example', T0 + 2 * DAY);
    const fresh = n.score(s, 'b.example', T0 + 2 * DAY);
    expect(fresh).toMatchObject({ value: 1, probability: 1 });
    expect(fresh.explanation.observed).toBe('"b.example" not seen within 7 d');
    expect(fresh.explanation.expected).toBe('one of 1 items seen in the last 7 d');
    expect(n.probability(s, 'a.example', T0 + 2 * DAY)).toBe(0);
    expect(n.probability(s, 'a.example', T0 + 10 * DAY)).toBe(1);
  });
});

describe('rarity', () => {
  it('scores one minus the share of an item', () => {
    const b = new CountMinBaseline({ width: 1024 });
    let s = b.init(T0);
    for (let i = 0; i < 99; i++) s = b.update(s, 'GetObject', T0 + i);
    s = b.update(s, 'PutBucketPolicy', T0 + 100);
    const r = new RarityScorer(b);
    expect(r.probability(s, 'GetObject')).toBeCloseTo(0.01, 9);
    expect(r.probability(s, 'PutBucketPolicy')).toBeCloseTo(0.99, 9);
    expect(r.score(s, 'ModifySnapshotAttribute', T0).probability).toBe(1);
    expect(r.score(s, 'ModifySnapshotAttribute', T0).value).toBeCloseTo(Math.log2(101), 9);
    expect(new RarityScorer(b, { minTotal: 1000 }).probability(s, 'x')).toBe(0);
  });
});

describe('threshold', () => {
  it('fires beyond a fixed limit in its direction', () => {
    const { b, s } = welfordOf([1]);
    const t = new ThresholdScorer(b, { above: 10 });
    expect(t.score(s, 12, T0)).toMatchObject({ value: 2, probability: 1, explanation: { expected: '≤ 10' } });
    expect(t.probability(s, 10)).toBe(0);
    const band = new ThresholdScorer(b, { above: 10, below: 2 });
    expect(band.probability(s, 1)).toBe(1);
    expect(band.score(s, 5, T0).explanation.expected).toBe('2 … 10');
    expect(() => new ThresholdScorer(b, {})).toThrow(/above, below/);
  });
});

describe('transition_surprise', () => {
  it('reports unseen level moves', () => {
    const b = new TransitionBaseline({ levels: 4, warmupSamples: 8 });
    let s = b.init(T0);
    for (let i = 0; i < 100; i++) s = b.update(s, i % 2 === 0 ? 0 : 40, T0 + i);
    const sc = new TransitionSurpriseScorer(b);
    expect(sc.probability(s, 0)).toBe(0); // last was 40: 0 always follows
    const odd = sc.score(s, 20, T0);
    expect(odd.probability).toBe(1);
    expect(odd.explanation.observed).toMatch(/→ 2 \(value 20\)/);
  });
});
