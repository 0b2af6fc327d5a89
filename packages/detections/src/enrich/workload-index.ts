import { KeyedState, type WorkloadIdentity } from '@outflow/core';
import { parseAddress } from '../util/ip.js';
import { CheckpointFormatError, decodeTime, encodeTime, expectArray, expectNumber, expectObject, expectString, type KeyedEntry } from './checkpoint.js';

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

const SOURCES: readonly WorkloadSource[] = ['inventory', 'kubernetes', 'audit', 'manual'];

/** The string fields of a WorkloadIdentity (every field but `labels`). */
const IDENTITY_FIELDS = [
  'cluster',
  'namespace',
  'workloadKind',
  'workloadName',
  'pod',
  'podUid',
  'container',
  'containerId',
  'image',
  'imageDigest',
  'node',
  'account',
] as const satisfies readonly Exclude<keyof WorkloadIdentity, 'labels'>[];
const IDENTITY_STRINGS: ReadonlySet<string> = new Set(IDENTITY_FIELDS);

/** A version in a checkpoint: `[identity index, validFrom, validTo, holder, source]` (infinite times as null). */
type EncodedVersion = [number, number | null, number | null, string, WorkloadSource];

/** A key of one of the three indexes in a checkpoint: `[key, last touched, versions]`. */
type EncodedKey = [string, number, EncodedVersion[]];

/** An identity in a checkpoint: its fields, with `labels` an index into the label sets. */
type EncodedIdentity = Omit<WorkloadIdentity, 'labels'> & { labels?: number };

/**
 * A WorkloadIndex as plain data, compact: each identity once (the versions of
 * a pod's IP and name share one), each distinct label set once (a pod's
 * containers and the replicas of a workload share theirs), keys as tuples.
 */
export interface WorkloadIndexSnapshot {
  clock: number | null;
  labels: Record<string, string>[];
  identities: EncodedIdentity[];
  ips: EncodedKey[];
  containers: EncodedKey[];
  pods: EncodedKey[];
}

/** Write a WorkloadIndex as plain data. */
export function snapshotWorkloadIndex(index: WorkloadIndex): WorkloadIndexSnapshot {
  const ids = new Map<Readonly<WorkloadIdentity>, number>();
  const identities: EncodedIdentity[] = [];
  const labelSets: Record<string, string>[] = [];
  const labelsByObject = new Map<object, number>();
  const labelsByText = new Map<string, number>();
  const labelsIndex = (labels: Readonly<Record<string, string>>): number => {
    let i = labelsByObject.get(labels);
    if (i !== undefined) return i;
    const text = JSON.stringify(labels);
    i = labelsByText.get(text);
    if (i === undefined) {
      i = labelSets.length;
      labelSets.push(labels as Record<string, string>);
      labelsByText.set(text, i);
    }
    labelsByObject.set(labels, i);
    return i;
  };
  const identityIndex = (identity: Readonly<WorkloadIdentity>): number => {
    let i = ids.get(identity);
    if (i !== undefined) return i;
    i = identities.length;
    ids.set(identity, i);
    // Field by field (object rest on frozen objects is a slow path).
    const out: Record<string, string | number> = {};
    for (const k of IDENTITY_FIELDS) {
      const value = identity[k];
      if (value !== undefined) out[k] = value;
    }
    if (identity.labels) out.labels = labelsIndex(identity.labels);
    identities.push(out as EncodedIdentity);
    return i;
  };
  const encode = (v: VersionedIndex): EncodedKey[] => {
    const out: EncodedKey[] = [];
    for (const [key, list, touched] of v.state.entries()) {
      out.push([key, touched, list.map((ver) => [identityIndex(ver.identity), encodeTime(ver.validFrom), encodeTime(ver.validTo), ver.holder, ver.source])]);
    }
    return out;
  };
  const ips = encode(index.ips);
  const containers = encode(index.containers);
  const pods = encode(index.pods);
  return { clock: encodeTime(index.now), labels: labelSets, identities, ips, containers, pods };
}

/** Check a parsed identity and freeze it, as the enrichers' identities are. */
function decodeIdentity(raw: unknown, i: number, labelSets: readonly Readonly<Record<string, string>>[]): Readonly<WorkloadIdentity> {
  const v = expectObject(raw, `identity ${i}`);
  let labels: Readonly<Record<string, string>> | undefined;
  for (const k in v) {
    const value = v[k];
    if (k === 'labels') {
      labels = labelSets[value as number];
      if (typeof value !== 'number' || !labels) throw new CheckpointFormatError(`identity ${i} names no label set`);
    } else if (!IDENTITY_STRINGS.has(k)) {
      throw new CheckpointFormatError(`identity ${i} has an unknown field ${k}`);
    } else if (typeof value !== 'string') {
      throw new CheckpointFormatError(`identity ${i}.${k} is not a string`);
    }
  }
  return Object.freeze(labels ? ({ ...v, labels } as WorkloadIdentity) : (v as WorkloadIdentity));
}

function decodeLabels(raw: unknown, i: number): Readonly<Record<string, string>> {
  const labels = expectObject(raw, `label set ${i}`);
  for (const k in labels) if (typeof labels[k] !== 'string') throw new CheckpointFormatError(`label set ${i}: ${k} is not a string`);
  return Object.freeze(labels as Record<string, string>);
}

/**
 * Replace a WorkloadIndex's contents with a snapshot (its key cap still
 * applies). Reads everything before changing anything: throws on an
 * unreadable snapshot and leaves the index as it was. Takes over the objects
 * of `state` (label sets and identities without labels are frozen in place).
 */
export function restoreWorkloadIndex(index: WorkloadIndex, state: unknown): void {
  const s = expectObject(state, 'workload index');
  const labelSets = expectArray(s.labels, 'labels').map(decodeLabels);
  const identities = expectArray(s.identities, 'identities').map((raw, i) => decodeIdentity(raw, i, labelSets));
  const decodeKeys = (raw: unknown, what: string): KeyedEntry<WorkloadVersion[]>[] =>
    expectArray(raw, what).map((item, k) => {
      const e = expectArray(item, `${what}[${k}]`);
      const key = expectString(e[0], `${what}[${k}] key`);
      const value = expectArray(e[2], `versions of ${key}`).map((entry, j): WorkloadVersion => {
        const v = expectArray(entry, `versions of ${key}[${j}]`);
        const identity = identities[v[0] as number];
        if (typeof v[0] !== 'number' || !identity) throw new CheckpointFormatError(`versions of ${key}[${j}] names no identity`);
        const source = v[4] as WorkloadSource;
        if (!SOURCES.includes(source)) throw new CheckpointFormatError(`versions of ${key}[${j}] has an unknown source`);
        return {
          identity,
          validFrom: decodeTime(v[1], Number.NEGATIVE_INFINITY, `versions of ${key}[${j}] validFrom`),
          validTo: decodeTime(v[2], Number.POSITIVE_INFINITY, `versions of ${key}[${j}] validTo`),
          holder: expectString(v[3], `versions of ${key}[${j}] holder`),
          source,
        };
      });
      return { key, touched: expectNumber(e[1], `${what}[${k}] touched`), value };
    });
  const ips = decodeKeys(s.ips, 'ips');
  const containers = decodeKeys(s.containers, 'containers');
  const pods = decodeKeys(s.pods, 'pods');
  const clock = decodeTime(s.clock, Number.NEGATIVE_INFINITY, 'clock');
  index.ips.state.restore(ips);
  index.containers.state.restore(containers);
  index.pods.state.restore(pods);
  index.observe(clock);
}
