import { EwmaBaseline, type EwmaState } from '@outflow/baselines';
import {
  type Anomaly,
  type AttributeValue,
  type Baseline,
  type Detection,
  type DetectionContext,
  type DetectKeyState,
  detect,
  type EventRef,
  eventRef,
  type Finding,
  type NetworkFlowEvent,
  type OutflowEvent,
  ofKind,
  type Score,
  type Scorer,
  safeMap,
  tumblingWindows,
  type WindowResult,
  type WindowStateHandle,
  type WorkloadIdentity,
  z,
} from '@outflow/core';
import { ZScoreScorer, zProbability } from '@outflow/scorers';
import { mergeMap, Observable } from 'rxjs';
import { type AnalyticEnv, ATTACK, adjustSeverity, defineAnalytic } from '../../analytic.js';
import {
  CheckpointFormatError,
  decodeKeyed,
  decodeRefs,
  decodeTime,
  decodeWindows,
  decodeWorkload,
  encodeWindows,
  expectArray,
  expectNumber,
  expectObject,
  expectString,
  stateVersion,
} from '../../enrich/checkpoint.js';
import {
  clockTime,
  drainAwareWatermark,
  EGRESS_GROUPS,
  type EgressGroup,
  egressGroup,
  egressViewInto,
  formatBytes,
  formatSpan,
  newEgressView,
  workloadIdCache,
  workloadLabel,
} from './common.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

const group = z.enum(EGRESS_GROUPS as [EgressGroup, ...EgressGroup[]]);

const params = z
  .object({
    /** Event-time window over which bytes out are summed (ms). */
    windowMs: z
      .number()
      .int()
      .positive()
      .default(5 * MIN),
    /** How long after its end a window still takes flows (event time, ms), on top of the pipeline's watermark delay. */
    allowedLatenessMs: z.number().int().nonnegative().default(0),
    /** Destination groups scored, each against its own baseline: `external`, `cloud_storage` (cloud ranges of a storage service), `cloud` (other cloud ranges), `unknown`. */
    groups: z.array(group).min(1).default(['external', 'cloud_storage', 'cloud', 'unknown']),
    /** Cloud services (`destination.cloud.service`, AWS ip-ranges names) that are storage. */
    storageServices: z.array(z.string().min(1)).default(['S3']),
    /** Below this many bytes in a window nothing fires, however unusual. */
    floorBytes: z.number().positive().default(1_000_000),
    /** A key still learning (a new workload) fires at or above this many bytes per window to the `capGroups`. */
    learningCapBytes: z.number().positive().default(500_000_000),
    /** Groups the learning cap applies to. */
    capGroups: z.array(group).default(['external', 'unknown']),
    /** z value of log10(1 + bytes) at or above which a mature key fires. */
    zThreshold: z.number().positive().default(4),
    /** Floor on the standard deviation of log10(1 + bytes): a steady key still tolerates this much spread (0.3 ≈ a factor 2). */
    minLogStd: z.number().positive().default(0.3),
    /** Half-life of the EWMA baseline (event time, ms). */
    halfLifeMs: z.number().positive().default(DAY),
    /** Winsorise what is learned to mean ± clipSigma·σ (after 30 windows), so a slow ramp cannot drag the baseline along. */
    clipSigma: z.number().positive().default(4),
    /** Windows a key must have learned before it is scored against its baseline (it is held to the learning cap until then). */
    minSamples: z.number().int().nonnegative().default(12),
    /** Event time since a key's first window before it is scored against its baseline (ms). */
    minAgeMs: z.number().int().nonnegative().default(HOUR),
    /** Most (workload × group) baselines held; the least recently seen is evicted beyond it. */
    maxKeys: z.number().int().positive().default(100_000),
    /** A key unseen for this long (event time, ms) is forgotten and learns afresh. */
    ttlMs: z
      .number()
      .int()
      .positive()
      .default(7 * DAY),
    /** Most (workload, window) cells open at once; flows that would open more are dropped and counted. */
    maxOpenWindows: z.number().int().positive().default(100_000),
    /** Flows cited as evidence per finding (the largest). */
    maxEvidence: z.number().int().positive().default(10),
  })
  .strict();

type Params = z.output<typeof params>;

/** One flow's contribution to its workload's window. */
interface Contribution {
  wid: string;
  workload: WorkloadIdentity;
  group: EgressGroup | undefined;
  bytes: number;
  source: string;
  remote: string;
  time: number;
  event: NetworkFlowEvent;
}

interface GroupAcc {
  /** Bytes per source format: sensors that see the same traffic (VPC flow logs and Tetragon) are not added up; the largest wins. */
  bySource: Record<string, number>;
  lastTime: number;
  /** Largest flows, descending by bytes. */
  evidence: { ref: EventRef; bytes: number }[];
  /** Bytes per remote address (at most 16 addresses). */
  remotes: Map<string, number>;
}

interface WindowAcc {
  workload: WorkloadIdentity;
  groups: Map<EgressGroup, GroupAcc>;
}

/** One observation of one (workload × group) baseline: a closed window. */
interface Observation {
  key: string;
  wid: string;
  group: EgressGroup;
  bytes: number;
  /** Window end: the observation's event time. */
  time: number;
  start: number;
  acc: GroupAcc | undefined;
  workload: WorkloadIdentity;
}

/** The feature each baseline learns and each observation is scored on. */
export interface EgressFeature {
  bytes: number;
  /** log10(1 + bytes). */
  log: number;
  group: EgressGroup;
}

const MAX_REMOTES = 16;

function totalOf(acc: GroupAcc | undefined): number {
  if (!acc) return 0;
  let max = 0;
  const by = acc.bySource;
  for (const k in by) if ((by[k] as number) > max) max = by[k] as number;
  return max;
}

/**
 * A (workload × group) baseline: how many windows the key was active in
 * (`n`, zeros included: the windows in which the workload sent nothing to
 * the group), and the EWMA mean and variance of log10(1 + bytes) over the
 * windows in which it did send something (`nz`). Bytes per window are zero
 * most of the time for many keys; keeping the zeros out of the moments keeps
 * a bimodal "nothing or a little" key from looking noisy.
 */
export interface EgressState {
  n: number;
  since: number;
  last: number;
  nz: EwmaState;
}

export class EgressBaseline implements Baseline<EgressState, EgressFeature> {
  readonly type = 'egress_bytes';
  constructor(readonly ewma: EwmaBaseline) {}
  init(time: number): EgressState {
    return { n: 0, since: time, last: time, nz: this.ewma.init(time) };
  }
  update(state: EgressState, f: EgressFeature, time: number): EgressState {
    if (!Number.isFinite(time) || !Number.isFinite(f.bytes) || f.bytes < 0) return state;
    if (state.n === 0) {
      state.since = time;
      state.last = time;
    }
    state.n++;
    if (time > state.last) state.last = time;
    if (f.bytes > 0) state.nz = this.ewma.update(state.nz, f.log, time);
    return state;
  }
  samples(state: EgressState): number {
    return state.n;
  }
  since(state: EgressState): number {
    return state.since;
  }
  /** Windows in which the key sent something. */
  active(state: EgressState): number {
    return this.ewma.samples(state.nz);
  }
  sizeOf(state: EgressState): number {
    return Buffer.byteLength(JSON.stringify(state));
  }
}

/**
 * Scores a window's bytes: nothing below the floor; while the key is still
 * learning, certainty at or above the learning cap for the capped groups and
 * nothing otherwise; once learned, certainty for a key that never sent
 * anything to the group, else a one-sided z-score of log10(1 + bytes) against
 * the EWMA of its non-zero windows.
 */
export class EgressScorer implements Scorer<EgressState, EgressFeature> {
  readonly type = 'egress_volume';
  private readonly z: ZScoreScorer<EwmaState>;
  private readonly capGroups: ReadonlySet<EgressGroup>;

  constructor(
    private readonly baseline: EgressBaseline,
    private readonly p: Params,
  ) {
    this.z = new ZScoreScorer(baseline.ewma, { direction: 'up', minStd: p.minLogStd, minRelStd: 0, minSupport: 1 });
    this.capGroups = new Set(p.capGroups);
  }

  private age(state: EgressState, time: number): number {
    return state.n > 0 && time > state.since ? time - state.since : 0;
  }

  learning(state: EgressState, time: number): boolean {
    return state.n < this.p.minSamples || this.age(state, time) < this.p.minAgeMs;
  }

  probability(state: EgressState, f: EgressFeature, time: number): number {
    if (f.bytes < this.p.floorBytes) return 0;
    if (this.learning(state, time)) return this.capGroups.has(f.group) && f.bytes >= this.p.learningCapBytes ? 1 : 0;
    if (this.baseline.active(state) === 0) return 1;
    return this.z.probability(state.nz, f.log, time);
  }

  score(state: EgressState, f: EgressFeature, time: number): Score {
    const n = state.n;
    const age = this.age(state, time);
    const p = this.probability(state, f, time);
    const observed = formatBytes(f.bytes);
    const base = { scorer: this.type, observed, baselineAgeMs: age, samples: n };
    if (this.learning(state, time)) {
      return {
        value: f.bytes / this.p.learningCapBytes,
        probability: p,
        explanation: {
          ...base,
          expected: `no baseline yet (${n} of ${this.p.minSamples} windows, ${formatSpan(age)} of ${formatSpan(this.p.minAgeMs)} learned); a learning key may send up to ${formatBytes(this.p.learningCapBytes)} per window to ${[...this.capGroups].join('/')} destinations`,
          details: { mode: 'learning_cap', cap: this.p.learningCapBytes },
        },
      };
    }
    const active = this.baseline.active(state);
    if (active === 0) {
      return {
        value: Number.POSITIVE_INFINITY,
        probability: p,
        explanation: {
          ...base,
          expected: `nothing: no bytes to these destinations in any of ${n} windows over ${formatSpan(age)}`,
          details: { mode: 'never', active: 0 },
        },
      };
    }
    const s = this.z.score(state.nz, f.log, time);
    const mean = this.baseline.ewma.mean(state.nz);
    const sd = Math.max(Math.sqrt(this.baseline.ewma.variance(state.nz)), this.p.minLogStd);
    return {
      value: s.value,
      probability: p,
      explanation: {
        ...base,
        expected: `typically ${formatBytes(10 ** mean - 1)} (up to ${formatBytes(10 ** (mean + sd) - 1)} at +1σ) in the ${active} of ${n} windows with traffic over ${formatSpan(age)}; z = ${s.value.toFixed(1)} ≥ ${this.p.zThreshold}`,
        details: { mode: 'baseline', z: s.value, logMean: mean, logStd: sd, active },
      },
    };
  }
}

/**
 * 14. Egress volume anomaly: bytes a workload sends out per event-time window,
 * per destination group (external, cloud storage, other cloud, unknown),
 * against the workload's own baseline of that group.
 */
export const egressVolumeAnomaly = defineAnalytic<Params>({
  id: 'egress_volume_anomaly',
  title: 'Egress volume anomaly for a workload',
  description:
    'Bytes a workload sends out of the organisation per event-time window, by destination group, scored against that workload’s EWMA baseline of log bytes; new workloads are held to an absolute cap.',
  severity: 'medium',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1030, ATTACK.T1048, ATTACK.T1567],
  kinds: ['network_flow'],
  dataSources: [
    'Network flows with bytes: AWS VPC flow logs (v5 flow-direction recommended), GCP/Azure flow logs, NetFlow/IPFIX, Hubble',
    'Tetragon tcp_sendmsg kprobes (bytes per send, attributed to the pod)',
  ],
  dedupKeyDescription: 'workload (cluster/namespace/name) + destination group',
  status: 'experimental',
  params,
  defaultExceptions: [],
  response: {
    investigate: [
      'Read the finding’s top destinations (outflow.egress.destinations) and the flows cited as evidence: who is on the other end, is it a known partner or service?',
      'List the processes of the workload that held connections to those addresses (Tetragon/Falco, exec_payload alerts) and any kubectl exec into it (pod_exec).',
      'Compare with deploys and jobs: did a release, a backfill or a migration start at that time?',
    ],
    contain: [
      'Block the destination for the workload with a NetworkPolicy (egress deny) or a security group rule, or quarantine the pod.',
      'Rotate credentials the workload holds (service-account token, cloud role keys) if the destination is not recognised.',
    ],
    analyse: [
      'Estimate what left: which volumes and secrets the workload can read, and the bytes per destination over the whole incident, not only this window.',
    ],
    remediate: [
      'Default-deny egress for the namespace with an allow-list of the destinations the workload needs; route legitimate bulk transfers through a known endpoint.',
    ],
  },
  create(env): Detection {
    const p = env.params;
    const storage = new Set(p.storageServices);
    const scored = [...new Set(p.groups)];
    const baseline = new EgressBaseline(new EwmaBaseline({ halfLifeMs: p.halfLifeMs, clipSigma: p.clipSigma, clipAfter: 30 }));
    const scorer = new EgressScorer(baseline, p);
    const threshold = zProbability(p.zThreshold);
    const idOf = workloadIdCache(env.config.cluster.name);
    return {
      id: env.detection.id,
      title: env.detection.title,
      kinds: ['network_flow'],
      connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
        return new Observable<Finding>((subscriber) => {
          const op = detect<Observation, string, EgressFeature, EgressState>({
            key: (o) => o.key,
            feature: (o) => ({ bytes: o.bytes, log: Math.log10(1 + o.bytes), group: o.group }),
            baseline,
            scorer,
            threshold,
            learning: { minSamples: 0, minAgeMs: 0 },
            maxKeys: p.maxKeys,
            ttlMs: p.ttlMs,
            onError: (err, o) => ctx.reportError(err, { key: o.key, time: o.time }),
          });
          ctx.registerState('baselines', op);
          // Checkpointed: the baselines (what each key learned: versioned by the feature, the window and the keys) and the open
          // windows (bytes summed so far: versioned by the window and what makes a group and a key). A shutdown that keeps its
          // state leaves the windows open; the resumed run completes them.
          const shaping = { windowMs: p.windowMs, groups: scored, storageServices: [...storage].sort(), cluster: env.config.cluster.name ?? null };
          ctx.registerCheckpoint('baselines', {
            version: stateVersion('egress_volume_anomaly.baselines/1', { ...shaping, halfLifeMs: p.halfLifeMs, clipSigma: p.clipSigma }),
            snapshot: () => op.snapshot(),
            restore: (state) => op.restore(decodeBaselines(state)),
          });
          const windowsVersion = stateVersion('egress_volume_anomaly.windows/1', shaping);
          const onWindows = (handle: WindowStateHandle<string, WindowAcc>) =>
            ctx.registerCheckpoint('windows', {
              version: windowsVersion,
              snapshot: () => encodeWindows(handle, encodeAcc),
              restore: (state) => {
                const { snapshot, dropped } = decodeWindows(state, 'egress windows', p.maxOpenWindows, (raw, what) =>
                  decodeWindowAcc(raw, what, p.maxEvidence),
                );
                handle.restore(snapshot);
                if (dropped > 0) ctx.metrics.add('dropped', dropped, 'window_cap');
              },
            });
          // One view and one contribution, refilled per flow: the window operator reads a contribution synchronously
          // (key, then add, or onLate/onDrop/onError) and keeps nothing of it but copied fields.
          const view = newEgressView();
          const scratch: Contribution = { wid: '', workload: {}, group: undefined, bytes: 0, source: '', remote: '', time: 0, event: undefined as never };
          const contribute = (e: NetworkFlowEvent): Contribution | undefined => {
            if (!egressViewInto(e, view)) return undefined;
            const wid = idOf(view.local);
            if (wid === undefined) return undefined;
            scratch.wid = wid;
            scratch.workload = view.local;
            scratch.group = egressGroup(view.remoteClass, view.service, storage);
            scratch.bytes = view.bytes;
            scratch.source = e.source;
            scratch.remote = view.remote.address;
            scratch.time = e.time;
            scratch.event = e;
            return scratch;
          };
          const input = drainAwareWatermark(events$, ctx.watermark$);
          const sub = input.events$
            .pipe(
              ofKind('network_flow'),
              safeMap(contribute, (err, e) => ctx.reportError(err, e)),
              tumblingWindows<Contribution, string, WindowAcc>({
                sizeMs: p.windowMs,
                allowedLatenessMs: p.allowedLatenessMs,
                maxOpenWindows: p.maxOpenWindows,
                watermark$: input.watermark$,
                key: (c) => c.wid,
                create: () => ({ workload: {}, groups: new Map() }),
                add: (acc, c) => addContribution(acc, c, p.maxEvidence),
                onLate: (c) => ctx.late(c.event, 'window_closed'),
                onDrop: (_c, reason) => ctx.metrics.add('dropped', 1, reason),
                onError: (err, c) => ctx.reportError(err, c.event),
                onState: onWindows,
              }),
              mergeMap((w: WindowResult<string, WindowAcc>) => observations(w, scored)),
              op,
              safeMap(
                (a: Anomaly<Observation, string, EgressFeature>) => toFinding(env, a),
                (err) => ctx.reportError(err),
              ),
            )
            .subscribe(subscriber);
          return () => sub.unsubscribe();
        });
      },
    };
  },
});

function addContribution(acc: WindowAcc, c: Contribution, maxEvidence: number): undefined {
  acc.workload = c.workload;
  const g = c.group;
  if (g === undefined || c.bytes <= 0) {
    // Traffic that stays inside still marks the workload active in this window: its groups learn a zero.
    return undefined;
  }
  let ga = acc.groups.get(g);
  if (!ga) {
    ga = { bySource: {}, lastTime: c.time, evidence: [], remotes: new Map() };
    acc.groups.set(g, ga);
  }
  ga.bySource[c.source] = (ga.bySource[c.source] ?? 0) + c.bytes;
  if (c.time > ga.lastTime) ga.lastTime = c.time;
  const prev = ga.remotes.get(c.remote);
  if (prev !== undefined) ga.remotes.set(c.remote, prev + c.bytes);
  else if (ga.remotes.size < MAX_REMOTES) ga.remotes.set(c.remote, c.bytes);
  const ev = ga.evidence;
  if (ev.length < maxEvidence || c.bytes > (ev[ev.length - 1] as { bytes: number }).bytes) {
    let i = ev.length;
    while (i > 0 && (ev[i - 1] as { bytes: number }).bytes < c.bytes) i--;
    ev.splice(i, 0, { ref: eventRef(c.event), bytes: c.bytes });
    if (ev.length > maxEvidence) ev.pop();
  }
  return undefined;
}

/** One observation per scored group for every window in which the workload was active: groups it did not use learn a zero. */
function observations(w: WindowResult<string, WindowAcc>, groups: readonly EgressGroup[]): Observation[] {
  return groups.map((g) => {
    const acc = w.value.groups.get(g);
    return { key: `${w.key}|${g}`, wid: w.key, group: g, bytes: totalOf(acc), time: w.end, start: w.start, acc, workload: w.value.workload };
  });
}

/** A window accumulator as plain data. */
interface EncodedWindowAcc {
  workload: WorkloadIdentity;
  /** `[group, bytes per source, last time, evidence [ref, bytes][], remotes [address, bytes][]]` in first-seen order. */
  groups: [EgressGroup, Record<string, number>, number, [EventRef, number][], [string, number][]][];
}

function encodeAcc(acc: WindowAcc): EncodedWindowAcc {
  return {
    workload: { ...acc.workload },
    groups: [...acc.groups].map(([g, ga]) => [
      g,
      { ...ga.bySource },
      ga.lastTime,
      ga.evidence.map((e): [EventRef, number] => [{ ...e.ref }, e.bytes]),
      [...ga.remotes],
    ]),
  };
}

const GROUP_SET: ReadonlySet<string> = new Set(EGRESS_GROUPS);

function decodeWindowAcc(raw: unknown, what: string, maxEvidence: number): WindowAcc {
  const v = expectObject(raw, what);
  const groups = new Map<EgressGroup, GroupAcc>();
  for (const [i, item] of expectArray(v.groups, `${what} groups`).entries()) {
    const g = expectArray(item, `${what} group ${i}`);
    const name = expectString(g[0], `${what} group ${i} name`);
    if (!GROUP_SET.has(name) || groups.has(name as EgressGroup)) throw new CheckpointFormatError(`${what} group ${i} is not a destination group`);
    const bySource: Record<string, number> = {};
    for (const [source, bytes] of Object.entries(expectObject(g[1], `${what} group ${name} bytes`)))
      bySource[source] = expectNumber(bytes, `${what} group ${name} bytes`);
    const evidence = expectArray(g[3], `${what} group ${name} evidence`).map((e, k) => {
      const pair = expectArray(e, `${what} group ${name} evidence ${k}`);
      const [ref] = decodeRefs([pair[0]], `${what} group ${name} evidence ${k}`);
      return { ref: ref as EventRef, bytes: expectNumber(pair[1], `${what} group ${name} evidence ${k} bytes`) };
    });
    const remotes = new Map<string, number>();
    for (const [k, r] of expectArray(g[4], `${what} group ${name} remotes`).entries()) {
      const pair = expectArray(r, `${what} group ${name} remote ${k}`);
      if (remotes.size < MAX_REMOTES)
        remotes.set(expectString(pair[0], `${what} group ${name} remote ${k}`), expectNumber(pair[1], `${what} group ${name} remote ${k} bytes`));
    }
    groups.set(name as EgressGroup, {
      bySource,
      lastTime: expectNumber(g[2], `${what} group ${name} last time`),
      evidence: evidence.slice(0, maxEvidence),
      remotes,
    });
  }
  return { workload: decodeWorkload(v.workload, `${what} workload`), groups };
}

/** A workload identity read back from a checkpoint: string fields, and string labels. */

function decodeEwma(raw: unknown, what: string): EwmaState {
  const v = expectObject(raw, what);
  const n = (k: string) => expectNumber(v[k], `${what}.${k}`);
  return { n: n('n'), since: n('since'), last: n('last'), w: n('w'), mean: n('mean'), s: n('s') };
}

/** The baselines' snapshot (the detect operator's), checked field by field. */
function decodeBaselines(raw: unknown): {
  version: 1;
  maxTime: number | null;
  entries: { key: string; value: DetectKeyState<EgressState>; touched: number }[];
} {
  const s = expectObject(raw, 'egress baselines');
  if (s.version !== 1) throw new CheckpointFormatError('egress baselines are not a detect snapshot (version 1)');
  const maxTime = s.maxTime === null ? null : decodeTime(s.maxTime, Number.NEGATIVE_INFINITY, 'egress baselines maxTime');
  const entries = decodeKeyed(
    s.entries,
    (value, key) => {
      const v = expectObject(value, `baseline ${key}`);
      const st = expectObject(v.state, `baseline ${key}.state`);
      const state: EgressState = {
        n: expectNumber(st.n, `baseline ${key}.n`),
        since: expectNumber(st.since, `baseline ${key}.since`),
        last: expectNumber(st.last, `baseline ${key}.last`),
        nz: decodeEwma(st.nz, `baseline ${key}.nz`),
      };
      return { state };
    },
    'egress baselines',
  );
  return { version: 1, maxTime, entries };
}

function toFinding(env: AnalyticEnv<Params>, a: Anomaly<Observation, string, EgressFeature>): Finding {
  const p = env.params;
  const o = a.event;
  const acc = o.acc as GroupAcc;
  const ex = a.score.explanation;
  const learning = ex.details?.mode === 'learning_cap';
  const aboveCap = o.bytes >= p.learningCapBytes;
  const window = `${clockTime(o.start)}–${clockTime(o.time)} UTC`;
  const who = workloadLabel(o.wid);
  const where = GROUP_WORDS[o.group];
  const remotes = [...acc.remotes.entries()].sort((x, y) => y[1] - x[1]);
  const sources = Object.entries(acc.bySource)
    .sort((x, y) => y[1] - x[1])
    .map(([s, b]) => `${s} ${formatBytes(b)}`);
  const summary = learning
    ? `${who} sent ${formatBytes(o.bytes)} to ${where} in ${formatSpan(p.windowMs)} (${window}) while it has no baseline yet: above the ${formatBytes(p.learningCapBytes)} cap for new workloads.`
    : `${who} sent ${formatBytes(o.bytes)} to ${where} in ${formatSpan(p.windowMs)} (${window}), far above its baseline (${ex.expected}).`;
  const reasons = [
    `bytes sent per source: ${sources.join(', ')} (sources that see the same traffic are not added up)`,
    `top destinations: ${remotes
      .slice(0, 5)
      .map(([r, b]) => `${r} ${formatBytes(b)}`)
      .join(', ')}`,
  ];
  if (!learning) reasons.push(`baseline: EWMA of log10 bytes per window, ${a.samples} windows over ${formatSpan(a.baselineAgeMs)}`);
  const attributes: Record<string, AttributeValue> = {
    'outflow.egress.group': o.group,
    'outflow.egress.bytes': Math.round(o.bytes),
    'outflow.egress.window.start': new Date(o.start).toISOString(),
    'outflow.egress.window.end': new Date(o.time).toISOString(),
    'outflow.egress.destinations': remotes.slice(0, 10).map(([r]) => r),
    'outflow.workload.id': o.wid,
    'network.io.direction': 'transmit',
  };
  const top = remotes[0];
  if (top) attributes['destination.address'] = top[0];
  return {
    detection: env.detection,
    severity: aboveCap ? adjustSeverity(env.severity, 1) : env.severity,
    time: acc.lastTime,
    workload: o.workload,
    evidence: acc.evidence.map((e) => e.ref),
    dedupKey: `${o.wid}|${o.group}`,
    explanation: {
      summary,
      observed: `${formatBytes(o.bytes)} to ${where} in ${formatSpan(p.windowMs)} (${window})`,
      expected: ex.expected,
      score: a.score.probability,
      threshold: a.threshold,
      baselineAgeMs: a.baselineAgeMs,
      samples: a.samples,
      reasons,
    },
    attributes,
    tags: ['t1537', 'network', 'egress', learning ? 'learning_cap' : 'baseline'],
    response: env.response,
  };
}

const GROUP_WORDS: Record<EgressGroup, string> = {
  external: 'external destinations',
  cloud_storage: 'cloud storage',
  cloud: 'other cloud-provider ranges',
  unknown: 'destinations of unknown class',
};
