import {
  type AttributeValue,
  type DecodeMeta,
  type Decoder,
  type DecodeSink,
  type FlowDirection,
  type FormatDefinition,
  KeyedState,
  type NetworkFlowEvent,
  parseIPv4,
  type WorkloadIdentity,
} from '@outflow/core';
import { type FlowDecoderOptions, isObject, lineLocation, within } from './common.js';
import { LineIdHasher } from './hash.js';
import { AddressClassifier, DEFAULT_INTERNAL_CIDRS, directionOf, isIpAddress } from './ip.js';

/**
 * AWS VPC Flow Logs, text form: space-separated fields, `-` for absent values.
 * Field reference: https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
 */

export const VPC_FORMAT = 'aws_vpc_flow';

/** The default (version 2) format, in order. */
export const VPC_DEFAULT_FIELDS: readonly string[] = [
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
];

/** Every field AWS documents for VPC flow logs, versions 2 to 8 (transit-gateway-only fields of v6 are kept as attributes when present). */
export const VPC_KNOWN_FIELDS: ReadonlySet<string> = new Set([
  ...VPC_DEFAULT_FIELDS,
  // v3
  'vpc-id',
  'subnet-id',
  'instance-id',
  'tcp-flags',
  'type',
  'pkt-srcaddr',
  'pkt-dstaddr',
  // v4
  'region',
  'az-id',
  'sublocation-type',
  'sublocation-id',
  // v5
  'pkt-src-aws-service',
  'pkt-dst-aws-service',
  'flow-direction',
  'traffic-path',
  // v7 (ECS)
  'ecs-cluster-arn',
  'ecs-cluster-name',
  'ecs-container-instance-arn',
  'ecs-container-instance-id',
  'ecs-container-id',
  'ecs-second-container-id',
  'ecs-service-name',
  'ecs-task-definition-arn',
  'ecs-task-arn',
  'ecs-task-id',
  // v8
  'reject-reason',
]);

/** Fields with no typed slot in the event, and the attribute each goes to (OpenTelemetry names where one exists). */
const ATTRIBUTE_KEYS: Readonly<Record<string, { key: string; numeric?: boolean }>> = {
  'instance-id': { key: 'host.id' },
  'tcp-flags': { key: 'aws.vpc.flow.tcp_flags', numeric: true },
  type: { key: 'aws.vpc.flow.type' },
  region: { key: 'cloud.region' },
  'az-id': { key: 'aws.vpc.flow.az_id' },
  'sublocation-type': { key: 'aws.vpc.flow.sublocation_type' },
  'sublocation-id': { key: 'aws.vpc.flow.sublocation_id' },
  'pkt-src-aws-service': { key: 'aws.vpc.flow.pkt_src_aws_service' },
  'pkt-dst-aws-service': { key: 'aws.vpc.flow.pkt_dst_aws_service' },
  'reject-reason': { key: 'aws.vpc.flow.reject_reason' },
  'ecs-cluster-arn': { key: 'aws.ecs.cluster.arn' },
  'ecs-container-instance-arn': { key: 'aws.ecs.container.arn' },
  'ecs-container-instance-id': { key: 'aws.ecs.container_instance.id' },
  'ecs-second-container-id': { key: 'aws.ecs.second_container.id' },
  'ecs-service-name': { key: 'aws.ecs.service.name' },
  'ecs-task-definition-arn': { key: 'aws.ecs.task.definition.arn' },
  'ecs-task-arn': { key: 'aws.ecs.task.arn' },
  'ecs-task-id': { key: 'aws.ecs.task.id' },
};

/** Fields that go to typed slots (or are dropped, like `version`), never to attributes. */
const TYPED_FIELDS = new Set([
  ...VPC_DEFAULT_FIELDS,
  'vpc-id',
  'subnet-id',
  'pkt-srcaddr',
  'pkt-dstaddr',
  'flow-direction',
  'traffic-path',
  'ecs-cluster-name',
  'ecs-container-id',
]);

/** `traffic-path` codes, as documented by AWS, to short names. */
const TRAFFIC_PATHS: Readonly<Record<string, string>> = {
  '1': 'same_vpc',
  '2': 'internet_gateway_or_gateway_endpoint',
  '3': 'virtual_private_gateway',
  '4': 'intra_region_peering',
  '5': 'inter_region_peering',
  '6': 'local_gateway',
  '7': 'gateway_endpoint',
  '8': 'internet_gateway',
};

interface AttrField {
  index: number;
  key: string;
  numeric: boolean;
}

/** Field positions for one header: computed once per distinct header, then reused for every line. */
export interface VpcLayout {
  readonly header: string;
  readonly fields: readonly string[];
  readonly count: number;
  readonly srcaddr: number;
  readonly dstaddr: number;
  readonly srcport: number;
  readonly dstport: number;
  readonly protocol: number;
  readonly packets: number;
  readonly bytes: number;
  readonly start: number;
  readonly end: number;
  readonly action: number;
  readonly logStatus: number;
  readonly account: number;
  readonly iface: number;
  readonly vpc: number;
  readonly subnet: number;
  readonly pktSrc: number;
  readonly pktDst: number;
  readonly flowDirection: number;
  readonly trafficPath: number;
  readonly ecsClusterName: number;
  readonly ecsContainerId: number;
  readonly ecsServiceName: number;
  readonly ecsTaskDefinition: number;
  readonly ecsTaskId: number;
  readonly hasEcs: boolean;
  readonly attrs: readonly AttrField[];
}

const FIELD_NAME = /^[a-z][a-z0-9-]*$/;

/** Split a format string (`${version} ${srcaddr} ...`) or a header line into field names. */
export function vpcFieldNames(format: string): string[] {
  return format
    .trim()
    .split(/\s+/)
    .map((f) => (f.startsWith('${') && f.endsWith('}') ? f.slice(2, -1) : f));
}

/**
 * Build the layout for a header line or format string. Returns undefined when
 * it does not look like a VPC flow log header: every token must be a field
 * name, at least two must be documented field names, and srcaddr and dstaddr
 * must be among them.
 */
export function vpcLayout(header: string): VpcLayout | undefined {
  const fields = vpcFieldNames(header);
  let known = 0;
  for (const f of fields) {
    if (!FIELD_NAME.test(f)) return undefined;
    if (VPC_KNOWN_FIELDS.has(f)) known++;
  }
  if (known < 2 || !fields.includes('srcaddr') || !fields.includes('dstaddr')) return undefined;
  const at = (name: string) => fields.indexOf(name);
  const attrs: AttrField[] = [];
  fields.forEach((f, index) => {
    if (TYPED_FIELDS.has(f)) return;
    const spec = ATTRIBUTE_KEYS[f];
    attrs.push(spec ? { index, key: spec.key, numeric: spec.numeric === true } : { index, key: `aws.vpc.flow.${f.replaceAll('-', '_')}`, numeric: false });
  });
  const ecs = ['ecs-cluster-name', 'ecs-container-id', 'ecs-service-name', 'ecs-task-definition-arn', 'ecs-task-id'].map(at);
  return {
    header,
    fields,
    count: fields.length,
    srcaddr: at('srcaddr'),
    dstaddr: at('dstaddr'),
    srcport: at('srcport'),
    dstport: at('dstport'),
    protocol: at('protocol'),
    packets: at('packets'),
    bytes: at('bytes'),
    start: at('start'),
    end: at('end'),
    action: at('action'),
    logStatus: at('log-status'),
    account: at('account-id'),
    iface: at('interface-id'),
    vpc: at('vpc-id'),
    subnet: at('subnet-id'),
    pktSrc: at('pkt-srcaddr'),
    pktDst: at('pkt-dstaddr'),
    flowDirection: at('flow-direction'),
    trafficPath: at('traffic-path'),
    ecsClusterName: ecs[0] as number,
    ecsContainerId: ecs[1] as number,
    ecsServiceName: ecs[2] as number,
    ecsTaskDefinition: ecs[3] as number,
    ecsTaskId: ecs[4] as number,
    hasEcs: ecs.some((i) => i >= 0),
    attrs,
  };
}

const DEFAULT_LAYOUT = vpcLayout(VPC_DEFAULT_FIELDS.join(' ')) as VpcLayout;

/** -1: absent (`-`); -2: not a non-negative safe integer. Hand-rolled: cheaper than Number() plus checks on the hot path. */
function intField(s: string): number {
  const n = s.length;
  if (n === 1 && s.charCodeAt(0) === 45) return -1;
  if (n === 0 || n > 16) return -2;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -2;
    v = v * 10 + c;
  }
  return v <= Number.MAX_SAFE_INTEGER ? v : -2;
}

export interface VpcFlowDecoderOptions extends FlowDecoderOptions {
  /**
   * Field order for input without a header line (CloudWatch Logs streams of a
   * custom format): a format string such as `${version} ${vpc-id} ${srcaddr} ...`
   * or the field names separated by spaces. Default: the version 2 default format.
   */
  format?: string;
}

type Bad = { reason: string; message: string };

const HEADER_CACHE_MAX = 256;
const HEADER_CACHE_TTL_MS = 3_600_000;

/**
 * Decoder for AWS VPC flow log lines. Give it one line per call with
 * `meta.firstLine` set to the file's first line (the S3 header); a call with
 * several lines is split here. Also accepts CloudWatch Logs export lines
 * (`<ISO timestamp> <flow line>`) and CloudWatch Logs subscription messages
 * (`{"logEvents":[{"id","timestamp","message"}]}`), where each message is one flow line.
 */
export class VpcFlowDecoder implements Decoder<string> {
  readonly format = VPC_FORMAT;
  private readonly classifier: AddressClassifier;
  private readonly onSkip: ((reason: string) => void) | undefined;
  private readonly defaultLayout: VpcLayout;
  /** Layouts by header string (null: not a header), capped and expired by ingest time like all keyed state. */
  private readonly headers = new KeyedState<string, VpcLayout | null>({ maxKeys: HEADER_CACHE_MAX, ttlMs: HEADER_CACHE_TTL_MS });
  private readonly ids = new LineIdHasher();
  private lastFirstLine: string | undefined;
  private lastLayout: VpcLayout | null = null;
  /** Header seen in a stream without `meta.firstLine` (stdin, HTTP bodies): applies to the lines after it. */
  private streamLayout: VpcLayout | undefined;

  constructor(options: VpcFlowDecoderOptions = {}) {
    this.classifier = new AddressClassifier(options.internalCidrs ?? DEFAULT_INTERNAL_CIDRS);
    this.onSkip = options.onSkip;
    if (options.format !== undefined) {
      const layout = vpcLayout(options.format);
      if (!layout) throw new RangeError(`not a VPC flow log format (needs field names including srcaddr and dstaddr): ${options.format}`);
      this.defaultLayout = layout;
    } else {
      this.defaultLayout = DEFAULT_LAYOUT;
    }
  }

  /**
   * The layout of a header line (null when it is not one), from a small cache
   * keyed by the header string: computed once per distinct header, not per
   * line. `now` (ingest time) ages out headers not seen for an hour.
   */
  layoutOf(header: string, now = 0): VpcLayout | null {
    // no header is this long (there are about 40 field names); keeps whole documents out of the cache
    if (header.length > 2048) return null;
    let layout = this.headers.get(header, now);
    if (layout === undefined) {
      if (header.indexOf('\n') >= 0) return null; // several lines: not a header, and not worth a cache entry
      const c = header.charCodeAt(0);
      layout = c >= 97 && c <= 122 ? (vpcLayout(header) ?? null) : null;
      this.headers.expire(now);
      this.headers.set(header, layout, now);
    }
    return layout;
  }

  decode(input: string, sink: DecodeSink, meta: DecodeMeta): void {
    // Several lines in one input (document framing, HTTP bodies, tests) are split where a line fails to split into
    // its fields, so the usual one-line input is not scanned for '\n' first.
    this.decodeLine(input, sink, meta, meta.line, meta.firstLine, true);
  }

  private decodeLines(input: string, sink: DecodeSink, meta: DecodeMeta): void {
    const lines = input.split('\n');
    const base = meta.line ?? 1;
    // the input's first line plays the file's first line when the transport did not give one (documents, HTTP bodies)
    let firstLine = meta.firstLine;
    if (firstLine === undefined) {
      firstLine = lines[0];
      if (firstLine?.endsWith('\r')) firstLine = firstLine.slice(0, -1);
    }
    for (let i = 0; i < lines.length; i++) {
      let line = lines[i] as string;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line.length === 0) continue;
      this.decodeLine(line, sink, meta, base + i, firstLine, false);
    }
  }

  private decodeLine(line: string, sink: DecodeSink, meta: DecodeMeta, lineNo: number | undefined, firstLine: string | undefined, whole: boolean): void {
    if (line.length === 0) return;
    const c0 = line.charCodeAt(0);
    if (c0 === 123 /* { */) {
      if (whole && line.indexOf('\n') >= 0) this.decodeLines(line, sink, meta);
      else this.decodeJson(line, sink, meta, lineNo);
      return;
    }
    let layout: VpcLayout;
    if (firstLine !== undefined) {
      let header: VpcLayout | null;
      if (firstLine === this.lastFirstLine) header = this.lastLayout;
      else {
        header = this.layoutOf(firstLine, meta.observedTime);
        this.lastFirstLine = firstLine;
        this.lastLayout = header;
      }
      if (header !== null) {
        if (line.length === firstLine.length && line === firstLine) return; // the header itself
        layout = header;
      } else layout = this.defaultLayout;
    } else if (c0 >= 97 && c0 <= 122 && line.includes('srcaddr') && this.layoutOf(line, meta.observedTime) !== null) {
      // a header line in a stream without meta.firstLine (stdin, HTTP bodies); data lines never contain the word srcaddr
      this.streamLayout = this.layoutOf(line, meta.observedTime) as VpcLayout;
      return;
    } else {
      layout = this.streamLayout ?? this.defaultLayout;
    }
    if (!this.decodeFields(line, line, layout, sink, meta, lineNo, undefined, undefined, whole)) this.decodeLines(line, sink, meta);
  }

  /**
   * Decode one flow line. `raw` is what the event keeps and errors report (the
   * whole line, or the subscription message); `text` may start with a
   * CloudWatch export timestamp.
   */
  private decodeFields(
    raw: string,
    text: string,
    layout: VpcLayout,
    sink: DecodeSink,
    meta: DecodeMeta,
    lineNo: number | undefined,
    id: string | undefined,
    suffix?: string,
    whole = false,
  ): boolean {
    let body = text;
    // CloudWatch Logs export to S3: `2024-01-01T00:00:00.000Z <message>`
    const c0 = body.charCodeAt(0);
    if (c0 >= 48 && c0 <= 57 && body.length > 20 && body.charCodeAt(4) === 45 && body.charCodeAt(10) === 84) {
      const sp = body.indexOf(' ');
      if (sp > 0) body = body.slice(sp + 1);
    }
    const f = body.split(' ');
    if (f.length !== layout.count) {
      // several lines in one input: let the caller split them
      if (whole && raw.indexOf('\n') >= 0) return false;
      sink.error({
        reason: 'field_count',
        message: `expected ${layout.count} space-separated fields (${layout === DEFAULT_LAYOUT ? 'default format' : layout === this.defaultLayout ? 'configured format' : 'per the header'}), got ${f.length}`,
        raw,
        location: within(meta, lineNo, suffix),
      });
      return true;
    }
    let bad: Bad | undefined;
    if (layout.logStatus >= 0) {
      const status = f[layout.logStatus] as string;
      if (status === 'NODATA' || status === 'SKIPDATA') {
        this.onSkip?.(status === 'NODATA' ? 'nodata' : 'skipdata');
        return true;
      }
      if (status !== 'OK' && status !== '-') bad = invalid('log-status', status);
    }
    bad ??= this.build(raw, f, layout, sink, meta, lineNo, id);
    if (bad !== undefined) sink.error({ reason: bad.reason, message: bad.message, raw, location: within(meta, lineNo, suffix) });
    return true;
  }

  private build(
    raw: string,
    f: string[],
    L: VpcLayout,
    sink: DecodeSink,
    meta: DecodeMeta,
    lineNo: number | undefined,
    id: string | undefined,
  ): Bad | undefined {
    const ifSrc = L.srcaddr >= 0 ? (f[L.srcaddr] as string) : '-';
    const ifDst = L.dstaddr >= 0 ? (f[L.dstaddr] as string) : '-';
    const pktSrc = L.pktSrc >= 0 ? (f[L.pktSrc] as string) : '-';
    const pktDst = L.pktDst >= 0 ? (f[L.pktDst] as string) : '-';
    const srcAddr = pktSrc !== '-' ? pktSrc : ifSrc;
    const dstAddr = pktDst !== '-' ? pktDst : ifDst;
    if (srcAddr === '-' || dstAddr === '-') return { reason: 'missing_field', message: 'srcaddr and dstaddr are required for a flow (log-status OK)' };

    let srcPort: number | undefined;
    let dstPort: number | undefined;
    let protocol: number | undefined;
    let packets: number | undefined;
    let bytes: number | undefined;
    let start: number | undefined;
    let end: number | undefined;
    let n: number;
    if (L.srcport >= 0) {
      n = intField(f[L.srcport] as string);
      if (n === -2 || n > 65535) return invalid('srcport', f[L.srcport]);
      if (n >= 0) srcPort = n;
    }
    if (L.dstport >= 0) {
      n = intField(f[L.dstport] as string);
      if (n === -2 || n > 65535) return invalid('dstport', f[L.dstport]);
      if (n >= 0) dstPort = n;
    }
    if (L.protocol >= 0) {
      n = intField(f[L.protocol] as string);
      if (n === -2 || n > 255) return invalid('protocol', f[L.protocol]);
      if (n >= 0) protocol = n;
    }
    if (L.packets >= 0) {
      n = intField(f[L.packets] as string);
      if (n === -2) return invalid('packets', f[L.packets]);
      if (n >= 0) packets = n;
    }
    if (L.bytes >= 0) {
      n = intField(f[L.bytes] as string);
      if (n === -2) return invalid('bytes', f[L.bytes]);
      if (n >= 0) bytes = n;
    }
    if (L.start >= 0) {
      n = intField(f[L.start] as string);
      if (n === -2 || n > 1e11) return invalid('start', f[L.start]);
      if (n >= 0) start = n * 1000;
    }
    if (L.end >= 0) {
      n = intField(f[L.end] as string);
      if (n === -2 || n > 1e11) return invalid('end', f[L.end]);
      if (n >= 0) end = n * 1000;
    }
    const time = end ?? start;
    if (time === undefined) return { reason: 'missing_field', message: 'a flow needs end or start (epoch seconds)' };

    let action: NetworkFlowEvent['action'];
    if (L.action >= 0) {
      const a = f[L.action] as string;
      action = a === 'ACCEPT' ? 'accept' : a === 'REJECT' ? 'reject' : a === '-' ? undefined : 'unknown';
    }

    let direction: FlowDirection | undefined;
    if (L.flowDirection >= 0) {
      const d = f[L.flowDirection] as string;
      if (d === 'egress' || d === 'ingress') direction = d;
    }
    const s4 = parseIPv4(srcAddr) ?? -1;
    const d4 = parseIPv4(dstAddr) ?? -1;
    const srcClass = s4 >= 0 ? this.classifier.classifyV4(s4) : this.classifier.classify(srcAddr);
    const dstClass = d4 >= 0 ? this.classifier.classifyV4(d4) : this.classifier.classify(dstAddr);
    if (srcClass === 'invalid') return invalid(L.pktSrc >= 0 && pktSrc !== '-' ? 'pkt-srcaddr' : 'srcaddr', srcAddr);
    if (dstClass === 'invalid') return invalid(L.pktDst >= 0 && pktDst !== '-' ? 'pkt-dstaddr' : 'dstaddr', dstAddr);
    direction ??= directionOf(srcClass, dstClass);

    let attributes: Record<string, AttributeValue> | undefined;
    const attrs = L.attrs;
    for (let i = 0; i < attrs.length; i++) {
      const a = attrs[i] as AttrField;
      const v = f[a.index] as string;
      if (v === '-') continue;
      attributes ??= {};
      if (a.numeric) {
        const num = intField(v);
        attributes[a.key] = num >= 0 ? num : v;
      } else attributes[a.key] = v;
    }
    if (pktSrc !== '-' && pktSrc !== ifSrc && ifSrc !== '-') (attributes ??= {})['aws.vpc.flow.srcaddr'] = ifSrc;
    if (pktDst !== '-' && pktDst !== ifDst && ifDst !== '-') (attributes ??= {})['aws.vpc.flow.dstaddr'] = ifDst;

    const account = L.account >= 0 ? nonDash(f[L.account] as string) : undefined;
    let workload: WorkloadIdentity | undefined;
    if (L.hasEcs) {
      workload = ecsWorkload(f, L, account);
      if (workload && attributes) {
        const def = attributes['aws.ecs.task.definition.arn'];
        if (typeof def === 'string') addTaskFamily(attributes, def);
      }
    }

    const sourceId = id ?? this.flowId(meta.location, lineNo, s4, d4, srcAddr, dstAddr, srcPort, dstPort, protocol, packets, bytes, start, end);
    const src = { address: srcAddr, port: srcPort, workload: direction === 'egress' && L.flowDirection >= 0 ? workload : undefined };
    const dst = { address: dstAddr, port: dstPort, workload: direction === 'ingress' && L.flowDirection >= 0 ? workload : undefined };
    let trafficPath: string | undefined;
    if (L.trafficPath >= 0) {
      const p = f[L.trafficPath] as string;
      if (p !== '-') trafficPath = TRAFFIC_PATHS[p] ?? p;
    }
    const event: NetworkFlowEvent = {
      kind: 'network_flow',
      time,
      observedTime: meta.observedTime,
      source: VPC_FORMAT,
      sourceId,
      receiver: meta.receiver,
      location: lineLocation(meta, lineNo),
      workload,
      raw,
      attributes,
      src,
      dst,
      protocol,
      direction,
      bytes,
      packets,
      action,
      start,
      end,
      account,
      vpcId: L.vpc >= 0 ? nonDash(f[L.vpc] as string) : undefined,
      subnetId: L.subnet >= 0 ? nonDash(f[L.subnet] as string) : undefined,
      interfaceId: L.iface >= 0 ? nonDash(f[L.iface] as string) : undefined,
      trafficPath,
    };
    sink.event(event);
    return undefined;
  }

  /**
   * Deterministic id of a line without one: a hash of its location (path and
   * line number) and the flow it describes (addresses, ports, protocol,
   * counts, times). Hashing the parsed values instead of the line's text
   * costs a third as much and identifies the record as well: the location is
   * unique within a file, the flow content tells apart two files that
   * shared a path.
   */
  private flowId(
    location: string | undefined,
    lineNo: number | undefined,
    s4: number,
    d4: number,
    src: string,
    dst: string,
    srcPort: number | undefined,
    dstPort: number | undefined,
    protocol: number | undefined,
    packets: number | undefined,
    bytes: number | undefined,
    start: number | undefined,
    end: number | undefined,
  ): string {
    const h = this.ids.begin(location, lineNo);
    // IPv4 addresses as their 32-bit values (already parsed), others as text
    if (s4 >= 0) h.int(s4);
    else h.string(src);
    if (d4 >= 0) h.int(d4);
    else h.string(dst);
    return h
      .int(srcPort === undefined ? 0 : srcPort + 1)
      .int(dstPort === undefined ? 0 : dstPort + 1)
      .int(protocol === undefined ? 0 : protocol + 1)
      .int(packets === undefined ? 0 : packets + 1)
      .int(bytes === undefined ? 0 : bytes + 1)
      .int(start === undefined ? 0 : start / 1000 + 1)
      .int(end === undefined ? 0 : end / 1000 + 1)
      .digest();
  }

  /** CloudWatch Logs subscription data (`{"messageType":"DATA_MESSAGE","logEvents":[...]}`) or one log event (`{"id","timestamp","message"}`). */
  private decodeJson(line: string, sink: DecodeSink, meta: DecodeMeta, lineNo: number | undefined): void {
    let doc: unknown;
    try {
      doc = JSON.parse(line);
    } catch (err) {
      sink.error({ reason: 'invalid_json', message: err instanceof Error ? err.message : String(err), raw: line, location: within(meta, lineNo) });
      return;
    }
    if (!isObject(doc)) {
      sink.error({
        reason: 'unsupported_record',
        message: 'expected a CloudWatch Logs subscription message or log event object',
        raw: line,
        location: within(meta, lineNo),
      });
      return;
    }
    if (doc.messageType === 'CONTROL_MESSAGE') {
      this.onSkip?.('control_message');
      return;
    }
    const events = Array.isArray(doc.logEvents) ? doc.logEvents : typeof doc.message === 'string' ? [doc] : undefined;
    if (!events) {
      sink.error({
        reason: 'unsupported_record',
        message: 'JSON input must be a CloudWatch Logs subscription message (logEvents) or a log event (message)',
        raw: line,
        location: within(meta, lineNo),
      });
      return;
    }
    for (let j = 0; j < events.length; j++) {
      const e: unknown = events[j];
      const suffix = doc.logEvents === events ? `logEvents[${j}]` : undefined;
      const message = isObject(e) ? e.message : undefined;
      if (typeof message !== 'string' || message.length === 0) {
        sink.error({
          reason: 'missing_field',
          message: 'log event without a message',
          raw: JSON.stringify(e) ?? String(e),
          location: within(meta, lineNo, suffix),
        });
        continue;
      }
      const eventId = isObject(e) && typeof e.id === 'string' && e.id.length > 0 ? e.id : undefined;
      const c = message.charCodeAt(0);
      if (c >= 97 && c <= 122 && message.includes('srcaddr') && this.layoutOf(message, meta.observedTime) !== null) continue; // a header line as a message
      this.decodeFields(message, message, this.defaultLayout, sink, meta, lineNo, eventId ?? this.ids.id(meta.location, lineNo, message), suffix);
    }
  }
}

function invalid(field: string, value: string | undefined): Bad {
  return { reason: 'invalid_field', message: `${field} "${value}" is not a valid value` };
}

function nonDash(v: string): string | undefined {
  return v === '-' || v.length === 0 ? undefined : v;
}

function ecsWorkload(f: string[], L: VpcLayout, account: string | undefined): WorkloadIdentity | undefined {
  const cluster = L.ecsClusterName >= 0 ? nonDash(f[L.ecsClusterName] as string) : undefined;
  const containerId = L.ecsContainerId >= 0 ? nonDash(f[L.ecsContainerId] as string) : undefined;
  const service = L.ecsServiceName >= 0 ? nonDash(f[L.ecsServiceName] as string) : undefined;
  const taskDef = L.ecsTaskDefinition >= 0 ? nonDash(f[L.ecsTaskDefinition] as string) : undefined;
  const taskId = L.ecsTaskId >= 0 ? nonDash(f[L.ecsTaskId] as string) : undefined;
  if (!cluster && !containerId && !service && !taskDef && !taskId) return undefined;
  const w: WorkloadIdentity = {};
  if (cluster) w.cluster = cluster;
  if (service) {
    w.workloadKind = 'ECSService';
    w.workloadName = service;
  } else if (taskDef && taskFamily(taskDef)) {
    w.workloadKind = 'ECSTaskFamily';
    w.workloadName = taskFamily(taskDef) as string;
  } else if (taskId) {
    w.workloadKind = 'ECSTask';
    w.workloadName = taskId;
  }
  if (containerId) w.containerId = containerId;
  if (account) w.account = account;
  return w;
}

/** `arn:aws:ecs:region:account:task-definition/family:revision` → family. */
function taskFamily(arn: string): string | undefined {
  const slash = arn.indexOf('task-definition/');
  if (slash < 0) return undefined;
  const rest = arn.slice(slash + 16);
  const colon = rest.lastIndexOf(':');
  const family = colon > 0 ? rest.slice(0, colon) : rest;
  return family.length > 0 ? family : undefined;
}

function addTaskFamily(attributes: Record<string, AttributeValue>, arn: string): void {
  const family = taskFamily(arn);
  if (!family) return;
  attributes['aws.ecs.task.family'] = family;
  const colon = arn.lastIndexOf(':');
  const revision = arn.slice(colon + 1);
  if (colon > arn.indexOf('task-definition/') && /^\d+$/.test(revision)) attributes['aws.ecs.task.revision'] = revision;
}

export function createVpcFlowDecoder(options: VpcFlowDecoderOptions = {}): VpcFlowDecoder {
  return new VpcFlowDecoder(options);
}

/**
 * Confidence that `head` is VPC flow log text: a header line naming
 * srcaddr/dstaddr scores 0.95; otherwise 0.9 when at least half of the first
 * 20 lines decode as default-format (or CloudWatch export) records, less in
 * proportion below that; CloudWatch Logs subscription JSON whose messages
 * decode the same way scores up to 0.8.
 */
export function sniffVpc(head: string): number {
  const lines = head.split('\n', 21).slice(0, 20);
  const first = (lines[0] ?? '').replace(/\r$/, '');
  if (first.length === 0) return 0;
  if (vpcLayout(first)) return 0.95;
  if (first.startsWith('{')) {
    if (!/"logEvents"\s*:/.test(head) || !/"message"\s*:/.test(head)) return 0;
    const messages = [...head.matchAll(/"message"\s*:\s*"((?:[^"\\]|\\.)*)"/g)]
      .map((m) => m[1] as string)
      .filter((m) => !m.startsWith('CWL CONTROL MESSAGE'))
      .slice(0, 20);
    if (messages.length === 0) return 0;
    return 0.8 * Math.min(1, 2 * shareDecoding(messages));
  }
  // the last line of a 64 KiB head may be cut
  const complete = head.length >= 65536 && lines.length > 1 ? lines.slice(0, -1) : lines;
  // a file may hold a few bad lines: half of them decoding is full confidence
  return 0.9 * Math.min(1, 2 * shareDecoding(complete.map((l) => l.replace(/\r$/, '')).filter((l) => l.length > 0)));
}

function shareDecoding(lines: readonly string[]): number {
  if (lines.length === 0) return 0;
  const decoder = new VpcFlowDecoder();
  let good = 0;
  for (const line of lines) {
    let ok = false;
    let failed = false;
    decoder.decode(
      line,
      {
        event: (e) => {
          ok = e.kind === 'network_flow' && isIpAddress(e.src.address) && isIpAddress(e.dst.address);
        },
        error: () => {
          failed = true;
        },
      },
      { observedTime: 0 },
    );
    // NODATA/SKIPDATA lines produce neither: they are VPC lines all the same
    if (ok || (!failed && /^\d+ \S+ \S+ (?:- ){7}\d+ \d+ - (?:NODATA|SKIPDATA)$/.test(line.replace(/^\S+Z /, '')))) good++;
  }
  return good / lines.length;
}

export const vpcFlowFormat: FormatDefinition = {
  name: VPC_FORMAT,
  description: 'AWS VPC Flow Logs text (default v2 and custom formats v3-v8, S3 files with a header line, CloudWatch Logs exports and subscription messages)',
  framing: 'lines',
  decoder: new VpcFlowDecoder(),
  sniff: sniffVpc,
};
