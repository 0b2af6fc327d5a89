/**
 * Renderers for the source formats the generator writes. Each follows its
 * vendor's published record layout (Kubernetes audit.k8s.io/v1 Event, AWS
 * CloudTrail record, AWS VPC Flow Logs custom format v5, Falco JSON output,
 * Tetragon JSON export), so the scenario exercises the real decoders.
 */
import type { Random } from './random.js';
import type { Pod, WorldConfig } from './world.js';

const iso = (t: number) => new Date(t).toISOString();
/** RFC 3339 with microseconds, as the Kubernetes API server writes. */
const isoMicro = (t: number) => `${new Date(t).toISOString().slice(0, -1)}000Z`;

export interface AuditInput {
  time: number;
  verb: string;
  user: { username: string; groups?: string[]; uid?: string };
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  apiGroup?: string;
  code?: number;
  sourceIp?: string;
  userAgent?: string;
  query?: string;
  requestObject?: unknown;
  responseObject?: unknown;
  level?: 'Metadata' | 'Request' | 'RequestResponse';
}

export function auditRecord(rng: Random, input: AuditInput): Record<string, unknown> & { auditID: string } {
  const group = input.apiGroup ? `/apis/${input.apiGroup}/v1` : '/api/v1';
  const ns = input.namespace ? `/namespaces/${input.namespace}` : '';
  const name = input.name ? `/${input.name}` : '';
  const sub = input.subresource ? `/${input.subresource}` : '';
  const uri = `${group}${ns}/${input.resource}${name}${sub}${input.query ? `?${input.query}` : ''}`;
  const code = input.code ?? (input.subresource === 'exec' || input.subresource === 'attach' ? 101 : input.verb === 'create' ? 201 : 200);
  const event: Record<string, unknown> & { auditID: string } = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: input.level ?? (input.requestObject || input.responseObject ? 'RequestResponse' : 'Metadata'),
    auditID: rng.uuid(),
    stage: 'ResponseComplete',
    requestURI: uri,
    verb: input.verb,
    user: { username: input.user.username, ...(input.user.uid ? { uid: input.user.uid } : {}), groups: input.user.groups ?? ['system:authenticated'] },
    sourceIPs: [input.sourceIp ?? '10.20.0.5'],
    userAgent: input.userAgent ?? 'kubectl/v1.29.3 (linux/amd64) kubernetes/6813625',
    objectRef: {
      resource: input.resource,
      ...(input.namespace ? { namespace: input.namespace } : {}),
      ...(input.name ? { name: input.name } : {}),
      ...(input.apiGroup ? { apiGroup: input.apiGroup } : {}),
      apiVersion: 'v1',
      ...(input.subresource ? { subresource: input.subresource } : {}),
    },
    responseStatus: { metadata: {}, code },
    ...(input.requestObject ? { requestObject: input.requestObject } : {}),
    ...(input.responseObject ? { responseObject: input.responseObject } : {}),
    requestReceivedTimestamp: isoMicro(input.time),
    stageTimestamp: isoMicro(input.time + 3),
    annotations: {
      'authorization.k8s.io/decision': code === 403 ? 'forbid' : 'allow',
      'authorization.k8s.io/reason': code === 403 ? '' : 'RBAC: allowed by ClusterRoleBinding',
    },
  };
  return event;
}

function ownerReferencesOf(pod: Pod): Record<string, unknown>[] {
  if (pod.workloadKind === 'Pod') return [];
  const hash = pod.labels['pod-template-hash'];
  if (pod.workloadKind === 'Deployment')
    return [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: hash ? `${pod.workloadName}-${hash}` : pod.workloadName, controller: true }];
  if (pod.workloadKind === 'CronJob')
    return [{ apiVersion: 'batch/v1', kind: 'Job', name: `${pod.workloadName}-${Math.floor(pod.start / 60_000)}`, controller: true }];
  return [{ apiVersion: 'apps/v1', kind: pod.workloadKind, name: pod.workloadName, controller: true }];
}

/** The Pod object as the API server returns it (used in audit responseObjects, which carry the pod IP). */
export function podObject(pod: Pod, phase: 'Pending' | 'Running' | 'Succeeded' = 'Running'): Record<string, unknown> {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      uid: pod.uid,
      labels: pod.labels,
      ownerReferences: ownerReferencesOf(pod),
    },
    spec: { nodeName: pod.node, serviceAccountName: pod.serviceAccount, containers: [{ name: pod.container, image: pod.image }] },
    status: {
      phase,
      ...(phase === 'Pending' ? {} : { podIP: pod.ip, podIPs: [{ ip: pod.ip }], hostIP: pod.nodeIp }),
      containerStatuses:
        phase === 'Pending'
          ? []
          : [{ name: pod.container, image: pod.image, imageID: `${pod.image.split(':')[0]}@${pod.imageDigest}`, containerID: pod.containerId, ready: true }],
    },
  };
}

export interface CloudTrailInput {
  time: number;
  eventSource: string;
  eventName: string;
  identity: Record<string, unknown>;
  account: string;
  region: string;
  sourceIp?: string;
  userAgent?: string;
  requestParameters?: unknown;
  responseElements?: unknown;
  readOnly?: boolean;
  eventType?: string;
  resources?: unknown[];
  managementEvent?: boolean;
  errorCode?: string;
  errorMessage?: string;
}

export function cloudTrailRecord(rng: Random, input: CloudTrailInput): Record<string, unknown> & { eventID: string } {
  return {
    eventVersion: '1.09',
    userIdentity: input.identity,
    eventTime: iso(Math.floor(input.time / 1000) * 1000).replace('.000Z', 'Z'),
    eventSource: input.eventSource,
    eventName: input.eventName,
    awsRegion: input.region,
    sourceIPAddress: input.sourceIp ?? 'AWS Internal',
    userAgent: input.userAgent ?? 'aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5',
    ...(input.errorCode ? { errorCode: input.errorCode, errorMessage: input.errorMessage ?? 'denied' } : {}),
    requestParameters: input.requestParameters ?? null,
    responseElements: input.responseElements ?? null,
    requestID: rng.uuid(),
    eventID: rng.uuid(),
    readOnly: input.readOnly ?? false,
    ...(input.resources ? { resources: input.resources } : {}),
    eventType: input.eventType ?? 'AwsApiCall',
    managementEvent: input.managementEvent ?? true,
    recipientAccountId: input.account,
    eventCategory: input.managementEvent === false ? 'Data' : 'Management',
  };
}

/** A role session identity (IRSA pods, CI, humans through SSO). */
export function assumedRole(rng: Random, account: string, role: string, session: string): Record<string, unknown> {
  const roleId = `AROA${rng.alnum(17)}`;
  return {
    type: 'AssumedRole',
    principalId: `${roleId}:${session}`,
    arn: `arn:aws:sts::${account}:assumed-role/${role}/${session}`,
    accountId: account,
    accessKeyId: `ASIA${rng.alnum(16)}`,
    sessionContext: {
      sessionIssuer: { type: 'Role', principalId: roleId, arn: `arn:aws:iam::${account}:role/${role}`, accountId: account, userName: role },
      attributes: { creationDate: '2024-03-04T00:00:00Z', mfaAuthenticated: 'false' },
    },
  };
}

export function iamUser(rng: Random, account: string, user: string): Record<string, unknown> {
  return {
    type: 'IAMUser',
    principalId: `AIDA${rng.alnum(17)}`,
    arn: `arn:aws:iam::${account}:user/${user}`,
    accountId: account,
    accessKeyId: `AKIA${rng.alnum(16)}`,
    userName: user,
  };
}

/** Header of the VPC flow log custom format the generator writes (the v5 fields). */
export const VPC_FLOW_FIELDS = [
  'version',
  'account-id',
  'interface-id',
  'srcaddr',
  'dstaddr',
  'srcport',
  'dstport',
  'protocol',
  'packets',
  'bytes',
  'start',
  'end',
  'action',
  'log-status',
  'vpc-id',
  'subnet-id',
  'instance-id',
  'tcp-flags',
  'type',
  'pkt-srcaddr',
  'pkt-dstaddr',
  'region',
  'az-id',
  'sublocation-type',
  'sublocation-id',
  'pkt-src-aws-service',
  'pkt-dst-aws-service',
  'flow-direction',
  'traffic-path',
] as const;

export interface FlowInput {
  start: number;
  end: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  protocol?: number;
  packets: number;
  bytes: number;
  eni: string;
  direction: 'ingress' | 'egress';
  action?: 'ACCEPT' | 'REJECT';
  dstService?: string;
  /** traffic-path: 1 same VPC, 2 internet gateway, 8 ... (only meaningful for egress). */
  trafficPath?: number;
}

export function vpcFlowLine(world: WorldConfig, f: FlowInput): string {
  const values: Record<(typeof VPC_FLOW_FIELDS)[number], string | number> = {
    version: 5,
    'account-id': world.account,
    'interface-id': f.eni,
    srcaddr: f.src,
    dstaddr: f.dst,
    srcport: f.srcPort,
    dstport: f.dstPort,
    protocol: f.protocol ?? 6,
    packets: Math.max(1, Math.round(f.packets)),
    bytes: Math.max(40, Math.round(f.bytes)),
    start: Math.floor(f.start / 1000),
    end: Math.floor(f.end / 1000),
    action: f.action ?? 'ACCEPT',
    'log-status': 'OK',
    'vpc-id': world.vpcId,
    'subnet-id': 'subnet-0aa11bb22cc33dd44',
    'instance-id': 'i-0123456789abcdef0',
    'tcp-flags': 19,
    type: 'IPv4',
    'pkt-srcaddr': f.src,
    'pkt-dstaddr': f.dst,
    region: world.region,
    'az-id': 'euw1-az1',
    'sublocation-type': '-',
    'sublocation-id': '-',
    'pkt-src-aws-service': '-',
    'pkt-dst-aws-service': f.dstService ?? '-',
    'flow-direction': f.direction,
    'traffic-path': f.direction === 'egress' ? (f.trafficPath ?? 1) : '-',
  };
  return VPC_FLOW_FIELDS.map((k) => values[k]).join(' ');
}

export interface FalcoInput {
  time: number;
  rule: string;
  priority: 'Emergency' | 'Alert' | 'Critical' | 'Error' | 'Warning' | 'Notice' | 'Informational' | 'Debug';
  output: string;
  tags: string[];
  pod: Pod;
  proc: { name: string; exepath: string; cmdline: string; pid: number; tty: number; pname?: string; pcmdline?: string; user?: string };
  extra?: Record<string, unknown>;
}

export function falcoAlert(rng: Random, input: FalcoInput): Record<string, unknown> & { uuid: string } {
  const [repo, tag] = splitImage(input.pod.image);
  return {
    uuid: rng.uuid(),
    hostname: input.pod.node,
    output: `${new Date(input.time).toISOString()}: ${input.priority} ${input.output}`,
    priority: input.priority,
    rule: input.rule,
    source: 'syscall',
    tags: input.tags,
    time: isoMicro(input.time),
    output_fields: {
      'container.id': input.pod.containerId.slice('containerd://'.length, 'containerd://'.length + 12),
      'container.image.repository': repo,
      'container.image.tag': tag,
      'container.name': input.pod.container,
      'k8s.ns.name': input.pod.namespace,
      'k8s.pod.name': input.pod.name,
      'proc.cmdline': input.proc.cmdline,
      'proc.exepath': input.proc.exepath,
      'proc.name': input.proc.name,
      'proc.pid': input.proc.pid,
      'proc.pname': input.proc.pname ?? 'runc',
      'proc.pcmdline': input.proc.pcmdline ?? 'runc',
      'proc.tty': input.proc.tty,
      'user.name': input.proc.user ?? 'root',
      'user.uid': 0,
      ...input.extra,
    },
  };
}

function splitImage(image: string): [string, string] {
  const at = image.lastIndexOf(':');
  const slash = image.lastIndexOf('/');
  return at > slash ? [image.slice(0, at), image.slice(at + 1)] : [image, 'latest'];
}

function tetragonProcess(pod: Pod, proc: TetragonProc): Record<string, unknown> {
  return {
    exec_id: proc.execId,
    pid: proc.pid,
    uid: 0,
    cwd: proc.cwd ?? '/',
    binary: proc.binary,
    arguments: proc.arguments,
    flags: 'execve clone',
    start_time: isoMicro(proc.start),
    auid: 4294967295,
    pod: {
      namespace: pod.namespace,
      name: pod.name,
      container: {
        id: pod.containerId,
        name: pod.container,
        image: { id: `${pod.image.split(':')[0]}@${pod.imageDigest}`, name: pod.image },
        start_time: isoMicro(pod.start),
        pid: 1,
      },
      pod_labels: pod.labels,
      workload: pod.workloadName,
      workload_kind: pod.workloadKind,
    },
    docker: pod.containerId.slice('containerd://'.length, 'containerd://'.length + 31),
    parent_exec_id: proc.parentExecId,
    tid: proc.pid,
    ...(proc.tty ? { tty: 'pts/0' } : {}),
  };
}

export interface TetragonProc {
  execId: string;
  parentExecId: string;
  pid: number;
  binary: string;
  arguments: string;
  start: number;
  cwd?: string;
  tty?: boolean;
}

export function tetragonExec(pod: Pod, proc: TetragonProc, parent: TetragonProc): Record<string, unknown> {
  return { process_exec: { process: tetragonProcess(pod, proc), parent: tetragonProcess(pod, parent) }, node_name: pod.node, time: isoMicro(proc.start) };
}

export function tetragonExit(pod: Pod, proc: TetragonProc, parent: TetragonProc, time: number, status = 0): Record<string, unknown> {
  return {
    process_exit: { process: tetragonProcess(pod, proc), parent: tetragonProcess(pod, parent), status, time: isoMicro(time) },
    node_name: pod.node,
    time: isoMicro(time),
  };
}

export function tetragonKprobe(
  pod: Pod,
  proc: TetragonProc,
  parent: TetragonProc,
  time: number,
  fn: 'tcp_connect' | 'tcp_sendmsg' | 'security_file_permission',
  args: { sock?: { saddr: string; daddr: string; sport: number; dport: number }; size?: number; path?: string },
): Record<string, unknown> {
  const sockArg = args.sock
    ? {
        sock_arg: {
          family: 'AF_INET',
          type: 'SOCK_STREAM',
          protocol: 'IPPROTO_TCP',
          mark: 0,
          priority: 0,
          saddr: args.sock.saddr,
          daddr: args.sock.daddr,
          sport: args.sock.sport,
          dport: args.sock.dport,
          cookie: '18446618949425379584',
          state: 'TCP_ESTABLISHED',
        },
      }
    : undefined;
  const fnArgs =
    fn === 'security_file_permission'
      ? [{ file_arg: { path: args.path } }, { int_arg: 4 }]
      : fn === 'tcp_sendmsg'
        ? [sockArg, { int_arg: args.size ?? 0 }]
        : [sockArg];
  return {
    process_kprobe: {
      process: tetragonProcess(pod, proc),
      parent: tetragonProcess(pod, parent),
      function_name: fn,
      args: fnArgs,
      action: 'KPROBE_ACTION_POST',
      policy_name: fn === 'security_file_permission' ? 'file-monitoring' : 'network-monitoring',
      return_action: 'KPROBE_ACTION_POST',
    },
    node_name: pod.node,
    time: isoMicro(time),
  };
}
