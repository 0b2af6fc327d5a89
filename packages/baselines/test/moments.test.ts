import { DAY, gaussian, HOUR, MIN, roundTrip, T0 } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { EwmaBaseline, SeasonalBaseline, WelfordBaseline } from '../src/index.js';

describe('welford', () => {
  it('gives the exact mean, population variance and range', () => {
    const b = new WelfordBaseline();
    let s = b.init(T0);
    for (const [i, x] of [2, 4, 4, 4, 5, 5, 7, 9].entries()) s = b.update(s, x, T0 + i * MIN);
    expect(b.mean(s)).toBe(5);
    expect(b.variance(s)).toBe(4);
    expect(b.min(s)).toBe(2);
    expect(b.max(s)).toBe(9);
    expect(b.samples(s)).toBe(8);
    expect(b.since(s)).toBe(T0);
  });

  it('ignores NaN and infinities, and has no range before the first value', () => {
    const b = new WelfordBaseline();
    let s = b.init(T0);
    expect(b.min(s)).toBeUndefined();
    s = b.update(s, Number.NaN, T0);
    s = b.update(s, Number.POSITIVE_INFINITY, T0);
    expect(b.samples(s)).toBe(0);
    expect(roundTrip(s)).toEqual(s);
  });
});

describe('ewma', () => {
  it('is the running mean at first and converges to the exponential average', () => {
    const b = new EwmaBaseline({ halfLifeSamples: 10 });
    let s = b.init(T0);
    s = b.update(s, 10, T0);
    expect(b.mean(s)).toBe(10);
    s = b.update(s, 20, T0 + MIN);
    // weights: first 2^(-1/10) ≈ 0.933, second 1 → mean = (0.933·10 + 20) / 1.933
    const d = 2 ** -0.1;
    expect(b.mean(s)).toBeCloseTo((d * 10 + 20) / (d + 1), 12);
  });

  it('halves the weight of the past every half-life of event time', () => {
    const b = new EwmaBaseline({ halfLifeMs: HOUR });
    let s = b.init(T0);
    for (let i = 0; i < 1000; i++) s = b.update(s, 0, T0 + i * MIN);
    const w = s.w;
    // One hour of silence, then a new value: the old weight counts half.
    s = b.update(s, 100, T0 + 999 * MIN + HOUR);
    expect(s.w).toBeCloseTo(w / 2 + 1, 9);
    expect(b.mean(s)).toBeCloseTo(100 / (w / 2 + 1), 9);
  });

  it('estimates the variance of a stationary stream', () => {
    const b = new EwmaBaseline({ halfLifeSamples: 500 });
    const g = gaussian(7);
    let s = b.init(T0);
    for (let i = 0; i < 20_000; i++) s = b.update(s, 50 + 5 * g(), T0 + i * MIN);
    expect(b.mean(s)).toBeGreaterThan(49);
    expect(b.mean(s)).toBeLessThan(51);
    expect(Math.sqrt(b.variance(s))).toBeGreaterThan(4.5);
    expect(Math.sqrt(b.variance(s))).toBeLessThan(5.5);
  });

  it('winsorises what it learns once clipSigma is set', () => {
    const plain = new EwmaBaseline({ halfLifeSamples: 100 });
    const clipped = new EwmaBaseline({ halfLifeSamples: 100, clipSigma: 3 });
    const g = gaussian(3);
    let a = plain.init(T0);
    let b = clipped.init(T0);
    for (let i = 0; i < 200; i++) {
      const x = 100 + g();
      a = plain.update(a, x, T0 + i * MIN);
      b = clipped.update(b, x, T0 + i * MIN);
    }
    a = plain.update(a, 1e6, T0 + 200 * MIN);
    b = clipped.update(b, 1e6, T0 + 200 * MIN);
    expect(plain.mean(a)).toBeGreaterThan(1000);
    expect(clipped.mean(b)).toBeLessThan(101);
  });

  it('learns an out-of-order observation without decaying the past', () => {
    const b = new EwmaBaseline({ halfLifeMs: HOUR });
    let s = b.init(T0);
    s = b.update(s, 10, T0 + HOUR);
    s = b.update(s, 20, T0);
    expect(s.w).toBe(2);
    expect(b.mean(s)).toBe(15);
    expect(s.last).toBe(T0 + HOUR);
  });

  it('rejects an invalid configuration with every path', () => {
    expect(() => new EwmaBaseline({ halfLifeMs: -1, clipSigma: 0 } as never)).toThrow(/halfLifeMs[\s\S]*clipSigma/);
  });
});

describe('seasonal', () => {
  it('keeps one profile per hour of the week', () => {
    const b = new SeasonalBaseline();
    let s = b.init(T0);
    // Busy at 09:00 UTC on weekdays (10 ± 1), quiet otherwise (1 ± 0.1); four weeks of hourly samples.
    const g = gaussian(11);
    for (let h = 0; h < 4 * 7 * 24; h++) {
      const t = T0 + h * HOUR;
      const d = new Date(t);
      const busy = d.getUTCHours() === 9 && d.getUTCDay() >= 1 && d.getUTCDay() <= 5;
      s = b.update(s, busy ? 10 + g() : 1 + 0.1 * g(), t);
    }
    const mondayNine = Date.UTC(2024, 1, 5, 9); // a Monday
    const sundayNine = Date.UTC(2024, 1, 4, 9);
    expect(b.mean(s, mondayNine)).toBeGreaterThan(8.5);
    expect(b.mean(s, sundayNine)).toBeLessThan(1.5);
    expect(b.support(s, mondayNine)).toBe(4);
    expect(b.bucket(mondayNine)).not.toBe(b.bucket(sundayNine));
    expect(b.bucket(mondayNine)).toBe(b.bucket(mondayNine + 7 * DAY));
  });

  it('answers with the all-buckets moments for a bucket short of data', () => {
    const b = new SeasonalBaseline({ buckets: 24, minBucketSamples: 3 });
    let s = b.init(T0);
    for (let i = 0; i < 10; i++) s = b.update(s, 5, T0 + i * MIN); // all in hour 0
    expect(b.mean(s, T0 + 5 * HOUR)).toBeCloseTo(5, 9);
    expect(b.support(s, T0 + 5 * HOUR)).toBe(10);
    expect(b.support(s, T0)).toBe(10);
  });

  it('rejects a season longer than a year', () => {
    expect(() => new SeasonalBaseline({ bucketMs: DAY, buckets: 400 })).toThrow(/year/);
  });
});
