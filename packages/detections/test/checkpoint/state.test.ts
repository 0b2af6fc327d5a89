import { marbles } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { OnceSet } from '../../src/analytics/k8s/common.js';
import { OrderBuffer } from '../../src/analytics/ordered.js';
import { paramsHash, stateVersion } from '../../src/enrich/checkpoint.js';
import { restoreWorkloadIndex, snapshotWorkloadIndex } from '../../src/enrich/workload-index.js';
import { eventTimeOrdered, WorkloadIndex } from '../../src/index.js';

const e = (time: number, id = String(time)) => ({ time, id });
/** Through JSON and back, as the file store writes it. */
const json = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe('OrderBuffer: the state behind eventTimeOrdered', () => {
  it('held items and the watermark go through JSON and come back in order', () => {
    const a = new OrderBuffer<{ time: number; id: string }>();
    const out: string[] = [];
    const emit = (x: { id: string }) => out.push(x.id);
    a.advance(100, emit);
    for (const x of [e(150, 'c'), e(120, 'a'), e(120, 'b'), e(90, 'late')]) a.push(x, emit);
    expect(out).toEqual(['late']); // behind the watermark: passes at once
    const saved = json(a.snapshot());
    expect(saved).toEqual({ watermark: 100, items: [e(120, 'a'), e(120, 'b'), e(150, 'c')] });

    const b = new OrderBuffer<{ time: number; id: string }>();
    b.restore(saved);
    expect(b.size).toBe(3);
    out.length = 0;
    // The restored watermark: a late item passes at once, as it would have without the restart.
    b.push(e(95, 'late2'), emit);
    expect(out).toEqual(['late2']);
    // A watermark at or below the restored one (a restarted pipeline starts from -Infinity) releases nothing.
    b.advance(Number.NEGATIVE_INFINITY, emit);
    b.advance(100, emit);
    expect(out).toEqual(['late2']);
    b.advance(130, emit);
    expect(out).toEqual(['late2', 'a', 'b']);
  });

  it('a +Infinity watermark is not saved: the last finite one is', () => {
    const a = new OrderBuffer<{ time: number }>();
    a.advance(50, () => {});
    a.advance(Number.POSITIVE_INFINITY, () => {});
    a.push(e(70), () => {});
    expect(json(a.snapshot())).toEqual({ watermark: 50, items: [e(70)] });
    expect(json(new OrderBuffer().snapshot())).toEqual({ watermark: null, items: [] });
  });

  it('completing right after a snapshot leaves the held items to the checkpoint; any change since releases them', () => {
    const out: number[] = [];
    const emit = (x: { time: number }) => out.push(x.time);
    const covered = new OrderBuffer<{ time: number }>();
    covered.push(e(10), emit);
    covered.snapshot();
    expect(covered.complete(emit)).toBe(0);
    expect(out).toEqual([]);

    const pushedSince = new OrderBuffer<{ time: number }>();
    pushedSince.push(e(10), emit);
    pushedSince.snapshot();
    pushedSince.push(e(5), emit);
    expect(pushedSince.complete(emit)).toBe(2);
    expect(out).toEqual([5, 10]);

    out.length = 0;
    const movedSince = new OrderBuffer<{ time: number }>();
    movedSince.push(e(10), emit);
    movedSince.snapshot();
    movedSince.advance(Number.POSITIVE_INFINITY, emit); // end of input after the checkpoint
    expect(movedSince.complete(emit)).toBe(1);
    expect(out).toEqual([10]);
  });

  it('an unreadable snapshot throws and changes nothing', () => {
    const b = new OrderBuffer<{ time: number }>();
    b.push(e(10), () => {});
    expect(() => b.restore({ watermark: 'x', items: [] })).toThrow(/watermark/);
    expect(() => b.restore({ watermark: null, items: [{ id: 'no time' }] })).toThrow(/no event time/);
    expect(() => b.restore([])).toThrow(/not an object/);
    expect(b.size).toBe(1);
  });

  it('eventTimeOrdered holds its events in the buffer it is given', () => {
    const buffer = new OrderBuffer<{ time: number; id: string }>();
    buffer.restore({ watermark: 20, items: [e(25)] });
    marbles(({ cold, hot, expectObservable }) => {
      const wm = hot('---a-----', { a: 40 });
      const src = cold('-x-------|', { x: e(30) });
      expectObservable(src.pipe(eventTimeOrdered(wm, { buffer }))).toBe('---(yx)--|', { x: e(30), y: e(25) });
    });
    expect(buffer.size).toBe(0);
  });
});

describe('stateVersion', () => {
  it('names the layout and hashes the parameters that shape the state, whatever their key order', () => {
    expect(stateVersion('x.state/1')).toBe('x.state/1');
    const v = stateVersion('x.state/1', { windowMs: 600_000, threshold: 3 });
    expect(v).toMatch(/^x\.state\/1\+[0-9a-f]{8}$/);
    expect(stateVersion('x.state/1', { threshold: 3, windowMs: 600_000 })).toBe(v);
    expect(stateVersion('x.state/1', { windowMs: 900_000, threshold: 3 })).not.toBe(v);
    expect(stateVersion('x.state/2', { windowMs: 600_000, threshold: 3 })).not.toBe(v);
    expect(paramsHash({ a: [1, { c: 2, b: undefined }] })).toBe(paramsHash({ a: [1, { c: 2 }] }));
  });
});

describe('OnceSet', () => {
  it('the ids seen come back from a snapshot', () => {
    const a = new OnceSet(3_600_000);
    expect(a.first('r1', 1000)).toBe(true);
    const b = new OnceSet(3_600_000);
    b.restore(json(a.snapshot()));
    expect(b.first('r1', 2000)).toBe(false);
    expect(b.first('r2', 2000)).toBe(true);
    expect(() => b.restore({ sweeps: 0, ids: [['r3']] })).toThrow(/not a number/);
    expect(b.first('r2', 3000)).toBe(false);
  });
});

describe('the workload index as plain data', () => {
  it('round-trips through JSON: open-ended versions, shared identities, frozen again', () => {
    const index = new WorkloadIndex({ ttlMs: 86_400_000 });
    index.observe(5_000);
    const identity = Object.freeze({ cluster: 'c', namespace: 'shop', pod: 'api-0', labels: Object.freeze({ app: 'api' }) });
    index.upsert(
      {
        key: 'c/shop/api-0',
        uid: 'u1',
        identity,
        ips: ['10.0.0.5'],
        containers: [{ name: 'api', id: 'containerd://abcdef0123456789' }],
        validFrom: 1_000,
        validTo: Number.POSITIVE_INFINITY,
      },
      'audit',
    );
    index.upsert(
      { key: 'c/shop/old-0', identity: { namespace: 'shop', pod: 'old-0' }, ips: ['10.0.0.6'], containers: [], validFrom: 0, validTo: 900 },
      'kubernetes',
    );
    const saved = json(snapshotWorkloadIndex(index));
    // One identity per pod (the IP and the pod name share it) plus the container's; one label set (shared by the pod and its container).
    expect(saved.identities).toHaveLength(3);
    expect(saved.labels).toEqual([{ app: 'api' }]);

    const copy = new WorkloadIndex({ ttlMs: 86_400_000 });
    restoreWorkloadIndex(copy, saved);
    expect(copy.now).toBe(5_000);
    const found = copy.lookupIp('10.0.0.5', 10 ** 12);
    expect(found).toEqual(identity);
    expect(Object.isFrozen(found)).toBe(true);
    expect(Object.isFrozen(found?.labels)).toBe(true);
    expect(copy.lookupPod('c', 'shop', 'api-0', 2_000)).toBe(found);
    expect(copy.lookupContainer('abcdef012345', 2_000)?.containerId).toBe('abcdef0123456789');
    expect(copy.lookupIp('10.0.0.6', 500)?.pod).toBe('old-0');
    expect(copy.lookupIp('10.0.0.6', 950)).toBeUndefined();
  });

  it('an unreadable snapshot throws and leaves the index as it was', () => {
    const index = new WorkloadIndex();
    index.upsert({ key: '/shop/a', identity: { pod: 'a' }, ips: ['10.0.0.1'], containers: [], validFrom: 0, validTo: Number.POSITIVE_INFINITY }, 'audit');
    const saved = json(snapshotWorkloadIndex(index));
    const bad = { ...saved, identities: [{ pod: 'a', color: 'red' }] };
    const badLabels = { ...saved, identities: [{ pod: 'a', labels: 4 }] };
    const target = new WorkloadIndex();
    target.upsert({ key: '/shop/b', identity: { pod: 'b' }, ips: ['10.0.0.2'], containers: [], validFrom: 0, validTo: Number.POSITIVE_INFINITY }, 'audit');
    expect(() => restoreWorkloadIndex(target, bad)).toThrow(/unknown field color/);
    expect(() => restoreWorkloadIndex(target, badLabels)).toThrow(/names no label set/);
    expect(() => restoreWorkloadIndex(target, { ...saved, ips: [['10.0.0.1', 0, [[7, 0, null, 'h', 'audit']]]] })).toThrow(/names no identity/);
    expect(target.lookupIp('10.0.0.2', 1)?.pod).toBe('b');
    expect(target.lookupIp('10.0.0.1', 1)).toBeUndefined();
  });
});
