import { readFile } from 'node:fs/promises';
import type {
  CheckpointHandle,
  Clock,
  ComponentMetrics,
  K8sAuditEvent,
  Logger,
  NetworkFlowEvent,
  OutflowEvent,
  Processor,
  WorkloadIdentity,
} from '@outflow/core';
import { asArray, isObject } from '../util/json.js';
import { expectNumber, expectObject, stateVersion } from './checkpoint.js';
import { PodWatcher } from './kubernetes-watch.js';
import { podFromInventoryEntry, podFromObject } from './pods.js';
import { type PodRecord, restoreWorkloadIndex, snapshotWorkloadIndex, WorkloadIndex, type WorkloadIndexOptions } from './workload-index.js';

/**
 * Where workload identities are looked up: the live index (Kubernetes watch
 * and audit-stream pod events; key cap and TTL) first, then the static
 * inventory (the file's entries, kept for the pipeline's lifetime).
 */
export class Workloads {
  readonly live: WorkloadIndex;
  readonly inventory: WorkloadIndex;

  constructor(options: WorkloadIndexOptions = {}) {
    this.live = new WorkloadIndex(options);
    // The inventory is as large as its file and does not go stale: no practical TTL.
    this.inventory = new WorkloadIndex({ ...options, ttlMs: Number.MAX_SAFE_INTEGER });
  }

  /** The workload holding `address` at event time `time`. */
  byIp(address: string, time: number): Readonly<WorkloadIdentity> | undefined {
    // An empty index is not asked (no watch or audit stream, or no inventory): half the lookups for external addresses.
    return (
      (this.live.ips.size > 0 ? this.live.lookupIp(address, time) : undefined) ??
      (this.inventory.ips.size > 0 ? this.inventory.lookupIp(address, time) : undefined)
    );
  }

  byContainer(id: string, time: number): Readonly<WorkloadIdentity> | undefined {
    return this.live.lookupContainer(id, time) ?? this.inventory.lookupContainer(id, time);
  }

  byPod(cluster: string | undefined, namespace: string, name: string, time: number): Readonly<WorkloadIdentity> | undefined {
    return this.live.lookupPod(cluster, namespace, name, time) ?? this.inventory.lookupPod(cluster, namespace, name, time);
  }
}

/** Pods in an inventory document: Outflow's `{ pods: [...] }`, a `kubectl get pods -o json` PodList, or an array of either entry shape. */
export function podsFromInventory(doc: unknown, cluster: string | undefined): { pods: PodRecord[]; invalid: number } {
  const entries = Array.isArray(doc) ? doc : isObject(doc) ? asArray(doc.pods ?? doc.items) : [];
  const pods: PodRecord[] = [];
  let invalid = 0;
  for (const e of entries) {
    const pod = isObject(e) && isObject(e.metadata) ? podFromObject(e, cluster, Number.NEGATIVE_INFINITY) : podFromInventoryEntry(e, cluster);
    if (pod) pods.push(pod);
    else invalid++;
  }
  return { pods, invalid };
}

/** Read an inventory file (JSON). Throws on an unreadable or non-JSON file: a configuration error at start. */
export async function loadInventory(path: string, cluster: string | undefined): Promise<{ pods: PodRecord[]; invalid: number }> {
  const text = await readFile(path, 'utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`inventory ${path}: not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!Array.isArray(doc) && !(isObject(doc) && (Array.isArray(doc.pods) || Array.isArray(doc.items))))
    throw new Error(`inventory ${path}: expected { "pods": [...] }, a PodList ({ "items": [...] }) or an array of pods`);
  return podsFromInventory(doc, cluster);
}

export interface WorkloadIdentityOptions {
  cluster?: string | undefined;
  inventory?: string | undefined;
  kubernetes?: { watch: boolean; kubeconfig?: string | undefined; context?: string | undefined; resyncMs?: number; startTimeoutMs?: number };
  /** Learn pods from `create`/`update`/`patch`/`delete` of pods in the audit stream. Default true. */
  learnFromAudit?: boolean;
  index?: WorkloadIndexOptions;
  logger: Logger;
  metrics: ComponentMetrics;
  clock: Clock;
}

const EXPIRE_EVERY = 4096;
const LEARN_VERBS = new Set(['create', 'update', 'patch', 'delete']);

/**
 * Processor: fills workload identities.
 *
 * - network flows: `src.workload` and `dst.workload` from the pod holding each
 *   address at the flow's event time, and the event's `workload` from the
 *   local end (the source for egress and internal flows, the destination for
 *   ingress);
 * - process, file and runtime events: the container's pod, workload and image
 *   from the container id;
 * - Kubernetes audit events: pods created, updated and deleted (with a
 *   `responseObject`) are learned; the target pod's identity is completed, and
 *   a caller that is a pod is named in `k8s.audit.actor.*` attributes;
 * - cloud API calls from a pod address (VPC endpoints): the pod.
 *
 * Fields the event already has are kept; only missing ones are filled. An
 * identity a source set without the cluster (Tetragon's) is completed from
 * the same pod in the index, and its cluster from the configuration.
 *
 * Checkpointed (`checkpoint`): the live index — pods learned from the audit
 * stream and the watch, with the time each held its addresses, so that a
 * restarted pipeline still attributes flows to pods it learned before (and
 * to pods deleted while it was down). Versioned by the cluster name, the TTL
 * and the versions kept per key. The inventory file is configuration, read
 * again at start: not checkpointed.
 */
export class WorkloadIdentityProcessor implements Processor {
  readonly name = 'workload_identity';
  readonly workloads: Workloads;
  readonly checkpoint: CheckpointHandle;
  private watcher: PodWatcher | undefined;
  private counter = 0;

  constructor(
    private readonly options: WorkloadIdentityOptions,
    workloads?: Workloads,
  ) {
    this.workloads = workloads ?? new Workloads(options.index);
    const live = this.workloads.live;
    this.checkpoint = {
      version: stateVersion('workload_identity.live/1', {
        cluster: options.cluster ?? null,
        ttlMs: live.options.ttlMs,
        maxVersions: live.options.maxVersions,
        learnFromAudit: options.learnFromAudit !== false,
      }),
      snapshot: () => ({ counter: this.counter, index: snapshotWorkloadIndex(live) }),
      restore: (state) => {
        const s = expectObject(state, 'workload identity state');
        const counter = expectNumber(s.counter, 'counter');
        restoreWorkloadIndex(live, s.index);
        this.counter = counter;
      },
    };
  }

  async start(): Promise<void> {
    const { options } = this;
    if (options.inventory) {
      const { pods, invalid } = await loadInventory(options.inventory, options.cluster);
      for (const pod of pods) this.workloads.inventory.upsert(pod, 'inventory');
      if (invalid > 0) {
        options.metrics.add('dropped', invalid, 'invalid_inventory_entry');
        options.logger.warn('inventory entries skipped: each needs a namespace and a name (and validTo after validFrom)', {
          path: options.inventory,
          skipped: invalid,
        });
      }
    }
    if (options.kubernetes?.watch) {
      this.watcher = new PodWatcher({
        kubeconfig: options.kubernetes.kubeconfig,
        context: options.kubernetes.context,
        cluster: options.cluster,
        ...(options.kubernetes.resyncMs !== undefined ? { resyncMs: options.kubernetes.resyncMs } : {}),
        maxPods: this.workloads.live.options.maxKeys,
        onUpsert: (pod) => this.workloads.live.upsert(pod, 'kubernetes'),
        onDelete: (pod, at) => this.workloads.live.remove(pod, at),
        logger: options.logger,
        metrics: options.metrics,
        clock: options.clock,
      });
      await this.watcher.start(options.kubernetes.startTimeoutMs ?? 10_000);
    }
  }

  async shutdown(): Promise<void> {
    await this.watcher?.stop();
  }

  /** The Kubernetes watcher, when enabled (for diagnostics). */
  get podWatcher(): PodWatcher | undefined {
    return this.watcher;
  }

  process(event: OutflowEvent): OutflowEvent {
    const live = this.workloads.live;
    live.observe(event.time);
    if (++this.counter >= EXPIRE_EVERY) {
      this.counter = 0;
      live.expire();
    }
    switch (event.kind) {
      case 'network_flow':
        this.fillFlow(event);
        break;
      case 'process_exec':
      case 'file_access':
      case 'runtime_alert': {
        const w = event.workload;
        const id = w?.containerId;
        const found = id ? this.workloads.byContainer(id, event.time) : undefined;
        if (found) event.workload = merge(w, found);
        else if (w) event.workload = this.completed(w, event.time);
        break;
      }
      case 'k8s_audit':
        this.audit(event);
        break;
      case 'cloud_api_call': {
        const ip = event.sourceIp;
        if (ip && ip.charCodeAt(0) <= 57) {
          const found = this.workloads.byIp(ip, event.time);
          if (found) event.workload = merge(event.workload, found);
        }
        break;
      }
    }
    return event;
  }

  private fillFlow(event: NetworkFlowEvent): void {
    const t = event.time;
    const givenSrc = event.src.workload;
    const givenDst = event.dst.workload;
    const given = event.workload;
    // An end the source named (Tetragon, Hubble) is kept, completed where it lacks the cluster; the others are looked up.
    const src = givenSrc ? this.completed(givenSrc, t, event.src.address) : this.workloads.byIp(event.src.address, t);
    const dst = givenDst ? this.completed(givenDst, t, event.dst.address) : this.workloads.byIp(event.dst.address, t);
    if (src) event.src.workload = src;
    if (dst) event.dst.workload = dst;
    if (!given) {
      const local = event.direction === 'ingress' ? (dst ?? src) : (src ?? dst);
      if (local) event.workload = local;
    } else if (given === givenSrc) event.workload = src;
    else if (given === givenDst) event.workload = dst;
    else event.workload = this.completed(given, t, event.direction === 'ingress' ? event.dst.address : event.src.address);
  }

  /**
   * A workload identity a source set, completed when it lacks the cluster
   * (Tetragon names the pod but not the cluster): the fields it lacks are
   * filled from the same pod in the index (by pod name, by container id, or
   * by the address when the pod there has the name the source gave), and the
   * cluster, failing that, from the configuration. Fields the source set are
   * never overwritten. An identity with a cluster is returned as it is.
   */
  private completed(w: WorkloadIdentity, time: number, address?: string): WorkloadIdentity {
    if (w.cluster !== undefined) return w;
    const cluster = this.options.cluster;
    let found: Readonly<WorkloadIdentity> | undefined;
    if (w.pod && w.namespace) found = this.workloads.byPod(cluster, w.namespace, w.pod, time);
    if (!found && w.containerId) found = this.workloads.byContainer(w.containerId, time);
    if (!found && w.pod && address) {
      const there = this.workloads.byIp(address, time);
      if (there?.pod === w.pod && (w.namespace === undefined || there.namespace === w.namespace)) found = there;
    }
    const out = found ? merge(w, found) : w;
    if (out.cluster !== undefined || cluster === undefined) return out;
    return { ...stripUndefined(out), cluster };
  }

  private audit(event: K8sAuditEvent): void {
    const ref = event.objectRef;
    const cluster = event.workload?.cluster ?? (event.attributes?.['k8s.cluster.name'] as string | undefined) ?? this.options.cluster;
    if (
      this.options.learnFromAudit !== false &&
      ref?.resource === 'pods' &&
      (ref.subresource === undefined || ref.subresource === 'status') &&
      LEARN_VERBS.has(event.verb) &&
      event.decision !== 'forbid' &&
      (event.responseCode === undefined || event.responseCode < 300)
    ) {
      const pod = podFromObject(event.responseObject, cluster, event.time);
      if (pod) {
        if (event.verb === 'delete') {
          const grace = Number((event.responseObject as { metadata?: { deletionGracePeriodSeconds?: unknown } }).metadata?.deletionGracePeriodSeconds);
          this.workloads.live.remove(pod, event.time + (Number.isFinite(grace) && grace > 0 ? grace * 1000 : 0));
        } else {
          this.workloads.live.upsert(pod, 'audit');
        }
      }
    }
    // The target pod (exec, attach, get ...): complete its identity.
    const w = event.workload;
    if (w?.pod && w.namespace) {
      const found = this.workloads.byPod(cluster, w.namespace, w.pod, event.time);
      if (found) event.workload = merge(w, found);
    }
    // A caller that is a pod.
    const caller = event.sourceIps[0];
    if (caller && !event.attributes?.['k8s.audit.actor.pod.name']) {
      const actor = this.workloads.byIp(caller, event.time);
      if (actor?.pod) {
        const attrs = (event.attributes ??= {});
        attrs['k8s.audit.actor.pod.name'] = actor.pod;
        if (actor.namespace) attrs['k8s.audit.actor.namespace.name'] = actor.namespace;
        if (actor.workloadName) attrs['k8s.audit.actor.workload.name'] = actor.workloadName;
        if (actor.image) attrs['k8s.audit.actor.container.image.name'] = actor.image;
      }
    }
  }
}

/** Fill the fields `base` lacks from `found`. Returns `found` itself when there is nothing to keep from `base`. */
export function merge(base: WorkloadIdentity | undefined, found: Readonly<WorkloadIdentity>): WorkloadIdentity {
  if (!base) return found as WorkloadIdentity;
  let extra = false;
  for (const k in base) {
    const v = base[k as keyof WorkloadIdentity];
    if (v !== undefined && found[k as keyof WorkloadIdentity] !== v) {
      extra = true;
      break;
    }
  }
  if (!extra) return found as WorkloadIdentity;
  return { ...found, ...stripUndefined(base) };
}

function stripUndefined(w: WorkloadIdentity): WorkloadIdentity {
  const out: WorkloadIdentity = {};
  for (const [k, v] of Object.entries(w)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
