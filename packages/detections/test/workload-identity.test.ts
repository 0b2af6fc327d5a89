import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ComponentMetrics, silentLogger, systemClock } from '@outflow/core';
import { auditEvent, cloudCall, createTestContext, fileAccess, flowEvent, processExec } from '@outflow/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import type { PodRecord } from '../src/index.js';
import { podFromObject, podsFromInventory, WorkloadIdentityProcessor, WorkloadIndex, Workloads } from '../src/index.js';
import { auditEvents, TESTDATA } from './helpers.js';

const T = (iso: string) => Date.parse(iso);
const pods = (JSON.parse(readFileSync(join(TESTDATA, 'k8s/pods.json'), 'utf8')) as { items: unknown[] }).items;

function record(name: string, ip: string, from: string, to?: string, uid = name): PodRecord {
  return {
    key: `c/ns/${name}`,
    uid,
    identity: Object.freeze({ cluster: 'c', namespace: 'ns', pod: name }),
    ips: [ip],
    containers: [],
    validFrom: T(from),
    validTo: to ? T(to) : Number.POSITIVE_INFINITY,
  };
}

function processor(options: Partial<ConstructorParameters<typeof WorkloadIdentityProcessor>[0]> = {}) {
  const ctx = createTestContext({ name: 't1537', kind: 'processor' });
  const metrics: ComponentMetrics = ctx.metrics;
  return { p: new WorkloadIdentityProcessor({ cluster: 'prod-eu', logger: silentLogger, metrics, clock: systemClock, ...options }), ctx };
}

describe('WorkloadIndex: time-versioned attribution', () => {
  it('a reused IP is never attributed to the pod that held it before', () => {
    const idx = new WorkloadIndex();
    idx.upsert(record('old', '10.42.0.9', '2024-03-01T00:00:00Z'), 'kubernetes');
    idx.upsert(record('new', '10.42.0.9', '2024-03-01T12:00:00Z'), 'kubernetes');
    expect(idx.lookupIp('10.42.0.9', T('2024-03-01T11:59:59Z'))?.pod).toBe('old');
    expect(idx.lookupIp('10.42.0.9', T('2024-03-01T12:00:00Z'))?.pod).toBe('new');
    expect(idx.lookupIp('10.42.0.9', T('2024-02-28T00:00:00Z'))).toBeUndefined();
  });

  it('learning out of order: an older holder learned later stops where the newer one starts', () => {
    const idx = new WorkloadIndex();
    idx.upsert(record('new', '10.42.0.9', '2024-03-01T12:00:00Z'), 'audit');
    idx.upsert(record('old', '10.42.0.9', '2024-03-01T00:00:00Z'), 'audit');
    expect(idx.lookupIp('10.42.0.9', T('2024-03-01T13:00:00Z'))?.pod).toBe('new');
    expect(idx.lookupIp('10.42.0.9', T('2024-03-01T06:00:00Z'))?.pod).toBe('old');
  });

  it('updates of the same pod merge; removal closes its versions', () => {
    const idx = new WorkloadIndex();
    idx.upsert(record('a', '10.42.0.9', '2024-03-01T00:00:00Z'), 'kubernetes');
    idx.upsert({ ...record('a', '10.42.0.9', '2024-03-01T00:00:00Z'), identity: { cluster: 'c', namespace: 'ns', pod: 'a', image: 'x:1' } }, 'kubernetes');
    expect(idx.ips.versions('10.42.0.9')).toHaveLength(1);
    expect(idx.lookupIp('10.42.0.9', T('2024-03-01T01:00:00Z'))?.image).toBe('x:1');
    idx.remove(record('a', '10.42.0.9', '2024-03-01T00:00:00Z'), T('2024-03-01T02:00:00Z'));
    expect(idx.lookupIp('10.42.0.9', T('2024-03-01T01:59:59Z'))?.pod).toBe('a');
    expect(idx.lookupIp('10.42.0.9', T('2024-03-01T02:00:00Z'))).toBeUndefined();
  });

  it('is bounded: key cap, TTL in event time, versions per key', () => {
    const idx = new WorkloadIndex({ maxKeys: 64, ttlMs: 3_600_000, maxVersions: 3 });
    for (let i = 0; i < 200; i++) idx.upsert(record(`p${i}`, `10.1.${i >> 8}.${i & 255}`, '2024-03-01T00:00:00Z'), 'kubernetes');
    expect(idx.ips.size).toBeLessThanOrEqual(64);
    expect(idx.ips.state.evictions.cap).toBeGreaterThan(0);
    for (let i = 0; i < 10; i++) idx.upsert(record(`v${i}`, '10.9.9.9', `2024-03-01T0${i}:00:00Z`), 'kubernetes');
    expect(idx.ips.versions('10.9.9.9').map((v) => v.identity.pod)).toEqual(['v7', 'v8', 'v9']);
    idx.observe(T('2024-03-01T09:30:00Z'));
    expect(idx.lookupIp('10.9.9.9', T('2024-03-01T09:10:00Z'))?.pod).toBe('v9'); // touched at 09:30
    idx.observe(T('2024-03-01T12:00:00Z'));
    expect(idx.expire()).toBeGreaterThan(0);
    expect(idx.ips.size).toBe(0);
  });
});

describe('pods from Kubernetes objects', () => {
  it('reads owner workloads, containers, digests, IPs and lifetimes', () => {
    const [web, backup, exporter, cart] = pods.map((p) => podFromObject(p, 'prod-eu', 0) as PodRecord);
    expect(web?.identity).toMatchObject({
      cluster: 'prod-eu',
      namespace: 'shop',
      workloadKind: 'Deployment',
      workloadName: 'web',
      container: 'web',
      image: 'registry.example.com/shop/web:1.4',
    });
    expect(web?.identity.imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(web?.ips).toEqual(['10.42.0.15']);
    expect(web?.containers[0]?.id).toMatch(/^a1b2c3d4e5f6/);
    expect(backup?.identity).toMatchObject({ workloadKind: 'CronJob', workloadName: 'backup' });
    expect(backup?.validTo).toBe(T('2024-03-01T01:00:00Z'));
    expect(exporter?.ips).toEqual([]); // host network: the node's IP is not the pod's
    expect(exporter?.identity.workloadKind).toBe('DaemonSet');
    expect(cart?.identity.container).toBeUndefined();
    expect(cart?.containers.map((c) => c.name)).toEqual(['cart', 'envoy']);
    expect(podFromObject({ kind: 'Service', metadata: { name: 'x' } }, undefined, 0)).toBeUndefined();
  });

  it('reads Outflow inventory entries and kubectl PodLists, counting unusable entries', () => {
    const inv = JSON.parse(readFileSync(join(TESTDATA, 'k8s/inventory.json'), 'utf8'));
    const { pods: fromInv, invalid } = podsFromInventory(inv, 'prod-eu');
    expect(invalid).toBe(1);
    expect(fromInv.map((p) => p.identity.pod)).toEqual(['web-1', 'etl-2']);
    expect(podsFromInventory({ items: pods }, 'prod-eu').pods).toHaveLength(4);
  });
});

describe('WorkloadIdentityProcessor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'outflow-inventory-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads an inventory file at start and attributes a reused IP by event time', async () => {
    const { p, ctx } = processor({ inventory: join(TESTDATA, 'k8s/inventory.json') });
    await p.start();
    expect(ctx.telemetry.total('dropped', { reason: 'invalid_inventory_entry' })).toBe(1);
    const early = p.process(flowEvent({ time: T('2024-02-10T00:00:00Z'), src: { address: '10.42.1.5' }, dst: { address: '8.8.8.8' } }));
    expect(early.workload).toMatchObject({ pod: 'web-1', workloadName: 'web', image: 'registry.example.com/shop/web:1.3' });
    const late = p.process(flowEvent({ time: T('2024-02-20T00:00:00Z'), src: { address: '10.42.1.5' }, dst: { address: '8.8.8.8' } }));
    expect(late.workload).toMatchObject({ pod: 'etl-2', workloadName: 'etl' });
    await p.shutdown();
  });

  it('fails start on an unreadable or malformed inventory (a configuration error)', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"pods": 3}');
    await expect(processor({ inventory: bad }).p.start()).rejects.toThrow(/expected/);
    await expect(processor({ inventory: join(dir, 'missing.json') }).p.start()).rejects.toThrow(/ENOENT/);
  });

  it('flows: fills both ends and sets the event workload to the local end by direction; keeps what the source gave', () => {
    const { p } = processor();
    for (const pod of pods) p.workloads.live.upsert(podFromObject(pod, 'prod-eu', 0) as PodRecord, 'kubernetes');
    const t = T('2024-03-01T00:30:00Z');
    const egress = p.process(flowEvent({ time: t, direction: 'egress', src: { address: '10.42.0.15' }, dst: { address: '10.42.0.16' } }));
    expect(egress.kind === 'network_flow' && [egress.src.workload?.pod, egress.dst.workload?.pod]).toEqual(['web-7d4b9c8f6d-x2x9k', 'backup-28500000-q7r2t']);
    expect(egress.workload?.pod).toBe('web-7d4b9c8f6d-x2x9k');
    const ingress = p.process(flowEvent({ time: t, direction: 'ingress', src: { address: '203.0.113.5' }, dst: { address: '10.42.0.17' } }));
    expect(ingress.workload?.pod).toBe('cart-0');
    const given = p.process(flowEvent({ time: t, src: { address: '10.42.0.15', workload: { pod: 'from-hubble' } }, dst: { address: '8.8.8.8' } }));
    expect(given.kind === 'network_flow' && given.src.workload?.pod).toBe('from-hubble');
    // The backup pod finished at 01:00: a flow from its IP at 02:00 is nobody's.
    const after = p.process(flowEvent({ time: T('2024-03-01T02:00:00Z'), src: { address: '10.42.0.16' }, dst: { address: '8.8.8.8' } }));
    expect(after.workload).toBeUndefined();
  });

  it('an identity a source set without the cluster (Tetragon) is completed from the same pod, never overwritten', () => {
    const { p } = processor();
    for (const pod of pods) p.workloads.live.upsert(podFromObject(pod, 'prod-eu', 0) as PodRecord, 'kubernetes');
    const t = T('2024-03-01T00:30:00Z');
    // Tetragon: the pod, its namespace and the Deployment, no cluster; the local end and the event share the identity.
    const tetragon = { namespace: 'shop', pod: 'web-7d4b9c8f6d-x2x9k', workloadKind: 'Deployment', workloadName: 'web' };
    const sent = flowEvent({
      time: t,
      source: 'tetragon',
      src: { address: '10.42.0.15', workload: tetragon },
      dst: { address: '8.8.8.8' },
      workload: tetragon,
    });
    const flow = p.process(sent);
    if (flow.kind !== 'network_flow') throw new Error('not a flow');
    expect(flow.src.workload).toMatchObject({
      cluster: 'prod-eu',
      namespace: 'shop',
      pod: 'web-7d4b9c8f6d-x2x9k',
      image: 'registry.example.com/shop/web:1.4',
      labels: { app: 'web', 'pod-template-hash': '7d4b9c8f6d' },
      // What the source said stays (the index names the ReplicaSet).
      workloadKind: 'Deployment',
      workloadName: 'web',
    });
    expect(flow.workload).toBe(flow.src.workload);
    expect(tetragon).toEqual({ namespace: 'shop', pod: 'web-7d4b9c8f6d-x2x9k', workloadKind: 'Deployment', workloadName: 'web' });
    // The pod at the other end, named by the source with a name only: the address's pod has that name.
    const inbound = p.process(
      flowEvent({
        time: t,
        source: 'tetragon',
        direction: 'ingress',
        src: { address: '203.0.113.5' },
        dst: { address: '10.42.0.17', workload: { pod: 'cart-0' } },
      }),
    );
    expect(inbound.kind === 'network_flow' && inbound.dst.workload).toMatchObject({
      cluster: 'prod-eu',
      namespace: 'shop',
      pod: 'cart-0',
      workloadKind: 'StatefulSet',
    });
    expect(inbound.workload).toMatchObject({ cluster: 'prod-eu', pod: 'cart-0' });
    // A pod the index does not know (or another pod at that address): only the cluster, from the configuration.
    const unknown = p.process(
      flowEvent({ time: t, src: { address: '10.42.0.15', workload: { namespace: 'shop', pod: 'other-0' } }, dst: { address: '8.8.8.8' } }),
    );
    expect(unknown.kind === 'network_flow' && unknown.src.workload).toEqual({ cluster: 'prod-eu', namespace: 'shop', pod: 'other-0' });
    // An identity with a cluster is the source's, untouched.
    const own = { cluster: 'elsewhere', namespace: 'shop', pod: 'web-7d4b9c8f6d-x2x9k' };
    const kept = p.process(flowEvent({ time: t, src: { address: '10.42.0.15', workload: own }, dst: { address: '8.8.8.8' } }));
    expect(kept.kind === 'network_flow' && kept.src.workload).toBe(own);
    // Process events: an unknown container id, but the pod named: completed the same way.
    const exec = p.process(processExec({ time: t, source: 'tetragon', workload: { namespace: 'shop', pod: 'cart-0', containerId: 'ffffffffffff' } }));
    expect(exec.workload).toMatchObject({ cluster: 'prod-eu', pod: 'cart-0', workloadName: 'cart', containerId: 'ffffffffffff' });
    // Without a configured cluster and an unknown pod, nothing to complete it with.
    const bare = processor({ cluster: undefined }).p.process(
      flowEvent({ time: t, src: { address: '10.9.9.9', workload: { pod: 'x' } }, dst: { address: '8.8.8.8' } }),
    );
    expect(bare.kind === 'network_flow' && bare.src.workload).toEqual({ pod: 'x' });
  });

  it('process, file and runtime events: pod, workload and image from the container id (full or short, with or without runtime scheme)', () => {
    const { p } = processor();
    for (const pod of pods) p.workloads.live.upsert(podFromObject(pod, 'prod-eu', 0) as PodRecord, 'kubernetes');
    const t = T('2024-03-01T00:30:00Z');
    const exec = p.process(processExec({ time: t, workload: { containerId: 'a1b2c3d4e5f6' } }));
    expect(exec.workload).toMatchObject({ pod: 'web-7d4b9c8f6d-x2x9k', container: 'web', image: 'registry.example.com/shop/web:1.4', workloadName: 'web' });
    const file = p.process(fileAccess({ time: t, workload: { containerId: 'containerd://d2b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0e1f2' } }));
    expect(file.workload).toMatchObject({ pod: 'cart-0', container: 'envoy', image: 'docker.io/envoyproxy/envoy:v1.29.1' });
  });

  it('audit stream: learns pods from create / status patch / delete and attributes the reused IP correctly', () => {
    const { p } = processor();
    for (const pod of pods) p.workloads.live.upsert(podFromObject(pod, 'prod-eu', 0) as PodRecord, 'kubernetes');
    const events = auditEvents('k8s/pod-audit.jsonl');
    expect(events.map((e) => `${e.verb}:${e.objectRef?.subresource ?? ''}`)).toEqual(['create:', 'delete:', 'patch:status', 'patch:status']);
    for (const e of events) p.process(e);
    const at = (iso: string) => p.workloads.byIp('10.42.0.15', T(iso))?.pod;
    expect(at('2024-03-01T11:59:00Z')).toBe('web-7d4b9c8f6d-x2x9k');
    expect(at('2024-03-01T12:00:35Z')).toBeUndefined(); // web gone (30 s grace), api-0 not started yet
    expect(at('2024-03-01T12:05:00Z')).toBe('api-0');
    expect(p.workloads.byContainer('0a0b0c0d0e0f', T('2024-03-01T12:05:00Z'))).toMatchObject({ pod: 'api-0', image: 'ghcr.io/acme/api:3.1' });
  });

  it('audit events: completes the target pod and names a caller that is a pod', () => {
    const { p } = processor();
    for (const pod of pods) p.workloads.live.upsert(podFromObject(pod, 'prod-eu', 0) as PodRecord, 'kubernetes');
    const exec = p.process(
      auditEvent({
        time: T('2024-03-01T00:30:00Z'),
        verb: 'create',
        objectRef: { resource: 'pods', subresource: 'exec', namespace: 'shop', name: 'cart-0' },
        workload: { cluster: 'prod-eu', namespace: 'shop', pod: 'cart-0' },
        sourceIps: ['10.42.0.15'],
      }),
    );
    expect(exec.workload).toMatchObject({ pod: 'cart-0', workloadKind: 'StatefulSet', workloadName: 'cart' });
    expect(exec.attributes).toMatchObject({ 'k8s.audit.actor.pod.name': 'web-7d4b9c8f6d-x2x9k', 'k8s.audit.actor.workload.name': 'web' });
  });

  it('cloud API calls from a pod address carry the pod', () => {
    const { p } = processor();
    for (const pod of pods) p.workloads.live.upsert(podFromObject(pod, 'prod-eu', 0) as PodRecord, 'kubernetes');
    const call = p.process(cloudCall({ time: T('2024-03-01T00:30:00Z'), sourceIp: '10.42.0.15', workload: { account: '111122223333' } }));
    expect(call.workload).toMatchObject({ account: '111122223333', pod: 'web-7d4b9c8f6d-x2x9k' });
    const outside = p.process(cloudCall({ time: T('2024-03-01T00:30:00Z'), sourceIp: 'ec2.amazonaws.com' }));
    expect(outside.workload).toBeUndefined();
  });

  it('looks in the live index before the inventory', () => {
    const w = new Workloads();
    w.inventory.upsert(record('from-file', '10.7.7.7', '2024-01-01T00:00:00Z'), 'inventory');
    expect(w.byIp('10.7.7.7', T('2024-03-01T00:00:00Z'))?.pod).toBe('from-file');
    w.live.upsert(record('live', '10.7.7.7', '2024-02-01T00:00:00Z'), 'kubernetes');
    expect(w.byIp('10.7.7.7', T('2024-03-01T00:00:00Z'))?.pod).toBe('live');
    expect(w.byIp('10.7.7.7', T('2024-01-15T00:00:00Z'))?.pod).toBe('from-file');
  });
});
