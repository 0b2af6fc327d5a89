import { createHash } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabClock } from './clock.js';

/** A pod of the lab: one namespace of the lab, dressed as a Kubernetes pod. */
export interface LabPod {
  /** Lab host (namespace) it runs in. */
  host: string;
  namespace: string;
  name: string;
  workloadKind: 'Deployment' | 'StatefulSet' | 'CronJob' | 'Job' | 'DaemonSet';
  workloadName: string;
  /** The owner reference as the API server reports it (ReplicaSet `<deployment>-<hash>`, Job `<cronjob>-<minute>`, ...). */
  owner: { kind: string; name: string };
  container: string;
  image: string;
  labels: Record<string, string>;
  serviceAccount: string;
  ip: string;
}

/** A user (or service account) calling the Kubernetes API. */
export interface ApiUser {
  username: string;
  groups: readonly string[];
  sourceIp: string;
  userAgent: string;
}

export interface ProcessSpec {
  binary: string;
  args: readonly string[];
  pid?: number;
  cwd?: string;
  parent?: { binary: string; args: readonly string[]; pid?: number };
}

const NODE = 'lab-node-1';

function hex(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

function uuidFrom(text: string): string {
  const h = hex(text, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The container id, image digest and pod uid of a lab pod (stable per pod name). */
export function podIds(pod: LabPod): { uid: string; containerId: string; imageDigest: string } {
  return {
    uid: uuidFrom(`pod/${pod.namespace}/${pod.name}`),
    containerId: hex(`container/${pod.namespace}/${pod.name}/${pod.container}`, 64),
    imageDigest: `sha256:${hex(`image/${pod.image}`, 64)}`,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Tetragon prints nanosecond timestamps; ours are milliseconds written in that shape. */
function isoNanos(ms: number): string {
  return iso(ms).replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/**
 * Writes what the cluster's sensors would have recorded for the lab's steps,
 * with event times from the run's `LabClock`: Kubernetes audit events (pod
 * creates and status patches, exec into a pod) as JSON lines in `audit.log`,
 * Tetragon `process_exec` events as JSON lines in `tetragon.log`, and the pod
 * inventory (`inventory.json`, the t1537 preset's `inventory` option). The
 * pipeline tails the two logs with the real `k8s_audit` and `tetragon`
 * receivers.
 */
export class TelemetryWriter {
  readonly auditPath: string;
  readonly tetragonPath: string;
  readonly inventoryPath: string;
  private sequence = 0;
  readonly counts = { audit: 0, tetragon: 0 };

  constructor(
    dir: string,
    private readonly clock: LabClock,
    private readonly cluster: string,
  ) {
    this.auditPath = join(dir, 'audit.log');
    this.tetragonPath = join(dir, 'tetragon.log');
    this.inventoryPath = join(dir, 'inventory.json');
    writeFileSync(this.auditPath, '');
    writeFileSync(this.tetragonPath, '');
  }

  /** The inventory: every pod with its address, container and owner, valid from `since` (event time). */
  writeInventory(pods: readonly LabPod[], since: number): void {
    const entries = pods.map((pod) => {
      const ids = podIds(pod);
      return {
        cluster: this.cluster,
        namespace: pod.namespace,
        name: pod.name,
        uid: ids.uid,
        ips: [pod.ip],
        node: NODE,
        workloadKind: pod.workloadKind,
        workloadName: pod.workloadName,
        labels: pod.labels,
        containers: [{ name: pod.container, id: `containerd://${ids.containerId}`, image: pod.image, imageDigest: ids.imageDigest }],
        validFrom: iso(since),
      };
    });
    writeFileSync(this.inventoryPath, `${JSON.stringify({ pods: entries }, null, 2)}\n`);
  }

  private nextId(kind: string): string {
    return uuidFrom(`${kind}/${this.clock.eventOrigin}/${++this.sequence}`);
  }

  private audit(event: Record<string, unknown>): string {
    appendFileSync(this.auditPath, `${JSON.stringify(event)}\n`);
    this.counts.audit++;
    return event.auditID as string;
  }

  private podObject(pod: LabPod, created: number, withStatus: boolean): Record<string, unknown> {
    const ids = podIds(pod);
    const obj: Record<string, unknown> = {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: {
        name: pod.name,
        namespace: pod.namespace,
        uid: ids.uid,
        creationTimestamp: iso(created),
        labels: pod.labels,
        ownerReferences: [{ apiVersion: 'apps/v1', kind: pod.owner.kind, name: pod.owner.name, uid: uuidFrom(`owner/${pod.owner.name}`), controller: true }],
      },
      spec: { nodeName: NODE, serviceAccountName: pod.serviceAccount, containers: [{ name: pod.container, image: pod.image }] },
    };
    if (withStatus)
      obj.status = {
        phase: 'Running',
        podIP: pod.ip,
        podIPs: [{ ip: pod.ip }],
        hostIP: '10.0.0.21',
        startTime: iso(created),
        containerStatuses: [
          {
            name: pod.container,
            image: pod.image,
            imageID: `${pod.image.split(':')[0]}@${ids.imageDigest}`,
            containerID: `containerd://${ids.containerId}`,
            ready: true,
            started: true,
            state: { running: { startedAt: iso(created) } },
          },
        ],
      };
    return obj;
  }

  /**
   * A pod created by its controller and then started by the kubelet: an audit
   * `create` of the pod and a `patch` of `pods/status` with its address, at
   * event time `at`.
   */
  podStarted(pod: LabPod, at: number): void {
    const controller = {
      username: `system:serviceaccount:kube-system:${pod.owner.kind === 'Job' ? 'job-controller' : pod.owner.kind === 'StatefulSet' ? 'statefulset-controller' : 'replicaset-controller'}`,
      groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
    };
    this.audit({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'RequestResponse',
      auditID: this.nextId('audit'),
      stage: 'ResponseComplete',
      requestURI: `/api/v1/namespaces/${pod.namespace}/pods`,
      verb: 'create',
      user: controller,
      sourceIPs: ['10.0.0.10'],
      userAgent: 'kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/system:serviceaccount:kube-system:replicaset-controller',
      objectRef: { resource: 'pods', namespace: pod.namespace, name: pod.name, apiVersion: 'v1' },
      responseStatus: { metadata: {}, code: 201 },
      responseObject: this.podObject(pod, at, false),
      requestReceivedTimestamp: isoMicros(at),
      stageTimestamp: isoMicros(at + 5),
      annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding' },
    });
    const started = at + 1_500;
    this.audit({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'RequestResponse',
      auditID: this.nextId('audit'),
      stage: 'ResponseComplete',
      requestURI: `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/status`,
      verb: 'patch',
      user: { username: `system:node:${NODE}`, groups: ['system:nodes', 'system:authenticated'] },
      sourceIPs: ['10.0.0.21'],
      userAgent: 'kubelet/v1.30.2 (linux/amd64) kubernetes/3968350',
      objectRef: { resource: 'pods', subresource: 'status', namespace: pod.namespace, name: pod.name, apiVersion: 'v1' },
      responseStatus: { metadata: {}, code: 200 },
      responseObject: this.podObject(pod, at, true),
      requestReceivedTimestamp: isoMicros(started),
      stageTimestamp: isoMicros(started + 4),
      annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
    });
  }

  /**
   * `kubectl exec` into a pod: an audit `create` of `pods/exec` with the
   * command in the request URI (as the API server records it), at wall time
   * `wall`. Returns the audit id.
   */
  exec(pod: LabPod, user: ApiUser, command: readonly string[], wall: number, options: { stdin?: boolean; tty?: boolean } = {}): string {
    const at = this.clock.toEvent(wall);
    const query = [
      ...command.map((c) => `command=${encodeURIComponent(c)}`),
      `container=${encodeURIComponent(pod.container)}`,
      `stdin=${options.stdin ?? false}`,
      'stdout=true',
      'stderr=true',
      `tty=${options.tty ?? false}`,
    ].join('&');
    return this.audit({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: this.nextId('audit'),
      stage: 'ResponseStarted',
      requestURI: `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/exec?${query}`,
      verb: 'create',
      user: { username: user.username, groups: [...user.groups] },
      sourceIPs: [user.sourceIp],
      userAgent: user.userAgent,
      objectRef: { resource: 'pods', subresource: 'exec', namespace: pod.namespace, name: pod.name, apiVersion: 'v1' },
      responseStatus: { metadata: {}, code: 101 },
      requestReceivedTimestamp: isoMicros(at),
      stageTimestamp: isoMicros(at + 30),
      annotations: {
        'authorization.k8s.io/decision': 'allow',
        'authorization.k8s.io/reason': 'RBAC: allowed by RoleBinding "developers/shop" of ClusterRole "edit"',
      },
    });
  }

  /**
   * A request to the Kubernetes API (a `get` of a secret, ...), as the API
   * server audits it, at wall time `wall`. A service account's bound token
   * names its pod in `user.extra`.
   */
  apiRequest(
    user: ApiUser,
    request: { verb: string; resource: string; namespace?: string; name?: string; requestUri: string; code: number; pod?: LabPod },
    wall: number,
  ): string {
    const at = this.clock.toEvent(wall);
    const extra = request.pod
      ? { 'authentication.kubernetes.io/pod-name': [request.pod.name], 'authentication.kubernetes.io/pod-uid': [podIds(request.pod).uid] }
      : undefined;
    return this.audit({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: this.nextId('audit'),
      stage: 'ResponseComplete',
      requestURI: request.requestUri,
      verb: request.verb,
      user: { username: user.username, groups: [...user.groups], ...(extra ? { extra } : {}) },
      sourceIPs: [user.sourceIp],
      userAgent: user.userAgent,
      objectRef: {
        resource: request.resource,
        ...(request.namespace ? { namespace: request.namespace } : {}),
        ...(request.name ? { name: request.name } : {}),
        apiVersion: 'v1',
      },
      responseStatus: { metadata: {}, code: request.code },
      requestReceivedTimestamp: isoMicros(at),
      stageTimestamp: isoMicros(at + 8),
      annotations: { 'authorization.k8s.io/decision': request.code < 400 ? 'allow' : 'forbid', 'authorization.k8s.io/reason': 'RBAC: allowed by RoleBinding' },
    });
  }

  /** A Tetragon `process_exec` event for a process started in a pod at wall time `wall`. */
  processExec(pod: LabPod, proc: ProcessSpec, wall: number): void {
    const at = this.clock.toEvent(wall);
    const ids = podIds(pod);
    const podInfo = {
      namespace: pod.namespace,
      name: pod.name,
      uid: ids.uid,
      container: {
        id: `containerd://${ids.containerId}`,
        name: pod.container,
        image: { id: `${pod.image.split(':')[0]}@${ids.imageDigest}`, name: pod.image },
        start_time: isoNanos(this.clock.eventOrigin - 86_400_000),
        pid: 1,
      },
      pod_labels: pod.labels,
      workload: pod.workloadName,
      workload_kind: pod.workloadKind,
    };
    const execId = Buffer.from(`${NODE}:${at}:${proc.pid ?? ++this.sequence}`).toString('base64');
    const parentExecId = proc.parent ? Buffer.from(`${NODE}:${at - 1}:${proc.parent.pid ?? 1}`).toString('base64') : undefined;
    const record = {
      process_exec: {
        process: {
          exec_id: execId,
          ...(proc.pid !== undefined ? { pid: proc.pid } : {}),
          uid: 0,
          cwd: proc.cwd ?? '/',
          binary: proc.binary,
          arguments: proc.args.map(quoteArg).join(' '),
          flags: 'execve clone',
          start_time: isoNanos(at),
          auid: 4294967295,
          pod: podInfo,
          docker: ids.containerId.slice(0, 31),
          ...(parentExecId ? { parent_exec_id: parentExecId } : {}),
        },
        ...(proc.parent
          ? {
              parent: {
                exec_id: parentExecId,
                ...(proc.parent.pid !== undefined ? { pid: proc.parent.pid } : {}),
                uid: 0,
                cwd: proc.cwd ?? '/',
                binary: proc.parent.binary,
                arguments: proc.parent.args.map(quoteArg).join(' '),
                flags: 'execve clone',
                start_time: isoNanos(at - 1),
                auid: 4294967295,
                pod: podInfo,
                docker: ids.containerId.slice(0, 31),
              },
            }
          : {}),
      },
      node_name: NODE,
      cluster_name: this.cluster,
      time: isoNanos(at),
    };
    appendFileSync(this.tetragonPath, `${JSON.stringify(record)}\n`);
    this.counts.tetragon++;
  }
}

function isoMicros(ms: number): string {
  return iso(ms).replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Tetragon joins arguments with spaces; arguments with spaces are shown quoted. */
function quoteArg(arg: string): string {
  return /[\s"']/.test(arg) ? `"${arg.replace(/"/g, '\\"')}"` : arg;
}
