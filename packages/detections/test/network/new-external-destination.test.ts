import type { Finding, NetworkFlowEvent } from '@outflow/core';
import { flowEvent } from '@outflow/testkit';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { destinationKey } from '../../src/analytics/network/common.js';
import { newExternalDestination } from '../../src/analytics/network/new-external-destination.js';
import { analyticEnv, createEnvironment, t1537Config } from '../../src/index.js';
import { manualContext, networkConfig, runSources, vpc } from './helpers.js';

const T0 = Date.UTC(2024, 4, 6, 8, 0, 0);
const MIN = 60_000;

describe('new_external_destination on the fixtures (VPC flow logs v5)', () => {
  it('positive: new in the cluster (an established workload and a brand-new pod), and new for a workload', async () => {
    const run = await runSources([vpc('new-destination-positive.vpc.log')], networkConfig());
    const alerts = run.of('new_external_destination');
    expect(alerts.map((a) => [a.dedupKey, a.severity, a.attributes?.['outflow.novelty.level']]).sort()).toEqual([
      ['prod-eu/shop/api|203.0.113.99', 'high', 'cluster'],
      ['prod-eu/shop/debug-shell|203.0.113.66', 'high', 'cluster'],
      ['prod-eu/shop/web|198.51.100.77', 'medium', 'workload'],
    ]);
    const api = alerts.find((a) => a.dedupKey.includes('/api|')) as Finding;
    expect(api.time).toBe(T0 + 122 * MIN);
    expect(api.explanation.summary).toBe(
      'shop/api connected to 203.0.113.99:8080, an external address no workload of cluster prod-eu contacted in 2.02 h of history.',
    );
    expect(api.explanation.expected).toBe('a destination among the 2 external addresses the cluster contacted in the last 2.02 h');
    expect(api.explanation.baselineAgeMs).toBe(121 * MIN);
    expect(api.attributes).toMatchObject({
      'destination.address': '203.0.113.99',
      'destination.port': 8080,
      'network.transport': 'tcp',
      'outflow.destination.class': 'external',
    });
    expect(api.evidence).toHaveLength(1);
    expect(api.evidence[0]?.source).toBe('aws_vpc_flow');
    const debug = alerts.find((a) => a.dedupKey.includes('debug-shell')) as Finding;
    expect(debug.explanation.reasons).toContain('shop/debug-shell is new (0 s of history): the cluster-wide level catches it without a baseline of its own');
    const web = alerts.find((a) => a.dedupKey.includes('/web|')) as Finding;
    expect(web.explanation.summary).toMatch(/never contacted in 2.02 h of history \(the cluster has too little history to say how common it is\)/);
    expect(web.explanation.reasons?.[0]).toMatch(
      /^cluster-wide: about 12 of 14 external connections went to this destination \(share 86 %; rare below 0.10 %, judged from 1000 connections on\)$/,
    );
    expect(run.deadLetter.entries()).toEqual([]);
  });

  it('negative: allow-listed, cloud, NTP (default exception), reply traffic, a new pod contacting a destination the cluster knows', async () => {
    const run = await runSources([vpc('new-destination-negative.vpc.log')], networkConfig());
    expect(run.of('new_external_destination')).toEqual([]);
    const ntp = run.suppressed.filter((s) => s.finding.detection.id === 'new_external_destination');
    expect(ntp.map((s) => s.finding.dedupKey)).toEqual(['prod-eu/shop/web|192.0.2.123']);
    expect(ntp[0]?.reason).toMatch(/new_external_destination\/ntp/);
  });

  it('the default NTP exception can be turned off', async () => {
    const run = await runSources(
      [vpc('new-destination-negative.vpc.log')],
      networkConfig({ analytics: { new_external_destination: { defaultExceptions: false } } }),
    );
    expect(run.of('new_external_destination').map((a) => a.dedupKey)).toEqual(['prod-eu/shop/web|192.0.2.123']);
  });
});

describe('new_external_destination decisions in event time', () => {
  const w = (name: string) => ({ cluster: 'c', namespace: 'shop', workloadKind: 'Deployment', workloadName: name, pod: `${name}-0` });
  const flow = (workload: string, t: number, dst: string, port = 443): NetworkFlowEvent => {
    const e = flowEvent({
      time: t,
      src: { address: '10.1.0.1', port: 40000, workload: w(workload) },
      dst: { address: dst, port },
      direction: 'egress',
      source: 'aws_vpc_flow',
    });
    e.attributes = { 'destination.class': 'external', 'source.class': 'pod' };
    return e;
  };

  function harness(params: Record<string, unknown> = {}) {
    const config = t1537Config({ cluster: { name: 'c' }, analytics: { new_external_destination: { params } } });
    const detection = newExternalDestination.create(analyticEnv(newExternalDestination, createEnvironment(config), config));
    const ctx = manualContext('new_external_destination');
    const input = new Subject<NetworkFlowEvent>();
    const out: Finding[] = [];
    let completed = false;
    detection.connect(input, ctx).subscribe({ next: (f) => out.push(f), complete: () => (completed = true) });
    return { ctx, input, out, done: () => completed };
  }

  it('decides on event time, not arrival: a late-arriving earlier contact makes the later one known', () => {
    const h = harness();
    h.input.next(flow('api', T0, '198.51.100.1')); // activity starts the learning window
    // Arrival order: the 11:00 contact first, then the 10:00 contact of the same address by another workload.
    h.input.next(flow('api', T0 + 3 * 60 * MIN, '203.0.113.50'));
    h.input.next(flow('web', T0 + 2 * 60 * MIN, '203.0.113.50'));
    h.ctx.wm.next(T0 + 4 * 60 * MIN);
    expect(h.out.map((f) => [f.dedupKey, f.attributes?.['outflow.novelty.level']])).toEqual([
      ['c/shop/web|203.0.113.50', 'cluster'],
      ['c/shop/api|203.0.113.50', 'workload'],
    ]);
  });

  it('reports each (workload, destination) once within the forget horizon, and again after it', () => {
    const h = harness({ forgetMs: 24 * 60 * MIN });
    h.input.next(flow('api', T0, '198.51.100.1'));
    for (const dt of [2 * 60, 2 * 60 + 5, 3 * 60]) h.input.next(flow('api', T0 + dt * MIN, '203.0.113.50'));
    h.input.next(flow('api', T0 + 30 * 60 * MIN, '203.0.113.50'));
    h.input.complete();
    expect(h.out.map((f) => f.time)).toEqual([T0 + 2 * 60 * MIN, T0 + 30 * 60 * MIN]);
    expect(h.done()).toBe(true);
  });

  it('nothing while the cluster and the workload are learning', () => {
    const h = harness({ learnMs: 60 * MIN, clusterLearnMs: 60 * MIN });
    h.input.next(flow('api', T0, '203.0.113.1'));
    h.input.next(flow('api', T0 + 59 * MIN, '203.0.113.2'));
    h.input.next(flow('api', T0 + 61 * MIN, '203.0.113.3'));
    h.input.complete();
    expect(h.out.map((f) => f.attributes?.['destination.address'])).toEqual(['203.0.113.3']);
  });

  it('severity follows cluster-wide rarity (count-min): low for a destination common in the cluster, medium for a rare one', () => {
    const h = harness({ minClusterTotal: 100, rareShare: 0.01 });
    for (let i = 0; i < 300; i++) h.input.next(flow('api', T0 + i * 20_000, '198.51.100.1'));
    h.input.next(flow('api', T0 + 100 * MIN, '198.51.100.2'));
    h.input.next(flow('web', T0, '192.0.2.1'));
    h.input.next(flow('web', T0 + 2 * 60 * MIN, '198.51.100.1'));
    h.input.next(flow('web', T0 + 2 * 60 * MIN + 1, '198.51.100.2'));
    h.input.complete();
    const byKey = Object.fromEntries(h.out.map((f) => [f.dedupKey, [f.severity, f.attributes?.['outflow.novelty.rarity']]]));
    expect(byKey).toEqual({
      'c/shop/api|198.51.100.2': ['high', 'new'],
      'c/shop/web|198.51.100.1': ['low', 'common'],
      'c/shop/web|198.51.100.2': ['medium', 'rare'],
    });
  });

  it('compares address prefixes when asked to (rotating CDN addresses)', () => {
    expect(destinationKey('203.0.113.77', 24)).toBe('203.0.113.0/24');
    expect(destinationKey('2001:db8::1234', 32, 48)).toBe('2001:db8:0:0:0:0:0:0/48');
    expect(destinationKey('not an address')).toBeUndefined();
    const h = harness({ prefixV4: 24 });
    h.input.next(flow('api', T0, '198.51.100.1'));
    h.input.next(flow('api', T0 + 2 * 60 * MIN, '203.0.113.10'));
    h.input.next(flow('api', T0 + 2 * 60 * MIN + 1, '203.0.113.11'));
    h.input.complete();
    expect(h.out.map((f) => f.dedupKey)).toEqual(['c/shop/api|203.0.113.0/24']);
  });

  it('bounded: workloads beyond the cap are forgotten; state can be checkpointed and restored', () => {
    const h = harness({ maxWorkloads: 4 });
    for (let i = 0; i < 10; i++) h.input.next(flow(`w${i}`, T0 + i, '198.51.100.1'));
    expect(h.ctx.states.get('activity')?.size).toBeLessThanOrEqual(4);
    const cp = h.ctx.checkpoints.get('first_seen');
    expect(cp?.version).toMatch(/^new_external_destination\.first_seen\/1\+[0-9a-f]{8}$/);
    const snap = JSON.parse(JSON.stringify(cp?.snapshot()));
    const other = harness({ maxWorkloads: 4 });
    other.ctx.checkpoints.get('first_seen')?.restore(snap);
    expect(other.ctx.states.get('activity')?.size).toBe(h.ctx.states.get('activity')?.size);
  });

  it('bounded in pairs: past maxPairs the least recently seen workloads are forgotten, and a forgotten one learns afresh', () => {
    const h = harness({ maxPairs: 100, learnMs: 0, clusterLearnMs: 0 });
    const pairs = () => h.ctx.states.get('pairs')?.size ?? 0;
    // 5 workloads × 30 destinations each, in turn: 150 pairs against a cap of 100.
    for (let w = 0; w < 5; w++) for (let k = 0; k < 30; k++) h.input.next(flow(`w${w}`, T0 + w * 100 + k, `198.51.100.${k}`));
    h.ctx.wm.next(T0 + 60 * MIN);
    expect(pairs()).toBeLessThanOrEqual(100);
    expect(pairs()).toBeGreaterThanOrEqual(60);
    expect(h.ctx.states.get('workloads')?.size).toBeLessThan(5);
    // w0 was the least recently seen: forgotten, so a destination it used is new for it again (the cluster still knows it).
    const before = h.out.length;
    h.input.next(flow('w0', T0 + 61 * MIN, '198.51.100.3'));
    h.ctx.wm.next(T0 + 62 * MIN);
    expect(h.out.slice(before).map((f) => [f.dedupKey, f.attributes?.['outflow.novelty.level']])).toEqual([['c/shop/w0|198.51.100.3', 'workload']]);
    // w4, the most recent, is still known: the same kind of contact raises nothing.
    h.input.next(flow('w4', T0 + 63 * MIN, '198.51.100.3'));
    h.ctx.wm.next(T0 + 64 * MIN);
    expect(h.out.length).toBe(before + 1);
  });

  it('bad input never throws: flows without addresses or workloads are skipped', () => {
    const h = harness();
    const odd = flow('api', T0, 'not-an-ip');
    h.input.next(odd);
    h.input.next({ ...odd, src: { address: '10.0.0.1' }, workload: undefined } as NetworkFlowEvent);
    h.input.next({ ...odd, time: Number.NaN } as NetworkFlowEvent);
    h.input.complete();
    expect(h.out).toEqual([]);
    expect(h.done()).toBe(true);
  });
});
