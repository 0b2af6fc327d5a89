import type {
  AttributeValue,
  DecodeMeta,
  Decoder,
  DecodeSink,
  FlowDirection,
  FlowEndpoint,
  FormatDefinition,
  NetworkFlowEvent,
  WorkloadIdentity,
} from '@outflow/core';
import { count, type FlowDecoderOptions, isObject, lineLocation, port, rfc3339, str, within } from './common.js';
import { LineIdHasher } from './hash.js';
import { AddressClassifier, DEFAULT_INTERNAL_CIDRS, isIpAddress } from './ip.js';

/**
 * Cilium Hubble flows as JSON lines: the Hubble exporter and
 * `hubble observe -o jsonpb` write `{"flow":{...},"node_name":...,"time":...}`;
 * `hubble observe -o json` writes bare flow objects. Field names are the
 * protobuf names (`pod_name`, `traffic_direction`); the lowerCamelCase JSON
 * names (`podName`, `trafficDirection`) are accepted too.
 * Reference: cilium/cilium api/v1/flow/flow.proto, api/v1/observer/observer.proto.
 */

export const HUBBLE_FORMAT = 'hubble';

export interface HubbleDecoderOptions extends FlowDecoderOptions {
  /**
   * L7 flows (DNS, HTTP, Kafka records from the Cilium proxy) describe
   * connections that also appear as L3/L4 flows. `skip` (default) counts them
   * as dropped with reason `l7`; `attributes` emits them as flows with the L7
   * details as attributes (`dns.question.name`, `http.request.method`, ...).
   */
  l7?: 'skip' | 'attributes';
  /** Most pod labels copied into a workload identity. Default 64. */
  maxLabels?: number;
}

const PROTOCOLS: readonly [string, number][] = [
  ['TCP', 6],
  ['UDP', 17],
  ['ICMPv4', 1],
  ['ICMPv6', 58],
  ['SCTP', 132],
];

/** Read `obj[snake] ?? obj[camel]`. */
function pick(obj: Record<string, unknown>, snake: string, camel: string): unknown {
  const v = obj[snake];
  return v === undefined ? obj[camel] : v;
}

function verdictAction(verdict: string | undefined): NetworkFlowEvent['action'] {
  switch (verdict) {
    case 'FORWARDED':
    case 'REDIRECTED':
    case 'TRANSLATED':
    case 'TRACED':
    case 'AUDIT':
      return 'accept';
    case 'DROPPED':
      return 'reject';
    case undefined:
      return undefined;
    default:
      return 'unknown';
  }
}

export class HubbleDecoder implements Decoder<string> {
  readonly format = HUBBLE_FORMAT;
  private readonly classifier: AddressClassifier;
  private readonly onSkip: ((reason: string) => void) | undefined;
  private readonly l7: 'skip' | 'attributes';
  private readonly maxLabels: number;
  private readonly ids = new LineIdHasher();

  constructor(options: HubbleDecoderOptions = {}) {
    this.classifier = new AddressClassifier(options.internalCidrs ?? DEFAULT_INTERNAL_CIDRS);
    this.onSkip = options.onSkip;
    this.l7 = options.l7 ?? 'skip';
    this.maxLabels = options.maxLabels ?? 64;
  }

  decode(input: string, sink: DecodeSink, meta: DecodeMeta): void {
    if (input.indexOf('\n') >= 0) {
      const lines = input.split('\n');
      const base = meta.line ?? 1;
      for (let i = 0; i < lines.length; i++) {
        let line = lines[i] as string;
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line.trim().length > 0) this.line(line, sink, meta, base + i);
      }
      return;
    }
    if (input.trim().length > 0) this.line(input, sink, meta, meta.line);
  }

  private line(text: string, sink: DecodeSink, meta: DecodeMeta, line: number | undefined): void {
    const location = lineLocation(meta, line);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      sink.error({ reason: 'invalid_json', message: err instanceof Error ? err.message : String(err), raw: text, location: within(meta, line) });
      return;
    }
    const bad = this.build(doc, text, sink, meta, line, location);
    if (bad) sink.error({ reason: bad[0], message: bad[1], raw: text, location: within(meta, line) });
  }

  private build(
    doc: unknown,
    text: string,
    sink: DecodeSink,
    meta: DecodeMeta,
    line: number | undefined,
    location: string | undefined,
  ): [string, string] | undefined {
    if (!isObject(doc)) return ['invalid_record', 'a Hubble record must be a JSON object'];
    let flow: Record<string, unknown>;
    let nodeName = str(pick(doc, 'node_name', 'nodeName'));
    let time: unknown = doc.time;
    if (doc.flow !== undefined) {
      if (!isObject(doc.flow)) return ['invalid_field', 'flow must be an object'];
      flow = doc.flow;
      time = flow.time ?? time;
      nodeName = str(pick(flow, 'node_name', 'nodeName')) ?? nodeName;
    } else if (doc.verdict !== undefined || doc.IP !== undefined || doc.l4 !== undefined || doc.source !== undefined) {
      flow = doc;
    } else if (doc.lost_events !== undefined || doc.lostEvents !== undefined) {
      this.onSkip?.('lost_events');
      return undefined;
    } else if (doc.node_status !== undefined || doc.nodeStatus !== undefined || doc.agent_event !== undefined || doc.debug_event !== undefined) {
      this.onSkip?.('not_a_flow');
      return undefined;
    } else {
      return ['unsupported_record', 'expected {"flow":{...}} or a flow object (verdict, IP, l4, source)'];
    }

    const type = str(flow.Type) ?? str(flow.type);
    const l7 = flow.l7;
    if (type === 'L7' || (type === undefined && isObject(l7))) {
      if (this.l7 === 'skip') {
        this.onSkip?.('l7');
        return undefined;
      }
    } else if (type === 'SOCK') {
      this.onSkip?.('sock_trace');
      return undefined;
    } else if (type !== undefined && type !== 'L3_L4' && type !== 'UNKNOWN_TYPE') {
      return ['invalid_field', `unknown flow Type "${type}"`];
    }

    const ip = flow.IP ?? flow.ip;
    if (ip === undefined) {
      if (flow.ethernet !== undefined) {
        // L2-only flows (ARP, ...) have no IP endpoints
        this.onSkip?.('no_ip');
        return undefined;
      }
      return ['missing_field', 'IP.source and IP.destination are required'];
    }
    if (!isObject(ip)) return ['invalid_field', 'IP must be an object'];
    const srcAddr = str(ip.source);
    const dstAddr = str(ip.destination);
    if (!srcAddr || !dstAddr) return ['missing_field', 'IP.source and IP.destination are required'];
    if (!isIpAddress(srcAddr) || !isIpAddress(dstAddr)) return ['invalid_field', 'IP.source and IP.destination must be IP addresses'];

    const t = rfc3339(time);
    if (t === undefined) return ['missing_field', 'time is required'];
    if (Number.isNaN(t)) return ['invalid_field', 'time must be an RFC 3339 timestamp'];

    let protocol: number | undefined;
    let srcPort: number | undefined;
    let dstPort: number | undefined;
    const l4 = flow.l4;
    if (l4 !== undefined) {
      if (!isObject(l4)) return ['invalid_field', 'l4 must be an object'];
      for (const [name, number] of PROTOCOLS) {
        const body = l4[name];
        if (body === undefined) continue;
        if (!isObject(body)) return ['invalid_field', `l4.${name} must be an object`];
        protocol = number;
        if (number === 6 || number === 17 || number === 132) {
          srcPort = port(pick(body, 'source_port', 'sourcePort'));
          dstPort = port(pick(body, 'destination_port', 'destinationPort'));
          if (Number.isNaN(srcPort) || Number.isNaN(dstPort)) return ['invalid_field', `l4.${name} ports must be integers 0..65535`];
        }
        break;
      }
    }

    const srcEp = flow.source;
    const dstEp = flow.destination;
    if (srcEp !== undefined && !isObject(srcEp)) return ['invalid_field', 'source must be an object'];
    if (dstEp !== undefined && !isObject(dstEp)) return ['invalid_field', 'destination must be an object'];
    const srcWorkload = this.workload(srcEp);
    const dstWorkload = this.workload(dstEp);

    const verdict = str(flow.verdict);
    const trafficDirection = str(pick(flow, 'traffic_direction', 'trafficDirection'));
    const isReplyValue = pick(flow, 'is_reply', 'isReply');
    const isReply = isReplyValue === true || (isObject(isReplyValue) && isReplyValue.value === true);

    let direction: FlowDirection;
    if (srcWorkload?.pod && dstWorkload?.pod) direction = 'internal';
    else if (trafficDirection === 'EGRESS') direction = 'egress';
    else if (trafficDirection === 'INGRESS') direction = 'ingress';
    else direction = this.classifier.direction(srcAddr, dstAddr);

    // The workload the flow is about is the local end: the sender of an egress connection, the receiver of an ingress one
    // (a reply packet travels the other way).
    let local: WorkloadIdentity | undefined;
    if (trafficDirection === 'EGRESS') local = isReply ? dstWorkload : srcWorkload;
    else if (trafficDirection === 'INGRESS') local = isReply ? srcWorkload : dstWorkload;
    else local = srcWorkload ?? dstWorkload;
    if (local && nodeName && !local.node) local.node = nodeName;

    const src: FlowEndpoint = srcPort === undefined ? { address: srcAddr } : { address: srcAddr, port: srcPort };
    const dst: FlowEndpoint = dstPort === undefined ? { address: dstAddr } : { address: dstAddr, port: dstPort };
    if (srcWorkload) src.workload = srcWorkload;
    if (dstWorkload) dst.workload = dstWorkload;
    const srcNames = names(pick(flow, 'source_names', 'sourceNames'));
    const dstNames = names(pick(flow, 'destination_names', 'destinationNames'));
    if (srcNames) src.names = srcNames;
    if (dstNames) dst.names = dstNames;

    const attributes: Record<string, AttributeValue> = {};
    if (nodeName) attributes['k8s.node.name'] = nodeName;
    if (trafficDirection) attributes['hubble.traffic_direction'] = trafficDirection;
    if (isReplyValue !== undefined) attributes['hubble.is_reply'] = isReply;
    const drop = str(pick(flow, 'drop_reason_desc', 'dropReasonDesc'));
    if (drop) attributes['hubble.drop_reason'] = drop;
    if (isObject(ip) && ip.encrypted === true) attributes['hubble.encrypted'] = true;
    for (const [key, value] of [
      ['source_service', pick(flow, 'source_service', 'sourceService')],
      ['destination_service', pick(flow, 'destination_service', 'destinationService')],
    ] as const) {
      if (isObject(value) && str(value.name))
        attributes[`hubble.${key}`] = str(value.namespace) ? `${str(value.namespace)}/${str(value.name)}` : (str(value.name) as string);
    }
    for (const [key, ep] of [
      ['source', srcEp],
      ['destination', dstEp],
    ] as const) {
      if (!isObject(ep)) continue;
      const identity = count(ep.identity);
      if (identity !== undefined && !Number.isNaN(identity)) attributes[`hubble.${key}.identity`] = identity;
      const labels = ep.labels;
      if (Array.isArray(labels) && labels.includes('reserved:world')) attributes[`hubble.${key}.world`] = true;
    }
    if (isObject(l4) && isObject(l4.TCP)) {
      const flags = l4.TCP.flags;
      if (isObject(flags)) {
        const set = Object.keys(flags).filter((k) => flags[k] === true);
        if (set.length > 0) attributes['hubble.tcp_flags'] = set;
      }
    }
    if (isObject(l4)) {
      const icmp = isObject(l4.ICMPv4) ? l4.ICMPv4 : isObject(l4.ICMPv6) ? l4.ICMPv6 : undefined;
      if (icmp) {
        const it = count(icmp.type);
        if (it !== undefined && !Number.isNaN(it)) attributes['hubble.icmp.type'] = it;
      }
    }
    if (isObject(l7)) l7Attributes(l7, attributes);

    const uuid = str(flow.uuid);
    const event: NetworkFlowEvent = {
      kind: 'network_flow',
      time: t,
      observedTime: meta.observedTime,
      source: HUBBLE_FORMAT,
      sourceId: uuid ?? this.ids.id(meta.location, line, text),
      src,
      dst,
      direction,
      attributes,
      raw: doc,
    };
    if (meta.receiver !== undefined) event.receiver = meta.receiver;
    if (location !== undefined) event.location = location;
    if (local) event.workload = local;
    if (protocol !== undefined) event.protocol = protocol;
    const action = verdictAction(verdict);
    if (action) event.action = action;
    if (verdict) event.trafficPath = verdict;
    sink.event(event);
    return undefined;
  }

  private workload(ep: Record<string, unknown> | undefined): WorkloadIdentity | undefined {
    if (!ep) return undefined;
    const w: WorkloadIdentity = {};
    const cluster = str(pick(ep, 'cluster_name', 'clusterName'));
    if (cluster) w.cluster = cluster;
    const ns = str(ep.namespace);
    if (ns) w.namespace = ns;
    const pod = str(pick(ep, 'pod_name', 'podName'));
    if (pod) w.pod = pod;
    const workloads = ep.workloads;
    if (Array.isArray(workloads) && isObject(workloads[0])) {
      const name = str(workloads[0].name);
      const kind = str(workloads[0].kind);
      if (name) {
        w.workloadName = name;
        if (kind) w.workloadKind = kind;
      }
    }
    const labels = ep.labels;
    if (Array.isArray(labels) && (pod || ns)) {
      const out: Record<string, string> = {};
      let n = 0;
      for (const l of labels) {
        if (typeof l !== 'string' || n >= this.maxLabels) continue;
        // `k8s:app=web`: keep the pod's Kubernetes labels, without the source prefix; skip the ones Cilium
        // derives (`io.kubernetes.pod.namespace`, `io.cilium.k8s.policy.*`, namespace labels)
        if (!l.startsWith('k8s:') || l.startsWith('k8s:io.kubernetes.pod.') || l.startsWith('k8s:io.cilium.')) continue;
        const eq = l.indexOf('=');
        if (eq < 5) continue;
        out[l.slice(4, eq)] = l.slice(eq + 1);
        n++;
      }
      if (n > 0) w.labels = out;
    }
    return w.pod || w.namespace || w.workloadName ? w : undefined;
  }
}

function names(v: unknown): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out = v.filter((x): x is string => typeof x === 'string' && x.length > 0).slice(0, 16);
  return out.length > 0 ? out : undefined;
}

function l7Attributes(l7: Record<string, unknown>, attributes: Record<string, AttributeValue>): void {
  const type = str(l7.type);
  if (type) attributes['hubble.l7.type'] = type;
  const dns = l7.dns;
  if (isObject(dns)) {
    const q = str(dns.query);
    if (q) attributes['dns.question.name'] = q.endsWith('.') ? q.slice(0, -1) : q;
    const ips = names(dns.ips);
    if (ips) attributes['hubble.dns.ips'] = ips;
    const rcode = count(dns.rcode);
    if (rcode !== undefined && !Number.isNaN(rcode)) attributes['hubble.dns.rcode'] = rcode;
  }
  const http = l7.http;
  if (isObject(http)) {
    const method = str(http.method);
    if (method) attributes['http.request.method'] = method;
    const url = str(http.url);
    if (url) attributes['url.full'] = url;
    const code = count(http.code);
    if (code !== undefined && !Number.isNaN(code) && code > 0) attributes['http.response.status_code'] = code;
  }
  const kafka = l7.kafka;
  if (isObject(kafka)) {
    const topic = str(kafka.topic);
    if (topic) attributes['messaging.destination.name'] = topic;
  }
}

export function createHubbleDecoder(options: HubbleDecoderOptions = {}): HubbleDecoder {
  return new HubbleDecoder(options);
}

/** Confidence that `head` is Hubble flow JSON lines: `"flow":{` with verdict or IP, or bare flows with verdict and IP/l4. */
export function sniffHubble(head: string): number {
  const t = head.trimStart();
  if (!t.startsWith('{')) return 0;
  const wrapped = /^\{\s*"flow"\s*:\s*\{/.test(t);
  const verdict = /"verdict"\s*:\s*"(?:FORWARDED|DROPPED|ERROR|AUDIT|REDIRECTED|TRACED|TRANSLATED|VERDICT_UNKNOWN)"/.test(head);
  const ip = /"IP"\s*:\s*\{/.test(head) || /"l4"\s*:\s*\{/.test(head);
  if (wrapped && (verdict || ip)) return 0.95;
  if (verdict && ip) return 0.85;
  if (wrapped && /"node_name"\s*:/.test(head)) return 0.6;
  return 0;
}

export const hubbleFormat: FormatDefinition = {
  name: HUBBLE_FORMAT,
  description: 'Cilium Hubble flows as JSON lines (Hubble exporter, hubble observe -o jsonpb / -o json)',
  framing: 'lines',
  decoder: new HubbleDecoder(),
  sniff: sniffHubble,
};
