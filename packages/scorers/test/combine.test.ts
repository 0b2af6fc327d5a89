import { EwmaBaseline, FirstSeenBaseline, WelfordBaseline } from '@outflow/baselines';
import { gaussian, MIN, rng, roundTrip, T0 } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { combine, likelihood, NoveltyScorer, OutOfRangeScorer, ThresholdScorer, ZScoreScorer } from '../src/index.js';

/** Two parts with known probabilities: a threshold (0 or 1) and a z-score of a constant-σ Welford. */
function parts() {
  const w = new WelfordBaseline();
  return {
    limit: { baseline: w, scorer: new ThresholdScorer(w, { above: 100 }) },
    z: { baseline: new WelfordBaseline(), scorer: new ZScoreScorer(new WelfordBaseline(), { minRelStd: 0 }) },
  };
}

describe('combine', () => {
  const train = <S>(m: { baseline: { init(t: number): S; update(s: S, f: number, t: number): S } }, values: number[]) => {
    let s = m.baseline.init(T0);
    values.forEach((x, i) => {
      s = m.baseline.update(s, x, T0 + i * MIN);
    });
    return s;
  };
  const data = [2, 4, 4, 4, 5, 5, 7, 9]; // mean 5, σ 2

  it('max: the strongest part wins and explains', () => {
    const m = combine(parts(), { mode: 'max' });
    const s = train(m, data);
    const score = m.scorer.score(s, 9, T0);
    expect(score.probability).toBeCloseTo(0.9545, 4);
    expect(score.value).toBe(2);
    expect(score.explanation.observed).toBe('z: 9');
    expect(score.explanation.details).toMatchObject({ limit: 0, strongest: 'z' });
    expect(m.scorer.probability?.(s, 200, T0)).toBe(1);
    expect(m.scorer.score(s, 200, T0).explanation.observed).toBe('limit: 200');
    expect(m.baseline.samples(s)).toBe(8);
  });

  it('weighted: the weighted mean of part probabilities', () => {
    const p = parts();
    const m = combine({ limit: { ...p.limit, weight: 3 }, z: { ...p.z, weight: 1 } }, { mode: 'weighted' });
    const s = train(m, data);
    // limit 1 (x > 100), z of 105 is 50 σ: 1 → (3 + 1) / 4
    expect(m.scorer.probability?.(s, 105, T0)).toBe(1);
    // limit 0, z(9) = 0.9545 → 0.9545 / 4
    expect(m.scorer.score(s, 9, T0).probability).toBeCloseTo(0.9545 / 4, 4);
  });

  it('noisy-or: independent evidence adds up', () => {
    const p = parts();
    const m = combine({ limit: { ...p.limit, weight: 0.5 }, z: p.z }, { mode: 'noisy_or' });
    const s = train(m, data);
    // 1 − (1 − 0.5·1)(1 − p_z(101)) with p_z(101) = 1 − tiny
    expect(m.scorer.probability?.(s, 9, T0)).toBeCloseTo(0.9545, 4);
    const both = m.scorer.score(s, 7, T0).probability; // z = 1: 0.6827, limit 0
    expect(both).toBeCloseTo(0.6827, 4);
  });

  it('maps the feature per part and skips parts that have none', () => {
    const seen = new FirstSeenBaseline();
    const bytes = new EwmaBaseline({ halfLifeSamples: 100 });
    type Flow = { dest: string; bytes: number };
    const m = combine<Flow>({
      dest: { baseline: seen, scorer: new NoveltyScorer(seen), feature: (f) => f.dest },
      bytes: { baseline: bytes, scorer: new ZScoreScorer(bytes, { direction: 'up' }), feature: (f) => (f.bytes > 0 ? f.bytes : undefined) },
    });
    let s = m.baseline.init(T0);
    const g = gaussian(1);
    for (let i = 0; i < 200; i++) s = m.baseline.update(s, { dest: `d${i % 3}`, bytes: 1000 + 10 * g() }, T0 + i * MIN);
    expect(m.scorer.probability?.(s, { dest: 'd1', bytes: 1000 }, T0)).toBeLessThan(0.9);
    expect(m.scorer.score(s, { dest: 'new.example', bytes: 0 }, T0).explanation.details).toMatchObject({ dest: 1, bytes: 0, strongest: 'dest' });
    expect(roundTrip(s)).toEqual(s);
  });

  it('rejects bad weights', () => {
    expect(() => combine({ a: { ...parts().limit, weight: 2 } }, { mode: 'noisy_or' })).toThrow(RangeError);
    expect(() => combine({})).toThrow(RangeError);
  });
});

describe('likelihood', () => {
  const model = () => {
    const w = new WelfordBaseline();
    return likelihood({ baseline: w, scorer: new OutOfRangeScorer(w) }, { window: 5, warmupSamples: 50 });
  };

  it('says nothing during warm-up, then spikes once on a burst of surprise', () => {
    const m = model();
    let s = m.baseline.init(T0);
    const r = rng(3);
    const probs: number[] = [];
    const feed = (x: number, i: number) => {
      probs.push(m.scorer.probability?.(s, x, T0 + i * MIN) as number);
      s = m.baseline.update(s, x, T0 + i * MIN);
    };
    for (let i = 0; i < 500; i++) feed(100 * r(), i);
    expect(probs.slice(0, 50).every((p) => p === 0.5)).toBe(true);
    expect(Math.max(...probs.slice(100))).toBeLessThan(0.9999);
    // Five new extremes in a row: the average raw score jumps; only the first red observation keeps its full likelihood.
    for (let i = 0; i < 5; i++) feed(1000 * (i + 2), 500 + i);
    const burst = probs.slice(500);
    const red = burst.filter((p) => p >= 1 - 1e-5);
    expect(red).toHaveLength(1);
    expect(burst.some((p) => p === 1 - 1e-3)).toBe(true);
    const score = m.scorer.score(s, 1e6, T0 + 600 * MIN);
    expect(score.explanation.observed).toBe('1M');
    expect(score.explanation.details).toHaveProperty('averaged');
  });

  it('restores from JSON and continues identically', () => {
    const m = model();
    let a = m.baseline.init(T0);
    for (let i = 0; i < 300; i++) a = m.baseline.update(a, i % 17, T0 + i * MIN);
    let b = roundTrip(a);
    for (let i = 300; i < 400; i++) {
      a = m.baseline.update(a, i % 13, T0 + i * MIN);
      b = m.baseline.update(b, i % 13, T0 + i * MIN);
    }
    expect(b).toEqual(a);
    expect(m.scorer.probability?.(b, 5000, T0)).toBe(m.scorer.probability?.(a, 5000, T0));
  });
});
