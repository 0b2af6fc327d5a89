import { DAY, HOUR, MIN, rng, roundTrip, T0 } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { CountMinBaseline, DistinctBaseline, FirstSeenBaseline, TransitionBaseline } from '../src/index.js';

describe('first_seen', () => {
  it('knows what it saw, and forgets it after the forget horizon', () => {
    const b = new FirstSeenBaseline({ forgetMs: 7 * DAY });
    let s = b.init(T0);
    s = b.update(s, 's3.amazonaws.com', T0);
    s = b.update(s, 'api.github.com', T0 + DAY);
    expect(b.known(s, 's3.amazonaws.com', T0 + DAY)).toBe(true);
    expect(b.known(s, 'evil.example', T0 + DAY)).toBe(false);
    expect(b.known(s, 's3.amazonaws.com', T0 + 8 * DAY)).toBe(false);
    expect(b.known(s, 'api.github.com', T0 + 8 * DAY)).toBe(true);
    expect(b.size(s)).toBe(2);
    expect(b.approximate(s)).toBe(false);
  });

  it('is safe for item names that look like object internals', () => {
    const b = new FirstSeenBaseline();
    let s = b.init(T0);
    s = b.update(s, '__proto__', T0);
    s = roundTrip(s);
    s = b.update(s, 'constructor', T0);
    expect(b.known(s, '__proto__', T0)).toBe(true);
    expect(b.known(s, 'constructor', T0)).toBe(true);
    expect(b.known(s, 'toString', T0)).toBe(false);
  });

  it('moves to an aging Bloom filter past maxExact, with few false positives and a fixed size', () => {
    const b = new FirstSeenBaseline({ maxExact: 100, filterBits: 16_384, hashes: 4, forgetMs: 30 * DAY, generations: 3 });
    let s = b.init(T0);
    for (let i = 0; i < 1000; i++) s = b.update(s, `seen-${i}`, T0 + i * MIN);
    expect(b.approximate(s)).toBe(true);
    for (let i = 0; i < 1000; i++) expect(b.known(s, `seen-${i}`, T0 + 1000 * MIN)).toBe(true);
    let falsePositives = 0;
    for (let i = 0; i < 2000; i++) if (b.known(s, `never-${i}`, T0 + 1000 * MIN)) falsePositives++;
    expect(falsePositives / 2000).toBeLessThan(0.01);
    const bytes = JSON.stringify(s).length;
    for (let i = 1000; i < 20_000; i++) s = b.update(s, `seen-${i}`, T0 + i * MIN);
    expect(JSON.stringify(s).length).toBeLessThan(bytes * 1.5);
  });

  it('forgets filter generations older than the horizon', () => {
    const b = new FirstSeenBaseline({ maxExact: 10, forgetMs: 30 * DAY, generations: 3 });
    let s = b.init(T0);
    for (let i = 0; i < 20; i++) s = b.update(s, `early-${i}`, T0 + i * MIN);
    expect(b.approximate(s)).toBe(true);
    // In filter mode an item is forgotten between forgetMs and forgetMs + forgetMs / generations after it was last seen.
    expect(b.known(s, 'early-3', T0 + 29 * DAY)).toBe(true);
    expect(b.known(s, 'early-3', T0 + 41 * DAY)).toBe(false);
    s = b.update(s, 'late', T0 + 41 * DAY);
    expect(b.known(s, 'early-3', T0 + 41 * DAY)).toBe(false);
    expect(b.known(s, 'late', T0 + 41 * DAY)).toBe(true);
  });

  it('remembers very long items by hash, so a key stays small', () => {
    const b = new FirstSeenBaseline();
    let s = b.init(T0);
    const long = `https://example.com/${'x'.repeat(5000)}`;
    s = b.update(s, long, T0);
    expect(b.known(s, long, T0)).toBe(true);
    expect(b.known(s, `${long}y`, T0)).toBe(false);
    expect(JSON.stringify(s).length).toBeLessThan(200);
  });
});

describe('distinct_count', () => {
  it('estimates distinct items within a few percent', () => {
    const b = new DistinctBaseline({ precision: 12, periodMs: DAY });
    let s = b.init(T0);
    for (let i = 0; i < 50_000; i++) s = b.update(s, `10.0.${(i * 7919) % 10_000}.1`, T0 + i);
    const est = b.distinct(s, T0 + 50_000);
    expect(Math.abs(est - 10_000) / 10_000).toBeLessThan(0.05);
    // Small counts use linear counting and are close to exact.
    let t = b.init(T0);
    for (let i = 0; i < 30; i++) t = b.update(t, `d${i % 12}`, T0 + i);
    expect(Math.round(b.distinct(t, T0))).toBe(12);
  });

  it('keeps its running register sum equal to a recount', () => {
    const b = new DistinctBaseline({ precision: 8 });
    let s = b.init(T0);
    for (let i = 0; i < 5000; i++) s = b.update(s, `x${i % 777}`, T0 + i * 1000);
    expect(b.estimateFrom(s.harmonic, s.zeros)).toBe(b.estimate(s.registers));
    expect(s.zeros).toBe(s.registers.filter((r) => r === 0).length);
  });

  it('learns the distinct count of each closed period', () => {
    const b = new DistinctBaseline({ periodMs: HOUR, halfLifePeriods: 1000 });
    let s = b.init(T0);
    for (let h = 0; h < 10; h++) for (let i = 0; i < 5; i++) s = b.update(s, `dest-${i}`, T0 + h * HOUR + i * MIN);
    // Nine periods closed, each with 5 distinct destinations.
    expect(s.periods).toBe(9);
    expect(b.mean(s)).toBeCloseTo(5, 0);
    expect(b.variance(s)).toBeLessThan(0.1);
    expect(b.distinct(s, T0 + 9 * HOUR + 30 * MIN)).toBeCloseTo(5, 0);
    expect(b.distinct(s, T0 + 9 * HOUR + 30 * MIN, 'dest-new')).toBeCloseTo(6, 0);
    // A new period with nothing seen yet counts 0 (1 with the item being scored).
    expect(b.distinct(s, T0 + 12 * HOUR, 'x')).toBe(1);
  });

  it('learns empty periods between observations as zero', () => {
    const b = new DistinctBaseline({ periodMs: HOUR, maxGapPeriods: 3 });
    let s = b.init(T0);
    s = b.update(s, 'a', T0);
    s = b.update(s, 'a', T0 + 10 * HOUR);
    expect(s.periods).toBe(4);
  });
});

describe('count_min', () => {
  it('never undercounts and stays close for frequent items', () => {
    const b = new CountMinBaseline({ width: 512, depth: 4 });
    let s = b.init(T0);
    const r = rng(9);
    const truth = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const item = `op-${Math.floor(r() ** 3 * 300)}`;
      truth.set(item, (truth.get(item) ?? 0) + 1);
      s = b.update(s, item, T0 + i);
    }
    // The count-min guarantee: overcount at most e/width × total, for each item with probability 1 − e^−depth.
    const epsilonN = (Math.E / 512) * 20_000;
    let within = 0;
    for (const [item, n] of truth) {
      const c = b.count(s, item);
      expect(c).toBeGreaterThanOrEqual(n);
      expect(c - n).toBeLessThan(4 * epsilonN);
      if (c - n <= epsilonN) within++;
    }
    expect(within / truth.size).toBeGreaterThan(0.95);
    expect(b.total(s)).toBe(20_000);
    expect(b.count(s, 'never')).toBeLessThan(200);
  });

  it('forgets with a half-life', () => {
    const b = new CountMinBaseline({ halfLifeMs: HOUR });
    let s = b.init(T0);
    for (let i = 0; i < 60; i++) s = b.update(s, 'old', T0 + i * MIN);
    for (let i = 0; i < 60; i++) s = b.update(s, 'new', T0 + 5 * HOUR + i * MIN);
    expect(b.count(s, 'new') / b.total(s)).toBeGreaterThan(0.95);
  });
});

describe('transition', () => {
  it('learns which level follows which', () => {
    const b = new TransitionBaseline({ levels: 10, warmupSamples: 20 });
    let s = b.init(T0);
    // A saw-tooth 0, 10, 20, ..., 90, 0, ...: every level is followed by the next.
    for (let i = 0; i < 500; i++) s = b.update(s, (i % 10) * 10, T0 + i * MIN);
    expect(s.res).toBe(9);
    // The last value was 90 (level 10): the usual next is 0.
    expect(b.surprise(s, 0)).toBe(0);
    expect(b.surprise(s, 50)).toBe(1);
    expect(b.describe(s, 50).expected).toMatch(/seen 0 of/);
  });

  it('is silent while warming up', () => {
    const b = new TransitionBaseline({ warmupSamples: 50 });
    let s = b.init(T0);
    for (let i = 0; i < 10; i++) s = b.update(s, i, T0 + i);
    expect(b.surprise(s, 1e9)).toBe(0);
  });
});
