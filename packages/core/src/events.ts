/**
 * The normalized event model. Every receiver decodes its source format into one
 * of these six shapes; every detection reads only these shapes.
 *
 * Times are epoch milliseconds. `time` is event time (from the record);
 * `observedTime` is when Outflow ingested it (processing time).
 */

/** The six kinds of event in the model. */
export type EventKind = 'network_flow' | 'cloud_api_call' | 'k8s_audit' | 'process_exec' | 'file_access' | 'runtime_alert';

export const EVENT_KINDS: readonly EventKind[] = ['network_flow', 'cloud_api_call', 'k8s_audit', 'process_exec', 'file_access', 'runtime_alert'];

/**
 * Who the event is about: the Kubernetes workload (or bare container) that
 * acted. Every field is optional; enrichers fill what the source lacks.
 */
export interface WorkloadIdentity {
  /** `k8s.cluster.name` */
  cluster?: string;
  /** `k8s.namespace.name` */
  namespace?: string;
  /** Owner kind: Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod, ... */
  workloadKind?: string;
  /** Owner name, e.g. the Deployment name (`k8s.deployment.name` etc.) */
  workloadName?: string;
  /** `k8s.pod.name` */
  pod?: string;
  /** `k8s.pod.uid` */
  podUid?: string;
  /** `k8s.container.name` */
  container?: string;
  /** `container.id` */
  containerId?: string;
  /** `container.image.name`, with tag when known (`registry/repo:tag`) */
  image?: string;
  /** `container.image.id` / repo digest, `sha256:...` */
  imageDigest?: string;
  /** `k8s.node.name` */
  node?: string;
  /** Pod labels (bounded by the source; enrichers copy at most a few dozen). */
  labels?: Readonly<Record<string, string>>;
  /** Cloud account that runs the workload (`cloud.account.id`). */
  account?: string;
}

/**
 * Fields common to every event.
 */
export interface EventBase<K extends EventKind> {
  readonly kind: K;
  /** Event time, epoch ms, taken from the record. */
  time: number;
  /** Processing time at ingest, epoch ms. */
  observedTime: number;
  /** Format the event was decoded from, e.g. `aws_cloudtrail`, `k8s_audit`, `aws_vpc_flow`. */
  source: string;
  /**
   * The record's own id in its source (CloudTrail `eventID`, audit `auditID`,
   * Falco `uuid`, ...). Alerts cite events by `{ source, id: sourceId }`.
   * Formats without ids get a deterministic id derived from the record's location.
   */
  sourceId?: string;
  /** Name of the receiver instance that ingested it. */
  receiver?: string;
  /** Where the raw record came from (file path and line, peer address). */
  location?: string;
  /** The workload this event is about (the actor for API calls, the local end for flows). */
  workload?: WorkloadIdentity;
  /** The raw record as decoded (object for JSON formats, the line for text formats). */
  raw?: unknown;
  /** Source-specific extras that have no typed field. Keys follow OpenTelemetry semantic conventions where one exists. */
  attributes?: Record<string, AttributeValue>;
}

export type AttributeValue = string | number | boolean | readonly string[] | readonly number[];

/** One end of a network flow. */
export interface FlowEndpoint {
  address: string;
  port?: number;
  /** Workload behind this address when the source knows it (Hubble, Tetragon) or an enricher found it. */
  workload?: WorkloadIdentity;
  /** DNS names known for this address. */
  names?: readonly string[];
  /** Cloud account owning the address, when known. */
  account?: string;
}

export type FlowDirection = 'egress' | 'ingress' | 'internal' | 'unknown';

/** A network flow or connection record (VPC/GCP/Azure flow logs, NetFlow/IPFIX, Hubble, Tetragon tcp_*). */
export interface NetworkFlowEvent extends EventBase<'network_flow'> {
  src: FlowEndpoint;
  dst: FlowEndpoint;
  /** IANA protocol number (6 TCP, 17 UDP, 1 ICMP) when known. */
  protocol?: number;
  /** Direction relative to the monitored workload or network. */
  direction: FlowDirection;
  /** Bytes sent src → dst. */
  bytes?: number;
  /** Packets sent src → dst. */
  packets?: number;
  /** Bytes sent dst → src, for formats that report both directions. */
  reverseBytes?: number;
  /** Packets sent dst → src. */
  reversePackets?: number;
  action?: 'accept' | 'reject' | 'unknown';
  /** Flow start and end, epoch ms, when the format has them (`time` is the end, or the only timestamp). */
  start?: number;
  end?: number;
  /** Cloud account and network the record was captured in. */
  account?: string;
  vpcId?: string;
  subnetId?: string;
  interfaceId?: string;
  /** Free-form traffic classification from the source, e.g. VPC `traffic-path`, Hubble verdict. */
  trafficPath?: string;
}

/** Who made a cloud API call (CloudTrail `userIdentity`, GCP `authenticationInfo`, ...). */
export interface CloudActor {
  type?: string;
  accountId?: string;
  principalId?: string;
  arn?: string;
  userName?: string;
  /** Service that made the call on the principal's behalf (`invokedBy`). */
  invokedBy?: string;
  accessKeyId?: string;
  /** For assumed roles: the role's ARN (`sessionContext.sessionIssuer.arn`). */
  sessionIssuerArn?: string;
}

/** A cloud control-plane call (CloudTrail, GCP audit, Azure activity). */
export interface CloudApiCallEvent extends EventBase<'cloud_api_call'> {
  provider: 'aws' | 'gcp' | 'azure' | string;
  /** Service endpoint, e.g. `ec2.amazonaws.com`. */
  service: string;
  /** API operation, e.g. `ModifySnapshotAttribute`. */
  operation: string;
  actor: CloudActor;
  /** Account that owns the resource the call acted on (`recipientAccountId`). */
  recipientAccountId?: string;
  region?: string;
  sourceIp?: string;
  userAgent?: string;
  request?: unknown;
  response?: unknown;
  errorCode?: string;
  errorMessage?: string;
  readOnly?: boolean;
  /** CloudTrail `eventType`, e.g. `AwsApiCall`, `AwsServiceEvent`. */
  eventType?: string;
  /** Links the copies of one cross-account event (`sharedEventID`). */
  sharedEventId?: string;
  /** Resources named by the record (`resources[]`). */
  resources?: readonly { type?: string; arn?: string; accountId?: string }[];
}

/** A Kubernetes API server audit event. */
export interface K8sAuditEvent extends EventBase<'k8s_audit'> {
  auditId: string;
  stage: string;
  level?: string;
  verb: string;
  requestUri?: string;
  user: { username: string; uid?: string; groups?: readonly string[] };
  impersonatedUser?: { username: string; groups?: readonly string[] };
  sourceIps: readonly string[];
  userAgent?: string;
  objectRef?: {
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
    apiVersion?: string;
    uid?: string;
  };
  responseCode?: number;
  /** `authorization.k8s.io/decision` annotation, or derived from the response code. */
  decision?: 'allow' | 'forbid';
  annotations?: Readonly<Record<string, string>>;
  /** For `pods/exec` and `pods/attach`: the command, one element per argument. */
  command?: readonly string[];
  /** For exec/attach: target container, and the stdin/tty flags from the request. */
  execContainer?: string;
  tty?: boolean;
  stdin?: boolean;
  requestObject?: unknown;
  responseObject?: unknown;
}

/** A process as seen by a runtime sensor. */
export interface ProcessInfo {
  pid?: number;
  /** Full path of the executable. */
  executable: string;
  /** argv, argv[0] included when the source has it. */
  args: readonly string[];
  cwd?: string;
  uid?: number;
  user?: string;
  tty?: boolean;
  /** Sensor's unique id for the process (Tetragon `exec_id`). */
  execId?: string;
  parent?: { pid?: number; executable?: string; args?: readonly string[]; execId?: string };
}

/** A process started (or exited) in a container. */
export interface ProcessExecEvent extends EventBase<'process_exec'> {
  phase: 'exec' | 'exit';
  process: ProcessInfo;
  exitCode?: number;
  signal?: string;
}

/** A file opened, read or written in a container. */
export interface FileAccessEvent extends EventBase<'file_access'> {
  path: string;
  operation: 'open' | 'read' | 'write' | 'create' | 'delete' | 'rename' | 'chmod' | 'other';
  process?: ProcessInfo;
  bytes?: number;
}

/** An alert raised by a runtime security engine (Falco, Tetragon policy, Tracee signature). */
export interface RuntimeAlertEvent extends EventBase<'runtime_alert'> {
  engine: string;
  rule: string;
  /** The engine's own priority, e.g. Falco `Warning`. */
  priority: string;
  output: string;
  tags: readonly string[];
  /** Output fields as the engine sent them (`proc.cmdline`, `fd.name`, ...). */
  fields: Readonly<Record<string, unknown>>;
  process?: ProcessInfo;
}

/** Any normalized event. Switch on `kind` to narrow. */
export type OutflowEvent = NetworkFlowEvent | CloudApiCallEvent | K8sAuditEvent | ProcessExecEvent | FileAccessEvent | RuntimeAlertEvent;

/** The event type for a given kind. */
export type EventOfKind<K extends EventKind> = Extract<OutflowEvent, { kind: K }>;

/** A reference to one source record, cited as evidence by alerts. */
export interface EventRef {
  source: string;
  id: string;
  time?: number;
}

/** Evidence reference for an event: its source format and source id (or, lacking one, its location). */
export function eventRef(event: OutflowEvent): EventRef {
  return {
    source: event.source,
    id: event.sourceId ?? event.location ?? `${event.kind}@${event.time}`,
    time: event.time,
  };
}

export function isEventKind(value: unknown): value is EventKind {
  return typeof value === 'string' && (EVENT_KINDS as readonly string[]).includes(value);
}

/** Stable key for a workload: `cluster/namespace/kind/name`, falling back to pod, then container, then image. */
export function workloadKey(w: WorkloadIdentity | undefined): string | undefined {
  if (!w) return undefined;
  const base = `${w.cluster ?? ''}/${w.namespace ?? ''}`;
  if (w.workloadName) return `${base}/${w.workloadKind ?? 'Workload'}/${w.workloadName}`;
  if (w.pod) return `${base}/Pod/${w.pod}`;
  if (w.containerId) return `${base}/Container/${w.containerId}`;
  return undefined;
}

/**
 * Flatten a workload identity into OpenTelemetry semantic-convention attributes
 * (`k8s.namespace.name`, `container.image.name`, ...).
 */
export function workloadAttributes(w: WorkloadIdentity | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!w) return out;
  if (w.cluster) out['k8s.cluster.name'] = w.cluster;
  if (w.namespace) out['k8s.namespace.name'] = w.namespace;
  if (w.workloadName) {
    const kind = (w.workloadKind ?? '').toLowerCase();
    const known = ['deployment', 'statefulset', 'daemonset', 'job', 'cronjob', 'replicaset'];
    out[known.includes(kind) ? `k8s.${kind}.name` : 'k8s.workload.name'] = w.workloadName;
    if (w.workloadKind) out['k8s.workload.kind'] = w.workloadKind;
  }
  if (w.pod) out['k8s.pod.name'] = w.pod;
  if (w.podUid) out['k8s.pod.uid'] = w.podUid;
  if (w.container) out['k8s.container.name'] = w.container;
  if (w.containerId) out['container.id'] = w.containerId;
  if (w.image) out['container.image.name'] = w.image;
  if (w.imageDigest) out['container.image.id'] = w.imageDigest;
  if (w.node) out['k8s.node.name'] = w.node;
  if (w.account) out['cloud.account.id'] = w.account;
  return out;
}
