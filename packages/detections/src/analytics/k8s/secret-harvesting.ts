import { type DetectionContext, type EventRef, eventRef, type Finding, type K8sAuditEvent, KeyedState, type OutflowEvent, safeMap, z } from '@outflow/core';
import type { Observable } from 'rxjs';
import { ATTACK, adjustSeverity, defineAnalytic } from '../../analytic.js';
import {
  decodeKeyed,
  decodeRefs,
  decodeTime,
  encodeTime,
  expectArray,
  expectNumber,
  expectObject,
  expectString,
  expectStrings,
  snapshotKeyed,
  stateVersion,
} from '../../enrich/checkpoint.js';
import { auditAttributes, auditSucceeded, completeFinding, effectiveUser, isSystemIdentity, OnceSet, SYSTEM_NAMESPACES, usableStage } from './common.js';

const params = z
  .object({
    /** Distinct secrets one identity must read within `windowMs` to be reported. */
    threshold: z.number().int().min(2).default(3),
    /** The window, in event time. */
    windowMs: z.number().int().positive().default(600_000),
    /** Namespaces whose service accounts are system identities (never reported). */
    systemNamespaces: z.array(z.string().min(1)).default([...SYSTEM_NAMESPACES]),
    /** Count a namespaced `list`/`watch` of secrets (which returns every secret of the namespace) as one read of `<namespace>/*`. */
    countNamespacedLists: z.boolean().default(true),
    /** Most identities tracked at once (least recently active evicted first). */
    maxIdentities: z.number().int().positive().default(10_000),
    /** Most distinct secrets remembered per identity. */
    maxSecretsPerIdentity: z.number().int().positive().default(256),
  })
  .strict();

type Params = z.output<typeof params>;

interface Read {
  time: number;
  ref: EventRef;
}

interface IdentityState {
  /** Secret (`namespace/name`) → latest read. */
  reads: Map<string, Read>;
  /** Secrets already reported in the current burst. */
  reported: Set<string>;
  /** Event time of the last report: a new burst starts when the window has passed since. */
  reportedAt: number;
}

interface EncodedIdentity {
  /** `[secret, time, ref]`, least recently read first. */
  reads: [string, number, EventRef][];
  reported: string[];
  reportedAt: number | null;
}

function encodeIdentity(state: IdentityState): EncodedIdentity {
  return {
    reads: [...state.reads].map(([secret, r]) => [secret, r.time, { ...r.ref }]),
    reported: [...state.reported],
    reportedAt: encodeTime(state.reportedAt),
  };
}

function decodeIdentity(raw: unknown, key: string): IdentityState {
  const v = expectObject(raw, `identity ${key}`);
  const reads = new Map<string, Read>();
  for (const [i, item] of expectArray(v.reads, `identity ${key}.reads`).entries()) {
    const r = expectArray(item, `identity ${key}.reads[${i}]`);
    const [ref] = decodeRefs([r[2]], `identity ${key}.reads[${i}].ref`);
    reads.set(expectString(r[0], `identity ${key}.reads[${i}][0]`), { time: expectNumber(r[1], `identity ${key}.reads[${i}][1]`), ref: ref as EventRef });
  }
  return {
    reads,
    reported: new Set(expectStrings(v.reported, `identity ${key}.reported`)),
    reportedAt: decodeTime(v.reportedAt, Number.NEGATIVE_INFINITY, `identity ${key}.reportedAt`),
  };
}

/**
 * 12. Secret harvesting: three or more distinct secrets read (`get`) by one
 * identity within ten minutes of event time, and cluster-wide `list`/`watch`
 * of secrets by identities that are not the cluster's own. Checkpointed:
 * `identities` (recent reads per identity, versioned by the window, the
 * threshold and what counts as a read) and `audit_ids`.
 */
export const secretHarvesting = defineAnalytic({
  id: 'secret_harvesting',
  title: 'Secret harvesting through the Kubernetes API',
  description: 'One identity reads many distinct secrets in a short time, or lists or watches secrets across all namespaces.',
  severity: 'medium',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1552_007, ATTACK.T1613],
  kinds: ['k8s_audit'],
  dataSources: ['Kubernetes API server audit log (Metadata level or above for secrets)'],
  dedupKeyDescription: 'identity + `burst` (distinct reads) or `cluster-wide` (all-namespace list/watch)',
  status: 'test',
  params,
  defaultExceptions: [
    {
      id: 'secret-operators',
      match: {
        'attributes.user.name': {
          glob: [
            'system:serviceaccount:cert-manager:*',
            'system:serviceaccount:external-secrets:*',
            'system:serviceaccount:argocd:argocd-application-controller',
            'system:serviceaccount:argocd:argocd-server',
            'system:serviceaccount:flux-system:*',
            'system:serviceaccount:sealed-secrets:*',
            'system:serviceaccount:vault:*',
            'system:serviceaccount:monitoring:kube-state-metrics',
            'system:serviceaccount:kube-state-metrics:*',
          ],
        },
      },
      reason:
        'Controllers that manage or mirror secrets (cert-manager, External Secrets, Argo CD, Flux, Sealed Secrets, Vault, kube-state-metrics) read and list secrets by design. Verify the service-account names match your installation.',
      owner: 'outflow',
    },
  ],
  response: {
    investigate: [
      'Who read them (user.name, source.address, user_agent.original) and from where: a pod’s service account (k8s.audit.actor.pod.name) or a person?',
      'Which secrets (k8s.secret.names) and what they unlock (databases, cloud keys, registry credentials).',
    ],
    contain: ['Revoke the identity (delete its token, remove the RoleBinding); rotate every secret it read.'],
    analyse: ['Look for use of the secrets afterwards: cloud API calls with the keys, logins to the databases, egress from the reading pod.'],
    remediate: [
      'Grant get on named secrets only (resourceNames); never list/watch secrets cluster-wide to humans; enable secret encryption and audit at Metadata level.',
    ],
  },
  create(env) {
    const p = env.params as Params;
    const systemNs = new Set(p.systemNamespaces);
    return {
      id: env.detection.id,
      title: env.detection.title,
      kinds: ['k8s_audit'],
      connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
        const once = new OnceSet();
        const identities = new KeyedState<string, IdentityState>({ maxKeys: p.maxIdentities, ttlMs: 2 * p.windowMs });
        ctx.registerState('secret_harvesting.identities', identities);
        ctx.registerState('secret_harvesting.audit_ids', once);
        let sweep = 0;
        let clock = Number.NEGATIVE_INFINITY;
        ctx.registerCheckpoint('identities', {
          version: stateVersion('secret_harvesting.identities/1', {
            windowMs: p.windowMs,
            threshold: p.threshold,
            countNamespacedLists: p.countNamespacedLists,
            maxSecretsPerIdentity: p.maxSecretsPerIdentity,
          }),
          snapshot: () => ({ sweep, clock: encodeTime(clock), identities: snapshotKeyed(identities, encodeIdentity) }),
          restore: (state) => {
            const s = expectObject(state, 'secret_harvesting state');
            const entries = decodeKeyed(s.identities, decodeIdentity, 'identities');
            const savedSweep = expectNumber(s.sweep, 'sweep');
            const savedClock = decodeTime(s.clock, Number.NEGATIVE_INFINITY, 'clock');
            identities.restore(entries);
            sweep = savedSweep;
            clock = savedClock;
          },
        });
        ctx.registerCheckpoint('audit_ids', once.checkpoint('secret_harvesting'));

        const clusterWide = (event: K8sAuditEvent, user: string): Finding => {
          const severity = adjustSeverity(env.severity, 1);
          return completeFinding(env, event, {
            severity,
            dedupKey: `${user}|cluster-wide`,
            explanation: {
              summary: `${user} ${event.verb === 'watch' ? 'watched' : 'listed'} secrets in every namespace: one call returns every secret of the cluster.`,
              observed: `${event.verb} secrets without a namespace (${event.requestUri ?? '/api/v1/secrets'}) from ${event.sourceIps[0] ?? 'an unknown address'}`,
              expected: 'only the cluster’s own controllers read secrets across namespaces',
              reasons: ['a cluster-wide list or watch of secrets is the fastest way to harvest every credential stored in the cluster'],
            },
            attributes: { ...auditAttributes(event), 'k8s.secret.scope': 'cluster' },
            tags: ['t1537', 'kubernetes', 'secrets', 'cluster_wide'],
          });
        };

        const read = (event: K8sAuditEvent, user: string, secret: string): Finding | undefined => {
          const t = event.time;
          let state = identities.get(user, t);
          if (!state) {
            state = { reads: new Map(), reported: new Set(), reportedAt: Number.NEGATIVE_INFINITY };
            identities.set(user, state, t);
          }
          const prev = state.reads.get(secret);
          if (!prev || t > prev.time) {
            state.reads.delete(secret);
            state.reads.set(secret, { time: t, ref: eventRef(event) });
          }
          // Forget reads that can no longer share a window with this one, and cap the rest.
          for (const [k, r] of state.reads) if (r.time < t - p.windowMs) state.reads.delete(k);
          for (const k of state.reads.keys()) {
            if (state.reads.size <= p.maxSecretsPerIdentity) break;
            state.reads.delete(k);
          }
          // The densest window of length windowMs that contains this read.
          const times = [...state.reads.entries()].filter(([, r]) => Math.abs(r.time - t) <= p.windowMs).sort((a, b) => a[1].time - b[1].time);
          let best: [string, Read][] = [];
          let lo = 0;
          for (let hi = 0; hi < times.length; hi++) {
            while ((times[hi] as [string, Read])[1].time - (times[lo] as [string, Read])[1].time > p.windowMs) lo++;
            const win = times.slice(lo, hi + 1);
            if (win.some(([k]) => k === secret) && win.length > best.length) best = win;
          }
          if (best.length < p.threshold) return undefined;
          // Every read of this window came after the last report: a new burst (it folds into the same alert while it is open).
          if ((best[0] as [string, Read])[1].time > state.reportedAt) state.reported.clear();
          const fresh = best.filter(([k]) => !state.reported.has(k));
          if (fresh.length === 0) return undefined;
          for (const [k] of best) state.reported.add(k);
          state.reportedAt = t;
          const names = best.map(([k]) => k);
          const namespaces = new Set(names.map((n) => n.split('/')[0]));
          const spanMs = (best[best.length - 1] as [string, Read])[1].time - (best[0] as [string, Read])[1].time;
          const wide = namespaces.size > 1 || best.length >= 2 * p.threshold;
          const severity = wide ? adjustSeverity(env.severity, 1) : env.severity;
          return completeFinding(env, event, {
            severity,
            dedupKey: `${user}|burst`,
            evidence: best.map(([, r]) => r.ref).slice(0, 20),
            explanation: {
              summary: `${user} read ${best.length} distinct secrets in ${Math.max(1, Math.round(spanMs / 1000))} s: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', ...' : ''}.`,
              observed: `${best.length} distinct secrets within ${Math.round(spanMs / 1000)} s (${namespaces.size} namespace${namespaces.size > 1 ? 's' : ''})`,
              expected: `fewer than ${p.threshold} distinct secrets per identity in ${Math.round(p.windowMs / 60_000)} min`,
              reasons: [
                `${best.length} ≥ ${p.threshold} distinct secrets read within ${Math.round(p.windowMs / 60_000)} min of event time`,
                ...(wide ? [namespaces.size > 1 ? `across ${namespaces.size} namespaces` : `${best.length} secrets, twice the threshold`] : []),
              ],
            },
            attributes: { ...auditAttributes(event), 'k8s.secret.names': names, 'k8s.secret.count': best.length, 'k8s.secret.scope': 'burst' },
            tags: ['t1537', 'kubernetes', 'secrets'],
          });
        };

        return events$.pipe(
          safeMap<OutflowEvent, Finding>(
            (e) => {
              if (e.kind !== 'k8s_audit') return undefined;
              const event = e;
              if (event.time > clock) clock = event.time;
              if (++sweep >= 1024) {
                sweep = 0;
                identities.expire(clock);
              }
              const ref = event.objectRef;
              if (ref?.resource !== 'secrets' || ref.subresource !== undefined) return undefined;
              if (event.verb !== 'get' && event.verb !== 'list' && event.verb !== 'watch') return undefined;
              if (!usableStage(event) || !auditSucceeded(event)) return undefined;
              const user = effectiveUser(event);
              if (isSystemIdentity(user, systemNs)) return undefined;
              if (!once.first(event.auditId, event.time)) return undefined;
              if (event.verb === 'get') return ref.name ? read(event, user, `${ref.namespace ?? ''}/${ref.name}`) : undefined;
              if (!ref.namespace) return clusterWide(event, user);
              return p.countNamespacedLists ? read(event, user, `${ref.namespace}/*`) : undefined;
            },
            (err, event) => ctx.reportError(err, event),
          ),
        );
      },
    };
  },
});
