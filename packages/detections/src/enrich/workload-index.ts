import { KeyedState, type WorkloadIdentity } from '@outflow/core';
import { parseAddress } from '../util/ip.js';

/** Where a workload entry came from. */
export type WorkloadSource = 'inventory' | 'kubernetes' | 'audit' | 'manual';

/**
 * One time-versioned attribution: `identity` held the key (an IP, a container,
 * a pod name) from `validFrom` (inclusive) to `validTo` (exclusive), event time.
 */
export interface WorkloadVersion {
  identity: Readonly<WorkloadIdentity>;
  validFrom: number;
  validTo: number;
  /** The holder: pod uid when known, else `cluster/namespace/name`. Versions of the same holder merge. */
  holder: string;
  source: WorkloadSource;
}

/** A pod as the enrichers need it, from an inventory file, the Kubernetes API or an audit event. */
export interface PodRecord {
  /** `cluster/namespace/name` */
  key: string;
  uid?: string;
  /** Pod-level identity (no container fields unless the pod has exactly one container). */
  identity: Readonly<WorkloadIdentity>;
  /** Pod IPs (empty for host-network pods, whose IP is the node's). */
  ips: string[];
  containers: { name: string; id?: string; image?: string; imageDigest?: string }[];
  /** Event time from which the pod held its IPs (start time, else creation time). */
  validFrom: number;
  /** Event time at which it stopped (deletion, termination); `Infinity` while it runs. */
  validTo: number;
}

export interface WorkloadIndexOptions {
  /** Most keys per index (IPs, containers, pods). Default 100 000. */
  maxKeys?: number;
  /** A key neither updated nor looked up for this long (event time) is forgotten. Default 24 h. */
  ttlMs?: number;
  /** Versions kept per key (the newest). Default 8. */
  maxVersions?: number;
}

/** Canonical key for an address: dotted IPv4 as is, IPv6 in one normal form. */
export function addressKey(address: string): string {
  if (!address.includes(':')) return address;
  const a = parseAddress(address);
  if (!a) return address;
  if (a.family === 4) return `${a.value >>> 24}.${(a.value >>> 16) & 255}.${(a.value >>> 8) & 255}.${a.value & 255}`;
  return Array.from(a.words, (w) => w.toString(16)).join(':');
}

/** Canonical key for a container id: without the runtime scheme, lower case, the first 12 hex digits (the short id every tool prints). */
export function containerKey(id: string): string {
  const scheme = id.indexOf('://');
  const bare = scheme >= 0 ? id.slice(scheme + 3) : id;
  return bare.slice(0, 12).toLowerCase();
}

/**
 * Versions per key with a key cap and a TTL (KeyedState). A new holder of a
 * key closes the previous holder's version at its own start, so a reused IP
 * is never attributed to the pod that held it before.
 */
export class VersionedIndex {
  readonly state: KeyedState<string, WorkloadVersion[]>;

  constructor(
    options: Required<WorkloadIndexOptions>,
    private readonly maxVersions = options.maxVersions,
  ) {
    this.state = new KeyedState<string, WorkloadVersion[]>({ maxKeys: options.maxKeys, ttlMs: options.ttlMs });
  }

  get size(): number {
    return this.state.size;
  }

  put(key: string, version: WorkloadVersion, touch: number): void {
    let list = this.state.get(key, touch);
    if (!list) {
      list = [];
      this.state.set(key, list, touch);
    }
    for (const v of list) {
      if (v.holder !== version.holder) continue;
      v.identity = version.identity;
      if (version.validFrom < v.validFrom) v.validFrom = version.validFrom;
      if (version.validTo < v.validTo) v.validTo = version.validTo;
      v.source = version.source;
      return;
    }
    const from = version.validFrom;
    for (const v of list) {
      if (v.validFrom < from && v.validTo > from) v.validTo = from; // the previous holder let go when this one started
      if (v.validFrom >= from && v.validFrom < version.validTo) version.validTo = v.validFrom; // a later holder is already known
    }
    let i = list.length;
    while (i > 0 && (list[i - 1] as WorkloadVersion).validFrom > from) i--;
    list.splice(i, 0, version);
    if (list.length > this.maxVersions) list.splice(0, list.length - this.maxVersions);
  }

  /** Close the holder's versions at `at`. */
  close(key: string, holder: string, at: number): void {
    const list = this.state.peek(key);
    if (!list) return;
    for (const v of list) if (v.holder === holder && at < v.validTo) v.validTo = Math.max(at, v.validFrom);
  }

  /** The identity holding `key` at event time `time`. */
  lookup(key: string, time: number, touch: number): Readonly<WorkloadIdentity> | undefined {
    const list = this.state.get(key, touch);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const v = list[i] as WorkloadVersion;
      if (v.validFrom <= time && time < v.validTo) return v.identity;
    }
    return undefined;
  }

  versions(key: string): readonly WorkloadVersion[] {
    return this.state.peek(key) ?? [];
  }
}

/**
 * The workload identity index: pod IPs, container ids and pod names, each
 * mapped to time-versioned identities. Look up by (key, event time).
 *
 * Bounded: every index is a KeyedState with a key cap and a TTL in event
 * time (touched on update and on lookup), and keeps at most `maxVersions`
 * versions per key.
 */
export class WorkloadIndex {
  readonly options: Required<WorkloadIndexOptions>;
  readonly ips: VersionedIndex;
  readonly containers: VersionedIndex;
  readonly pods: VersionedIndex;
  private clock = Number.NEGATIVE_INFINITY;

  constructor(options: WorkloadIndexOptions = {}) {
    this.options = { maxKeys: options.maxKeys ?? 100_000, ttlMs: options.ttlMs ?? 86_400_000, maxVersions: options.maxVersions ?? 8 };
    this.ips = new VersionedIndex(this.options);
    this.containers = new VersionedIndex(this.options);
    this.pods = new VersionedIndex(this.options);
  }

  /** Total keys held, over the three indexes. */
  get size(): number {
    return this.ips.size + this.containers.size + this.pods.size;
  }

  /** Latest event time seen (drives touches and the TTL). */
  get now(): number {
    return this.clock;
  }

  /** Advance the index's event-time clock. */
  observe(time: number): void {
    if (time > this.clock) this.clock = time;
  }

  private touchTime(fallback: number): number {
    return Number.isFinite(this.clock) ? this.clock : Number.isFinite(fallback) ? fallback : 0;
  }

  /** Add or update a pod (all its IPs, containers and its name). */
  upsert(pod: PodRecord, source: WorkloadSource): void {
    const holder = pod.uid ?? pod.key;
    const touch = this.touchTime(pod.validFrom);
    const version = (identity: Readonly<WorkloadIdentity>): WorkloadVersion => ({ identity, validFrom: pod.validFrom, validTo: pod.validTo, holder, source });
    for (const ip of pod.ips) this.ips.put(addressKey(ip), version(pod.identity), touch);
    for (const c of pod.containers) {
      if (!c.id) continue;
      const identity: WorkloadIdentity = { ...pod.identity, container: c.name, containerId: c.id.includes('://') ? c.id.slice(c.id.indexOf('://') + 3) : c.id };
      if (c.image) identity.image = c.image;
      if (c.imageDigest) identity.imageDigest = c.imageDigest;
      this.containers.put(containerKey(c.id), version(Object.freeze(identity)), touch);
    }
    this.pods.put(pod.key, version(pod.identity), touch);
  }

  /** The pod stopped at event time `at`: close its versions. */
  remove(pod: PodRecord, at: number): void {
    const holder = pod.uid ?? pod.key;
    for (const ip of pod.ips) this.ips.close(addressKey(ip), holder, at);
    for (const c of pod.containers) if (c.id) this.containers.close(containerKey(c.id), holder, at);
    this.pods.close(pod.key, holder, at);
  }

  /** Keep a live pod's keys from expiring (periodic resync of a watch). */
  touch(pod: PodRecord): void {
    const t = this.touchTime(pod.validFrom);
    for (const ip of pod.ips) this.ips.state.get(addressKey(ip), t);
    for (const c of pod.containers) if (c.id) this.containers.state.get(containerKey(c.id), t);
    this.pods.state.get(pod.key, t);
  }

  lookupIp(address: string, time: number): Readonly<WorkloadIdentity> | undefined {
    return this.ips.lookup(addressKey(address), time, this.touchTime(time));
  }

  lookupContainer(id: string, time: number): Readonly<WorkloadIdentity> | undefined {
    return this.containers.lookup(containerKey(id), time, this.touchTime(time));
  }

  lookupPod(cluster: string | undefined, namespace: string, name: string, time: number): Readonly<WorkloadIdentity> | undefined {
    return this.pods.lookup(`${cluster ?? ''}/${namespace}/${name}`, time, this.touchTime(time));
  }

  /** Forget keys untouched for `ttlMs` of event time. Returns how many expired. */
  expire(now = this.clock): number {
    if (!Number.isFinite(now)) return 0;
    return this.ips.state.expire(now) + this.containers.state.expire(now) + this.pods.state.expire(now);
  }
}
