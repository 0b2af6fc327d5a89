import { describe, expect, it } from 'vitest';
import { LabClock } from '../src/clock.js';

describe('LabClock', () => {
  it('maps wall time to event time and back with one speed for every source', () => {
    const clock = new LabClock(1_000_000, 500_000, 120);
    expect(clock.toEvent(1_000_000)).toBe(500_000);
    expect(clock.toEvent(1_001_000)).toBe(500_000 + 120_000);
    expect(clock.toWall(500_000 + 60_000)).toBe(1_000_500);
    expect(clock.wallSpan(3_600_000)).toBe(30_000);
  });

  it('rejects a speed that is not a positive number', () => {
    expect(() => new LabClock(0, 0, 0)).toThrow(RangeError);
    expect(() => new LabClock(0, 0, Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});
