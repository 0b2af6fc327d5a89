import {
  type Alert,
  type AttributeValue,
  type Detection,
  type DetectionContext,
  EVENT_KINDS,
  type EventRef,
  type Finding,
  KeyedState,
  type OutflowEvent,
  SEVERITIES,
  SEVERITY_ID,
  type Severity,
  type WorkloadIdentity,
  z,
} from '@outflow/core';
import { Observable } from 'rxjs';
import { type AnalyticEnv, ATTACK, adjustSeverity, defineAnalytic } from '../../analytic.js';
import {
  CheckpointFormatError,
  decodeKeyed,
  decodeKeySet,
  decodeRefs,
  decodeTime,
  decodeWorkload,
  encodeRefs,
  encodeTime,
  expectArray,
  expectNumber,
  expectObject,
  expectString,
  expectStrings,
  snapshotKeyed,
  snapshotKeySet,
  stateVersion,
} from '../../enrich/checkpoint.js';
import { formatSpan, workloadId, workloadLabel } from '../network/common.js';
import { CHAIN_STAGES, type ChainStage, DEFAULT_STAGES, StageClassifier } from './stages.js';

const MIN = 60_000;
const HOUR = 3_600_000;

const params = z
  .object({
    /** The whole chain must fit in this much event time, first foothold to exfiltration (ms). */
    windowMs: z
      .number()
      .int()
      .positive()
      .default(2 * HOUR),
    /**
     * A complete chain is reported once the watermark is this far past its
     * exfiltration step (ms), so that members raised later by windowed
     * analytics (egress windows, secret counting) are part of the one incident.
     */
    settleMs: z
      .number()
      .int()
      .nonnegative()
      .default(15 * MIN),
    /** Clock skew allowed between stages from different sources: a stage may precede the previous one by this much (ms). */
    orderToleranceMs: z
      .number()
      .int()
      .nonnegative()
      .default(5 * MIN),
    /** Analytics (ids, or `id:category`) that make each stage. */
    stages: z
      .object({
        foothold: z.array(z.string().min(1)).default([...DEFAULT_STAGES.foothold]),
        collection: z.array(z.string().min(1)).default([...DEFAULT_STAGES.collection]),
        exfiltration: z.array(z.string().min(1)).default([...DEFAULT_STAGES.exfiltration]),
      })
      .strict()
      .prefault({}),
    /** Most workloads followed at once (the least recently touched is dropped beyond it). */
    maxWorkloads: z.number().int().positive().default(10_000),
    /** Member alerts kept per workload and stage (the newest). */
    maxMembersPerStage: z.number().int().positive().default(16),
    /** Evidence references of the incident (the union of its members', up to this many). */
    maxEvidence: z.number().int().positive().default(50),
  })
  .strict();

type Params = z.output<typeof params>;

interface Member {
  id: string;
  detection: string;
  title: string;
  stage: ChainStage;
  time: number;
  severity: Severity;
  evidence: readonly EventRef[];
  summary: string;
  actor: string | undefined;
}

interface Chain {
  wid: string;
  workload: WorkloadIdentity;
  members: Record<ChainStage, Member[]>;
  /** Event-time spans already reported as incidents: members inside them raise nothing new. */
  reported: { start: number; end: number }[];
}

const ACTOR_KEYS = ['user.name', 'user.id', 'k8s.user.name', 'enduser.id', 'k8s.audit.user'];
/** Workloads remembered per actor (the oldest link is dropped beyond it). */
const MAX_LINKS = 64;
/** Reported spans remembered per chain (the oldest is dropped beyond it). */
const MAX_REPORTED = 8;

/** The human or principal behind an alert, when it names one. */
function actorOf(alert: Alert): string | undefined {
  for (const k of ACTOR_KEYS) {
    const v = alert.attributes?.[k];
    if (typeof v === 'string' && v.length > 0) return v;
  }
  return undefined;
}

/**
 * 17. The chain the strategy describes, per workload within a window of event
 * time: a foothold (exec into the pod, an untrusted image touching sensitive
 * resources), then collection (secrets or sensitive paths read, data
 * archived, kubectl cp), then exfiltration (anomalous egress, a new external
 * destination, a transfer to foreign storage, an upload command, an external
 * share) ⇒ one incident that references its member alerts (`related`) and the
 * union of their evidence. Members come from `ctx.alerts$` in any order; the
 * decision is taken on event time once the watermark has passed the
 * exfiltration step by `settleMs`.
 */
export const exfiltrationChain = defineAnalytic<Params>({
  id: 'exfiltration_chain',
  title: 'Exfiltration chain in a workload: foothold, data access, egress',
  description:
    'Correlates the other analytics’ alerts per workload: a foothold, then sensitive data access, then anomalous egress or an external share, within two hours of event time, as one high-severity incident.',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1609, ATTACK.T1552_007, ATTACK.T1048, ATTACK.T1567],
  kinds: EVENT_KINDS,
  dataSources: ['The alerts of the other analytics of the preset (Kubernetes audit, runtime sensors, flows, CloudTrail), after hygiene'],
  dedupKeyDescription: 'workload (cluster/namespace/name) + start of the chain',
  status: 'experimental',
  params,
  defaultExceptions: [],
  response: {
    investigate: [
      'Read the member alerts in order (related): who got in (pod_exec actor, image), what was read, where the data went and how much.',
      'Check whether the same actor or image appears in other workloads’ alerts in the same hours.',
    ],
    contain: [
      'Isolate the workload now (deny-all NetworkPolicy or the quarantine exporter) and keep the pod for forensics rather than deleting it.',
      'Revoke the actor’s cluster and cloud credentials; rotate every secret the workload could read.',
    ],
    analyse: ['Reconstruct the data that left from the collection members (paths, secrets, archives) and the egress members (bytes, destinations).'],
    remediate: [
      'Restrict exec into pods to break-glass roles; admit only trusted images; default-deny egress per namespace.',
      'Add the destinations and buckets seen here to blocklists; review the workload’s RBAC and cloud role.',
    ],
  },
  create(env): Detection {
    const p = env.params;
    const classifier = new StageClassifier(p.stages);
    const defaultCluster = env.config.cluster.name;
    const selfId = env.detection.id;
    return {
      id: env.detection.id,
      title: env.detection.title,
      // Every kind: the input completes after every other detection's (the pipeline completes kinds in turn), so members they flush at the end still join.
      kinds: EVENT_KINDS,
      connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
        return new Observable<Finding>((subscriber) => {
          const ttl = p.windowMs + p.settleMs + p.orderToleranceMs;
          const chains = new KeyedState<string, Chain>({ maxKeys: p.maxWorkloads, ttlMs: ttl });
          /** actor → workloads it had a foothold in, with the foothold time: actor-only alerts (secret reads through the API) join those chains. */
          const actors = new KeyedState<string, Map<string, number>>({ maxKeys: p.maxWorkloads, ttlMs: ttl });
          const seen = new KeyedState<string, true>({ maxKeys: p.maxWorkloads * 16, ttlMs: ttl });
          /** Actor-only members waiting for a foothold of theirs. */
          const orphans = new KeyedState<string, Member[]>({ maxKeys: p.maxWorkloads, ttlMs: ttl });
          const dirty = new Set<string>();
          let watermark = Number.NEGATIVE_INFINITY;
          ctx.registerState('chains', chains);
          // Checkpointed: chains, actor links, alerts seen, orphans and the chains still settling. What they mean depends on
          // the window, the settle time and the tolerance, the stage map and the cluster name (in the keys).
          ctx.registerCheckpoint('chains', {
            version: stateVersion('exfiltration_chain.chains/1', {
              windowMs: p.windowMs,
              settleMs: p.settleMs,
              orderToleranceMs: p.orderToleranceMs,
              stages: { foothold: [...p.stages.foothold].sort(), collection: [...p.stages.collection].sort(), exfiltration: [...p.stages.exfiltration].sort() },
              cluster: defaultCluster ?? null,
            }),
            snapshot: () => ({
              watermark: encodeTime(watermark),
              chains: snapshotKeyed(chains, encodeChain),
              actors: snapshotKeyed(actors, (links) => [...links]),
              seen: snapshotKeySet(seen),
              orphans: snapshotKeyed(orphans, (list) => list.map(encodeMember)),
              dirty: [...dirty],
            }),
            restore: (state) => {
              const s = expectObject(state, 'exfiltration_chain state');
              const savedWatermark = decodeTime(s.watermark, Number.NEGATIVE_INFINITY, 'watermark');
              const chainEntries = decodeKeyed(s.chains, (raw, key) => decodeChain(raw, key, p.maxMembersPerStage), 'chains');
              const actorEntries = decodeKeyed(
                s.actors,
                (raw, key) => {
                  const links = new Map<string, number>();
                  for (const [i, item] of expectArray(raw, `actor ${key}`).entries()) {
                    const pair = expectArray(item, `actor ${key}[${i}]`);
                    links.set(expectString(pair[0], `actor ${key}[${i}][0]`), expectNumber(pair[1], `actor ${key}[${i}][1]`));
                  }
                  // The newest links, as onAlert keeps them.
                  for (const w of links.keys()) {
                    if (links.size <= MAX_LINKS) break;
                    links.delete(w);
                  }
                  return links;
                },
                'actors',
              );
              const seenEntries = decodeKeySet(s.seen, 'seen');
              const orphanEntries = decodeKeyed(
                s.orphans,
                (raw, key) =>
                  expectArray(raw, `orphans ${key}`)
                    .map((m, i) => decodeMember(m, `orphans ${key}[${i}]`))
                    .slice(0, p.maxMembersPerStage),
                'orphans',
              );
              const savedDirty = expectStrings(s.dirty, 'dirty');
              chains.restore(chainEntries);
              actors.restore(actorEntries);
              seen.restore(seenEntries);
              orphans.restore(orphanEntries);
              dirty.clear();
              for (const wid of savedDirty) if (chains.has(wid)) dirty.add(wid);
              watermark = savedWatermark;
            },
          });

          const emit = (f: Finding) => subscriber.next(f);

          const addMember = (wid: string, workload: WorkloadIdentity | undefined, m: Member) => {
            let chain = chains.get(wid, m.time);
            if (!chain) {
              chain = { wid, workload: workload ?? {}, members: { foothold: [], collection: [], exfiltration: [] }, reported: [] };
              chains.set(wid, chain, m.time);
            } else if (workload && Object.keys(chain.workload).length === 0) chain.workload = workload;
            const list = chain.members[m.stage];
            if (list.some((x) => x.id === m.id)) return;
            list.push(m);
            list.sort((a, b) => a.time - b.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
            if (list.length > p.maxMembersPerStage) {
              list.splice(0, list.length - p.maxMembersPerStage);
              ctx.metrics.add('dropped', 1, 'chain_member_cap');
            }
            dirty.add(wid);
          };

          /** Report the complete chains of one workload that have settled by `wm`; true when one is complete but still settling. */
          const settle = (wid: string, wm: number): boolean => {
            const chain = chains.peek(wid);
            if (!chain) return false;
            for (;;) {
              const found = findChain(chain, p);
              if (!found) return false;
              if (found.due > wm) return true;
              chain.reported.push({ start: found.start, end: found.start + p.windowMs });
              if (chain.reported.length > MAX_REPORTED) chain.reported.shift();
              emit(incident(env, chain, found));
            }
          };

          const onAlert = (alert: Alert) => {
            if (alert.detection.id === selfId) return;
            if (seen.has(alert.id) || alert.tags?.includes('denied')) return;
            const stages = classifier.stagesOf(alert);
            if (stages.length === 0) return;
            const time = alert.firstSeen;
            seen.set(alert.id, true, time);
            const actor = actorOf(alert);
            const wid = workloadId(alert.workload, defaultCluster);
            const touched = new Set<string>();
            for (const stage of stages) {
              const m: Member = {
                id: alert.id,
                detection: alert.detection.id,
                title: alert.detection.title,
                stage,
                time,
                severity: alert.severity,
                evidence: alert.evidence,
                summary: alert.explanation.summary,
                actor,
              };
              if (wid !== undefined) {
                addMember(wid, alert.workload, m);
                touched.add(wid);
                if (stage === 'foothold' && actor) {
                  const links = actors.getOrCreate(actor, time, () => new Map());
                  const prev = links.get(wid);
                  if (prev === undefined || time < prev) links.set(wid, time);
                  if (links.size > MAX_LINKS) links.delete(links.keys().next().value as string);
                  for (const o of orphans.peek(actor) ?? []) if (Math.abs(o.time - time) <= p.windowMs) addMember(wid, undefined, o);
                }
              } else if (actor && stage !== 'foothold') {
                // No workload (a human reading secrets through the API): attach to the chains of workloads this actor got into.
                const links = actors.peek(actor);
                let attached = false;
                for (const [w, t] of links ?? []) {
                  if (Math.abs(t - time) > p.windowMs) continue;
                  const chain = chains.peek(w);
                  addMember(w, chain?.workload, m);
                  touched.add(w);
                  attached = true;
                }
                if (!attached) {
                  const list = orphans.getOrCreate(actor, time, () => []);
                  if (list.length < p.maxMembersPerStage) list.push(m);
                }
              }
            }
            // Only the chains this alert touched can have changed.
            if (watermark > Number.NEGATIVE_INFINITY) for (const w of touched) if (!settle(w, watermark)) dirty.delete(w);
          };

          /** On the watermark: every chain complete but not yet settled. */
          const evaluate = (wm: number) => {
            for (const wid of [...dirty]) if (!settle(wid, wm)) dirty.delete(wid);
          };

          const alertSub = ctx.alerts$.subscribe({
            next: (a) => {
              try {
                onAlert(a);
              } catch (err) {
                ctx.reportError(err, { alert: a.id, detection: a.detection.id });
              }
            },
          });
          const wmSub = ctx.watermark$.subscribe({
            next: (wm) => {
              // +Infinity: every receiver completed, but their queued events (and the alerts they raise) may still be coming;
              // the end of this detection's input is the real end (see drainAwareWatermark).
              if (wm <= watermark || wm === Number.POSITIVE_INFINITY) return;
              watermark = wm;
              try {
                evaluate(wm);
                chains.expire(wm);
                actors.expire(wm);
                seen.expire(wm);
                orphans.expire(wm);
              } catch (err) {
                ctx.reportError(err);
              }
            },
          });
          const sub = events$.subscribe({
            error: (err) => subscriber.error(err),
            complete: () => {
              try {
                evaluate(Number.POSITIVE_INFINITY);
              } catch (err) {
                ctx.reportError(err);
              }
              subscriber.complete();
            },
          });
          return () => {
            sub.unsubscribe();
            wmSub.unsubscribe();
            alertSub.unsubscribe();
          };
        });
      },
    };
  },
});

/** A member alert as plain data (a copy). */
function encodeMember(m: Member): Record<string, unknown> {
  return { ...m, evidence: encodeRefs(m.evidence), ...(m.actor === undefined ? {} : { actor: m.actor }) };
}

function decodeMember(raw: unknown, what: string): Member {
  const v = expectObject(raw, what);
  const stage = expectString(v.stage, `${what}.stage`);
  if (!(CHAIN_STAGES as readonly string[]).includes(stage)) throw new CheckpointFormatError(`${what}.stage is not a chain stage`);
  const severity = expectString(v.severity, `${what}.severity`);
  if (!(SEVERITIES as readonly string[]).includes(severity)) throw new CheckpointFormatError(`${what}.severity is not a severity`);
  return {
    id: expectString(v.id, `${what}.id`),
    detection: expectString(v.detection, `${what}.detection`),
    title: expectString(v.title, `${what}.title`),
    stage: stage as ChainStage,
    time: expectNumber(v.time, `${what}.time`),
    severity: severity as Severity,
    evidence: decodeRefs(v.evidence, `${what}.evidence`),
    summary: expectString(v.summary, `${what}.summary`),
    actor: v.actor === undefined ? undefined : expectString(v.actor, `${what}.actor`),
  };
}

/** A chain as plain data (a copy). */
function encodeChain(c: Chain): Record<string, unknown> {
  return {
    wid: c.wid,
    workload: { ...c.workload },
    members: {
      foothold: c.members.foothold.map(encodeMember),
      collection: c.members.collection.map(encodeMember),
      exfiltration: c.members.exfiltration.map(encodeMember),
    },
    reported: c.reported.map((r) => ({ ...r })),
  };
}

function decodeChain(raw: unknown, key: string, maxMembersPerStage: number): Chain {
  const what = `chain ${key}`;
  const v = expectObject(raw, what);
  const m = expectObject(v.members, `${what}.members`);
  const members = {} as Record<ChainStage, Member[]>;
  for (const stage of CHAIN_STAGES) {
    // The newest members per stage (sorted by time), as addMember keeps them.
    const list = expectArray(m[stage], `${what}.members.${stage}`).map((x, i) => decodeMember(x, `${what}.members.${stage}[${i}]`));
    if (list.some((x) => x.stage !== stage)) throw new CheckpointFormatError(`${what}.members.${stage} holds a member of another stage`);
    members[stage] = list.slice(-maxMembersPerStage);
  }
  const reported = expectArray(v.reported, `${what}.reported`)
    .map((r, i) => {
      const span = expectObject(r, `${what}.reported[${i}]`);
      return { start: expectNumber(span.start, `${what}.reported[${i}].start`), end: expectNumber(span.end, `${what}.reported[${i}].end`) };
    })
    .slice(-MAX_REPORTED);
  return { wid: expectString(v.wid, `${what}.wid`), workload: decodeWorkload(v.workload, `${what}.workload`), members, reported };
}

/** A workload identity read back from a checkpoint: string fields, and string labels. */

interface Found {
  /** Event time of the chain's first foothold. */
  start: number;
  /** When it may be reported: its exfiltration step plus the settle time. */
  due: number;
}

/**
 * The earliest complete chain not inside a reported span: an exfiltration
 * step x, a collection step c no later than x, a foothold a no later than c
 * (each up to the order tolerance), all within the window ending at x.
 */
function findChain(chain: Chain, p: Params): Found | undefined {
  const tol = p.orderToleranceMs;
  const all = chain.members;
  if (all.foothold.length === 0 || all.collection.length === 0 || all.exfiltration.length === 0) return undefined;
  const reported = chain.reported;
  const open =
    reported.length === 0 ? (list: Member[]) => list : (list: Member[]) => list.filter((m) => !reported.some((r) => m.time >= r.start && m.time <= r.end));
  const foothold = open(all.foothold);
  const collection = open(all.collection);
  const exfil = open(all.exfiltration);
  for (const x of exfil) {
    for (const a of foothold) {
      if (a.time > x.time + tol || x.time - a.time > p.windowMs) continue;
      const c = collection.find((m) => m.time + tol >= a.time && m.time <= x.time + tol && x.time - m.time <= p.windowMs);
      if (c) return { start: Math.min(a.time, c.time, x.time), due: x.time + p.settleMs };
    }
  }
  return undefined;
}

const STAGE_WORDS: Record<ChainStage, string> = { foothold: 'foothold', collection: 'data access', exfiltration: 'exfiltration' };

/** The incident for a found chain: every member from its first foothold up to its exfiltration step plus the settle time. */
function incident(env: AnalyticEnv<Params>, chain: Chain, found: Found): Finding {
  const p = env.params;
  const start = found.start;
  const end = Math.min(found.due, start + p.windowMs);
  const members: Member[] = [];
  const ids = new Set<string>();
  for (const stage of CHAIN_STAGES) {
    for (const m of chain.members[stage]) {
      if (m.time < start - p.orderToleranceMs || m.time > end) continue;
      members.push(m);
    }
  }
  members.sort((a, b) => a.time - b.time || CHAIN_STAGES.indexOf(a.stage) - CHAIN_STAGES.indexOf(b.stage));
  const related: string[] = [];
  for (const m of members) {
    if (ids.has(m.id)) continue;
    ids.add(m.id);
    related.push(m.id);
  }
  const evidence: EventRef[] = [];
  const keys = new Set<string>();
  for (const stage of CHAIN_STAGES) {
    for (const m of members) {
      if (m.stage !== stage) continue;
      for (const ref of m.evidence) {
        const k = `${ref.source}\u0000${ref.id}`;
        if (keys.has(k) || evidence.length >= p.maxEvidence) continue;
        keys.add(k);
        evidence.push(ref);
      }
    }
  }
  const last = members.reduce((t, m) => Math.max(t, m.time), start);
  const top = members.reduce<Severity>((s, m) => (SEVERITY_ID[m.severity] > SEVERITY_ID[s] ? m.severity : s), 'informational');
  const severity = top === 'critical' ? adjustSeverity(env.severity, 1) : env.severity;
  const byStage = (stage: ChainStage) => {
    const list = members.filter((m) => m.stage === stage);
    return `${STAGE_WORDS[stage]}: ${[...new Set(list.map((m) => m.detection))].join(', ')}`;
  };
  const who = workloadLabel(chain.wid);
  const actors = [...new Set(members.map((m) => m.actor).filter((a): a is string => a !== undefined))];
  const attributes: Record<string, AttributeValue> = {
    'outflow.workload.id': chain.wid,
    'outflow.chain.start': new Date(start).toISOString(),
    'outflow.chain.end': new Date(last).toISOString(),
    'outflow.chain.analytics': [...new Set(members.map((m) => m.detection))],
    'outflow.chain.stages': CHAIN_STAGES.map((s) => `${s}=${members.filter((m) => m.stage === s).length}`),
  };
  if (actors.length > 0) attributes['user.name'] = actors[0] as string;
  return {
    detection: env.detection,
    severity,
    time: last,
    workload: chain.workload,
    evidence,
    dedupKey: `${chain.wid}|${new Date(start).toISOString()}`,
    explanation: {
      summary: `Exfiltration chain in ${who} within ${formatSpan(last - start)}: ${CHAIN_STAGES.map(byStage).join('; ')}.`,
      observed: `${members.length} alerts in ${formatSpan(last - start)}: ${CHAIN_STAGES.map((s) => `${members.filter((m) => m.stage === s).length} ${STAGE_WORDS[s]}`).join(', ')}${actors.length > 0 ? `; actor ${actors.join(', ')}` : ''}`,
      expected: `no workload goes from a foothold through sensitive data access to egress or an external share within ${formatSpan(p.windowMs)}`,
      reasons: members.map((m) => `[${STAGE_WORDS[m.stage]}] ${new Date(m.time).toISOString()} ${m.detection} (${m.severity}): ${m.summary}`),
    },
    attributes,
    tags: ['t1537', 'correlation', 'incident'],
    response: env.response,
    related,
  };
}
