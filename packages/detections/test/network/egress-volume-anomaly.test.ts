import { EwmaBaseline } from '@outflow/baselines';
import type { Finding, NetworkFlowEvent } from '@outflow/core';
import { baselineConformance, flowEvent, scorerConformance } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { egressGroup, egressView, workloadId } from '../../src/analytics/network/common.js';
import { EgressBaseline, type EgressFeature, EgressScorer, egressVolumeAnomaly } from '../../src/analytics/network/egress-volume-anomaly.js';
import { analyticEnv, createEnvironment, t1537Config } from '../../src/index.js';
import { manualContext, networkConfig, runSources, tetragon, vpc } from './helpers.js';

const T0 = Date.UTC(2024, 4, 6, 8, 0, 0);
const MIN = 60_000;

describe('egress_volume_anomaly on the fixtures (VPC flow logs v5, Tetragon)', () => {
  it('positive: an established workload far above its baseline, and a new pod above the cap', async () => {
    const run = await runSources([vpc('egress-positive.vpc.log')], networkConfig());
    const alerts = run.of('egress_volume_anomaly');
    // Two anomalous keys. (The api's second window closes only when the input ends, after the pipeline's dedup windows were closed by
    // the final watermark, so it is delivered as a second `new` alert of the same key.)
    expect([...new Set(alerts.map((a) => a.dedupKey))].sort()).toEqual(['prod-eu/shop/api|external', 'prod-eu/shop/debug-shell|external']);

    const debug = alerts.find((a) => a.dedupKey.includes('debug-shell'));
    expect(debug?.severity).toBe('high');
    expect(debug?.attributes?.['outflow.egress.bytes']).toBe(960_000_000);
    expect(debug?.explanation.expected).toMatch(/^no baseline yet \(1 of 12 windows/);
    expect(debug?.tags).toContain('learning_cap');
    expect(debug?.time).toBe(T0 + 114 * MIN);

    const api = alerts.find((a) => a.dedupKey.includes('/api|'));
    expect(api?.severity).toBe('medium');
    expect(api?.tags).toContain('baseline');
    // 4 MB per minute from minute 120: the window 10:00–10:05 holds the four records that end in it, and one 30 kB call to the mirror.
    expect(api?.attributes?.['outflow.egress.bytes']).toBe(16_030_000);
    expect(api?.attributes?.['outflow.egress.destinations']).toEqual(['203.0.113.99', '198.51.100.77']);
    expect(api?.attributes?.['destination.address']).toBe('203.0.113.99');
    expect(api?.explanation.observed).toBe('16.0 MB to external destinations in 5 min (10:00–10:05 UTC)');
    expect(api?.explanation.expected).toMatch(/^typically 30\.0 kB .* in the 12 of 24 windows with traffic over 2 h; z = \d+\.\d ≥ 4$/);
    expect(api?.explanation.samples).toBe(24);
    expect(api?.explanation.baselineAgeMs).toBe(2 * 3_600_000);
    expect(api?.explanation.score).toBeGreaterThanOrEqual(api?.explanation.threshold as number);
    // Evidence: the VPC egress records of the window, largest first; never the ingress (reply) records.
    expect(api?.evidence.length).toBe(5);
    expect(api?.evidence.every((e) => e.source === 'aws_vpc_flow')).toBe(true);
    expect(api?.response?.contain?.length).toBeGreaterThan(0);
    expect(api?.detection.relatedAttack?.map((r) => r.technique)).toContain('T1030');
    expect(run.deadLetter.entries()).toEqual([]);
  });

  it('negative: new backup pod to S3, allow-listed partner, below the floor, downloads, and one transfer seen by two sensors', async () => {
    const run = await runSources([vpc('egress-negative.vpc.log'), tetragon('egress-negative.tetragon.jsonl')], networkConfig());
    expect(run.of('egress_volume_anomaly')).toEqual([]);
    expect(run.deadLetter.entries()).toEqual([]);
  });

  it('the same transfer reported by VPC flow logs and Tetragon is counted once: summing the sources would cross the cap', async () => {
    // In the window 09:50–09:55 Tetragon saw 300 MB sent and VPC flow logs 240 MB of the same upload: a sum (540 MB) would cross the 500 MB cap.
    const config = networkConfig({ analytics: { egress_volume_anomaly: { params: { learningCapBytes: 500_000_000 } } } });
    const run = await runSources([vpc('egress-negative.vpc.log'), tetragon('egress-negative.tetragon.jsonl')], config);
    expect(run.of('egress_volume_anomaly')).toEqual([]);
    const lower = networkConfig({ analytics: { egress_volume_anomaly: { params: { learningCapBytes: 250_000_000 } } } });
    const fired = (await runSources([vpc('egress-negative.vpc.log'), tetragon('egress-negative.tetragon.jsonl')], lower)).of('egress_volume_anomaly');
    expect(fired.map((a) => a.attributes?.['outflow.egress.bytes'])).toEqual([300_000_000]);
    expect(fired[0]?.explanation.reasons?.[0]).toMatch(/tetragon 300 MB, aws_vpc_flow 240 MB/);
  });

  it('learns per destination group: 400 MB to an allow-listed partner is not egress, and S3 traffic of a new pod is not capped', async () => {
    const lower = networkConfig({ analytics: { egress_volume_anomaly: { params: { learningCapBytes: 1_000_000 } } } });
    const run = await runSources([vpc('egress-negative.vpc.log')], lower);
    // With a 1 MB cap only the new debug pod's external upload (60 MB per minute) is above it: the backup's 3 GB went to cloud storage.
    expect(run.of('egress_volume_anomaly').map((a) => a.dedupKey)).toEqual(['prod-eu/shop/debug-shell|external']);
  });

  it('can be disabled and configured like every analytic', async () => {
    const run = await runSources([vpc('egress-positive.vpc.log')], networkConfig({ analytics: { egress_volume_anomaly: { enabled: false } } }));
    expect(run.of('egress_volume_anomaly')).toEqual([]);
    expect(egressVolumeAnomaly.params?.safeParse({ nope: 1 }).success).toBe(false);
  });
});

describe('egressView: bytes leaving the local workload', () => {
  const api = { cluster: 'c', namespace: 'shop', workloadKind: 'ReplicaSet', workloadName: 'api-5d9c7b8f4', pod: 'api-5d9c7b8f4-x2x9q' };

  it('egress records count bytes; ingress records count only reverse bytes (0 for one-record-per-direction formats)', () => {
    const out = flowEvent({
      src: { address: '10.42.1.10', port: 40000, workload: api },
      dst: { address: '203.0.113.9', port: 443 },
      direction: 'egress',
      bytes: 5000,
    });
    out.attributes = { 'destination.class': 'external', 'source.class': 'pod' };
    expect(egressView(out)).toMatchObject({ bytes: 5000, remoteClass: 'external', initiated: true });
    const reply = flowEvent({
      src: { address: '203.0.113.9', port: 443 },
      dst: { address: '10.42.1.10', port: 40000, workload: api },
      direction: 'ingress',
      bytes: 9_000_000,
    });
    reply.attributes = { 'destination.class': 'pod', 'source.class': 'external' };
    expect(egressView(reply)).toMatchObject({ bytes: 0, remoteClass: 'external' });
    const accepted: NetworkFlowEvent = { ...reply, source: 'tetragon', reverseBytes: 7000 };
    expect(egressView(accepted)).toMatchObject({ bytes: 7000, initiated: false });
  });

  it('never attributes a flow to the remote end, and skips the pipeline’s own traffic', () => {
    const toPod = flowEvent({
      src: { address: '198.51.100.1', port: 5000 },
      dst: { address: '10.42.1.10', port: 443, workload: api },
      direction: 'egress',
      workload: api,
    });
    expect(egressView(toPod)).toBeUndefined();
    const self = flowEvent({ src: { address: '10.42.1.10', port: 40000, workload: api }, dst: { address: '10.0.0.9', port: 4318 }, direction: 'egress' });
    self.attributes = { 'destination.class': 'self' };
    expect(egressView(self)).toBeUndefined();
  });

  it('marks reply traffic of a served connection as not initiated', () => {
    const served = flowEvent({
      src: { address: '10.42.1.10', port: 8443, workload: api },
      dst: { address: '192.0.2.200', port: 51515 },
      direction: 'egress',
      source: 'aws_vpc_flow',
    });
    expect(egressView(served)?.initiated).toBe(false);
  });

  it('groups destination classes', () => {
    const storage = new Set(['S3']);
    expect(egressGroup('external', undefined, storage)).toBe('external');
    expect(egressGroup('cloud', 'S3', storage)).toBe('cloud_storage');
    expect(egressGroup('cloud', 'EC2', storage)).toBe('cloud');
    expect(egressGroup('unknown', undefined, storage)).toBe('unknown');
    for (const c of ['pod', 'service', 'own', 'private', 'allowed', 'self', 'loopback', 'metadata']) expect(egressGroup(c, undefined, storage)).toBeUndefined();
  });

  it('names one workload the same whichever sensor saw it', () => {
    expect(workloadId(api)).toBe('c/shop/api');
    expect(workloadId({ namespace: 'shop', workloadKind: 'Deployment', workloadName: 'api' }, 'c')).toBe('c/shop/api');
    expect(workloadId({ cluster: 'c', namespace: 'data', workloadKind: 'Job', workloadName: 'etl-28512345' })).toBe('c/data/etl');
    expect(workloadId({ cluster: 'c', namespace: 'shop', pod: 'debug' })).toBe('c/shop/debug');
    expect(workloadId({ containerId: 'containerd://0123456789abcdef0123' })).toBe('//container:0123456789ab');
    expect(workloadId({ account: '111122223333' })).toBeUndefined();
  });
});

describe('EgressScorer', () => {
  const params = egressVolumeAnomaly.params?.parse({}) as never;
  const baseline = new EgressBaseline(new EwmaBaseline({ halfLifeMs: 86_400_000 }));
  const scorer = new EgressScorer(baseline, params);
  const f = (bytes: number, group: EgressFeature['group'] = 'external'): EgressFeature => ({ bytes, log: Math.log10(1 + bytes), group });

  it('holds a learning key to the cap for external and unknown destinations only', () => {
    const s = baseline.init(T0);
    expect(scorer.probability(s, f(600_000_000), T0)).toBe(1);
    expect(scorer.probability(s, f(400_000_000), T0)).toBe(0);
    expect(scorer.probability(s, f(600_000_000, 'cloud_storage'), T0)).toBe(0);
    expect(scorer.score(s, f(600_000_000), T0).explanation.expected).toMatch(/^no baseline yet/);
  });

  it('fires on anything above the floor for a mature key that never sent to the group, nothing below the floor', () => {
    let s = baseline.init(T0);
    for (let i = 0; i < 12; i++) s = baseline.update(s, f(0), T0 + i * 5 * MIN);
    const t = T0 + 61 * MIN;
    expect(scorer.probability(s, f(999_999), t)).toBe(0);
    expect(scorer.probability(s, f(1_000_000), t)).toBe(1);
    expect(scorer.score(s, f(1_000_000), t).explanation.expected).toBe('nothing: no bytes to these destinations in any of 12 windows over 61 min');
  });

  it('scores log bytes of active windows only: zeros do not widen the spread', () => {
    let s = baseline.init(T0);
    for (let i = 0; i < 24; i++) s = baseline.update(s, f(i % 2 === 0 ? 0 : 30_000), T0 + i * 5 * MIN);
    const t = T0 + 121 * MIN;
    expect(baseline.active(s)).toBe(12);
    expect(scorer.probability(s, f(90_000_000), t)).toBeGreaterThan(0.9999);
    // 3× the typical volume is within a factor the σ floor tolerates.
    expect(scorer.probability(s, f(90_000), t)).toBeLessThan(0.99);
  });
});

{
  const params = egressVolumeAnomaly.params?.parse({}) as never;
  const baseline = new EgressBaseline(new EwmaBaseline({ halfLifeMs: 86_400_000, clipSigma: 4 }));
  const feature = (bytes: number): EgressFeature => ({ bytes, log: Math.log10(1 + bytes), group: 'external' });
  // A normal stream: mostly a few tens of kB per window, one window in five with nothing.
  const sample = (i: number) => feature(i % 5 === 0 ? 0 : 20_000 + ((i * 7919) % 30_000));
  const invalid = [feature(Number.NaN), feature(-5), { bytes: Number.POSITIVE_INFINITY, log: Number.POSITIVE_INFINITY, group: 'external' } as EgressFeature];
  defineConformanceTests('egress_bytes baseline', baselineConformance({ baseline, sample, invalid, maxBytes: 512 }));
  defineConformanceTests(
    'egress_volume scorer',
    scorerConformance({ scorer: new EgressScorer(baseline, params), baseline, sample, anomalous: feature(5_000_000_000), invalid }),
  );
}

describe('egress_volume_anomaly state', () => {
  const pod = { cluster: 'c', namespace: 'shop', workloadKind: 'Deployment', workloadName: 'api', pod: 'api-0' };
  const flow = (t: number, bytes: number): NetworkFlowEvent => {
    const e = flowEvent({
      time: t,
      src: { address: '10.42.1.10', port: 40000, workload: pod },
      dst: { address: '203.0.113.9', port: 443 },
      bytes,
      source: 'aws_vpc_flow',
    });
    e.attributes = { 'destination.class': 'external', 'source.class': 'pod' };
    return e;
  };
  function start() {
    const config = t1537Config({ cluster: { name: 'c' } });
    const detection = egressVolumeAnomaly.create(analyticEnv(egressVolumeAnomaly, createEnvironment(config), config));
    const ctx = manualContext('egress_volume_anomaly');
    const input = new Subject<NetworkFlowEvent>();
    const out: Finding[] = [];
    detection.connect(input, ctx).subscribe((f) => out.push(f));
    return { ctx, input, out };
  }

  it('baselines survive a checkpoint: restored, a key is still learned and scores at once', () => {
    const a = start();
    for (let m = 0; m < 90; m++) a.input.next(flow(T0 + m * MIN, 20_000));
    a.ctx.wm.next(T0 + 90 * MIN);
    const cp = a.ctx.checkpoints.get('baselines');
    expect(cp?.version).toMatch(/^egress_volume_anomaly\.baselines\/1\+[0-9a-f]{8}$/);
    const snapshot = JSON.parse(JSON.stringify(cp?.snapshot()));
    const b = start();
    b.ctx.checkpoints.get('baselines')?.restore(snapshot);
    expect(b.ctx.states.get('baselines')?.size).toBe(4);
    for (let m = 90; m < 95; m++) b.input.next(flow(T0 + m * MIN, 8_000_000));
    b.ctx.wm.next(T0 + 100 * MIN);
    expect(b.out.map((f) => [f.dedupKey, f.tags?.includes('baseline')])).toEqual([['c/shop/api|external', true]]);
    // Without the checkpoint the same burst meets a learning key, below the cap: nothing.
    const c = start();
    for (let m = 90; m < 95; m++) c.input.next(flow(T0 + m * MIN, 8_000_000));
    c.ctx.wm.next(T0 + 100 * MIN);
    expect(c.out).toEqual([]);
  });
});
