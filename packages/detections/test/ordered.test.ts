import { marbles } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { eventTimeOrdered } from '../src/index.js';

const e = (time: number) => ({ time });

describe('eventTimeOrdered', () => {
  it('holds events until the watermark reaches them and releases them in event-time order', () => {
    marbles(({ cold, hot, expectObservable }) => {
      const wm = hot('-----a----b-|', { a: 25, b: 100 });
      const src = cold('-x-y-z------|', { x: e(30), y: e(10), z: e(20) });
      expectObservable(src.pipe(eventTimeOrdered(wm))).toBe('-----(yz)-x-|', { x: e(30), y: e(10), z: e(20) });
    });
  });

  it('passes events already behind the watermark, and releases everything when the source completes', () => {
    marbles(({ cold, hot, expectObservable }) => {
      const wm = hot('a------', { a: 50 });
      const src = cold('-x-y-|', { x: e(40), y: e(70) });
      expectObservable(src.pipe(eventTimeOrdered(wm))).toBe('-x---(y|)', { x: e(40), y: e(70) });
    });
  });

  it('a +Infinity watermark (all sources completed, queue still draining) holds events until completion', () => {
    marbles(({ cold, hot, expectObservable }) => {
      const wm = hot('-a----', { a: Number.POSITIVE_INFINITY });
      const src = cold('--x-y-|', { x: e(40), y: e(10) });
      expectObservable(src.pipe(eventTimeOrdered(wm))).toBe('------(yx|)', { x: e(40), y: e(10) });
    });
  });

  it('is bounded: when full, the earliest held event is released early and counted', () => {
    let overflow = 0;
    const out: number[] = [];
    marbles(({ cold, hot }) => {
      const wm = hot<number>('-');
      cold('abcd|', { a: e(4), b: e(3), c: e(2), d: e(1) })
        .pipe(eventTimeOrdered(wm, { maxBuffer: 2, onOverflow: () => overflow++ }))
        .subscribe((x) => out.push(x.time));
    });
    expect(overflow).toBe(2);
    expect(out).toEqual([3, 2, 1, 4]);
  });
});
