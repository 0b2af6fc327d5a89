import {
  type AttributeValue,
  type CheckpointHandle,
  type Detection,
  type DetectionContext,
  eventRef,
  type Finding,
  type FindingDraft,
  type K8sAuditEvent,
  KeyedState,
  type OutflowEvent,
  type ProcessInfo,
  SEVERITIES,
  type Severity,
  workloadAttributes,
} from '@outflow/core';
import type { Observable } from 'rxjs';
import type { AnalyticEnv } from '../../analytic.js';
import type { BucketOwnershipClass, ClassifyOptions } from '../../classify/payload.js';
import { type BucketRef, hostNameClass, unbracket } from '../../classify/targets.js';
import { decodeKeySet, expectNumber, expectObject, snapshotKeySet, stateVersion } from '../../enrich/checkpoint.js';
import { isIpAddress } from '../../util/ip.js';

/** Namespaces whose service accounts are the cluster's own machinery. */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system', 'kube-node-lease', 'kube-public'];

/**
 * True for the cluster's own identities: nodes, control-plane components,
 * service accounts of system namespaces, and the managed-cluster operators
 * (`eks:*`, `aks*`). `system:anonymous` and `system:unauthenticated` are not.
 */
export function isSystemIdentity(username: string, systemNamespaces: ReadonlySet<string>): boolean {
  if (username.startsWith('system:serviceaccount:')) {
    const ns = username.slice('system:serviceaccount:'.length).split(':')[0] ?? '';
    return systemNamespaces.has(ns);
  }
  if (username === 'system:anonymous' || username === 'system:unauthenticated') return false;
  return username.startsWith('system:') || username.startsWith('eks:') || username === 'aksService' || username === 'aks-support';
}

/** The identity a request acted as: the impersonated user when there is one. */
export function effectiveUser(event: K8sAuditEvent): string {
  return event.impersonatedUser?.username ?? event.user.username;
}

/** True unless the API server refused the request (decision `forbid`, or a 4xx/5xx response code). */
export function auditSucceeded(event: K8sAuditEvent): boolean {
  if (event.decision === 'forbid') return false;
  return event.responseCode === undefined || event.responseCode < 400;
}

/**
 * Stages worth reading: `RequestReceived` carries no outcome (no response
 * code, no decision), so it is skipped; the later stages of one request share
 * its audit id and are read once (see `OnceSet`).
 */
export function usableStage(event: K8sAuditEvent): boolean {
  return event.stage !== 'RequestReceived';
}

/** Remembers ids for a while (event time) so one request logged at several stages is read once. Bounded. */
export class OnceSet {
  private readonly seen: KeyedState<string, true>;
  private sweeps = 0;

  constructor(ttlMs = 3_600_000, maxKeys = 100_000) {
    this.seen = new KeyedState<string, true>({ maxKeys, ttlMs });
  }

  get size(): number {
    return this.seen.size;
  }

  /** True the first time `id` is seen (within the TTL). */
  first(id: string, time: number): boolean {
    if (++this.sweeps >= 1024) {
      this.sweeps = 0;
      this.seen.expire(time);
    }
    if (this.seen.has(id)) return false;
    this.seen.set(id, true, time);
    return true;
  }

  /** The ids seen (with their times) and the sweep counter, as plain data. */
  snapshot(): { sweeps: number; ids: [string, number][] } {
    return { sweeps: this.sweeps, ids: snapshotKeySet(this.seen) };
  }

  /** Replace the contents with a snapshot; throws (changing nothing) when it is unreadable. */
  restore(state: unknown): void {
    const s = expectObject(state, 'audit ids');
    const sweeps = expectNumber(s.sweeps, 'audit ids sweeps');
    const ids = decodeKeySet(s.ids, 'audit ids');
    this.seen.restore(ids);
    this.sweeps = sweeps;
  }

  /** A checkpoint handle (`<analytic>.audit_ids/1` + the TTL). */
  checkpoint(analytic: string): CheckpointHandle {
    return {
      version: stateVersion(`${analytic}.audit_ids/1`, { ttlMs: this.seen.ttlMs }),
      snapshot: () => this.snapshot(),
      restore: (state) => this.restore(state),
    };
  }
}

/**
 * A detection that registers state (gauges, checkpoints) when it is
 * connected, before its first event: for analytics built with core's
 * `rule()`, whose `match` sees the context only per event. A checkpoint
 * registered at connection is restored before any event, and is part of
 * every checkpoint even when no event came.
 */
export function withConnectHook(detection: Detection, onConnect: (ctx: DetectionContext) => void): Detection {
  return {
    ...detection,
    connect(events$: Observable<OutflowEvent>, ctx: DetectionContext) {
      onConnect(ctx);
      return detection.connect(events$, ctx);
    },
  };
}

/** The pod an audit request targets: `{ cluster, namespace, pod }` (from the enriched workload, else the object reference). */
export function auditTarget(event: K8sAuditEvent, env: AnalyticEnv<unknown>): { cluster: string; namespace: string; pod: string } {
  const w = event.workload;
  return {
    cluster: w?.cluster ?? (event.attributes?.['k8s.cluster.name'] as string | undefined) ?? env.config.cluster.name ?? '',
    namespace: w?.namespace ?? event.objectRef?.namespace ?? '',
    pod: w?.pod ?? event.objectRef?.name ?? '',
  };
}

export function podKey(t: { cluster: string; namespace: string; pod: string }): string {
  return `${t.cluster}/${t.namespace}/${t.pod}`;
}

/** The pod of a runtime or flow event: `cluster/namespace/pod`, else the container id, else undefined. */
export function runtimePodKey(event: OutflowEvent, env: AnalyticEnv<unknown>): string | undefined {
  const w = event.workload;
  if (!w) return undefined;
  const cluster = w.cluster ?? env.config.cluster.name ?? '';
  if (w.pod && w.namespace) return `${cluster}/${w.namespace}/${w.pod}`;
  if (w.containerId) return `${cluster}/container/${w.containerId.slice(0, 12)}`;
  return undefined;
}

/** OpenTelemetry-style attributes of an audit request: who, from where, on what. */
export function auditAttributes(event: K8sAuditEvent): Record<string, AttributeValue> {
  const a: Record<string, AttributeValue> = { ...workloadAttributes(event.workload), 'user.name': effectiveUser(event), 'k8s.audit.id': event.auditId };
  if (event.impersonatedUser) a['k8s.audit.impersonated_by'] = event.user.username;
  if (event.user.groups && event.user.groups.length > 0) a['k8s.user.groups'] = [...event.user.groups];
  if (event.sourceIps[0]) a['source.address'] = event.sourceIps[0];
  if (event.userAgent) a['user_agent.original'] = event.userAgent;
  if (!a['k8s.namespace.name'] && event.objectRef?.namespace) a['k8s.namespace.name'] = event.objectRef.namespace;
  if (event.decision) a['k8s.audit.decision'] = event.decision;
  if (event.responseCode !== undefined) a['http.response.status_code'] = event.responseCode;
  const cluster = event.attributes?.['k8s.cluster.name'];
  if (cluster !== undefined && !a['k8s.cluster.name']) a['k8s.cluster.name'] = cluster;
  for (const k of ['k8s.audit.actor.pod.name', 'k8s.audit.actor.namespace.name', 'k8s.audit.actor.workload.name', 'k8s.serviceaccount.name']) {
    const v = event.attributes?.[k];
    if (v !== undefined) a[k] = v;
  }
  return a;
}

/** The process of a runtime event: its typed slot, or (flows) the `process.*` attributes a sensor set. */
export function processOf(event: OutflowEvent): ProcessInfo | undefined {
  if (event.kind === 'process_exec' || event.kind === 'file_access' || event.kind === 'runtime_alert') return event.process;
  if (event.kind === 'network_flow') {
    const exe = event.attributes?.['process.executable.path'];
    if (typeof exe !== 'string') return undefined;
    const args = event.attributes?.['process.command_args'];
    const pid = event.attributes?.['process.pid'];
    const p: ProcessInfo = { executable: exe, args: Array.isArray(args) ? (args as string[]) : [exe] };
    if (typeof pid === 'number') p.pid = pid;
    const execId = event.attributes?.['tetragon.exec_id'];
    if (typeof execId === 'string') p.execId = execId;
    return p;
  }
  return undefined;
}

/** argv of a process as a sensor reported it, with the full executable path first. */
export function argvOf(process: ProcessInfo): string[] {
  if (process.args.length === 0) return [process.executable];
  const first = process.args[0] as string;
  const exe = process.executable.includes('/') && process.executable.endsWith(`/${first}`) ? process.executable : first;
  return [exe, ...process.args.slice(1)];
}

/** Process attributes (OpenTelemetry names) and the workload's. */
export function runtimeAttributes(event: OutflowEvent, process: ProcessInfo | undefined): Record<string, AttributeValue> {
  // workloadAttributes returns a fresh object: written into directly (no spread on the hot path).
  const a: Record<string, AttributeValue> = workloadAttributes(event.workload);
  if (process) {
    a['process.executable.path'] = process.executable;
    a['process.command_line'] = process.args.length > 0 ? process.args.join(' ').slice(0, 2048) : process.executable;
    if (process.pid !== undefined) a['process.pid'] = process.pid;
    if (process.tty !== undefined) a['process.tty'] = process.tty;
    if (process.user) a['process.owner'] = process.user;
    if (process.parent?.executable) a['process.parent.executable.path'] = process.parent.executable;
  }
  const trusted = event.attributes?.['container.image.trusted'];
  if (trusted !== undefined) a['container.image.trusted'] = trusted;
  if (event.kind === 'runtime_alert') {
    a['rule.name'] = event.rule;
    a['runtime.engine'] = event.engine;
  }
  return a;
}

/**
 * A destination classifier for hosts named in commands: addresses go through
 * the preset's destination classes (pod and service CIDRs, allow-list, cloud
 * ranges, own ranges); names match the allow-list and self endpoints, else
 * their suffix decides (cluster-local, metadata, cloud endpoints, external).
 */
export function destinationClassOf(env: AnalyticEnv<unknown>): NonNullable<ClassifyOptions['destination']> {
  return (host, port) => {
    const h = unbracket(host);
    if (isIpAddress(h)) return env.destinations.classify(h, port).class;
    const named = env.destinations.classify(h, port, [h]).class;
    if (named === 'allowed' || named === 'self') return named;
    return hostNameClass(h);
  };
}

/**
 * Who owns a bucket: one of ours when it matches `organization.buckets`;
 * otherwise the owner learned from CloudTrail, judged with the organisation's
 * accounts (ours, a trusted partner, or foreign); unknown when nothing is known.
 */
export function bucketOwnerOf(env: AnalyticEnv<unknown>, account?: string): (bucket: BucketRef) => BucketOwnershipClass {
  return (bucket) => {
    if (env.buckets.isConfiguredOwn(bucket.name)) return 'ours';
    if (bucket.provider !== 'aws') return 'unknown';
    const owner = env.buckets.ownerOf(bucket.name);
    if (!owner) return 'unknown';
    if (!env.accounts.configured && account === undefined) return 'unknown';
    const cls = env.accounts.classify(owner, { recipientAccountId: account });
    return cls === 'ours' ? 'ours' : cls === 'partner' ? 'partner' : 'foreign';
  };
}

/** Move `severity` by the difference between the configured base severity and the analytic's default. */
export function shiftSeverity(severity: Severity, env: AnalyticEnv<unknown>, defaultBase: Severity): Severity {
  const shift = SEVERITIES.indexOf(env.severity) - SEVERITIES.indexOf(defaultBase);
  if (shift === 0) return severity;
  const i = Math.max(0, Math.min(SEVERITIES.length - 1, SEVERITIES.indexOf(severity) + shift));
  return SEVERITIES[i] as Severity;
}

/**
 * A finding completed the way core's `rule()` completes one, with the
 * analytic's full reference and response. Completes `draft` in place (callers
 * pass a fresh object) to keep per-finding allocation low.
 */
export function completeFinding(env: AnalyticEnv<unknown>, event: OutflowEvent | undefined, draft: FindingDraft): Finding {
  const f = draft as Finding;
  f.detection = env.detection;
  if (f.severity === undefined) f.severity = env.severity;
  if (f.time === undefined) f.time = event?.time ?? 0;
  if (f.evidence === undefined) f.evidence = event ? [eventRef(event)] : [];
  if (f.workload === undefined && event?.workload) f.workload = event.workload;
  if (f.response === undefined) f.response = env.response;
  return f;
}

/** Register a bounded structure's size once per connection. */
export function registerStates(ctx: DetectionContext, states: Record<string, { readonly size: number }>): void {
  for (const [name, state] of Object.entries(states)) ctx.registerState(name, state);
}

/** Interactive shells (for exec severity). */
export const SHELL_PROGRAMS: ReadonlySet<string> = new Set(['sh', 'bash', 'ash', 'dash', 'zsh', 'ksh', 'mksh', 'fish', 'csh', 'tcsh', 'busybox']);
