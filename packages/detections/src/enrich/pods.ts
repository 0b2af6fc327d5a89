import type { WorkloadIdentity } from '@outflow/core';
import { asArray, isObject, type Json, path, str, toTime } from '../util/json.js';
import { digestOf } from './image-trust.js';
import type { PodRecord } from './workload-index.js';

/** Most pod labels copied into an identity. */
export const MAX_LABELS = 32;

/**
 * The workload that owns a pod, from its controller owner reference: a
 * ReplicaSet named `<deployment>-<pod-template-hash>` is reported as its
 * Deployment, a Job named `<cronjob>-<scheduled minute>` as its CronJob.
 */
export function ownerOf(metadata: Json): { kind: string; name: string } | undefined {
  const refs = asArray(metadata.ownerReferences).filter(isObject);
  const ref = refs.find((r) => r.controller === true) ?? refs[0];
  if (!ref) return undefined;
  const kind = str(ref.kind);
  const name = str(ref.name);
  if (!kind || !name) return undefined;
  const labels = isObject(metadata.labels) ? metadata.labels : {};
  if (kind === 'ReplicaSet') {
    const hash = str(labels['pod-template-hash']);
    if (hash && name.endsWith(`-${hash}`)) return { kind: 'Deployment', name: name.slice(0, -hash.length - 1) };
    return { kind, name };
  }
  if (kind === 'Job') {
    const m = /^(.+)-(\d{8,})$/.exec(name);
    if (m) return { kind: 'CronJob', name: m[1] as string };
    return { kind, name };
  }
  return { kind, name };
}

function labelsOf(value: unknown): Record<string, string> | undefined {
  if (!isObject(value)) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') continue;
    if (n++ >= MAX_LABELS) break;
    out[k] = v;
  }
  return n > 0 ? Object.freeze(out) : undefined;
}

function containerIdOf(value: unknown): string | undefined {
  const s = str(value);
  if (!s) return undefined;
  const scheme = s.indexOf('://');
  const bare = scheme >= 0 ? s.slice(scheme + 3) : s;
  return bare.length > 0 ? bare : undefined;
}

/**
 * Read a Kubernetes Pod object (from the API, a `kubectl get pods -o json`
 * list or an audit event's `responseObject`) into a PodRecord. Timestamps may
 * be strings or Date objects. `fallbackTime` stands in for a missing start
 * time. Returns undefined when the object is not a pod with a name.
 */
export function podFromObject(obj: unknown, cluster: string | undefined, fallbackTime: number): PodRecord | undefined {
  if (!isObject(obj) || !isObject(obj.metadata)) return undefined;
  if (obj.kind !== undefined && obj.kind !== 'Pod') return undefined;
  const md = obj.metadata;
  const name = str(md.name);
  if (!name) return undefined;
  const namespace = str(md.namespace) ?? 'default';
  const spec = isObject(obj.spec) ? obj.spec : {};
  const status = isObject(obj.status) ? obj.status : {};
  const uid = str(md.uid);
  const identity: WorkloadIdentity = { namespace, pod: name };
  if (cluster) identity.cluster = cluster;
  if (uid) identity.podUid = uid;
  const owner = ownerOf(md);
  if (owner) {
    identity.workloadKind = owner.kind;
    identity.workloadName = owner.name;
  }
  const node = str(spec.nodeName);
  if (node) identity.node = node;
  const labels = labelsOf(md.labels);
  if (labels) identity.labels = labels;

  // Containers: the spec gives names and images; the status adds ids and resolved digests.
  const containers: PodRecord['containers'] = [];
  const byName = new Map<string, PodRecord['containers'][number]>();
  for (const c of asArray(spec.containers)) {
    if (!isObject(c)) continue;
    const cname = str(c.name);
    if (!cname) continue;
    const entry: PodRecord['containers'][number] = { name: cname };
    const image = str(c.image);
    if (image) entry.image = image;
    containers.push(entry);
    byName.set(cname, entry);
  }
  for (const cs of [...asArray(status.containerStatuses), ...asArray(status.initContainerStatuses), ...asArray(status.ephemeralContainerStatuses)]) {
    if (!isObject(cs)) continue;
    const cname = str(cs.name);
    if (!cname) continue;
    let entry = byName.get(cname);
    if (!entry) {
      entry = { name: cname };
      containers.push(entry);
      byName.set(cname, entry);
    }
    const id = containerIdOf(cs.containerID);
    if (id) entry.id = id;
    const image = str(cs.image);
    if (image && !entry.image) entry.image = image;
    const digest = digestOf(str(cs.imageID));
    if (digest) entry.imageDigest = digest;
  }
  if (containers.length === 1) {
    const only = containers[0] as PodRecord['containers'][number];
    identity.container = only.name;
    if (only.image) identity.image = only.image;
    if (only.imageDigest) identity.imageDigest = only.imageDigest;
  }

  // IPs: none for host-network pods (their IP is the node's, shared by every host-network pod on it).
  const ips: string[] = [];
  if (spec.hostNetwork !== true) {
    for (const p of asArray(status.podIPs)) {
      const ip = isObject(p) ? str(p.ip) : undefined;
      if (ip && !ips.includes(ip)) ips.push(ip);
    }
    const single = str(status.podIP);
    if (single && !ips.includes(single)) ips.push(single);
  }

  const validFrom = toTime(status.startTime) ?? toTime(md.creationTimestamp) ?? fallbackTime;
  let validTo = Number.POSITIVE_INFINITY;
  const phase = str(status.phase);
  if (phase === 'Succeeded' || phase === 'Failed') {
    let finished = Number.NEGATIVE_INFINITY;
    for (const cs of asArray(status.containerStatuses)) {
      const t = toTime(path(cs, 'state', 'terminated', 'finishedAt'));
      if (t !== undefined && t > finished) finished = t;
    }
    validTo = Number.isFinite(finished) ? finished : fallbackTime;
  }
  const record: PodRecord = {
    key: `${cluster ?? ''}/${namespace}/${name}`,
    identity: Object.freeze(identity),
    ips,
    containers,
    validFrom,
    validTo: Math.max(validTo, validFrom),
  };
  if (uid) record.uid = uid;
  return record;
}

/**
 * An entry of Outflow's own inventory format:
 * `{ namespace, name, ips, containers: [{ name, id, image, imageDigest }], workloadKind, workloadName, labels, node, validFrom, validTo }`.
 */
export function podFromInventoryEntry(entry: unknown, defaultCluster: string | undefined): PodRecord | undefined {
  if (!isObject(entry)) return undefined;
  const name = str(entry.name) ?? str(entry.pod);
  const namespace = str(entry.namespace);
  if (!name || !namespace) return undefined;
  const cluster = str(entry.cluster) ?? defaultCluster;
  const identity: WorkloadIdentity = { namespace, pod: name };
  if (cluster) identity.cluster = cluster;
  const uid = str(entry.uid);
  if (uid) identity.podUid = uid;
  const kind = str(entry.workloadKind);
  const wname = str(entry.workloadName);
  if (wname) {
    identity.workloadName = wname;
    if (kind) identity.workloadKind = kind;
  }
  const node = str(entry.node);
  if (node) identity.node = node;
  const account = str(entry.account);
  if (account) identity.account = account;
  const labels = labelsOf(entry.labels);
  if (labels) identity.labels = labels;
  const containers: PodRecord['containers'] = [];
  for (const c of asArray(entry.containers)) {
    if (!isObject(c)) continue;
    const cname = str(c.name);
    if (!cname) continue;
    const out: PodRecord['containers'][number] = { name: cname };
    const id = containerIdOf(c.id);
    if (id) out.id = id;
    const image = str(c.image);
    if (image) out.image = image;
    const digest = digestOf(str(c.imageDigest));
    if (digest) out.imageDigest = digest;
    containers.push(out);
  }
  if (containers.length === 1) {
    const only = containers[0] as PodRecord['containers'][number];
    identity.container = only.name;
    if (only.image) identity.image = only.image;
    if (only.imageDigest) identity.imageDigest = only.imageDigest;
  }
  const ips = asArray(entry.ips ?? entry.ip)
    .map((v) => str(v))
    .filter((v): v is string => v !== undefined);
  const validFrom = toTime(entry.validFrom) ?? Number.NEGATIVE_INFINITY;
  const validTo = toTime(entry.validTo) ?? Number.POSITIVE_INFINITY;
  if (!(validTo > validFrom)) return undefined;
  const record: PodRecord = { key: `${cluster ?? ''}/${namespace}/${name}`, identity: Object.freeze(identity), ips, containers, validFrom, validTo };
  if (uid) record.uid = uid;
  return record;
}
