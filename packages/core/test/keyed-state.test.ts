import { describe, expect, it } from 'vitest';
import { KeyedState } from '../src/index.js';

describe('KeyedState', () => {
  it('evicts the least recently touched key past the cap', () => {
    const evicted: [string, string][] = [];
    const s = new KeyedState<string, number>({ maxKeys: 3, ttlMs: 1_000_000, touchGranularityMs: 0, onEvict: (k, _v, r) => evicted.push([k, r]) });
    s.set('a', 1, 1);
    s.set('b', 2, 2);
    s.set('c', 3, 3);
    expect(s.get('a', 4)).toBe(1); // a is now the most recent
    s.set('d', 4, 5);
    expect(evicted).toEqual([['b', 'cap']]);
    expect([...s.entries()].map(([k]) => k)).toEqual(['c', 'a', 'd']);
    expect(s.evictions).toEqual({ ttl: 0, cap: 1 });
  });

  it('expires keys untouched for the TTL, and only those', () => {
    const s = new KeyedState<string, number>({ maxKeys: 10, ttlMs: 100, touchGranularityMs: 0 });
    s.set('a', 1, 0);
    s.set('b', 1, 50);
    s.set('c', 1, 90);
    s.get('a', 95); // touch a
    expect(s.expire(160)).toBe(1); // b (last touched 50) expired; c (90) and a (95) live
    expect(s.has('b')).toBe(false);
    expect(s.has('a')).toBe(true);
    expect(s.expire(200)).toBe(2);
    expect(s.size).toBe(0);
    expect(s.evictions.ttl).toBe(3);
  });

  it('stays under its cap while 1,000,000 distinct keys stream through', () => {
    const cap = 10_000;
    let evictions = 0;
    const s = new KeyedState<string, { n: number }>({ maxKeys: cap, ttlMs: 60_000, onEvict: () => evictions++ });
    let maxSize = 0;
    for (let i = 0; i < 1_000_000; i++) {
      s.getOrCreate(`workload-${i % 997}|dst-${i}`, i, () => ({ n: 0 })).n++;
      if (s.size > maxSize) maxSize = s.size;
      if (i % 10_000 === 0) s.expire(i);
    }
    expect(maxSize).toBe(cap);
    expect(s.size).toBeLessThanOrEqual(cap);
    expect(evictions).toBe(1_000_000 - s.size);
  });

  it('hot keys touched within the granularity are not reordered but still expire at most one granule early', () => {
    const s = new KeyedState<string, number>({ maxKeys: 10, ttlMs: 1000, touchGranularityMs: 100 });
    s.set('hot', 1, 0);
    s.set('cold', 1, 10);
    s.get('hot', 50); // within granularity: stays first, touched stays 0
    expect([...s.entries()].map(([k]) => k)).toEqual(['hot', 'cold']);
    s.get('hot', 150); // past granularity: moves to the end, touched 150
    expect([...s.entries()].map(([k]) => k)).toEqual(['cold', 'hot']);
    expect(s.expire(1011)).toBe(1); // cold touched at 10 expires; hot (150) lives
    expect(s.has('hot')).toBe(true);
  });

  it('snapshots and restores as plain data', () => {
    const s = new KeyedState<string, { sum: number }>({ maxKeys: 5, ttlMs: 100 });
    s.set('x', { sum: 3 }, 10);
    s.set('y', { sum: 4 }, 20);
    const snap = JSON.parse(JSON.stringify(s.snapshot()));
    const r = new KeyedState<string, { sum: number }>({ maxKeys: 5, ttlMs: 100 });
    r.restore(snap);
    expect(r.peek('y')).toEqual({ sum: 4 });
    expect(r.expire(115)).toBe(1); // x touched at 10 expires at 110
    expect(r.has('y')).toBe(true);
  });

  it('rejects a nonsensical configuration', () => {
    expect(() => new KeyedState({ maxKeys: 0, ttlMs: 1 })).toThrow(/maxKeys/);
    expect(() => new KeyedState({ maxKeys: 1, ttlMs: 0 })).toThrow(/ttlMs/);
  });
});
