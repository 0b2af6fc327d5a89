import { CountMinBaseline, type CountMinState, exactItems, FirstSeenBaseline, type FirstSeenState } from '@outflow/baselines';
import {
  type AttributeValue,
  type Detection,
  type DetectionContext,
  eventRef,
  type Finding,
  KeyedState,
  type NetworkFlowEvent,
  type OutflowEvent,
  ofKind,
  safeMap,
  type WorkloadIdentity,
  z,
} from '@outflow/core';
import { Observable } from 'rxjs';
import { type AnalyticEnv, ATTACK, adjustSeverity, defineAnalytic } from '../../analytic.js';
import {
  CheckpointFormatError,
  decodeKeyed,
  decodeWorkload,
  expectArray,
  expectNumber,
  expectObject,
  expectString,
  snapshotKeyed,
  stateVersion,
} from '../../enrich/checkpoint.js';
import { eventTimeOrdered, OrderBuffer } from '../ordered.js';
import { destinationKey, egressViewInto, formatSpan, newEgressView, workloadIdCache, workloadLabel } from './common.js';

const HOUR = 3_600_000;
const DAY = 86_400_000;

const params = z
  .object({
    /** Event time a workload must have been active (any flow) before a destination new to it is a finding (ms). */
    learnMs: z.number().int().nonnegative().default(HOUR),
    /** Event time the cluster must have been observed before a destination new to the whole cluster is a finding (ms). */
    clusterLearnMs: z.number().int().nonnegative().default(HOUR),
    /** A destination not contacted for this long (event time, ms) is new again. */
    forgetMs: z
      .number()
      .int()
      .positive()
      .default(30 * DAY),
    /** Destination classes considered (`destination.class`). Allow-listed, own, cloud-provider and internal classes are never findings. */
    classes: z.array(z.string().min(1)).min(1).default(['external']),
    /** Destinations are compared by address prefix: 32 (IPv4) / 128 (IPv6) compare exact addresses; smaller prefixes absorb address rotation. */
    prefixV4: z.number().int().min(8).max(32).default(32),
    prefixV6: z.number().int().min(16).max(128).default(128),
    /** A destination new to the workload is rare in the cluster below this share of the cluster's external connections (count-min estimate). */
    rareShare: z.number().gt(0).lt(1).default(0.001),
    /** Cluster connections learned before rarity is judged; below it a destination new to the workload counts as rare. */
    minClusterTotal: z.number().nonnegative().default(1_000),
    /** Half-life of the cluster's destination counts (event time, ms). */
    countHalfLifeMs: z
      .number()
      .positive()
      .default(7 * DAY),
    /** Destinations remembered exactly per workload before its set turns into an aging Bloom filter. */
    workloadMaxExact: z.number().int().positive().default(512),
    /** Destinations remembered exactly per cluster before its set turns into an aging Bloom filter. */
    clusterMaxExact: z.number().int().positive().default(16_384),
    /** Most workloads followed; the least recently seen is forgotten beyond it. */
    maxWorkloads: z.number().int().positive().default(50_000),
    /**
     * Most (workload, destination) pairs remembered over all workloads (a workload whose set turned into a Bloom
     * filter counts as the pairs its filter weighs, about 80). Beyond it the least recently seen workloads are
     * forgotten. Bounds this analytic's memory under any churn of keys: about 140 bytes per pair, 170 MB at the default.
     */
    maxPairs: z.number().int().positive().default(1_200_000),
    /** A workload with no flow for this long (event time, ms) is forgotten and learns afresh. */
    ttlMs: z
      .number()
      .int()
      .positive()
      .default(7 * DAY),
    /** Most flows held for event-time ordering. */
    maxBuffer: z.number().int().positive().default(50_000),
    /** Skip reply traffic of connections the workload accepted (the lower, non-ephemeral port is the workload's). */
    skipReplies: z.boolean().default(true),
  })
  .strict();

type Params = z.output<typeof params>;

interface Candidate {
  wid: string;
  cluster: string;
  workload: WorkloadIdentity;
  dest: string;
  event: NetworkFlowEvent;
  time: number;
}

interface ClusterState {
  set: FirstSeenState;
  counts: CountMinState;
  /** Flows of any kind seen first, for the cluster's learning window. */
  since: number;
}

interface WorkloadState {
  set: FirstSeenState;
}

/**
 * 15. New external destination: the first connection of a workload to an
 * external address, once the workload has a learning window of history, and
 * the first connection of any workload — a brand-new pod included — to an
 * address nobody in the cluster ever contacted. Destinations new to the
 * workload but common in the cluster are reported at low severity; count-min
 * estimates say how common.
 */
export const newExternalDestination = defineAnalytic<Params>({
  id: 'new_external_destination',
  title: 'New external destination for a workload',
  description:
    'First connection of a workload to an external address after its learning window, or of any workload to an address the whole cluster never contacted; rarity in the cluster sets the severity.',
  severity: 'medium',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1048, ATTACK.T1567],
  kinds: ['network_flow'],
  dataSources: ['Network flows: AWS VPC flow logs, GCP/Azure flow logs, NetFlow/IPFIX, Hubble', 'Tetragon tcp_connect / tcp_sendmsg kprobes'],
  dedupKeyDescription: 'workload (cluster/namespace/name) + destination address (or prefix)',
  status: 'experimental',
  params,
  defaultExceptions: [
    {
      id: 'ntp',
      match: { 'attributes.destination.port': '123', 'attributes.network.transport': 'udp' },
      reason: 'Time synchronisation: public NTP pools hand out rotating addresses, every one of them new; NTP carries no meaningful payload.',
      owner: 'outflow',
    },
  ],
  response: {
    investigate: [
      'Who is at the destination (reverse DNS, WHOIS, threat intelligence)? Is it a new dependency of a release, a partner, a package mirror?',
      'Which process opened the connection (Tetragon tcp_connect, exec_payload alerts for the workload) and how much it sent (egress_volume_anomaly).',
    ],
    contain: ['Deny egress to the destination for the workload (NetworkPolicy or security group) until it is explained.'],
    analyse: [
      'Look for the same destination from other workloads (the finding says how common it is in the cluster) and for data staged before the connection.',
    ],
    remediate: ['Add legitimate destinations to `destinations.allow`; default-deny egress for namespaces that need no external access.'],
  },
  create(env): Detection {
    const p = env.params;
    const classes = new Set(p.classes);
    const wfs = new FirstSeenBaseline({ forgetMs: p.forgetMs, maxExact: p.workloadMaxExact, filterBits: 8192 });
    const cfs = new FirstSeenBaseline({ forgetMs: p.forgetMs, maxExact: p.clusterMaxExact, filterBits: 1 << 18, hashes: 6 });
    const cms = new CountMinBaseline({ width: 4096, depth: 4, halfLifeMs: p.countHalfLifeMs });
    const defaultCluster = env.config.cluster.name;
    const idOf = workloadIdCache(defaultCluster);
    /** What a workload's set weighs against `maxPairs`: its exact pairs, or its filter's words as pairs of ~100 bytes. */
    const filterWeight = Math.ceil(((wfs.config.filterBits / 32) * (wfs.config.generations + 1) * 8) / 100);
    const weight = (set: FirstSeenState): number => (wfs.approximate(set) ? filterWeight : wfs.size(set));
    return {
      id: env.detection.id,
      title: env.detection.title,
      kinds: ['network_flow'],
      connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
        return new Observable<Finding>((subscriber) => {
          /** First event time of any flow per workload: its learning window starts there. */
          const activity = new KeyedState<string, number>({ maxKeys: p.maxWorkloads, ttlMs: p.ttlMs });
          /** Pairs held over all workloads' sets (see `maxPairs`). */
          let pairs = 0;
          const workloads = new KeyedState<string, WorkloadState>({
            maxKeys: p.maxWorkloads,
            ttlMs: p.ttlMs,
            onEvict: (_key, value) => {
              pairs -= weight(value.set);
            },
          });
          /** Forget the least recently seen workloads (not `keep`) until the pairs are 5 % under the cap. */
          const shed = (keep: string) => {
            const target = p.maxPairs * 0.95;
            const gone: string[] = [];
            for (const [key, value] of workloads.entries()) {
              if (pairs <= target) break;
              if (key === keep) continue;
              pairs -= weight(value.set);
              gone.push(key);
            }
            for (const key of gone) workloads.delete(key);
          };
          const clusters = new KeyedState<string, ClusterState>({ maxKeys: 1_000, ttlMs: p.forgetMs });
          ctx.registerState('workloads', workloads);
          ctx.registerState('activity', activity);
          ctx.registerState('pairs', {
            get size() {
              return pairs;
            },
          });
          let counter = 0;
          // Flows held for event-time ordering: events the receivers were told were processed, so checkpointed whatever the
          // config (layout version only), each as its candidate.
          const order = new OrderBuffer<Candidate>({ maxBuffer: p.maxBuffer, onOverflow: () => ctx.metrics.add('late', 1, 'order_buffer_full') });
          ctx.registerState('order_buffer', order);
          // What was learned (first contacts per workload and per cluster, cluster counts, activity) means what the
          // destination classes, prefixes, forget horizon, count half-life and the cluster name (in the keys) make it mean.
          ctx.registerCheckpoint('first_seen', {
            version: stateVersion('new_external_destination.first_seen/1', {
              classes: [...classes].sort(),
              prefixV4: p.prefixV4,
              prefixV6: p.prefixV6,
              forgetMs: p.forgetMs,
              countHalfLifeMs: p.countHalfLifeMs,
              skipReplies: p.skipReplies,
              cluster: defaultCluster ?? null,
            }),
            snapshot: () => ({
              counter,
              activity: snapshotKeyed(activity, (t) => t),
              workloads: snapshotKeyed(workloads, (w) => w.set),
              clusters: snapshotKeyed(clusters, (c) => ({ set: c.set, counts: c.counts, since: c.since })),
            }),
            restore: (state) => {
              const s = expectObject(state, 'new_external_destination state');
              const savedCounter = expectNumber(s.counter, 'counter');
              const activityEntries = decodeKeyed(s.activity, (v, key) => expectNumber(v, `activity ${key}`), 'activity');
              const workloadEntries = decodeKeyed(s.workloads, (v, key) => ({ set: decodeFirstSeen(v, wfs, `workload ${key}`) }), 'workloads');
              const clusterEntries = decodeKeyed(
                s.clusters,
                (v, key) => {
                  const c = expectObject(v, `cluster ${key}`);
                  return {
                    set: decodeFirstSeen(c.set, cfs, `cluster ${key}.set`),
                    counts: decodeCountMin(c.counts, cms, `cluster ${key}.counts`),
                    since: expectNumber(c.since, `cluster ${key}.since`),
                  };
                },
                'clusters',
              );
              activity.restore(activityEntries);
              workloads.restore(workloadEntries);
              clusters.restore(clusterEntries);
              counter = savedCounter;
              pairs = 0;
              for (const [, value] of workloads.entries()) pairs += weight(value.set);
              // A smaller maxPairs than the state was saved under: shed down to it as a new contact would.
              if (pairs > p.maxPairs) shed('');
            },
          });
          ctx.registerCheckpoint('order_buffer', {
            ...order.checkpoint({ encode: encodeCandidate, decode: decodeCandidate }),
            // At most maxBuffer held (a smaller cap than the state was saved under): the latest are kept, the rest counted.
            restore: (state) => {
              const s = expectObject(state, 'order buffer');
              const items = expectArray(s.items, 'order buffer items');
              const over = items.length - p.maxBuffer;
              order.restore(over > 0 ? { ...s, items: items.slice(over) } : s, decodeCandidate);
              if (over > 0) ctx.metrics.add('dropped', over, 'order_buffer_full');
            },
          });
          const view = newEgressView();

          /** Note activity (unordered: the minimum time wins) and pick out external flows the workload opened. */
          const candidate = (e: NetworkFlowEvent): Candidate | undefined => {
            const t = e.time;
            if (!Number.isFinite(t)) return undefined;
            const v = egressViewInto(e, view) ? view : undefined;
            // Every flow shows the cluster was observed, attributed to a workload or not (pod identities may arrive later).
            const cluster = v?.local.cluster ?? e.workload?.cluster ?? defaultCluster ?? '';
            const cs = clusters.getOrCreate(cluster, t, () => ({ set: cfs.init(t), counts: cms.init(t), since: t }));
            if (t < cs.since) cs.since = t;
            if (!v) return undefined;
            const wid = idOf(v.local);
            if (wid === undefined) return undefined;
            const first = activity.get(wid, t);
            if (first === undefined || t < first) activity.set(wid, t, t);
            if (++counter >= 4096) {
              counter = 0;
              activity.expire(t);
              workloads.expire(t);
              clusters.expire(t);
            }
            if (e.direction === 'ingress' || !classes.has(v.remoteClass)) return undefined;
            if (p.skipReplies && v.initiated === false) return undefined;
            const dest = destinationKey(v.remote.address, p.prefixV4, p.prefixV6);
            if (dest === undefined) return undefined;
            return { wid, cluster, workload: v.local, dest, event: e, time: t };
          };

          const judge = (c: Candidate): Finding | undefined => {
            const t = c.time;
            const cs = clusters.getOrCreate(c.cluster, t, () => ({ set: cfs.init(t), counts: cms.init(t), since: t }));
            const ws = workloads.getOrCreate(c.wid, t, () => ({ set: wfs.init(t) }));
            const since = Math.min(activity.peek(c.wid) ?? t, t);
            const workloadAge = t - since;
            const clusterAge = t - Math.min(cs.since, t);
            const clusterKnown = cfs.known(cs.set, c.dest, t);
            const workloadKnown = clusterKnown ? wfs.known(ws.set, c.dest, t) : false;
            const count = cms.count(cs.counts, c.dest);
            const total = cms.total(cs.counts);
            const clusterSize = cfs.size(cs.set);
            const workloadSize = wfs.size(ws.set);
            const workloadSamples = wfs.samples(ws.set);
            cs.set = cfs.update(cs.set, c.dest, t);
            cs.counts = cms.update(cs.counts, c.dest, t);
            const before = weight(ws.set);
            ws.set = wfs.update(ws.set, c.dest, t);
            pairs += weight(ws.set) - before;
            if (pairs > p.maxPairs) shed(c.wid);
            if (!clusterKnown && clusterAge >= p.clusterLearnMs) {
              return finding(env, c, 'cluster', { workloadAge, clusterAge, count, total, clusterSize, workloadSize, workloadSamples });
            }
            if (!workloadKnown && workloadAge >= p.learnMs) {
              return finding(env, c, 'workload', { workloadAge, clusterAge, count, total, clusterSize, workloadSize, workloadSamples });
            }
            return undefined;
          };

          const sub = events$
            .pipe(
              ofKind('network_flow'),
              safeMap(candidate, (err, e) => ctx.reportError(err, e)),
              eventTimeOrdered<Candidate>(ctx.watermark$, { buffer: order }),
              safeMap(judge, (err, c) => ctx.reportError(err, c.event)),
            )
            .subscribe(subscriber);
          return () => sub.unsubscribe();
        });
      },
    };
  },
});

/** A held candidate as plain data: its keys, the workload it names and the flow. */
function encodeCandidate(c: Candidate): unknown {
  return { wid: c.wid, cluster: c.cluster, workload: c.workload, dest: c.dest, event: c.event };
}

function decodeCandidate(raw: unknown): Candidate {
  const v = expectObject(raw, 'held flow');
  const event = expectObject(v.event, 'held flow event');
  if (event.kind !== 'network_flow') throw new CheckpointFormatError('a held flow is not a network flow');
  const time = expectNumber(event.time, 'held flow time');
  expectObject(event.src, 'held flow src');
  expectString(expectObject(event.dst, 'held flow dst').address, 'held flow dst address');
  return {
    wid: expectString(v.wid, 'held flow wid'),
    cluster: expectString(v.cluster, 'held flow cluster'),
    workload: decodeWorkload(v.workload, 'held flow workload'),
    dest: expectString(v.dest, 'held flow dest'),
    event: event as unknown as NetworkFlowEvent,
    time,
  };
}

/** A workload identity read back from a checkpoint: string fields, and string labels. */

function expectNumbers(raw: unknown, what: string, length?: number): number[] {
  const list = expectArray(raw, what);
  if (length !== undefined && list.length !== length) throw new CheckpointFormatError(`${what} has ${list.length} entries, not ${length}`);
  return list.map((x, i) => expectNumber(x, `${what}[${i}]`));
}

/** A first-seen set, checked against the shape its baseline writes (exact items, or that many filter generations of that many words). */
function decodeFirstSeen(raw: unknown, baseline: FirstSeenBaseline, what: string): FirstSeenState {
  const v = expectObject(raw, what);
  const n = (k: string) => expectNumber(v[k], `${what}.${k}`);
  const state: FirstSeenState = {
    n: n('n'),
    since: n('since'),
    last: n('last'),
    items: null,
    exact: n('exact'),
    gens: null,
    genIds: null,
    inserted: n('inserted'),
  };
  if (v.items !== null) {
    const items = exactItems();
    for (const [k, t] of Object.entries(expectObject(v.items, `${what}.items`))) items[k] = expectNumber(t, `${what}.items`);
    if (Object.keys(items).length !== state.exact)
      throw new CheckpointFormatError(`${what} counts ${state.exact} items but holds ${Object.keys(items).length}`);
    if (v.gens !== null || v.genIds !== null) throw new CheckpointFormatError(`${what} is both exact and a filter`);
    state.items = items;
    return state;
  }
  const generations = baseline.config.generations + 1;
  const words = baseline.config.filterBits / 32;
  const gens = expectArray(v.gens, `${what}.gens`);
  if (gens.length !== generations) throw new CheckpointFormatError(`${what} has ${gens.length} filter generations, not ${generations}`);
  state.gens = gens.map((g, i) => expectNumbers(g, `${what}.gens[${i}]`, words));
  state.genIds = expectNumbers(v.genIds, `${what}.genIds`, generations);
  return state;
}

/** A count-min sketch, checked against its baseline's width and depth. */
function decodeCountMin(raw: unknown, baseline: CountMinBaseline, what: string): CountMinState {
  const v = expectObject(raw, what);
  const n = (k: string) => expectNumber(v[k], `${what}.${k}`);
  return {
    n: n('n'),
    since: n('since'),
    landmark: n('landmark'),
    total: n('total'),
    counters: expectNumbers(v.counters, `${what}.counters`, baseline.config.width * baseline.config.depth),
  };
}

interface Context {
  workloadAge: number;
  clusterAge: number;
  count: number;
  total: number;
  clusterSize: number;
  workloadSize: number;
  workloadSamples: number;
}

const TRANSPORTS: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

function finding(env: AnalyticEnv<Params>, c: Candidate, level: 'cluster' | 'workload', x: Context): Finding {
  const p = env.params;
  const e = c.event;
  const who = workloadLabel(c.wid);
  const port = e.dst.port;
  const target = `${e.dst.address}${port !== undefined ? `:${port}` : ''}`;
  const names = e.dst.names ?? [];
  const named = names.length > 0 ? ` (${names.slice(0, 3).join(', ')})` : '';
  const share = x.total > 0 ? x.count / x.total : 0;
  const rarity = x.total < p.minClusterTotal ? 'unknown' : share < p.rareShare ? 'rare' : 'common';
  let severity = env.severity;
  let summary: string;
  let expected: string;
  const reasons: string[] = [];
  if (level === 'cluster') {
    severity = adjustSeverity(env.severity, 1);
    summary = `${who} connected to ${target}${named}, an external address no workload of cluster ${c.cluster || '(unnamed)'} contacted in ${formatSpan(x.clusterAge)} of history.`;
    expected = `a destination among the ${x.clusterSize} external addresses the cluster contacted in the last ${formatSpan(Math.min(x.clusterAge, p.forgetMs))}`;
    reasons.push(`first contact in the cluster (learning window ${formatSpan(p.clusterLearnMs)} passed)`);
    reasons.push(
      x.workloadAge >= p.learnMs
        ? `${who} itself has ${formatSpan(x.workloadAge)} of history and ${x.workloadSize} known external destinations`
        : `${who} is new (${formatSpan(x.workloadAge)} of history): the cluster-wide level catches it without a baseline of its own`,
    );
  } else {
    if (rarity === 'common') severity = adjustSeverity(env.severity, -1);
    const how = rarity === 'unknown' ? 'the cluster has too little history to say how common it is' : `${rarity} in the cluster`;
    summary = `${who} connected to ${target}${named}, an external address it never contacted in ${formatSpan(x.workloadAge)} of history (${how}).`;
    expected = `a destination among the ${x.workloadSize} external addresses ${who} contacted in the last ${formatSpan(Math.min(x.workloadAge, p.forgetMs))}`;
    reasons.push(
      `cluster-wide: about ${Math.round(x.count)} of ${Math.round(x.total)} external connections went to this destination (share ${(share * 100).toPrecision(2)} %; rare below ${(p.rareShare * 100).toPrecision(2)} %, judged from ${p.minClusterTotal} connections on)`,
    );
  }
  const attributes: Record<string, AttributeValue> = {
    'destination.address': e.dst.address,
    'outflow.destination.key': c.dest,
    'outflow.novelty.level': level,
    'outflow.novelty.cluster_count': Math.round(x.count),
    'outflow.novelty.cluster_total': Math.round(x.total),
    'outflow.novelty.rarity': level === 'cluster' ? 'new' : rarity,
    'outflow.workload.id': c.wid,
  };
  if (port !== undefined) attributes['destination.port'] = port;
  if (names[0]) attributes['destination.domain'] = names[0];
  if (e.protocol !== undefined && TRANSPORTS[e.protocol]) attributes['network.transport'] = TRANSPORTS[e.protocol] as string;
  const cls = e.attributes?.['destination.class'];
  if (typeof cls === 'string') attributes['outflow.destination.class'] = cls;
  return {
    detection: env.detection,
    severity,
    time: c.time,
    workload: c.workload,
    evidence: [eventRef(e)],
    dedupKey: `${c.wid}|${c.dest}`,
    explanation: {
      summary,
      observed: `first connection from ${who} to ${target}${named}`,
      expected,
      baselineAgeMs: level === 'cluster' ? x.clusterAge : x.workloadAge,
      samples: x.workloadSamples,
      reasons,
    },
    attributes,
    tags: ['t1537', 'network', 'first_seen', level === 'cluster' ? 'new_in_cluster' : 'new_for_workload'],
    response: env.response,
  };
}
