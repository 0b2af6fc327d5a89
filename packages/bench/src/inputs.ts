import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { auditRecord, DEFAULT_WORLD, type InventoryEntry, type Pod, podObject, presetConfigFor, Random, VPC_FLOW_FIELDS, vpcFlowLine } from '@outflow/testkit';

/**
 * Realistic inputs at scale for the end-to-end, memory, cores and latency
 * suites: a cluster of many workloads (an inventory in the preset's format),
 * VPC flow log text in the scenario generator's v5 layout with many
 * destinations per workload, and Kubernetes audit JSON lines with the mix a
 * real API server writes (controllers' watches and updates, kubelet status
 * patches, pod creates carrying the pod object, some kubectl exec).
 *
 * Everything is deterministic for a given seed.
 */

const MINUTE = 60_000;
export const T0 = Date.UTC(2024, 2, 4);
export const WORLD = DEFAULT_WORLD;

export interface SyntheticCluster {
  pods: Pod[];
  /** Pods by workload index. */
  byWorkload: Pod[][];
  workloads: { namespace: string; name: string }[];
  nodes: { name: string; ip: string; eni: string }[];
}

/** `workloads` Deployments of `podsPerWorkload` pods each, in 40 namespaces, on 60 nodes; pod addresses in 10.20.0.0/16. */
export function syntheticCluster(workloads: number, podsPerWorkload: number, seed = 7): SyntheticCluster {
  const rng = new Random(seed);
  const nodes = Array.from({ length: 60 }, (_, i) => ({
    name: `ip-10-21-${i >> 4}-${i & 15}.eu-west-1.compute.internal`,
    ip: `10.21.${i >> 4}.${(i & 15) + 10}`,
    eni: `eni-0${rng.hex(16)}`,
  }));
  const pods: Pod[] = [];
  const byWorkload: Pod[][] = [];
  const list: { namespace: string; name: string }[] = [];
  let host = 0;
  for (let w = 0; w < workloads; w++) {
    const namespace = `team-${w % 40}`;
    const name = `svc-${w}`;
    const hash = rng.alnum(9).toLowerCase();
    list.push({ namespace, name });
    const own: Pod[] = [];
    for (let k = 0; k < podsPerWorkload; k++) {
      const n = host++;
      const node = nodes[(w * 7 + k) % nodes.length] as (typeof nodes)[number];
      const pod: Pod = {
        namespace,
        name: `${name}-${hash}-${rng.alnum(5).toLowerCase()}`,
        uid: rng.uuid(),
        workloadKind: 'Deployment',
        workloadName: name,
        ip: `10.20.${(n >> 8) & 255}.${n & 255}`,
        node: node.name,
        nodeIp: node.ip,
        image: `${WORLD.registry}/${namespace}/${name}:1.${w % 9}.0`,
        imageDigest: `sha256:${rng.hex(64)}`,
        container: 'app',
        containerId: `containerd://${rng.hex(64)}`,
        serviceAccount: name,
        labels: { app: name, 'pod-template-hash': hash },
        start: T0 - 86_400_000,
        eni: node.eni,
      };
      own.push(pod);
      pods.push(pod);
    }
    byWorkload.push(own);
  }
  return { pods, byWorkload, workloads: list, nodes };
}

/** The cluster as the preset's `inventory` file. */
export function inventoryOf(cluster: SyntheticCluster): { pods: InventoryEntry[] } {
  return {
    pods: cluster.pods.map((p) => ({
      cluster: WORLD.cluster,
      namespace: p.namespace,
      pod: p.name,
      uid: p.uid,
      workloadKind: p.workloadKind,
      workloadName: p.workloadName,
      node: p.node,
      labels: p.labels,
      containers: [{ name: p.container, id: p.containerId, image: p.image, imageDigest: p.imageDigest }],
      ip: p.ip,
      validFrom: new Date(p.start).toISOString(),
    })),
  };
}

/** The `t1537` configuration of the synthetic world: the scenario generator's, with `inventory` pointing at the written file. */
export function presetConfig(inventoryPath?: string): Record<string, unknown> {
  return { ...presetConfigFor(WORLD), ...(inventoryPath ? { inventory: inventoryPath } : {}) };
}

const ip4 = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

export interface FlowOptions {
  /** Flow records to write (header not counted). */
  lines: number;
  /** Distinct external addresses in the pool workloads draw from. */
  destinations: number;
  /** External addresses each workload uses regularly (drawn from the pool); new ones appear at `noveltyRate`. */
  perWorkload?: number;
  /** Share of external flows to an address never used before (a fresh one from the pool's tail). Default 0.002. */
  noveltyRate?: number;
  /** Event-time milliseconds between consecutive records. Default 20 (one hour per 180 000 records). */
  stepMs?: number;
  /** One record in this many is a 600 MB upload to a new external address (the learning cap and novelty fire). Default 20 000. */
  bigEvery?: number;
  seed?: number;
}

/**
 * VPC flow log lines (v5 custom format, header first) of the cluster's pods:
 * 30 % pod to pod (the server's record included), 10 % to services, 25 % to
 * external addresses (each workload mostly to its own few, now and then a new
 * one), 10 % to S3, 15 % load-balancer ingress to pods, 10 % replies.
 */
export function* vpcFlowLines(cluster: SyntheticCluster, o: FlowOptions): Generator<string> {
  const rng = new Random(o.seed ?? 11);
  const world = WORLD;
  const perWorkload = o.perWorkload ?? 12;
  const novelty = o.noveltyRate ?? 0.002;
  const step = o.stepMs ?? 20;
  const bigEvery = o.bigEvery ?? 20_000;
  const W = cluster.byWorkload.length;
  // External pool: 198.18.0.0/15 and up (benchmark ranges), then 100.64.0.0/10-sized space for more.
  const pool = (i: number) => ip4(0xc6120000 + i);
  let fresh = Math.min(o.destinations, W * perWorkload);
  const favourite = (w: number, k: number) => pool((w * perWorkload + k) % Math.max(1, Math.min(o.destinations, W * perWorkload)));
  yield VPC_FLOW_FIELDS.join(' ');
  for (let i = 0; i < o.lines; i++) {
    const t = T0 + i * step;
    const end = t;
    const start = end - 60_000;
    const w = Math.floor(rng.next() * W);
    const pods = cluster.byWorkload[w] as Pod[];
    const pod = pods[Math.floor(rng.next() * pods.length)] as Pod;
    const r = rng.next();
    const eph = 32_768 + Math.floor(rng.next() * 28_000);
    const packets = 1 + Math.floor(rng.logNormal(40, 1.2));
    const bytes = Math.round(packets * (60 + rng.next() * 1_300));
    const base = { start, end, eni: pod.eni, packets, bytes } as const;
    if (i % bigEvery === bigEvery - 1) {
      const dst = pool(fresh++ % o.destinations);
      yield vpcFlowLine(world, {
        ...base,
        src: pod.ip,
        dst,
        srcPort: eph,
        dstPort: 443,
        bytes: 600_000_000,
        packets: 400_000,
        direction: 'egress',
        trafficPath: 8,
      });
      continue;
    }
    if (r < 0.3) {
      const peer = (cluster.pods[Math.floor(rng.next() * cluster.pods.length)] as Pod).ip;
      yield vpcFlowLine(world, { ...base, src: pod.ip, dst: peer, srcPort: eph, dstPort: 8080, direction: 'egress', trafficPath: 1 });
    } else if (r < 0.4) {
      const svc = ip4(0xac140000 + 10 + Math.floor(rng.next() * 400));
      yield vpcFlowLine(world, { ...base, src: pod.ip, dst: svc, srcPort: eph, dstPort: 8080, direction: 'egress', trafficPath: 1 });
    } else if (r < 0.65) {
      let dst: string;
      if (rng.next() < novelty) dst = pool(fresh++ % o.destinations);
      else dst = favourite(w, Math.floor(rng.next() ** 2 * perWorkload));
      yield vpcFlowLine(world, { ...base, src: pod.ip, dst, srcPort: eph, dstPort: 443, direction: 'egress', trafficPath: 8 });
    } else if (r < 0.75) {
      const s3 = ip4(0x34da0000 + Math.floor(rng.next() * 32_000));
      yield vpcFlowLine(world, { ...base, src: pod.ip, dst: s3, srcPort: eph, dstPort: 443, direction: 'egress', trafficPath: 8, dstService: 'S3' });
    } else if (r < 0.9) {
      const lb = rng.next() < 0.5 ? '10.20.250.10' : '10.20.250.11';
      yield vpcFlowLine(world, { ...base, src: lb, dst: pod.ip, srcPort: eph, dstPort: 8080, direction: 'ingress' });
    } else {
      const peer = (cluster.pods[Math.floor(rng.next() * cluster.pods.length)] as Pod).ip;
      yield vpcFlowLine(world, { ...base, src: pod.ip, dst: peer, srcPort: 8080, dstPort: eph, direction: 'egress', trafficPath: 1 });
    }
  }
}

const CONTROLLERS = [
  'system:serviceaccount:kube-system:replicaset-controller',
  'system:serviceaccount:kube-system:endpointslice-controller',
  'system:serviceaccount:kube-system:deployment-controller',
  'system:kube-scheduler',
  'system:kube-controller-manager',
];
const UA_CM = 'kube-controller-manager/v1.29.3 (linux/amd64) kubernetes/6813625/leader-election';
const UA_KUBELET = 'kubelet/v1.29.3 (linux/amd64) kubernetes/6813625';
const USERS = Array.from({ length: 40 }, (_, i) => ({ username: `user${i}@acme.example`, groups: ['system:authenticated', i % 8 === 0 ? 'sre' : 'dev'] }));

/**
 * Kubernetes audit events (audit.k8s.io/v1, one JSON object per line) about
 * the cluster: 35 % lease and endpoint updates by controllers, 25 % kubelet
 * pod status patches carrying the pod object (the workload index learns from
 * them), 20 % gets and lists of config maps and secrets by workloads' service
 * accounts, 10 % watches, 6 % pod creates, 3 % kubectl get/logs by people,
 * 1 % kubectl exec (a quarter of them with a shell or a copy command).
 */
export function* auditLines(cluster: SyntheticCluster, n: number, seed = 13, stepMs = 50): Generator<string> {
  const rng = new Random(seed);
  for (let i = 0; i < n; i++) {
    const time = T0 + i * stepMs;
    const pod = cluster.pods[Math.floor(rng.next() * cluster.pods.length)] as Pod;
    const r = rng.next();
    let record: Record<string, unknown>;
    if (r < 0.35) {
      const lease = rng.next() < 0.6;
      record = auditRecord(rng, {
        time,
        verb: 'update',
        user: { username: CONTROLLERS[Math.floor(rng.next() * CONTROLLERS.length)] as string, groups: ['system:authenticated'] },
        resource: lease ? 'leases' : 'endpoints',
        apiGroup: lease ? 'coordination.k8s.io' : undefined,
        namespace: lease ? 'kube-system' : pod.namespace,
        name: lease ? `kube-controller-manager-${i % 3}` : pod.workloadName,
        sourceIp: '10.20.0.5',
        userAgent: UA_CM,
      });
    } else if (r < 0.6) {
      record = auditRecord(rng, {
        time,
        verb: 'patch',
        user: { username: `system:node:${pod.node}`, groups: ['system:nodes', 'system:authenticated'] },
        resource: 'pods',
        subresource: 'status',
        namespace: pod.namespace,
        name: pod.name,
        responseObject: podObject(pod),
        sourceIp: pod.nodeIp,
        userAgent: UA_KUBELET,
      });
    } else if (r < 0.8) {
      const secret = rng.next() < 0.3;
      record = auditRecord(rng, {
        time,
        verb: rng.next() < 0.7 ? 'get' : 'list',
        user: { username: `system:serviceaccount:${pod.namespace}:${pod.serviceAccount}`, groups: ['system:serviceaccounts', 'system:authenticated'] },
        resource: secret ? 'secrets' : 'configmaps',
        namespace: pod.namespace,
        name: `${pod.workloadName}-${secret ? 'creds' : 'config'}`,
        sourceIp: pod.ip,
        userAgent: 'Go-http-client/2.0',
      });
    } else if (r < 0.9) {
      record = auditRecord(rng, {
        time,
        verb: 'watch',
        user: { username: CONTROLLERS[Math.floor(rng.next() * CONTROLLERS.length)] as string, groups: ['system:authenticated'] },
        resource: rng.next() < 0.5 ? 'pods' : 'services',
        query: 'allowWatchBookmarks=true&resourceVersion=48213&timeout=7m41s&timeoutSeconds=461&watch=true',
        sourceIp: '10.20.0.5',
        userAgent: UA_CM,
      });
    } else if (r < 0.96) {
      record = auditRecord(rng, {
        time,
        verb: 'create',
        user: { username: CONTROLLERS[0] as string, groups: ['system:serviceaccounts', 'system:authenticated'] },
        resource: 'pods',
        namespace: pod.namespace,
        name: pod.name,
        requestObject: podObject(pod, 'Pending'),
        responseObject: podObject(pod, 'Pending'),
        userAgent: UA_CM,
      });
    } else if (r < 0.99) {
      const user = USERS[Math.floor(rng.next() * USERS.length)] as (typeof USERS)[number];
      record = auditRecord(rng, {
        time,
        verb: 'get',
        user,
        resource: 'pods',
        subresource: rng.next() < 0.5 ? 'log' : undefined,
        namespace: pod.namespace,
        name: pod.name,
        sourceIp: `198.51.100.${20 + (i % 50)}`,
      });
    } else {
      const user = USERS[Math.floor(rng.next() * USERS.length)] as (typeof USERS)[number];
      const k = rng.next();
      const cmd = k < 0.75 ? ['cat', '/etc/hostname'] : k < 0.9 ? ['sh'] : ['tar', 'cf', '-', '/app/data'];
      const query = `${cmd.map((c) => `command=${encodeURIComponent(c)}`).join('&')}&container=${pod.container}&stderr=true&stdout=true${cmd[0] === 'sh' ? '&stdin=true&tty=true' : ''}`;
      record = auditRecord(rng, {
        time,
        verb: 'create',
        user,
        resource: 'pods',
        subresource: 'exec',
        namespace: pod.namespace,
        name: pod.name,
        query,
        sourceIp: `198.51.100.${20 + (i % 50)}`,
      });
    }
    yield JSON.stringify(record);
  }
}

/** Write lines to a file, 10 000 at a time; returns the number of lines written. */
export function writeLines(path: string, lines: Iterable<string>): number {
  const fd = openSync(path, 'w');
  let n = 0;
  let chunk: string[] = [];
  for (const line of lines) {
    chunk.push(line);
    n++;
    if (chunk.length === 10_000) {
      writeSync(fd, `${chunk.join('\n')}\n`);
      chunk = [];
    }
  }
  if (chunk.length > 0) writeSync(fd, `${chunk.join('\n')}\n`);
  closeSync(fd);
  return n;
}

export interface WrittenInputs {
  dir: string;
  inventory: string;
  vpc?: string;
  audit?: string;
  /** Records (header excluded). */
  vpcLines: number;
  auditLines: number;
}

/** Write the inventory and, as asked, a VPC flow file and an audit file into `dir`. */
export function writeInputs(dir: string, cluster: SyntheticCluster, options: { vpc?: FlowOptions; audit?: { events: number; seed?: number } }): WrittenInputs {
  const inventory = join(dir, 'inventory.json');
  writeFileSync(inventory, JSON.stringify(inventoryOf(cluster)));
  const out: WrittenInputs = { dir, inventory, vpcLines: 0, auditLines: 0 };
  if (options.vpc) {
    out.vpc = join(dir, 'flows.log');
    out.vpcLines = writeLines(out.vpc, vpcFlowLines(cluster, options.vpc)) - 1;
  }
  if (options.audit) {
    out.audit = join(dir, 'audit.jsonl');
    out.auditLines = writeLines(out.audit, auditLines(cluster, options.audit.events, options.audit.seed));
  }
  return out;
}

export { MINUTE };
