import type { AttributeValue, FlowEndpoint, NetworkFlowEvent, WorkloadIdentity } from '@outflow/core';
import { filter, merge, type Observable, Subject, tap } from 'rxjs';
import { isSelfTraffic } from '../../enrich/destination-class.js';
import { parseAddress } from '../../util/ip.js';

/**
 * Shared by the network analytics (14–16) and the correlation (17): a stable
 * workload id across sources, and the bytes a flow carries out of its local
 * workload.
 */

const RS_HASH = /^(.+)-[a-z0-9]{5,10}$/;
const JOB_SUFFIX = /^(.+)-\d{8,}$/;

/**
 * The workload's name with controller noise removed: a ReplicaSet
 * `api-5d9c7b8f4` (a Deployment's pod-template hash) is `api`, a Job
 * `etl-28512345` (a CronJob's scheduled run) is `etl`; a bare pod is its pod
 * name; a container without a pod is `container:<first 12 hex of its id>`.
 */
export function workloadBaseName(w: WorkloadIdentity): string | undefined {
  let name = w.workloadName;
  if (name) {
    if (w.workloadKind === 'ReplicaSet') {
      const m = RS_HASH.exec(name);
      if (m && (w.pod === undefined || w.pod.startsWith(`${name}-`))) name = m[1] as string;
    } else if (w.workloadKind === 'Job') {
      const m = JOB_SUFFIX.exec(name);
      if (m) name = m[1] as string;
    }
    return name;
  }
  if (w.pod) return w.pod;
  if (w.containerId) {
    const id = w.containerId.includes('://') ? w.containerId.slice(w.containerId.indexOf('://') + 3) : w.containerId;
    return `container:${id.slice(0, 12)}`;
  }
  return undefined;
}

/**
 * A workload id that is the same whichever source named the workload:
 * `cluster/namespace/name`, with the cluster defaulted from the preset config
 * and the controller kind left out (sensors disagree on it: Tetragon names the
 * Deployment, an audit-learned pod its ReplicaSet; a CronJob's pod is a Job to
 * one and a CronJob to the other). Undefined when the identity names no
 * workload, pod or container (a cloud account alone).
 */
export function workloadId(w: WorkloadIdentity | undefined, defaultCluster?: string): string | undefined {
  if (!w) return undefined;
  const name = workloadBaseName(w);
  if (name === undefined) return undefined;
  return `${w.cluster ?? defaultCluster ?? ''}/${w.namespace ?? ''}/${name}`;
}

/**
 * `workloadId` with a cache per identity object: enrichers hand out shared,
 * frozen identities, so the id of a pod's identity is computed once.
 */
export function workloadIdCache(defaultCluster?: string): (w: WorkloadIdentity | undefined) => string | undefined {
  const cache = new WeakMap<WorkloadIdentity, string | null>();
  return (w) => {
    if (!w) return undefined;
    let id = cache.get(w);
    if (id === undefined) {
      id = workloadId(w, defaultCluster) ?? null;
      cache.set(w, id);
    }
    return id ?? undefined;
  };
}

/** `namespace/name` for humans (the cluster is in the finding's workload). */
export function workloadLabel(id: string): string {
  const first = id.indexOf('/');
  return first >= 0 ? id.slice(first + 1) : id;
}

/** What a flow carries out of its local workload. */
export interface EgressView {
  /** The workload whose data leaves. */
  local: WorkloadIdentity;
  /** The other end. */
  remote: FlowEndpoint;
  /** Destination class of the remote end (`destination.class`, or `source.class` for ingress records). */
  remoteClass: string;
  /** Cloud service of the remote end (`destination.cloud.service`), when known. */
  service: string | undefined;
  /** Bytes sent by the local workload in this record (0 when the record counts the other direction). */
  bytes: number;
  /**
   * Whether the local workload opened the connection: true for sensors that
   * orient flows initiator → responder (Tetragon), false for reply traffic of
   * a connection the workload accepted, undefined when unknown.
   */
  initiated: boolean | undefined;
}

/** Sources whose flows are oriented initiator → responder. */
const ORIENTED_SOURCES: ReadonlySet<string> = new Set(['tetragon', 'hubble']);
const EPHEMERAL = 32_768;

/**
 * The local workload of a flow and the bytes it sent, direction-aware so that
 * the two records of one conversation are never both counted:
 *
 * - egress, internal and unknown-direction records: the local end is the
 *   source (its `src.workload`, or the event's workload when the flow names no
 *   endpoint workload), and the bytes are `bytes` (source → destination);
 * - ingress records (accepted connections): the local end is the destination,
 *   and the bytes it sent are `reverseBytes` — 0 for formats with one record per
 *   direction (VPC flow logs), whose egress record of the same conversation
 *   counts them.
 *
 * Undefined for the pipeline's own traffic and flows with no local workload.
 */
export function egressView(e: NetworkFlowEvent): EgressView | undefined {
  const out = newEgressView();
  return egressViewInto(e, out) ? out : undefined;
}

/** An EgressView to fill with `egressViewInto` (reuse one per analytic on the hot path). */
export function newEgressView(): EgressView {
  return { local: NO_WORKLOAD, remote: NO_ENDPOINT, remoteClass: 'unknown', service: undefined, bytes: 0, initiated: undefined };
}

const NO_WORKLOAD: WorkloadIdentity = Object.freeze({});
const NO_ENDPOINT: FlowEndpoint = Object.freeze({ address: '' });

/**
 * `egressView` without allocating: fills `out` and returns true, or returns
 * false (leaving `out` unspecified) where `egressView` returns undefined.
 */
export function egressViewInto(e: NetworkFlowEvent, out: EgressView): boolean {
  if (isSelfTraffic(e)) return false;
  const a = e.attributes;
  if (e.direction === 'ingress') {
    const local = e.dst.workload ?? (e.src.workload ? undefined : e.workload);
    if (!local) return false;
    out.local = local;
    out.remote = e.src;
    out.remoteClass = stringAttr(a?.['source.class']) ?? 'unknown';
    out.service = undefined;
    out.bytes = e.reverseBytes !== undefined && e.reverseBytes > 0 && Number.isFinite(e.reverseBytes) ? e.reverseBytes : 0;
    out.initiated = ORIENTED_SOURCES.has(e.source) ? false : undefined;
    return true;
  }
  const local = e.src.workload ?? (e.dst.workload ? undefined : e.workload);
  if (!local) return false;
  let initiated: boolean | undefined;
  if (ORIENTED_SOURCES.has(e.source)) initiated = true;
  else if (e.src.port !== undefined && e.dst.port !== undefined) {
    // The lower, non-ephemeral port is the server's: a record from it to an ephemeral port is reply traffic.
    if (e.src.port < e.dst.port && e.dst.port >= EPHEMERAL && e.src.port < EPHEMERAL) initiated = false;
    else if (e.dst.port < e.src.port) initiated = true;
  }
  out.local = local;
  out.remote = e.dst;
  out.remoteClass = stringAttr(a?.['destination.class']) ?? 'unknown';
  out.service = stringAttr(a?.['destination.cloud.service']);
  out.bytes = e.bytes !== undefined && e.bytes > 0 && Number.isFinite(e.bytes) ? e.bytes : 0;
  out.initiated = initiated;
  return true;
}

function stringAttr(v: AttributeValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Where data goes, for the egress baselines: the destination classes that leave the organisation's control. */
export type EgressGroup = 'external' | 'cloud_storage' | 'cloud' | 'unknown';

export const EGRESS_GROUPS: readonly EgressGroup[] = ['external', 'cloud_storage', 'cloud', 'unknown'];

/**
 * The egress group of a destination class, or undefined for classes that stay
 * inside (loopback, pod, service, own, private, allowed, self, metadata, ...).
 * `cloud` ranges whose service is a storage service (`S3`) are `cloud_storage`.
 */
export function egressGroup(remoteClass: string, service: string | undefined, storageServices: ReadonlySet<string>): EgressGroup | undefined {
  switch (remoteClass) {
    case 'external':
      return 'external';
    case 'unknown':
      return 'unknown';
    case 'cloud':
      return service !== undefined && storageServices.has(service) ? 'cloud_storage' : 'cloud';
    default:
      return undefined;
  }
}

/** Canonical text of an address, optionally reduced to its prefix (`203.0.113.0/24`) for destinations that rotate addresses. */
export function destinationKey(address: string, prefixV4 = 32, prefixV6 = 128): string | undefined {
  const a = parseAddress(address);
  if (!a) return undefined;
  if (a.family === 4) {
    if (prefixV4 >= 32) return ipv4Text(a.value);
    const mask = prefixV4 <= 0 ? 0 : (0xffffffff << (32 - prefixV4)) >>> 0;
    return `${ipv4Text((a.value & mask) >>> 0)}/${prefixV4}`;
  }
  const words = Array.from(a.words);
  if (prefixV6 < 128) {
    let bits = prefixV6;
    for (let i = 0; i < words.length; i++) {
      const keep = Math.max(0, Math.min(32, bits));
      words[i] = keep === 0 ? 0 : keep === 32 ? (words[i] as number) : ((words[i] as number) & ((0xffffffff << (32 - keep)) >>> 0)) >>> 0;
      bits -= 32;
    }
  }
  const groups: string[] = [];
  for (const w of words) groups.push(((w >>> 16) & 0xffff).toString(16), (w & 0xffff).toString(16));
  const text = groups.join(':');
  return prefixV6 < 128 ? `${text}/${prefixV6}` : text;
}

function ipv4Text(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Bytes for humans, decimal units: `950 B`, `52.1 kB`, `1.50 GB`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  const units: [number, string][] = [
    [1e12, 'TB'],
    [1e9, 'GB'],
    [1e6, 'MB'],
    [1e3, 'kB'],
  ];
  for (const [scale, unit] of units) if (a >= scale) return `${(n / scale).toPrecision(3)} ${unit}`;
  return `${Math.round(n)} B`;
}

/** A duration for humans: `45 s`, `5 min`, `2.5 h`, `3 d`. */
export function formatSpan(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const a = Math.abs(ms);
  const trim = (x: number) => String(Number(x.toPrecision(3)));
  if (a < 120_000) return `${trim(ms / 1000)} s`;
  if (a < 7_200_000) return `${trim(ms / 60_000)} min`;
  if (a < 172_800_000) return `${trim(ms / 3_600_000)} h`;
  return `${trim(ms / 86_400_000)} d`;
}

/** `HH:MM` UTC of an epoch ms, for summaries. */
export function clockTime(t: number): string {
  return new Date(t).toISOString().slice(11, 16);
}

/**
 * The pipeline's watermark made safe for windows over a finite input: a
 * watermark of `+Infinity` says every receiver has completed, but their queued
 * batches may still be on their way through the pipeline (a replayed file, a
 * test fixture), so it is held back; `+Infinity` is given only when this
 * detection's own input completes, just before the completion itself, so that
 * every open window fires with everything it was going to get.
 *
 * Returns the input to subscribe (instead of `events$`) and the watermark to
 * give the windows. Subscribe the returned input exactly once.
 */
export function drainAwareWatermark<E>(events$: Observable<E>, watermark$: Observable<number>): { events$: Observable<E>; watermark$: Observable<number> } {
  const end = new Subject<number>();
  return {
    events$: events$.pipe(
      tap({
        complete: () => {
          end.next(Number.POSITIVE_INFINITY);
          end.complete();
        },
      }),
    ),
    watermark$: merge(watermark$.pipe(filter((wm) => wm !== Number.POSITIVE_INFINITY)), end),
  };
}
