import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { eventTimeWindows, slidingWindows, tumblingWindows, watermarks } from '../src/index.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

interface E {
  k: string;
  time: number;
  v: number;
}

describe('watermarks (marbles)', () => {
  it('follows the slowest active source, skips idle ones, and ends at +Infinity when all complete', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const a$ = cold('a-c------------------|', { a: { time: 100 }, c: { time: 200 } });
      const b$ = cold('-b-----------------------|', { b: { time: 150 } });
      const wm$ = watermarks(
        [
          { id: 'a', events: a$ },
          { id: 'b', events: b$ },
        ],
        { maxOutOfOrdernessMs: 0, idleTimeoutMs: 10, scheduler: ts },
      );
      // 1: both active, min(100,150); 2: min(200,150); 15: both idle -> most advanced (200); 25: all completed.
      expectObservable(wm$).toBe('-xy------------z---------(w|)', { x: 100, y: 150, z: 200, w: Number.POSITIVE_INFINITY });
    });
  });

  it('holds back by the bounded out-of-orderness and never goes backwards', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const a$ = cold('abc|', { a: { time: 100 }, b: { time: 90 }, c: { time: 130 } });
      const wm$ = watermarks([{ id: 'a', events: a$ }], { maxOutOfOrdernessMs: 20, idleTimeoutMs: 1000, scheduler: ts });
      expectObservable(wm$).toBe('x-y(z|)', { x: 80, y: 110, z: Number.POSITIVE_INFINITY });
    });
  });

  it('a source that never emits holds the watermark until it is idle', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const a$ = cold('a---------------', { a: { time: 100 } });
      const silent$ = cold<{ time: number }>('----------------');
      const wm$ = watermarks(
        [
          { id: 'a', events: a$ },
          { id: 'silent', events: silent$ },
        ],
        { maxOutOfOrdernessMs: 0, idleTimeoutMs: 6, scheduler: ts },
      );
      // ticks every 3 frames; at frame 6 the silent source is idle (6 - 0 >= 6) while `a` is idle too -> 100
      expectObservable(wm$, '^-------------!').toBe('------x', { x: 100 });
    });
  });
});

describe('event-time windows (marbles)', () => {
  const sum = { create: () => 0, add: (acc: number, e: E) => acc + e.v, key: (e: E) => e.k };

  it('tumbling windows fire on the watermark; late events go to the side output', () => {
    const ts = scheduler();
    ts.run(({ cold, hot, expectObservable }) => {
      const late: E[] = [];
      const events$ = cold<E>('abc-d', {
        a: { k: 'a', time: 1, v: 1 },
        b: { k: 'b', time: 3, v: 2 },
        c: { k: 'a', time: 12, v: 5 },
        d: { k: 'a', time: 5, v: 100 },
      });
      const wm$ = hot<number>('---x----y', { x: 10, y: 20 });
      const out$ = events$.pipe(tumblingWindows({ ...sum, sizeMs: 10, watermark$: wm$, onLate: (e) => late.push(e) }));
      expectObservable(out$).toBe('---(pq)-r', {
        p: { key: 'a', start: 0, end: 10, value: 1, count: 1 },
        q: { key: 'b', start: 0, end: 10, value: 2, count: 1 },
        r: { key: 'a', start: 10, end: 20, value: 5, count: 1 },
      });
      ts.flush();
      expect(late).toEqual([{ k: 'a', time: 5, v: 100 }]);
    });
  });

  it('allowed lateness keeps a window open past its end', () => {
    const ts = scheduler();
    ts.run(({ cold, hot, expectObservable }) => {
      const late: E[] = [];
      const events$ = cold<E>('abc-d', {
        a: { k: 'a', time: 1, v: 1 },
        b: { k: 'b', time: 3, v: 2 },
        c: { k: 'a', time: 12, v: 5 },
        d: { k: 'a', time: 5, v: 100 },
      });
      const wm$ = hot<number>('---x-y', { x: 10, y: 25 });
      const out$ = events$.pipe(tumblingWindows({ ...sum, sizeMs: 10, allowedLatenessMs: 5, watermark$: wm$, onLate: (e) => late.push(e) }));
      expectObservable(out$).toBe('-----(pqr)', {
        p: { key: 'a', start: 0, end: 10, value: 101, count: 2 },
        q: { key: 'b', start: 0, end: 10, value: 2, count: 1 },
        r: { key: 'a', start: 10, end: 20, value: 5, count: 1 },
      });
      ts.flush();
      expect(late).toEqual([]);
    });
  });

  it('sliding windows put an event in every window that covers it', () => {
    const ts = scheduler();
    ts.run(({ cold, hot, expectObservable }) => {
      const events$ = cold<E>('a', { a: { k: 'a', time: 7, v: 3 } });
      const wm$ = hot<number>('-x-y', { x: 10, y: 15 });
      const out$ = events$.pipe(slidingWindows({ ...sum, sizeMs: 10, slideMs: 5, watermark$: wm$ }));
      expectObservable(out$).toBe('-p-q', {
        p: { key: 'a', start: 0, end: 10, value: 3, count: 1 },
        q: { key: 'a', start: 5, end: 15, value: 3, count: 1 },
      });
    });
  });

  it('caps open windows and drops (with a reason) what would exceed the cap', () => {
    const ts = scheduler();
    ts.run(({ cold, hot, expectObservable }) => {
      const dropped: string[] = [];
      const events$ = cold<E>('abc', { a: { k: 'a', time: 1, v: 1 }, b: { k: 'b', time: 1, v: 1 }, c: { k: 'a', time: 2, v: 1 } });
      const wm$ = hot<number>('---x', { x: 10 });
      const out$ = events$.pipe(
        eventTimeWindows({ ...sum, sizeMs: 10, maxOpenWindows: 1, watermark$: wm$, onDrop: (e, reason) => dropped.push(`${e.k}:${reason}`) }),
      );
      expectObservable(out$).toBe('---p', { p: { key: 'a', start: 0, end: 10, value: 2, count: 2 } });
      ts.flush();
      expect(dropped).toEqual(['b:window_cap']);
    });
  });

  it('isolates an exception in the aggregate to its event', () => {
    const ts = scheduler();
    ts.run(({ cold, hot, expectObservable }) => {
      const errors: unknown[] = [];
      const events$ = cold<E>('abc', { a: { k: 'a', time: 1, v: 1 }, b: { k: 'a', time: 2, v: -1 }, c: { k: 'a', time: 3, v: 2 } });
      const wm$ = hot<number>('---x', { x: 10 });
      const out$ = events$.pipe(
        tumblingWindows({
          sizeMs: 10,
          key: (e) => e.k,
          create: () => 0,
          add: (acc, e) => {
            if (e.v < 0) throw new Error('negative');
            return acc + e.v;
          },
          watermark$: wm$,
          onError: (err) => errors.push(err),
        }),
      );
      expectObservable(out$).toBe('---p', { p: { key: 'a', start: 0, end: 10, value: 3, count: 2 } });
      ts.flush();
      expect(errors).toHaveLength(1);
    });
  });
});
