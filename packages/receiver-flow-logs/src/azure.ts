import {
  type AttributeValue,
  type DecodeMeta,
  type Decoder,
  type DecodeSink,
  type FlowDirection,
  type FormatDefinition,
  type NetworkFlowEvent,
  parseIPv4,
} from '@outflow/core';
import { eachJsonValue, type FlowDecoderOptions, isObject, lineLocation, str, within } from './common.js';
import { StreamHash } from './hash.js';
import { isIpAddress } from './ip.js';

/**
 * Azure Network Watcher flow logs, `{"records":[...]}` documents as written to
 * blob storage (PT1H.json) or forwarded through Event Hubs:
 *
 * - NSG flow logs v1/v2 (category `NetworkSecurityGroupFlowEvent`):
 *   `properties.flows[].flows[].flowTuples`, tuples
 *   `epochSeconds,src,dst,srcPort,dstPort,T|U,I|O,A|D[,B|C|E,packetsS2D,bytesS2D,packetsD2S,bytesD2S]`.
 *   https://learn.microsoft.com/azure/network-watcher/nsg-flow-logs-overview#log-format
 * - Virtual network flow logs (category `FlowLogFlowEvent`):
 *   `flowRecords.flows[].flowGroups[].flowTuples`, tuples
 *   `epochMs,src,dst,srcPort,dstPort,protocolNumber,I|O,B|C|E|D,encryption,packetsS2D,bytesS2D,packetsD2S,bytesD2S`.
 *   https://learn.microsoft.com/azure/network-watcher/vnet-flow-logs-overview#log-format
 *
 * One event per tuple. `raw` is the tuple string (record-level context goes to
 * typed fields and attributes); `sourceId` hashes the record's identity
 * (time, resource, MAC, rule) with the tuple's indexes and text.
 */

export const AZURE_FORMAT = 'azure_flow';

const FLOW_STATES: Readonly<Record<string, string>> = { B: 'begin', C: 'continuing', E: 'end', D: 'denied' };

interface RecordContext {
  recordIndex: number;
  time: string;
  resourceId: string;
  mac: string;
  rule: string;
  version: number;
  vnet: boolean;
  account: string | undefined;
  vpcId: string | undefined;
  subnetId: string | undefined;
  aclId: string | undefined;
  location: string | undefined;
  /** Error location of the record, relative to the input. */
  errorAt: string;
  /** Hash state of the record's identity (time, resource, MAC, rule, index): tuple ids continue from it. */
  prefix: StreamHash;
}

/** After `rule` or `mac` changed: the id prefix of the group's tuples. */
function setGroup(ctx: RecordContext): void {
  ctx.prefix.reset().string(ctx.time).string(ctx.resourceId).string(ctx.mac).string(ctx.rule).int(ctx.recordIndex);
}

/**
 * A tuple's attributes. The usual complete records get a single object
 * literal (one allocation, one shape); records missing some context are
 * built key by key.
 */
function attributesOf(ctx: RecordContext, state: string | undefined, enc: string): Record<string, AttributeValue> {
  const { rule, resourceId, aclId, account } = ctx;
  if (rule && resourceId && account && state) {
    if (aclId && enc)
      return {
        'cloud.provider': 'azure',
        'azure.flow.rule': rule,
        'azure.flow.state': state,
        'cloud.resource_id': resourceId,
        'azure.flow.acl_id': aclId,
        'azure.flow.encryption': enc,
        'cloud.account.id': account,
      };
    if (!aclId && !enc)
      return { 'cloud.provider': 'azure', 'azure.flow.rule': rule, 'azure.flow.state': state, 'cloud.resource_id': resourceId, 'cloud.account.id': account };
  }
  const a: Record<string, AttributeValue> = { 'cloud.provider': 'azure' };
  if (rule) a['azure.flow.rule'] = rule;
  if (state) a['azure.flow.state'] = state;
  if (resourceId) a['cloud.resource_id'] = resourceId;
  if (aclId) a['azure.flow.acl_id'] = aclId;
  if (enc) a['azure.flow.encryption'] = enc;
  if (account) a['cloud.account.id'] = account;
  return a;
}

/** `/subscriptions/<id>/...` → id (lower case: Azure writes resource ids in either case). */
function subscriptionOf(resourceId: string): string | undefined {
  const m = /\/subscriptions\/([^/]+)/i.exec(resourceId);
  return m ? (m[1] as string).toLowerCase() : undefined;
}

function segmentAfter(resourceId: string, name: string): string | undefined {
  const parts = resourceId.split('/');
  for (let i = 0; i < parts.length - 1; i++) if ((parts[i] as string).toLowerCase() === name) return parts[i + 1] || undefined;
  return undefined;
}

/** Azure states the direction (I/O, relative to the network interface) in every tuple, so `internalCidrs` does not apply. */
export type AzureFlowDecoderOptions = Omit<FlowDecoderOptions, 'internalCidrs'>;

export class AzureFlowDecoder implements Decoder<string> {
  readonly format = AZURE_FORMAT;
  private readonly onSkip: ((reason: string) => void) | undefined;

  private readonly work = new StreamHash();
  private skips = 0;

  constructor(options: AzureFlowDecoderOptions = {}) {
    this.onSkip = options.onSkip;
  }

  private skip(reason: string): void {
    this.skips++;
    this.onSkip?.(reason);
  }

  decode(input: string, sink: DecodeSink, meta: DecodeMeta): void {
    eachJsonValue(input, sink, meta, (value, offset, text) => {
      const line = meta.line === undefined ? (offset > 0 ? offset + 1 : undefined) : meta.line + offset;
      const base = lineLocation(meta, line);
      let records: unknown[];
      if (isObject(value) && Array.isArray(value.records)) records = value.records;
      else if (Array.isArray(value)) records = value;
      else if (isObject(value) && (value.category !== undefined || value.properties !== undefined || value.flowRecords !== undefined)) records = [value];
      else {
        sink.error({
          reason: 'unsupported_record',
          message: 'expected {"records":[...]}, an array of records or one flow log record',
          raw: text,
          location: within(meta, line),
        });
        return;
      }
      let produced = 0;
      const counting: DecodeSink = {
        event: (e) => {
          produced++;
          sink.event(e);
        },
        error: (e) => {
          produced++;
          sink.error(e);
        },
      };
      const before = this.skips;
      const inner = within(meta, line);
      const errorBase = inner === undefined ? '' : `${inner}:`;
      for (let i = 0; i < records.length; i++) this.record(records[i], i, counting, meta, base, errorBase);
      // a well-formed document without any flow tuple (no records, empty flow lists)
      if (produced === 0 && this.skips === before) this.skip('empty');
    });
  }

  private record(record: unknown, index: number, sink: DecodeSink, meta: DecodeMeta, base: string | undefined, errorBase: string): void {
    // events: `path:line#records[i]`; errors: relative to the input (the transport adds `path:line`)
    const location = base === undefined ? `records[${index}]` : `${base}#records[${index}]`;
    const errorAt = `${errorBase}records[${index}]`;
    const fail = (reason: string, message: string, at = ''): void => sink.error({ reason, message, raw: safeJson(record), location: errorAt + at });
    if (!isObject(record)) {
      fail('invalid_record', 'a flow log record must be a JSON object');
      return;
    }
    const category = str(record.category);
    const time = str(record.time) ?? '';
    if (category === 'FlowLogFlowEvent' || (category === undefined && isObject(record.flowRecords))) {
      const flowRecords = record.flowRecords;
      if (!isObject(flowRecords) || !Array.isArray(flowRecords.flows)) {
        fail('missing_field', 'flowRecords.flows is required');
        return;
      }
      const target = str(record.targetResourceID) ?? '';
      const ctx: RecordContext = {
        recordIndex: index,
        time,
        resourceId: target || (str(record.flowLogResourceID) ?? ''),
        mac: str(record.macAddress) ?? '',
        rule: '',
        version: typeof record.flowLogVersion === 'number' ? record.flowLogVersion : 4,
        vnet: true,
        account: subscriptionOf(target) ?? subscriptionOf(str(record.flowLogResourceID) ?? ''),
        vpcId: segmentAfter(target, 'virtualnetworks'),
        subnetId: segmentAfter(target, 'subnets'),
        aclId: undefined,
        location,
        errorAt,
        prefix: new StreamHash(),
      };
      const flows: unknown[] = flowRecords.flows;
      for (let a = 0; a < flows.length; a++) {
        const flow = flows[a];
        if (!isObject(flow) || !Array.isArray(flow.flowGroups)) {
          fail('missing_field', 'flowGroups is required', `.flowRecords.flows[${a}]`);
          continue;
        }
        ctx.aclId = str(flow.aclID);
        const groups: unknown[] = flow.flowGroups;
        for (let b = 0; b < groups.length; b++) {
          const group = groups[b];
          if (!isObject(group) || !Array.isArray(group.flowTuples)) {
            fail('missing_field', 'flowTuples is required', `.flowRecords.flows[${a}].flowGroups[${b}]`);
            continue;
          }
          ctx.rule = str(group.rule) ?? '';
          setGroup(ctx);
          const tuples: unknown[] = group.flowTuples;
          for (let k = 0; k < tuples.length; k++) this.tuple(tuples[k], ctx, a, b, k, sink, meta);
        }
      }
      return;
    }
    if (category === 'NetworkSecurityGroupFlowEvent' || (category === undefined && isObject(record.properties))) {
      const props = record.properties;
      if (!isObject(props) || !Array.isArray(props.flows)) {
        fail('missing_field', 'properties.flows is required');
        return;
      }
      const version = typeof props.Version === 'number' ? props.Version : 1;
      if (version !== 1 && version !== 2) {
        fail('unsupported_version', `NSG flow log version ${String(props.Version)} is not 1 or 2`);
        return;
      }
      const resourceId = str(record.resourceId) ?? '';
      const ctx: RecordContext = {
        recordIndex: index,
        time,
        resourceId,
        mac: '',
        rule: '',
        version,
        vnet: false,
        account: subscriptionOf(resourceId),
        vpcId: undefined,
        subnetId: undefined,
        aclId: undefined,
        location,
        errorAt,
        prefix: new StreamHash(),
      };
      const flows: unknown[] = props.flows;
      for (let a = 0; a < flows.length; a++) {
        const flow = flows[a];
        if (!isObject(flow) || !Array.isArray(flow.flows)) {
          fail('missing_field', 'flows is required', `.properties.flows[${a}]`);
          continue;
        }
        ctx.rule = str(flow.rule) ?? '';
        const perMac: unknown[] = flow.flows;
        for (let b = 0; b < perMac.length; b++) {
          const macFlows = perMac[b];
          if (!isObject(macFlows) || !Array.isArray(macFlows.flowTuples)) {
            fail('missing_field', 'flowTuples is required', `.properties.flows[${a}].flows[${b}]`);
            continue;
          }
          ctx.mac = str(macFlows.mac) ?? '';
          setGroup(ctx);
          const tuples: unknown[] = macFlows.flowTuples;
          for (let k = 0; k < tuples.length; k++) this.tuple(tuples[k], ctx, a, b, k, sink, meta);
        }
      }
      return;
    }
    if (category !== undefined) {
      // other diagnostic categories can share a log stream (Event Hubs): not flows
      this.skip('not_a_flow');
      return;
    }
    fail('unsupported_record', 'record is neither an NSG flow log (properties.flows) nor a VNet flow log (flowRecords)');
  }

  private tuple(tuple: unknown, ctx: RecordContext, a: number, b: number, k: number, sink: DecodeSink, meta: DecodeMeta): undefined {
    // built only for errors: a string per tuple would cost as much as the rest of the decode
    const at = () =>
      ctx.vnet
        ? `${ctx.errorAt}.flowRecords.flows[${a}].flowGroups[${b}].flowTuples[${k}]`
        : `${ctx.errorAt}.properties.flows[${a}].flows[${b}].flowTuples[${k}]`;
    if (typeof tuple !== 'string') {
      sink.error({ reason: 'invalid_field', message: 'a flow tuple must be a string', raw: JSON.stringify(tuple) ?? String(tuple), location: at() });
      return;
    }
    const f = tuple.split(',');
    const n = f.length;
    if (ctx.vnet ? n !== 13 : ctx.version === 2 ? n !== 13 && n !== 8 : n !== 8) {
      const expected = ctx.vnet ? '13' : ctx.version === 2 ? '13 or 8' : '8';
      sink.error({ reason: 'field_count', message: `expected ${expected} comma-separated tuple fields, got ${n}`, raw: tuple, location: at() });
      return;
    }
    const bad = (message: string): undefined => {
      sink.error({ reason: 'invalid_field', message, raw: tuple, location: at() });
      return undefined;
    };
    const ts = uintField(f[0] as string);
    if (ts < 0 || ts > (ctx.vnet ? 1e14 : 1e11)) return bad(`timestamp "${f[0]}" is not epoch ${ctx.vnet ? 'milliseconds' : 'seconds'}`);
    const srcAddr = f[1] as string;
    const dstAddr = f[2] as string;
    const s4 = parseIPv4(srcAddr) ?? -1;
    const d4 = parseIPv4(dstAddr) ?? -1;
    if ((s4 < 0 && !isIpAddress(srcAddr)) || (d4 < 0 && !isIpAddress(dstAddr))) return bad('source and destination must be IP addresses');
    const srcPort = uintField(f[3] as string);
    const dstPort = uintField(f[4] as string);
    if (srcPort < -1 || dstPort < -1 || srcPort > 65535 || dstPort > 65535) return bad('ports must be integers 0..65535');
    let protocol: number;
    const p = f[5] as string;
    if (ctx.vnet) {
      protocol = uintField(p);
      if (protocol < 0 || protocol > 255) return bad(`protocol "${p}" is not an IANA protocol number`);
    } else if (p === 'T') protocol = 6;
    else if (p === 'U') protocol = 17;
    else return bad(`protocol "${p}" is not T or U`);
    // I and O are relative to the network interface, like VPC flow-direction
    const d = f[6];
    let direction: FlowDirection;
    if (d === 'I') direction = 'ingress';
    else if (d === 'O') direction = 'egress';
    else return bad(`direction "${d}" is not I or O`);

    let action: NetworkFlowEvent['action'];
    let state: string | undefined;
    if (ctx.vnet) {
      state = FLOW_STATES[f[7] as string];
      if (state === undefined) return bad(`flow state "${f[7]}" is not B, C, E or D`);
      action = state === 'denied' ? 'reject' : 'accept';
    } else {
      const decision = f[7];
      if (decision === 'A') action = 'accept';
      else if (decision === 'D') action = 'reject';
      else return bad(`decision "${decision}" is not A or D`);
      if (n === 13) {
        state = FLOW_STATES[f[8] as string];
        if (state === undefined || state === 'denied') return bad(`flow state "${f[8]}" is not B, C or E`);
      }
    }
    let packets = -1;
    let bytes = -1;
    let reversePackets = -1;
    let reverseBytes = -1;
    if (n === 13) {
      packets = uintField(f[9] as string);
      bytes = uintField(f[10] as string);
      reversePackets = uintField(f[11] as string);
      reverseBytes = uintField(f[12] as string);
      if (packets < -1 || bytes < -1 || reversePackets < -1 || reverseBytes < -1) return bad('packet and byte counts must be non-negative integers');
    }

    const attributes = attributesOf(ctx, state, ctx.vnet ? (f[8] as string) : '');

    // one literal with every field (absent ones undefined): one allocation, one shape
    sink.event({
      kind: 'network_flow',
      time: ctx.vnet ? ts : ts * 1000,
      observedTime: meta.observedTime,
      source: AZURE_FORMAT,
      sourceId: this.tupleId(ctx, a, b, k, tuple, s4, d4, ts, srcPort, dstPort, protocol, packets, bytes, reversePackets, reverseBytes),
      receiver: meta.receiver,
      location: ctx.location,
      raw: tuple,
      attributes,
      src: { address: srcAddr, port: srcPort < 0 ? undefined : srcPort },
      dst: { address: dstAddr, port: dstPort < 0 ? undefined : dstPort },
      protocol,
      direction,
      bytes: bytes < 0 ? undefined : bytes,
      packets: packets < 0 ? undefined : packets,
      reverseBytes: reverseBytes < 0 ? undefined : reverseBytes,
      reversePackets: reversePackets < 0 ? undefined : reversePackets,
      action,
      account: ctx.account,
      vpcId: ctx.vpcId,
      subnetId: ctx.subnetId,
      interfaceId: ctx.mac || undefined,
    });
  }

  /**
   * Id of a tuple: the hash of its record's identity (time, resource, MAC,
   * rule, record index), its position in the record and its content (parsed
   * values; IPv4 addresses as integers, others as text, the flags as text).
   */
  private tupleId(
    ctx: RecordContext,
    a: number,
    b: number,
    k: number,
    tuple: string,
    s4: number,
    d4: number,
    ts: number,
    srcPort: number,
    dstPort: number,
    protocol: number,
    packets: number,
    bytes: number,
    reversePackets: number,
    reverseBytes: number,
  ): string {
    const h = this.work.from(ctx.prefix).int(a).int(b).int(k).int(ts);
    if (s4 >= 0 && d4 >= 0) h.int(s4).int(d4);
    else h.string(tuple);
    return h
      .int((srcPort + 1) * 65537 + dstPort + 1)
      .int(protocol)
      .int(packets + 2)
      .int(bytes + 2)
      .int(reversePackets + 2)
      .int(reverseBytes + 2)
      .int(tuple.length)
      .digest();
  }
}

/** A decimal field of a tuple: its value, -1 when empty, -2 when not a non-negative safe integer. */
function uintField(s: string): number {
  const n = s.length;
  if (n === 0) return -1;
  if (n > 16) return -2;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -2;
    v = v * 10 + c;
  }
  return v <= Number.MAX_SAFE_INTEGER ? v : -2;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

export function createAzureFlowDecoder(options: AzureFlowDecoderOptions = {}): AzureFlowDecoder {
  return new AzureFlowDecoder(options);
}

/** Confidence that `head` is an Azure NSG or VNet flow log document. */
export function sniffAzure(head: string): number {
  const t = head.trimStart();
  if (!t.startsWith('{') && !t.startsWith('[')) return 0;
  const category = /"category"\s*:\s*"(?:NetworkSecurityGroupFlowEvent|FlowLogFlowEvent)"/.test(head);
  const tuples = /"flowTuples"\s*:/.test(head);
  if (category && tuples) return 0.97;
  if (category || (tuples && /"records"\s*:/.test(head))) return 0.8;
  return 0;
}

export const azureFlowFormat: FormatDefinition = {
  name: AZURE_FORMAT,
  description: 'Azure NSG flow logs (v1, v2) and virtual network flow logs, {"records":[...]} documents',
  framing: 'document',
  decoder: new AzureFlowDecoder(),
  sniff: sniffAzure,
};
