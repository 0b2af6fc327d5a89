import { describe, expect, it } from 'vitest';
import { AlertDeduplicator, type Finding, T1537, WatermarkTracker } from '../src/index.js';

const f = (time: number, key = 'k', severity: Finding['severity'] = 'medium', id = `e${time}`): Finding => ({
  detection: { id: 'd', title: 'D', attack: T1537 },
  severity,
  time,
  evidence: [{ source: 's', id }],
  explanation: { summary: severity },
  dedupKey: key,
});

describe('AlertDeduplicator', () => {
  it('folds repeats, raises severity, caps evidence and closes windows on the watermark', () => {
    const d = new AlertDeduplicator({ windowMs: 100, maxEvidence: 2 });
    const first = d.push(f(0), 1, () => {});
    expect(first?.count).toBe(1);
    expect(d.push(f(10, 'k', 'critical'), 2, () => {})).toBeUndefined();
    expect(d.push(f(20), 3, () => {})).toBeUndefined();
    expect(d.advance(99, 4)).toEqual([]);
    const [update] = d.advance(100, 5);
    expect(update?.status).toBe('update');
    expect(update?.id).toBe(first?.id);
    expect(update?.count).toBe(3);
    expect(update?.severity).toBe('critical');
    expect(update?.evidence.map((e) => e.id)).toEqual(['e0', 'e10']);
    expect(d.size).toBe(0);
  });

  it('gives the same id for the same detection, key and first-seen time (restarts dedupe downstream)', () => {
    const a = new AlertDeduplicator().push(f(42), 1, () => {});
    const b = new AlertDeduplicator().push(f(42), 999, () => {});
    expect(a?.id).toBe(b?.id);
  });

  it('stays within maxKeys, closing the oldest entries early', () => {
    const closed: number[] = [];
    const d = new AlertDeduplicator({ maxKeys: 2 });
    d.push(f(0, 'a'), 0, () => {});
    d.push(f(1, 'a'), 0, () => {});
    d.push(f(2, 'b'), 0, () => {});
    d.push(f(3, 'c'), 0, (u) => closed.push(u.count));
    expect(d.size).toBe(2);
    expect(closed).toEqual([2]);
  });
});

describe('WatermarkTracker', () => {
  it('ignores completed sources and reaches +Infinity when all complete', () => {
    const w = new WatermarkTracker({ maxOutOfOrdernessMs: 10, idleTimeoutMs: 1000 });
    w.register('a', 0);
    w.register('b', 0);
    w.observe('a', 100, 1);
    expect(w.update(1)).toBe(Number.NEGATIVE_INFINITY); // b has not spoken yet
    w.complete('b', 2);
    expect(w.update(2)).toBe(90);
    w.observe('a', 50, 3); // out of order: no regression
    expect(w.update(3)).toBe(90);
    w.complete('a', 4);
    expect(w.update(4)).toBe(Number.POSITIVE_INFINITY);
  });
});
