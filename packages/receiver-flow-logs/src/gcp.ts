import type { AttributeValue, DecodeMeta, Decoder, DecodeSink, FlowEndpoint, FormatDefinition, NetworkFlowEvent, WorkloadIdentity } from '@outflow/core';
import { count, eachJsonValue, type FlowDecoderOptions, isObject, lineLocation, port, rfc3339, str, within } from './common.js';
import { LineIdHasher } from './hash.js';
import { AddressClassifier, DEFAULT_INTERNAL_CIDRS, directionFromSides } from './ip.js';

/**
 * Google Cloud VPC Flow Logs as Cloud Logging LogEntry JSON (log
 * `compute.googleapis.com/vpc_flows`), one entry per line or arrays of entries.
 * Field reference: https://cloud.google.com/vpc/docs/about-flow-logs-records
 */

export const GCP_FORMAT = 'gcp_vpc_flow';

/** IANA protocol numbers are what GCP reports in `connection.protocol`. */
type Side = 'src' | 'dest';

interface Bad {
  reason: string;
  message: string;
}

/** A workload from `*_gke_details` (cluster, pod, pod workload) and `*_instance` (the node VM). */
function gkeWorkload(gke: unknown, instance: unknown, project: string | undefined): WorkloadIdentity | undefined {
  if (!isObject(gke)) return undefined;
  const w: WorkloadIdentity = {};
  const cluster = isObject(gke.cluster) ? str(gke.cluster.cluster_name) : undefined;
  if (cluster) w.cluster = cluster;
  const pod = isObject(gke.pod) ? gke.pod : undefined;
  if (pod) {
    const ns = str(pod.pod_namespace);
    if (ns) w.namespace = ns;
    const name = str(pod.pod_name);
    if (name) w.pod = name;
    const wl = isObject(pod.pod_workload) ? pod.pod_workload : undefined;
    if (wl) {
      const kind = str(wl.workload_type);
      const wname = str(wl.workload_name);
      if (wname) {
        w.workloadName = wname;
        if (kind) w.workloadKind = workloadKind(kind);
      }
    }
  }
  const vm = isObject(instance) ? str(instance.vm_name) : undefined;
  if (vm) w.node = vm;
  if (project) w.account = project;
  return Object.keys(w).length > (project ? 1 : 0) ? w : undefined;
}

/** GKE reports `DEPLOYMENT`, `STATEFUL_SET`, ...; the event model uses Kubernetes kind names. */
function workloadKind(type: string): string {
  switch (type.toUpperCase()) {
    case 'DEPLOYMENT':
      return 'Deployment';
    case 'STATEFUL_SET':
    case 'STATEFULSET':
      return 'StatefulSet';
    case 'DAEMON_SET':
    case 'DAEMONSET':
      return 'DaemonSet';
    case 'JOB':
      return 'Job';
    case 'CRON_JOB':
    case 'CRONJOB':
      return 'CronJob';
    case 'REPLICA_SET':
    case 'REPLICASET':
      return 'ReplicaSet';
    default:
      return type;
  }
}

function project(p: Record<string, unknown>, side: Side): string | undefined {
  const inst = p[`${side}_instance`];
  const vpc = p[`${side}_vpc`];
  return (isObject(inst) ? str(inst.project_id) : undefined) ?? (isObject(vpc) ? str(vpc.project_id) : undefined);
}

function addLocation(attributes: Record<string, AttributeValue>, prefix: string, loc: unknown): void {
  if (!isObject(loc)) return;
  for (const key of ['continent', 'country', 'region', 'city'] as const) {
    const v = str(loc[key]);
    if (v) attributes[`${prefix}.${key}`] = v;
  }
  const asn = count(loc.asn);
  if (asn !== undefined && !Number.isNaN(asn)) attributes[`${prefix}.asn`] = asn;
}

export class GcpFlowDecoder implements Decoder<string> {
  readonly format = GCP_FORMAT;
  private readonly classifier: AddressClassifier;
  private readonly onSkip: ((reason: string) => void) | undefined;
  private readonly ids = new LineIdHasher();

  constructor(options: FlowDecoderOptions = {}) {
    this.classifier = new AddressClassifier(options.internalCidrs ?? DEFAULT_INTERNAL_CIDRS);
    this.onSkip = options.onSkip;
  }

  decode(input: string, sink: DecodeSink, meta: DecodeMeta): void {
    eachJsonValue(input, sink, meta, (value, offset, text) => {
      const line = meta.line === undefined ? (offset > 0 ? offset + 1 : undefined) : meta.line + offset;
      const location = lineLocation(meta, line);
      if ((Array.isArray(value) && value.length === 0) || (isObject(value) && Array.isArray(value.entries) && value.entries.length === 0)) {
        this.onSkip?.('empty');
        return;
      }
      if (Array.isArray(value)) {
        value.forEach((entry, i) => {
          this.entry(entry, sink, meta, location, line, i, text);
        });
        return;
      }
      if (isObject(value) && Array.isArray(value.entries)) {
        // entries.list response: {"entries":[...],"nextPageToken":...}
        value.entries.forEach((entry, i) => {
          this.entry(entry, sink, meta, location, line, i, text);
        });
        return;
      }
      this.entry(value, sink, meta, location, line, undefined, text);
    });
  }

  private entry(
    entry: unknown,
    sink: DecodeSink,
    meta: DecodeMeta,
    location: string | undefined,
    line: number | undefined,
    index: number | undefined,
    text: string,
  ): void {
    const bad = this.build(entry, sink, meta, location, line, index, text);
    if (bad)
      sink.error({ reason: bad.reason, message: bad.message, raw: safeJson(entry), location: within(meta, line, index === undefined ? '' : `[${index}]`) });
  }

  private build(
    entry: unknown,
    sink: DecodeSink,
    meta: DecodeMeta,
    location: string | undefined,
    line: number | undefined,
    index: number | undefined,
    text: string,
  ): Bad | undefined {
    if (!isObject(entry)) return { reason: 'invalid_record', message: 'a LogEntry must be a JSON object' };
    const p = entry.jsonPayload;
    if (!isObject(p)) {
      if (typeof entry.logName === 'string' && !entry.logName.includes('vpc_flows')) {
        this.onSkip?.('not_a_flow');
        return undefined;
      }
      return { reason: 'missing_field', message: 'jsonPayload is required' };
    }
    const c = p.connection;
    if (!isObject(c)) return { reason: 'missing_field', message: 'jsonPayload.connection is required' };
    const srcIp = str(c.src_ip);
    const dstIp = str(c.dest_ip);
    if (!srcIp || !dstIp) return { reason: 'missing_field', message: 'connection.src_ip and connection.dest_ip are required' };
    const srcPort = port(c.src_port);
    const dstPort = port(c.dest_port);
    if (Number.isNaN(srcPort) || Number.isNaN(dstPort)) return { reason: 'invalid_field', message: 'connection ports must be integers 0..65535' };
    const protocol = count(c.protocol);
    if (protocol !== undefined && (Number.isNaN(protocol) || protocol > 255))
      return { reason: 'invalid_field', message: 'connection.protocol must be an integer 0..255' };
    const bytes = count(p.bytes_sent);
    const packets = count(p.packets_sent);
    if (Number.isNaN(bytes) || Number.isNaN(packets)) return { reason: 'invalid_field', message: 'bytes_sent and packets_sent must be non-negative integers' };
    const start = rfc3339(p.start_time);
    const end = rfc3339(p.end_time);
    if (Number.isNaN(start) || Number.isNaN(end)) return { reason: 'invalid_field', message: 'start_time and end_time must be RFC 3339 timestamps' };
    let time = end ?? start;
    if (time === undefined) {
      const ts = rfc3339(entry.timestamp);
      if (ts === undefined || Number.isNaN(ts)) return { reason: 'missing_field', message: 'end_time, start_time or timestamp is required' };
      time = ts;
    }

    const reporter = str(p.reporter);
    const srcProject = project(p, 'src');
    const dstProject = project(p, 'dest');
    const src: FlowEndpoint = { address: srcIp, port: srcPort };
    const dst: FlowEndpoint = { address: dstIp, port: dstPort };
    const srcWorkload = gkeWorkload(p.src_gke_details, p.src_instance, srcProject);
    const dstWorkload = gkeWorkload(p.dest_gke_details, p.dest_instance, dstProject);
    if (srcWorkload) src.workload = srcWorkload;
    if (dstWorkload) dst.workload = dstWorkload;
    if (srcProject) src.account = srcProject;
    if (dstProject) dst.account = dstProject;

    const srcInside = p.src_instance !== undefined || p.src_vpc !== undefined || p.src_gke_details !== undefined;
    const dstInside = p.dest_instance !== undefined || p.dest_vpc !== undefined || p.dest_gke_details !== undefined;
    const srcClass = this.classifier.classify(srcIp);
    const dstClass = this.classifier.classify(dstIp);
    if (srcClass === 'invalid' || dstClass === 'invalid')
      return { reason: 'invalid_field', message: 'connection.src_ip and connection.dest_ip must be IP addresses' };
    const direction = directionFromSides(srcInside, dstInside, srcClass, dstClass);

    const side: Side | undefined =
      reporter === 'SRC' || reporter === 'SRC_GATEWAY' ? 'src' : reporter === 'DEST' || reporter === 'DEST_GATEWAY' ? 'dest' : undefined;
    const attributes: Record<string, AttributeValue> = { 'cloud.provider': 'gcp' };
    if (reporter) attributes['gcp.vpc_flow.reporter'] = reporter;
    let vpcId: string | undefined;
    let subnetId: string | undefined;
    let account: string | undefined;
    let workload: WorkloadIdentity | undefined;
    if (side) {
      const inst = p[`${side}_instance`];
      const vpc = p[`${side}_vpc`];
      if (isObject(inst)) {
        const vm = str(inst.vm_name);
        if (vm) attributes['host.name'] = vm;
        const region = str(inst.region);
        if (region) attributes['cloud.region'] = region;
        const zone = str(inst.zone);
        if (zone) attributes['cloud.availability_zone'] = zone;
      }
      if (isObject(vpc)) {
        vpcId = str(vpc.vpc_name);
        subnetId = str(vpc.subnetwork_name);
      }
      account = side === 'src' ? srcProject : dstProject;
      workload = side === 'src' ? srcWorkload : dstWorkload;
    }
    account ??= isObject(entry.resource) && isObject(entry.resource.labels) ? str(entry.resource.labels.project_id) : undefined;
    if (account) attributes['cloud.account.id'] = account;
    addLocation(attributes, 'gcp.vpc_flow.src_location', p.src_location);
    addLocation(attributes, 'gcp.vpc_flow.dest_location', p.dest_location);
    const rtt = count(p.rtt_msec);
    if (rtt !== undefined && !Number.isNaN(rtt)) attributes['gcp.vpc_flow.rtt_msec'] = rtt;
    for (const s of ['src', 'dest'] as const) {
      const svc = p[`${s}_google_service`];
      if (isObject(svc) && str(svc.service_name)) attributes[`gcp.vpc_flow.${s}_google_service`] = str(svc.service_name) as string;
      const gke = p[`${s}_gke_details`];
      if (isObject(gke) && Array.isArray(gke.service)) {
        const names = gke.service
          .filter(isObject)
          .map((x) => str(x.service_name))
          .filter((x): x is string => x !== undefined)
          .slice(0, 16);
        if (names.length > 0) attributes[`gcp.vpc_flow.${s}_gke_services`] = names;
      }
    }

    let action: NetworkFlowEvent['action'];
    const disposition = str(p.disposition);
    if (disposition === 'ALLOWED') action = 'accept';
    else if (disposition === 'DROPPED') action = 'reject';
    else if (disposition) action = 'unknown';

    const insertId = str(entry.insertId);
    const event: NetworkFlowEvent = {
      kind: 'network_flow',
      time,
      observedTime: meta.observedTime,
      source: GCP_FORMAT,
      // entries without insertId: hash of location, line, position in an array and the entry itself
      sourceId: insertId ?? this.ids.id(meta.location, line, index === undefined ? text : `${index}:${safeJson(entry)}`),
      src,
      dst,
      direction,
      attributes,
      raw: entry,
    };
    if (meta.receiver !== undefined) event.receiver = meta.receiver;
    if (location !== undefined) event.location = location;
    if (workload) event.workload = workload;
    if (protocol !== undefined) event.protocol = protocol;
    if (bytes !== undefined) event.bytes = bytes;
    if (packets !== undefined) event.packets = packets;
    if (action) event.action = action;
    if (start !== undefined) event.start = start;
    if (end !== undefined) event.end = end;
    if (account) event.account = account;
    if (vpcId) event.vpcId = vpcId;
    if (subnetId) event.subnetId = subnetId;
    sink.event(event);
    return undefined;
  }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

export function createGcpFlowDecoder(options: FlowDecoderOptions = {}): GcpFlowDecoder {
  return new GcpFlowDecoder(options);
}

/** Confidence that `head` holds GCP VPC flow log entries: the `vpc_flows` log name, or a jsonPayload with a `connection` 5-tuple. */
export function sniffGcp(head: string): number {
  const t = head.trimStart();
  if (!t.startsWith('{') && !t.startsWith('[')) return 0;
  const flows = /compute\.googleapis\.com(?:%2F|\/)vpc_flows/.test(head);
  const payload = /"jsonPayload"\s*:/.test(head) && /"connection"\s*:\s*\{/.test(head) && /"src_ip"\s*:/.test(head) && /"dest_ip"\s*:/.test(head);
  if (flows && payload) return 0.97;
  if (payload) return 0.85;
  if (flows) return 0.6;
  return 0;
}

export const gcpFlowFormat: FormatDefinition = {
  name: GCP_FORMAT,
  description: 'Google Cloud VPC Flow Logs as Cloud Logging LogEntry JSON (JSON lines, or arrays of entries)',
  framing: 'lines',
  decoder: new GcpFlowDecoder(),
  sniff: sniffGcp,
};
