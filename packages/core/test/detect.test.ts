import { map, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { type Anomaly, anomalyToFinding, type Baseline, detect, type Score, type Scorer, T1537 } from '../src/index.js';

const T0 = Date.UTC(2024, 0, 1);
const MIN = 60_000;

/** A running mean: the simplest baseline, so these tests exercise the operator, not the statistics. */
interface MeanState {
  n: number;
  since: number;
  sum: number;
}
const meanBaseline: Baseline<MeanState, number> = {
  type: 'test_mean',
  init: (t) => ({ n: 0, since: t, sum: 0 }),
  update(s, x, t) {
    if (!Number.isFinite(x)) return s;
    if (s.n === 0) s.since = t;
    s.n++;
    s.sum += x;
    return s;
  },
  samples: (s) => s.n,
  since: (s) => s.since,
};
/** Anomalous (probability 1) when more than `tolerance` away from the mean. */
function distanceScorer(tolerance: number): Scorer<MeanState, number> {
  const mean = (s: MeanState) => (s.n > 0 ? s.sum / s.n : 0);
  const p = (s: MeanState, x: number) => (Math.abs(x - mean(s)) > tolerance ? 1 : 0);
  return {
    type: 'test_distance',
    probability: p,
    score: (s, x, t): Score => ({
      value: Math.abs(x - mean(s)),
      probability: p(s, x),
      explanation: { scorer: 'test_distance', observed: String(x), expected: `${mean(s)} ± ${tolerance}`, baselineAgeMs: t - s.since, samples: s.n },
    }),
  };
}

interface Ev {
  key: string;
  value: number;
  time: number;
}
const ev = (value: number, minute: number, key = 'a'): Ev => ({ key, value, time: T0 + minute * MIN });

function scheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

const base = {
  key: (e: Ev) => e.key,
  feature: (e: Ev) => e.value,
  baseline: meanBaseline,
  scorer: distanceScorer(5),
  threshold: 0.5,
};

describe('detect', () => {
  it('raises nothing while a key is learning (by sample count)', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const values = { a: ev(10, 0), b: ev(100, 1), c: ev(40, 2), d: ev(50, 3), e: ev(100, 4) };
      const op = detect({ ...base, learning: { minSamples: 3 } });
      // b is far from a but the key has learned only one sample: learned, not raised. After c the mean is 50:
      // d (50) is normal, e (100, mean 50) is raised.
      expectObservable(
        cold('abcde|', values).pipe(
          op,
          map((a) => a.feature),
        ),
      ).toBe('----e|', { e: 100 });
    });
  });

  it('raises nothing while a key is learning (by baseline age in event time)', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const values = { a: ev(10, 0), b: ev(100, 5), c: ev(10, 9), d: ev(100, 10) };
      const op = detect({ ...base, learning: { minSamples: 1, minAgeMs: 10 * MIN } });
      // b at minute 5 is too young; d at minute 10 is old enough. Mean before d: (10 + 100 + 10) / 3 = 40.
      expectObservable(
        cold('a-b-c-d|', values).pipe(
          op,
          map((a) => a.time),
        ),
      ).toBe('------d|', { d: T0 + 10 * MIN });
    });
  });

  it('does not learn what it judged anomalous (and does when told to)', () => {
    const values = { a: ev(10, 0), b: ev(10, 1), c: ev(10, 2), x: ev(30, 3), y: ev(30, 4), z: ev(30, 5) };
    scheduler().run(({ cold, expectObservable }) => {
      const op = detect({ ...base, learning: { minSamples: 3 } });
      expectObservable(
        cold('abcxyz|', values).pipe(
          op,
          map((a) => a.samples),
        ),
      ).toBe('---xyz|', { x: 3, y: 3, z: 3 });
    });
    scheduler().run(({ cold, expectObservable }) => {
      const op = detect({ ...base, learning: { minSamples: 3 }, learnFromAnomalies: true });
      // x is learned: mean (10+10+10+30)/4 = 15, y = 30 is still 15 away; after y, mean 18, z = 30 is 12 away; all three fire but samples grow.
      expectObservable(
        cold('abcxyz|', values).pipe(
          op,
          map((a) => a.samples),
        ),
      ).toBe('---xyz|', { x: 3, y: 4, z: 5 });
    });
  });

  it('keeps keys apart', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const values = {
        a: ev(10, 0, 'small'),
        b: ev(1000, 0, 'big'),
        c: ev(10, 1, 'small'),
        d: ev(1000, 1, 'big'),
        e: ev(1000, 2, 'small'),
        f: ev(1000, 2, 'big'),
        g: ev(10, 3, 'big'),
      };
      const op = detect({ ...base, learning: { minSamples: 2 } });
      expectObservable(
        cold('abcdefg|', values).pipe(
          op,
          map((a) => `${a.key}:${a.feature}`),
        ),
      ).toBe('----e-g|', { e: 'small:1000', g: 'big:10' });
    });
  });

  it('forgets a key after its TTL in event time, and evicts the least recently seen key past the cap', () => {
    const evicted: string[] = [];
    const op = detect({ ...base, learning: { minSamples: 2 }, ttlMs: 60 * MIN, maxKeys: 2, onEvict: (k, r) => evicted.push(`${k}:${r}`) });
    const out: Anomaly<Ev, string, number>[] = [];
    const input = new Subject<Ev>();
    input.pipe(op).subscribe((a) => out.push(a));
    input.next(ev(10, 0, 'a'));
    input.next(ev(10, 1, 'a'));
    input.next(ev(10, 2, 'b'));
    expect(op.size).toBe(2);
    // Two hours later, b is seen again: a has expired (not touched for an hour); b has too, and starts afresh.
    input.next(ev(10, 125, 'b'));
    expect(evicted).toContain('a:ttl');
    expect(op.snapshot().entries.map((e) => e.key)).toEqual(['b']);
    // a comes back with an extreme value: it is learning again, so nothing is raised.
    input.next(ev(1000, 126, 'a'));
    expect(out).toEqual([]);
    expect(op.snapshot().entries.find((e) => e.key === 'a')?.value.state.n).toBe(1);
    // A third key pushes out the least recently seen one (b).
    input.next(ev(10, 127, 'c'));
    expect(evicted).toContain('b:cap');
    expect(op.stats().evicted.cap).toBe(1);
    expect(op.size).toBe(2);
  });

  it('scores and learns events out of order within the allowed lateness; later ones are late', () => {
    const late: Ev[] = [];
    const values = { a: ev(10, 0), b: ev(10, 10), c: ev(10, 7), d: ev(90, 8), e: ev(10, 3), f: ev(10, 11) };
    scheduler().run(({ cold, expectObservable }) => {
      const op = detect({ ...base, learning: { minSamples: 3 }, allowedLatenessMs: 5 * MIN, onLate: (e) => late.push(e) });
      // c (minute 7, 3 min behind) is in time and learned; d (minute 8) is in time and anomalous; e (minute 3, 7 min behind) is late.
      expectObservable(
        cold('abcdef|', values).pipe(
          op,
          map((a) => `${a.time - T0}:${a.samples}`),
        ),
      ).toBe('---d--|', { d: `${8 * MIN}:3` });
    });
    expect(late).toEqual([values.e]);
    const op = detect({ ...base, learning: { minSamples: 3 }, allowedLatenessMs: 5 * MIN });
    const input = new Subject<Ev>();
    input.pipe(op).subscribe();
    for (const e of [ev(10, 0), ev(10, 10), ev(10, 7), ev(10, 3)]) input.next(e);
    expect(op.stats()).toMatchObject({ received: 4, late: 1, learned: 3 });
  });

  it('uses an external watermark when given one', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const values = { a: ev(10, 0), b: ev(10, 1), c: ev(10, 2), d: ev(90, 3) };
      const watermark$ = hot('--w', { w: T0 + 10 * MIN });
      const op = detect({ ...base, learning: { minSamples: 1 }, allowedLatenessMs: 2 * MIN, watermark$ });
      // After the watermark reaches minute 10, events before minute 8 are late: c and d are dropped.
      expectObservable(
        cold('ab-cd|', values).pipe(
          op,
          map((a) => a.feature),
        ),
      ).toBe('-----|');
    });
  });

  it('expires keys as the watermark advances, but keeps its state when the watermark ends at +Infinity', () => {
    const watermark$ = new Subject<number>();
    const op = detect({ ...base, ttlMs: 60 * MIN, watermark$ });
    const input = new Subject<Ev>();
    input.pipe(op).subscribe();
    input.next(ev(10, 0, 'a'));
    watermark$.next(T0 + 30 * MIN);
    expect(op.size).toBe(1);
    watermark$.next(T0 + 120 * MIN); // no event needed: the watermark alone expires a
    expect(op.size).toBe(0);
    input.next(ev(10, 121, 'b'));
    watermark$.next(Number.POSITIVE_INFINITY);
    expect(op.size).toBe(1);
    watermark$.next(T0 + 200 * MIN); // not an advance past +Infinity: ignored
    expect(op.size).toBe(1);
  });

  it('isolates an exception to its event', () => {
    const errors: unknown[] = [];
    scheduler().run(({ cold, expectObservable }) => {
      const values = { a: ev(10, 0), b: ev(10, 1), x: ev(-1, 2), c: ev(10, 3), d: ev(90, 4) };
      const op = detect({
        ...base,
        feature: (e: Ev) => {
          if (e.value < 0) throw new Error('bad record');
          return e.value;
        },
        learning: { minSamples: 2 },
        onError: (err) => errors.push(err),
      });
      expectObservable(
        cold('abxcd|', values).pipe(
          op,
          map((a) => a.feature),
        ),
      ).toBe('----d|', { d: 90 });
    });
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/bad record/);
    const throwing = detect({
      ...base,
      learning: { minSamples: 0 },
      scorer: {
        type: 'boom',
        score: () => {
          throw new Error('scorer bug');
        },
      },
      onError: () => {},
    });
    const input = new Subject<Ev>();
    let completed = false;
    input.pipe(throwing).subscribe({ complete: () => (completed = true) });
    input.next(ev(1, 0));
    input.next(ev(1, 1));
    input.complete();
    expect(completed).toBe(true);
    expect(throwing.stats().errors).toBe(2);
  });

  it('snapshots and restores its whole keyed state as JSON', () => {
    const events = [ev(10, 0, 'a'), ev(12, 1, 'b'), ev(11, 2, 'a'), ev(13, 3, 'b'), ev(9, 4, 'a')];
    const later = [ev(40, 5, 'a'), ev(13, 6, 'b'), ev(40, 7, 'b')];
    const run = (op: ReturnType<typeof detect<Ev, string, number, MeanState>>, input: Ev[]) => {
      const out: string[] = [];
      const s = new Subject<Ev>();
      s.pipe(op).subscribe((a) => out.push(`${a.key}:${a.feature}:${a.samples}`));
      for (const e of input) s.next(e);
      return out;
    };
    const first = detect({ ...base, learning: { minSamples: 2 } });
    run(first, events);
    const snap = JSON.parse(JSON.stringify(first.snapshot()));
    const continued = run(first, later);
    const restored = detect({ ...base, learning: { minSamples: 2 } });
    restored.restore(snap);
    expect(restored.size).toBe(2);
    expect(run(restored, later)).toEqual(continued);
    expect(continued).toEqual(['a:40:3', 'b:40:3']);
    expect(() => restored.restore({ version: 2 } as never)).toThrow(/snapshot/);
  });

  it('with the reference guard, a slow ramp the live baseline follows still fires', () => {
    // A live baseline that forgets fast (a 5-sample moving mean) follows a ramp that moves 1 per minute.
    interface Ring {
      n: number;
      since: number;
      last: number[];
    }
    const follower: Baseline<Ring, number> = {
      type: 'moving_mean',
      init: (t) => ({ n: 0, since: t, last: [] }),
      update(s, x, t) {
        if (s.n === 0) s.since = t;
        s.n++;
        s.last.push(x);
        if (s.last.length > 5) s.last.shift();
        return s;
      },
      samples: (s) => s.n,
      since: (s) => s.since,
    };
    const near: Scorer<Ring, number> = {
      type: 'near',
      score(s, x, t) {
        const m = s.last.reduce((a, b) => a + b, 0) / Math.max(1, s.last.length);
        const p = Math.abs(x - m) > 20 ? 1 : 0;
        return {
          value: Math.abs(x - m),
          probability: p,
          explanation: { scorer: 'near', observed: String(x), expected: String(m), baselineAgeMs: t - s.since, samples: s.n },
        };
      },
    };
    const ramp = [...Array.from({ length: 120 }, (_, i) => ev(100, i)), ...Array.from({ length: 200 }, (_, i) => ev(100 + i, 120 + i))];
    const fired = (guard: boolean) => {
      const op = detect({
        key: (e: Ev) => e.key,
        feature: (e: Ev) => e.value,
        baseline: follower,
        scorer: near,
        threshold: 0.5,
        learning: { minSamples: 5 },
        ...(guard ? { reference: { refreshMs: 60 * MIN } } : {}),
      });
      const out: Anomaly<Ev, string, number>[] = [];
      const s = new Subject<Ev>();
      s.pipe(op).subscribe((a) => out.push(a));
      for (const e of ramp) s.next(e);
      return out;
    };
    expect(fired(false)).toEqual([]);
    const guarded = fired(true);
    expect(guarded.length).toBeGreaterThan(0);
    // The first alarm comes once the ramp has left the frozen copy (100) by more than 20.
    expect(guarded[0]?.feature).toBe(121);
    expect(guarded[0]?.reference?.explanation.expected).toBe('100');
    expect(guarded[0]?.live.probability).toBe(0);
  });

  it('turns an anomaly into a finding with its explanation', () => {
    const out: Anomaly<Ev, string, number>[] = [];
    const s = new Subject<Ev>();
    s.pipe(detect({ ...base, learning: { minSamples: 2 } })).subscribe((a) => out.push(a));
    for (const e of [ev(10, 0), ev(10, 1), ev(50, 2)]) s.next(e);
    const anomaly = out[0] as Anomaly<Ev, string, number>;
    const finding = anomalyToFinding(anomaly, {
      detection: { id: 'test.volume', title: 'Volume', attack: T1537 },
      severity: 'medium',
      evidence: (e) => [{ source: 'test', id: `${e.key}@${e.time}`, time: e.time }],
    });
    expect(finding).toMatchObject({
      time: T0 + 2 * MIN,
      dedupKey: 'a',
      evidence: [{ source: 'test', id: `a@${T0 + 2 * MIN}` }],
      explanation: { observed: '50', expected: '10 ± 5', score: 1, threshold: 0.5, baselineAgeMs: 2 * MIN, samples: 2 },
    });
  });

  it('rejects a threshold outside [0, 1]', () => {
    expect(() => detect({ ...base, threshold: 2 })).toThrow(RangeError);
  });
});
