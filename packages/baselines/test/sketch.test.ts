import { DAY, gaussian, HOUR, MIN, rng, roundTrip, T0 } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { SketchBaseline } from '../src/index.js';

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

describe('quantile_sketch', () => {
  it('answers quantiles within its relative accuracy', () => {
    const b = new SketchBaseline({ relativeAccuracy: 0.01, maxBins: 1024 });
    const r = rng(1);
    const values: number[] = [];
    let s = b.init(T0);
    for (let i = 0; i < 20_000; i++) {
      // Log-uniform over six orders of magnitude, like byte counts.
      const x = 10 ** (1 + 6 * r());
      values.push(x);
      s = b.update(s, x, T0 + i * MIN);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999]) {
      const exact = exactQuantile(values, q);
      const got = b.quantile(s, q);
      expect(Math.abs(got - exact) / exact).toBeLessThan(0.011);
    }
    expect(b.min(s)).toBe(values[0]);
    expect(b.max(s)).toBe(values[values.length - 1]);
  });

  it('knows the median and MAD of a symmetric sample', () => {
    const b = new SketchBaseline({ relativeAccuracy: 0.005 });
    let s = b.init(T0);
    // 1..9: median 5, absolute deviations 0,1,1,2,2,3,3,4,4 → MAD 2
    for (let i = 1; i <= 9; i++) s = b.update(s, i, T0 + i);
    expect(b.median(s)).toBeCloseTo(5, 1);
    expect(b.mad(s)).toBeCloseTo(2, 1);
  });

  it('handles negative values and zero', () => {
    const b = new SketchBaseline();
    let s = b.init(T0);
    for (const x of [-100, -10, 0, 0, 10, 100, 1000]) s = b.update(s, x, T0);
    expect(b.median(s)).toBe(0);
    expect(b.quantile(s, 0.1)).toBeCloseTo(-100, -1);
    expect(b.rank(s, -50)).toBeCloseTo(1 / 7, 9);
    // Mid-ranks: below plus half of the value's own bin.
    expect(b.rank(s, 0)).toBeCloseTo(3 / 7, 9);
    expect(b.rank(s, 10)).toBeCloseTo(4.5 / 7, 9);
    expect(b.rank(s, 1000)).toBeCloseTo(6.5 / 7, 9);
    expect(b.rank(s, 1e9)).toBe(1);
  });

  it('stays bounded: one far outlier cannot push the bulk out of the bins', () => {
    const b = new SketchBaseline({ relativeAccuracy: 0.01, maxBins: 64 });
    let s = b.init(T0);
    for (let i = 0; i < 1000; i++) s = b.update(s, 100 + (i % 10), T0 + i);
    s = b.update(s, 1e12, T0 + 1000);
    b.refresh(s);
    expect(s.pos.counts.length).toBeLessThanOrEqual(64);
    expect(b.median(s)).toBeGreaterThan(100);
    expect(b.median(s)).toBeLessThan(110);
    expect(b.max(s)).toBe(1e12);
    expect(b.quantile(s, 1)).toBe(1e12);
  });

  it('stays bounded while its range moves up, merging bins that hold little weight', () => {
    const b = new SketchBaseline({ relativeAccuracy: 0.01, maxBins: 64, halfLifeMs: 100 * MIN });
    let s = b.init(T0);
    for (let i = 0; i < 10_000; i++) s = b.update(s, 1.001 ** i, T0 + i * MIN);
    expect(s.pos.counts.length).toBeLessThanOrEqual(64);
    // With a 100-minute half-life the recent values dominate: the median is near the latest ones.
    b.refresh(s);
    const latest = 1.001 ** 9999;
    expect(b.median(s) / latest).toBeGreaterThan(0.85);
    expect(b.quantile(s, 0.99) / latest).toBeGreaterThan(0.97);
  });

  it('forgets with a half-life in event time', () => {
    const b = new SketchBaseline({ halfLifeMs: HOUR });
    let s = b.init(T0);
    for (let i = 0; i < 600; i++) s = b.update(s, 10, T0 + i * MIN);
    for (let i = 600; i < 900; i++) s = b.update(s, 1000, T0 + i * MIN);
    // Five hours at 1000 outweigh ten hours at 10 that are older.
    b.refresh(s);
    expect(b.median(s)).toBeCloseTo(1000, -2);
    const plain = new SketchBaseline();
    let p = plain.init(T0);
    for (let i = 0; i < 600; i++) p = plain.update(p, 10, T0 + i * MIN);
    for (let i = 600; i < 900; i++) p = plain.update(p, 1000, T0 + i * MIN);
    plain.refresh(p);
    expect(plain.median(p)).toBeCloseTo(10, 0);
  });

  it('rescales its forward-decay weights without changing its answers', () => {
    const b = new SketchBaseline({ halfLifeMs: MIN });
    let s = b.init(T0);
    for (let i = 0; i < 200; i++) s = b.update(s, i % 10, T0 + i * MIN); // 2^200: several rescales
    expect(Number.isFinite(s.total)).toBe(true);
    expect(s.landmark).toBeGreaterThan(T0);
    expect(b.quantile(s, 1)).toBe(9);
  });

  it('restores from JSON exactly', () => {
    const b = new SketchBaseline({ halfLifeMs: DAY });
    const g = gaussian(5);
    let s = b.init(T0);
    for (let i = 0; i < 1000; i++) s = b.update(s, 100 + 20 * g(), T0 + i * MIN);
    const r = roundTrip(s);
    expect(r).toEqual(s);
    expect(b.quantile(r, 0.95)).toBe(b.quantile(s, 0.95));
  });
});
