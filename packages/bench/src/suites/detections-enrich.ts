import type { NetworkFlowEvent, Processor } from '@outflow/core';
import { ANALYTICS, type CloudPrefix, DestinationClassifier, type PodRecord, parseCidr, parseIPv4, type T1537Bundle, t1537 } from '@outflow/detections';
import { createTestContext } from '@outflow/testkit';
import type { Figure, Harness, Suite } from '../harness.js';
import { rng } from '../random.js';

/**
 * The t1537 enrichers on the hot path, per flow:
 * - destination classification (one flattened prefix map: pod, service, private, own, allow-list and
 *   ~8 000 cloud prefixes, the size of AWS ip-ranges.json) against the bare parse of the same addresses;
 * - the preset's processor chain (workload identity by (IP, event time) over 20 000 pods, image trust,
 *   destination class, bucket-owner learner) against two Map lookups and two attribute writes per flow.
 */

const ip = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

/** About as many disjoint-or-nested public prefixes as AWS publishes, with S3/EC2 inside AMAZON catch-alls. */
function cloudPrefixes(n: number): CloudPrefix[] {
  const r = rng(3);
  const out: CloudPrefix[] = [];
  for (let i = 0; i < n; i++) {
    const len = 14 + (r() % 13);
    const base = ((r() % 200) + 3) * 2 ** 24 + (r() % 2 ** 24);
    const size = 2 ** (32 - len);
    const start = Math.floor(base / size) * size;
    out.push({ prefix: `${ip(start)}/${len}`, service: ['AMAZON', 'EC2', 'S3', 'CLOUDFRONT'][r() % 4] as string, region: 'us-east-1' });
  }
  return out.filter((p) => parseCidr(p.prefix));
}

/** Flows from 20 000 pod IPs: 40 % to pods, 10 % to services, 20 % private, 30 % public. */
function flows(n: number, t0: number): NetworkFlowEvent[] {
  const r = rng(5);
  const out: NetworkFlowEvent[] = [];
  for (let i = 0; i < n; i++) {
    const src = ip(0x0a2a0000 + (r() % 20_000));
    const k = r() % 10;
    const dst =
      k < 4
        ? ip(0x0a2a0000 + (r() % 20_000))
        : k < 5
          ? ip(0xac140000 + (r() % 65_536))
          : k < 7
            ? ip(0x0a630000 + (r() % 65_536))
            : ip(((r() % 200) + 3) * 2 ** 24 + (r() % 2 ** 24));
    out.push({
      kind: 'network_flow',
      time: t0 + i * 10,
      observedTime: t0,
      source: 'bench',
      src: { address: src, port: 40_000 + (r() % 20_000) },
      dst: { address: dst, port: 443 },
      direction: 'egress',
      bytes: 1_000 + (r() % 100_000),
    });
  }
  return out;
}

function pods(n: number): PodRecord[] {
  const out: PodRecord[] = [];
  for (let i = 0; i < n; i++) {
    const name = `app-${i % 500}-${i}`;
    out.push({
      key: `prod/shop/${name}`,
      uid: `uid-${i}`,
      identity: Object.freeze({
        cluster: 'prod',
        namespace: 'shop',
        pod: name,
        workloadKind: 'Deployment',
        workloadName: `app-${i % 500}`,
        image: `registry.example.com/shop/app-${i % 7}:1`,
      }),
      ips: [ip(0x0a2a0000 + i)],
      containers: [{ name: 'app', id: (0x100000000000 + i).toString(16), image: `registry.example.com/shop/app-${i % 7}:1` }],
      validFrom: Date.UTC(2024, 0, 1),
      validTo: Number.POSITIVE_INFINITY,
    });
  }
  return out;
}

export const suite: Suite = {
  name: 'detections-enrich',
  description: 't1537 enrichers per flow: destination classification and the full processor chain',
  async run(h: Harness): Promise<Figure[]> {
    const n = h.quick ? 20_000 : 200_000;
    const t0 = Date.UTC(2024, 2, 1);
    const events = flows(n, t0);
    const prefixes = cloudPrefixes(8_000);
    const classifier = new DestinationClassifier({
      podCidrs: ['10.42.0.0/16'],
      serviceCidrs: ['172.20.0.0/16'],
      ownCidrs: ['10.0.0.0/16'],
      allow: ['198.51.100.0/24', '*.github.com'],
      cloudPrefixes: prefixes,
    });
    const dsts = events.map((e) => e.dst.address);
    let sink = 0;
    const classify = await h.compare({
      'bare parse': () => {
        for (const a of dsts) sink += parseIPv4(a) & 1;
        return dsts.length;
      },
      classify: () => {
        for (const a of dsts) sink += classifier.classify(a).class.length;
        return dsts.length;
      },
    });

    const ctx = createTestContext({ name: 't1537', kind: 'detection' });
    const bundle = t1537.create(
      ctx,
      t1537.validate({
        cluster: { name: 'prod', podCidrs: ['10.42.0.0/16'], serviceCidrs: ['172.20.0.0/16'] },
        destinations: { cloudRanges: { prefixes } },
        images: { trustedRegistries: ['registry.example.com/shop'] },
      }),
    ) as T1537Bundle;
    for (const p of pods(20_000)) bundle.environment.workloads.live.upsert(p, 'kubernetes');
    const processors = bundle.processors as readonly Processor[];
    // Enrichment writes into the events; both bodies clear what it wrote (by assignment, keeping object shapes).
    const reset = () => {
      for (const e of events) {
        e.workload = undefined;
        e.src.workload = undefined;
        e.dst.workload = undefined;
        e.attributes = undefined;
      }
    };
    // Baseline: the least an enricher can do per flow: two Map lookups of a static IP → identity table and two attribute writes.
    const table = new Map<string, object>();
    for (const p of pods(20_000)) table.set(p.ips[0] as string, p.identity);
    const chain = await h.compare({
      'two map lookups': () => {
        for (const e of events) {
          const s = table.get(e.src.address);
          const d = table.get(e.dst.address);
          if (s) e.src.workload = s;
          if (d) e.dst.workload = d;
          const a = (e.attributes ??= {});
          a['destination.class'] = d ? 'pod' : 'external';
          a['source.class'] = s ? 'pod' : 'external';
        }
        reset();
        return events.length;
      },
      'enrich chain': () => {
        for (const e of events) {
          let ev: NetworkFlowEvent | undefined = e;
          for (let i = 0; i < processors.length && ev; i++) ev = (processors[i] as Processor).process(ev) as NetworkFlowEvent | undefined;
        }
        reset();
        return events.length;
      },
    });
    if (sink === -1) console.log(sink);
    const c = classify.classify as { perSecond: number };
    const parse = classify['bare parse'] as { perSecond: number };
    const e = chain['enrich chain'] as { perSecond: number };
    const touch = chain['two map lookups'] as { perSecond: number };
    return [
      {
        id: 'detections.destination_class',
        title: `Destination class per flow (${prefixes.length} cloud prefixes, ${n} flows)`,
        value: Math.round(c.perSecond),
        unit: 'flows/s',
        ratio: { value: c.perSecond / parse.perSecond, to: 'bare parse of the same addresses' },
        target: '>= 0.3 of bare parse',
        met: c.perSecond / parse.perSecond >= 0.3,
      },
      {
        id: 'detections.enrich_chain',
        title: `t1537 processor chain per flow (20 000 pods, ${ANALYTICS.length} analytics loaded)`,
        value: Math.round(e.perSecond),
        unit: 'flows/s',
        ratio: { value: e.perSecond / touch.perSecond, to: 'two Map lookups and two attribute writes per flow' },
        target: '>= 0.25 of two map lookups',
        met: e.perSecond / touch.perSecond >= 0.25,
        notes: 'both bodies reset what enrichment wrote, so every run enriches from scratch',
      },
    ];
  },
};
