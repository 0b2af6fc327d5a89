import { describe, expect, it } from 'vitest';
import { BoundedQueue } from '../src/index.js';

describe('BoundedQueue', () => {
  it('refuses when full under refuse/drop_newest, and put drops with a reason', async () => {
    for (const policy of ['refuse', 'drop_newest'] as const) {
      const drops: [number, string][] = [];
      const q = new BoundedQueue<number>({ capacity: 2, policy, onDrop: (item, _w, reason) => drops.push([item, reason]) });
      expect(q.offer(1)).toBe(true);
      expect(q.offer(2)).toBe(true);
      expect(q.offer(3)).toBe(false); // caller counts it
      expect(await q.put(4)).toBe(false);
      expect(drops).toEqual([[4, 'queue_full']]);
      expect(q.take()).toBe(1);
    }
  });

  it('drop_oldest makes room and reports what it dropped', () => {
    const drops: number[] = [];
    const q = new BoundedQueue<number>({ capacity: 2, policy: 'drop_oldest', onDrop: (item) => drops.push(item) });
    q.offer(1);
    q.offer(2);
    expect(q.offer(3)).toBe(true);
    expect(drops).toEqual([1]);
    expect(q.takeUpTo(10)).toEqual([2, 3]);
  });

  it('block makes put wait for room, in order', async () => {
    const q = new BoundedQueue<number>({ capacity: 2, policy: 'block' });
    await q.put(1);
    await q.put(2);
    const order: number[] = [];
    const p3 = q.put(3).then(() => order.push(3));
    const p4 = q.put(4).then(() => order.push(4));
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual([]);
    expect(q.blocked).toBe(2);
    expect(q.take()).toBe(1);
    await p3;
    expect(q.take()).toBe(2);
    await p4;
    expect(order).toEqual([3, 4]);
    expect(q.takeUpTo(10)).toEqual([3, 4]);
  });

  it('weighs items and admits an oversize item only into an empty queue', () => {
    const q = new BoundedQueue<number[]>({ capacity: 5, policy: 'refuse', weigh: (b) => b.length });
    expect(q.offer([1, 2, 3])).toBe(true);
    expect(q.offer([1, 2, 3])).toBe(false);
    expect(q.size).toBe(3);
    q.take();
    expect(q.offer(new Array(9).fill(0))).toBe(true);
    expect(q.size).toBe(9);
  });

  it('close releases blocked puts as drops and can discard the rest', async () => {
    const drops: string[] = [];
    const q = new BoundedQueue<number>({ capacity: 1, policy: 'block', onDrop: (i, _w, r) => drops.push(`${i}:${r}`) });
    await q.put(1);
    const blocked = q.put(2);
    q.close('shutdown', true);
    expect(await blocked).toBe(false);
    expect(drops).toEqual(['2:shutdown', '1:shutdown']);
    expect(q.offer(3)).toBe(false);
  });
});
