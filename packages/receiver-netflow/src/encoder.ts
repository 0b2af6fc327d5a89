/**
 * A small NetFlow v5 / v9 / IPFIX encoder: builds datagrams with templates and
 * data records from flow objects. For tests, benchmarks and tools (feeding a
 * collector on loopback); it is not an exporter (no flow cache, no timers).
 */
import { parseIPv4 } from '@outflow/core';
import { ipv6Bytes, NTP_UNIX_OFFSET_SECONDS } from './bytes.js';
import { REVERSE_PEN } from './ie.js';
import { VARIABLE_LENGTH } from './templates.js';

/** One flow to encode. Times are epoch ms. */
export interface FlowSpec {
  src: string;
  dst: string;
  srcPort?: number;
  dstPort?: number;
  protocol?: number;
  bytes?: number;
  packets?: number;
  reverseBytes?: number;
  reversePackets?: number;
  start?: number;
  end?: number;
  tcpFlags?: number;
  tos?: number;
  inputInterface?: number;
  outputInterface?: number;
  direction?: 'ingress' | 'egress';
  /** forwardingStatus (IE 89) as sent: `0x40` forwarded, `0x80` dropped, `0xc0` consumed. */
  forwardingStatus?: number;
  samplingInterval?: number;
  samplerId?: number;
  srcAs?: number;
  dstAs?: number;
  nextHop?: string;
  icmpType?: number;
  icmpCode?: number;
  /** Values of other fields, keyed by element id (`"82"`) or `"<pen>.<id>"` for enterprise elements; they win over the named ones. */
  values?: Readonly<Record<string, FieldValue>>;
}

/** A field value: unsigned number, bigint, IP address text (4- or 16-byte fields), text, or raw bytes. */
export type FieldValue = number | bigint | string | Uint8Array;

export interface FieldSpec {
  id: number;
  /** Bytes, or 65535 for an IPFIX variable-length field. */
  length: number;
  /** Private enterprise number (IPFIX only). */
  pen?: number;
}

export interface TemplateSpec {
  id: number;
  fields: readonly FieldSpec[];
  /** Options templates: how many leading fields are scope fields. */
  scopeCount?: number;
}

export type SetSpec =
  | { type: 'templates'; templates: readonly TemplateSpec[] }
  | { type: 'options_templates'; templates: readonly TemplateSpec[] }
  /** IPFIX template withdrawal: ids to withdraw (2 or 3 withdraws all of the kind). */
  | { type: 'withdraw'; templateIds: readonly number[]; options?: boolean }
  | { type: 'data'; template: TemplateSpec; records: readonly (readonly FieldValue[])[] }
  /** A set written as given (for malformed input in tests). */
  | { type: 'raw'; id: number; body: Uint8Array; length?: number };

export interface V5Header {
  exportTime?: number;
  sysUptime?: number;
  sequence?: number;
  engineType?: number;
  engineId?: number;
  /** Header sampling interval (low 14 bits; mode bits 0). */
  samplingInterval?: number;
}

export interface V9Header {
  /** Export time, epoch ms (the header keeps whole seconds). */
  exportTime?: number;
  /** Exporter uptime at export, ms. */
  sysUptime?: number;
  sequence?: number;
  sourceId?: number;
}

export interface IpfixHeader {
  exportTime?: number;
  sequence?: number;
  domain?: number;
}

/** Default export time of encoded datagrams: 2024-01-01T00:00:00Z. */
export const DEFAULT_EXPORT_TIME = Date.UTC(2024, 0, 1);
const DEFAULT_UPTIME = 3_600_000;

export const V9_IPV4_FIELDS: readonly FieldSpec[] = [
  { id: 8, length: 4 },
  { id: 12, length: 4 },
  { id: 7, length: 2 },
  { id: 11, length: 2 },
  { id: 4, length: 1 },
  { id: 1, length: 4 },
  { id: 2, length: 4 },
  { id: 22, length: 4 },
  { id: 21, length: 4 },
  { id: 6, length: 1 },
  { id: 5, length: 1 },
  { id: 10, length: 2 },
  { id: 14, length: 2 },
];
export const V9_IPV6_FIELDS: readonly FieldSpec[] = [{ id: 27, length: 16 }, { id: 28, length: 16 }, ...V9_IPV4_FIELDS.slice(2)];

export const IPFIX_IPV4_FIELDS: readonly FieldSpec[] = [
  { id: 8, length: 4 },
  { id: 12, length: 4 },
  { id: 7, length: 2 },
  { id: 11, length: 2 },
  { id: 4, length: 1 },
  { id: 1, length: 8 },
  { id: 2, length: 8 },
  { id: 152, length: 8 },
  { id: 153, length: 8 },
  { id: 6, length: 2 },
  { id: 5, length: 1 },
  { id: 10, length: 4 },
  { id: 14, length: 4 },
];
export const IPFIX_IPV6_FIELDS: readonly FieldSpec[] = [{ id: 27, length: 16 }, { id: 28, length: 16 }, ...IPFIX_IPV4_FIELDS.slice(2)];

/** Grows as needed; big-endian writes. */
class ByteWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v & 255;
  }

  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.length, v & 0xffff);
    this.length += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.length, v >>> 0);
    this.length += 4;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  setU16(at: number, v: number): void {
    this.view.setUint16(at, v & 0xffff);
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const utf8 = new TextEncoder();

/** Bytes of a fixed-length field holding `value`. */
function fieldBytes(value: FieldValue, length: number): Uint8Array {
  const out = new Uint8Array(length);
  if (value instanceof Uint8Array) {
    out.set(value.subarray(0, length));
    return out;
  }
  if (typeof value === 'string') {
    if (length === 4) {
      const v4 = parseIPv4(value);
      if (v4 !== undefined) {
        new DataView(out.buffer).setUint32(0, v4);
        return out;
      }
    }
    if (length === 16 && value.includes(':')) {
      const v6 = ipv6Bytes(value);
      if (v6) return v6;
    }
    out.set(utf8.encode(value).subarray(0, length));
    return out;
  }
  let v = typeof value === 'bigint' ? value : BigInt(Math.max(0, Math.trunc(value)));
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 255n);
    v >>= 8n;
  }
  return out;
}

function writeValue(w: ByteWriter, value: FieldValue, length: number): void {
  if (length !== VARIABLE_LENGTH) {
    w.bytes(fieldBytes(value, length));
    return;
  }
  const bytes = value instanceof Uint8Array ? value : typeof value === 'string' ? utf8.encode(value) : fieldBytes(value, 8);
  if (bytes.length < 255) w.u8(bytes.length);
  else {
    w.u8(255);
    w.u16(bytes.length);
  }
  w.bytes(bytes);
}

/** Time context for converting flow times into a template's time fields. */
interface TimeBase {
  exportMs: number;
  /** v9: the header uptime; IPFIX: -1. */
  sysUptime: number;
  /** Boot time, epoch ms: flowStart/EndSysUpTime are relative to it. */
  systemInit: number;
}

function ntp(ms: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  const seconds = Math.floor(ms / 1000);
  view.setUint32(0, seconds + NTP_UNIX_OFFSET_SECONDS);
  view.setUint32(4, Math.ceil(((ms - seconds * 1000) / 1000) * 4294967296));
  return out;
}

/** The value a flow gives to one template field (0 when it has none). */
export function flowFieldValue(flow: FlowSpec, field: FieldSpec, base: TimeBase): FieldValue {
  const pen = field.pen ?? 0;
  const override = flow.values?.[pen === 0 ? String(field.id) : `${pen}.${field.id}`];
  if (override !== undefined) return override;
  const end = flow.end ?? flow.start ?? base.exportMs;
  const start = flow.start ?? end;
  if (pen === REVERSE_PEN) {
    if (field.id === 1 || field.id === 85) return flow.reverseBytes ?? 0;
    if (field.id === 2 || field.id === 86) return flow.reversePackets ?? 0;
    return 0;
  }
  if (pen !== 0) return 0;
  const isV6 = flow.src.includes(':');
  switch (field.id) {
    case 1:
    case 85:
    case 231:
      return flow.bytes ?? 0;
    case 2:
    case 86:
    case 298:
      return flow.packets ?? 0;
    case 232:
      return flow.reverseBytes ?? 0;
    case 299:
      return flow.reversePackets ?? 0;
    case 4:
      return flow.protocol ?? 0;
    case 5:
      return flow.tos ?? 0;
    case 6:
      return flow.tcpFlags ?? 0;
    case 7:
      return flow.srcPort ?? 0;
    case 11:
      return flow.dstPort ?? 0;
    case 8:
      return isV6 ? '0.0.0.0' : flow.src;
    case 12:
      return isV6 ? '0.0.0.0' : flow.dst;
    case 27:
      return isV6 ? flow.src : '::';
    case 28:
      return isV6 ? flow.dst : '::';
    case 10:
      return flow.inputInterface ?? 0;
    case 14:
      return flow.outputInterface ?? 0;
    case 15:
      return flow.nextHop && !flow.nextHop.includes(':') ? flow.nextHop : '0.0.0.0';
    case 62:
      return flow.nextHop?.includes(':') ? flow.nextHop : '::';
    case 16:
      return flow.srcAs ?? 0;
    case 17:
      return flow.dstAs ?? 0;
    case 21:
    case 22: {
      const t = field.id === 22 ? start : end;
      const up = base.sysUptime >= 0 ? base.sysUptime - (base.exportMs - t) : t - base.systemInit;
      return up >>> 0;
    }
    case 32:
    case 139:
      return ((flow.icmpType ?? 0) << 8) | (flow.icmpCode ?? 0);
    case 34:
      return flow.samplingInterval ?? 0;
    case 48:
    case 302:
      return flow.samplerId ?? 0;
    case 61:
      return flow.direction === 'egress' ? 1 : 0;
    case 89:
      return flow.forwardingStatus ?? 0x40;
    case 150:
      return Math.floor(start / 1000);
    case 151:
      return Math.floor(end / 1000);
    case 152:
      return start;
    case 153:
      return end;
    case 154:
    case 156:
      return ntp(start);
    case 155:
    case 157:
      return ntp(end);
    case 158:
      return (base.exportMs - start) * 1000;
    case 159:
      return (base.exportMs - end) * 1000;
    case 160:
      return base.systemInit;
    default:
      return 0;
  }
}

/** Values of one flow for a template, in field order. */
export function flowRecord(flow: FlowSpec, template: TemplateSpec, base: TimeBase): FieldValue[] {
  return template.fields.map((f) => flowFieldValue(flow, f, base));
}

function writeFieldSpecs(w: ByteWriter, fields: readonly FieldSpec[], ipfix: boolean): void {
  for (const f of fields) {
    if (ipfix && f.pen) {
      w.u16(f.id | 0x8000);
      w.u16(f.length);
      w.u32(f.pen);
    } else {
      w.u16(f.id);
      w.u16(f.length);
    }
  }
}

/** Write one set; returns the number of records in it. */
function writeSet(w: ByteWriter, set: SetSpec, ipfix: boolean, pad: boolean): number {
  const start = w.length;
  let records = 0;
  switch (set.type) {
    case 'templates':
      w.u16(ipfix ? 2 : 0);
      w.u16(0);
      for (const t of set.templates) {
        w.u16(t.id);
        w.u16(t.fields.length);
        writeFieldSpecs(w, t.fields, ipfix);
        records++;
      }
      break;
    case 'options_templates':
      w.u16(ipfix ? 3 : 1);
      w.u16(0);
      for (const t of set.templates) {
        const scope = t.scopeCount ?? 1;
        w.u16(t.id);
        if (ipfix) {
          w.u16(t.fields.length);
          w.u16(scope);
        } else {
          w.u16(scope * 4);
          w.u16((t.fields.length - scope) * 4);
        }
        writeFieldSpecs(w, t.fields, ipfix);
        records++;
      }
      break;
    case 'withdraw':
      w.u16(set.options ? 3 : 2);
      w.u16(0);
      for (const id of set.templateIds) {
        w.u16(id);
        w.u16(0);
        records++;
      }
      break;
    case 'data':
      w.u16(set.template.id);
      w.u16(0);
      for (const record of set.records) {
        set.template.fields.forEach((f, i) => {
          writeValue(w, record[i] ?? 0, f.length);
        });
        records++;
      }
      break;
    case 'raw':
      w.u16(set.id);
      w.u16(set.length ?? set.body.length + 4);
      w.bytes(set.body);
      return 0;
  }
  if (pad) while ((w.length - start) % 4 !== 0) w.u8(0);
  w.setU16(start + 2, w.length - start);
  return records;
}

/** A NetFlow v9 export packet from sets (each set padded to 4 bytes, as RFC 3954 recommends). */
export function encodeV9Message(header: V9Header, sets: readonly SetSpec[]): Uint8Array {
  const w = new ByteWriter();
  const exportTime = header.exportTime ?? DEFAULT_EXPORT_TIME;
  w.u16(9);
  w.u16(0);
  w.u32(header.sysUptime ?? DEFAULT_UPTIME);
  w.u32(Math.floor(exportTime / 1000));
  w.u32(header.sequence ?? 0);
  w.u32(header.sourceId ?? 0);
  let count = 0;
  for (const set of sets) count += writeSet(w, set, false, true);
  w.setU16(2, count);
  return w.result();
}

/** An IPFIX message from sets (no set padding). */
export function encodeIpfixMessage(header: IpfixHeader, sets: readonly SetSpec[]): Uint8Array {
  const w = new ByteWriter();
  w.u16(10);
  w.u16(0);
  w.u32(Math.floor((header.exportTime ?? DEFAULT_EXPORT_TIME) / 1000));
  w.u32(header.sequence ?? 0);
  w.u32(header.domain ?? 0);
  for (const set of sets) writeSet(w, set, true, false);
  w.setU16(2, w.length);
  return w.result();
}

/** A NetFlow v5 datagram (at most 30 flows by the format; more are written if given). */
export function encodeV5(flows: readonly FlowSpec[], header: V5Header = {}): Uint8Array {
  const w = new ByteWriter();
  const exportMs = header.exportTime ?? DEFAULT_EXPORT_TIME;
  const sysUptime = header.sysUptime ?? DEFAULT_UPTIME;
  w.u16(5);
  w.u16(flows.length);
  w.u32(sysUptime);
  w.u32(Math.floor(exportMs / 1000));
  w.u32((exportMs % 1000) * 1e6);
  w.u32(header.sequence ?? 0);
  w.u8(header.engineType ?? 0);
  w.u8(header.engineId ?? 0);
  w.u16((header.samplingInterval ?? 0) & 0x3fff);
  const up = (t: number) => (sysUptime - (exportMs - t)) >>> 0;
  for (const f of flows) {
    const end = f.end ?? f.start ?? exportMs;
    const start = f.start ?? end;
    w.bytes(fieldBytes(f.src, 4));
    w.bytes(fieldBytes(f.dst, 4));
    w.bytes(fieldBytes(f.nextHop ?? '0.0.0.0', 4));
    w.u16(f.inputInterface ?? 0);
    w.u16(f.outputInterface ?? 0);
    w.u32(f.packets ?? 0);
    w.u32(f.bytes ?? 0);
    w.u32(up(start));
    w.u32(up(end));
    const icmp = f.protocol === 1;
    w.u16(icmp ? 0 : (f.srcPort ?? 0));
    w.u16(icmp ? ((f.icmpType ?? 0) << 8) | (f.icmpCode ?? 0) : (f.dstPort ?? 0));
    w.u8(0);
    w.u8(f.tcpFlags ?? 0);
    w.u8(f.protocol ?? 0);
    w.u8(f.tos ?? 0);
    w.u16(f.srcAs ?? 0);
    w.u16(f.dstAs ?? 0);
    w.u8(0);
    w.u8(0);
    w.u16(0);
  }
  return w.result();
}

export interface FlowEncodeOptions {
  /** Template ids for IPv4 and IPv6 flows. Default 256 and 257. */
  templateIds?: { ipv4?: number; ipv6?: number };
  /** Template layouts. Defaults: `V9_IPV4_FIELDS`/`V9_IPV6_FIELDS` or `IPFIX_IPV4_FIELDS`/`IPFIX_IPV6_FIELDS`. */
  fields?: { ipv4?: readonly FieldSpec[]; ipv6?: readonly FieldSpec[] };
  /** What to put in the datagram: templates and data (default), only the templates, or only the data. */
  include?: 'both' | 'templates' | 'data';
  /** Boot time of the exporter, epoch ms, for flowStart/EndSysUpTime in IPFIX (sent as systemInitTimeMilliseconds when a template has IE 160). */
  systemInitTime?: number;
}

function flowSets(flows: readonly FlowSpec[], options: FlowEncodeOptions, ipfix: boolean, base: TimeBase): SetSpec[] {
  const v4: TemplateSpec = {
    id: options.templateIds?.ipv4 ?? 256,
    fields: options.fields?.ipv4 ?? (ipfix ? IPFIX_IPV4_FIELDS : V9_IPV4_FIELDS),
  };
  const v6: TemplateSpec = {
    id: options.templateIds?.ipv6 ?? 257,
    fields: options.fields?.ipv6 ?? (ipfix ? IPFIX_IPV6_FIELDS : V9_IPV6_FIELDS),
  };
  const v4Flows = flows.filter((f) => !f.src.includes(':'));
  const v6Flows = flows.filter((f) => f.src.includes(':'));
  const include = options.include ?? 'both';
  const sets: SetSpec[] = [];
  const templates = [...(v4Flows.length > 0 || flows.length === 0 ? [v4] : []), ...(v6Flows.length > 0 ? [v6] : [])];
  if (include !== 'data') sets.push({ type: 'templates', templates });
  if (include !== 'templates') {
    if (v4Flows.length > 0) sets.push({ type: 'data', template: v4, records: v4Flows.map((f) => flowRecord(f, v4, base)) });
    if (v6Flows.length > 0) sets.push({ type: 'data', template: v6, records: v6Flows.map((f) => flowRecord(f, v6, base)) });
  }
  return sets;
}

/** A NetFlow v9 datagram: a template set (IPv4 and/or IPv6 template) and a data set per address family. */
export function encodeV9(flows: readonly FlowSpec[], options: V9Header & FlowEncodeOptions = {}): Uint8Array {
  const exportMs = Math.floor((options.exportTime ?? DEFAULT_EXPORT_TIME) / 1000) * 1000;
  const sysUptime = options.sysUptime ?? DEFAULT_UPTIME;
  const base: TimeBase = { exportMs, sysUptime, systemInit: exportMs - sysUptime };
  return encodeV9Message({ ...options, exportTime: exportMs, sysUptime }, flowSets(flows, options, false, base));
}

/** An IPFIX message: a template set (IPv4 and/or IPv6 template) and a data set per address family. */
export function encodeIpfix(flows: readonly FlowSpec[], options: IpfixHeader & FlowEncodeOptions = {}): Uint8Array {
  const exportMs = Math.floor((options.exportTime ?? DEFAULT_EXPORT_TIME) / 1000) * 1000;
  const base: TimeBase = { exportMs, sysUptime: -1, systemInit: options.systemInitTime ?? exportMs - DEFAULT_UPTIME };
  return encodeIpfixMessage({ ...options, exportTime: exportMs }, flowSets(flows, options, true, base));
}
