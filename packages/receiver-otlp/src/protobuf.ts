/**
 * A small reader for the protobuf wire format of OTLP logs
 * (`ExportLogsServiceRequest`, opentelemetry-proto `collector/logs/v1`), and a
 * writer for the two messages the receiver answers with
 * (`ExportLogsServiceResponse`, `google.rpc.Status`).
 *
 * Decoding produces the OTLP/JSON shape (lowerCamelCase keys, 64-bit integers
 * as decimal strings, trace and span ids as hex, bytes as base64), so the JSON
 * and protobuf paths share one mapping. Unknown fields are skipped, as
 * protobuf requires; a truncated or inconsistent message throws
 * `ProtobufError`, which the receiver answers with 400.
 */
import type { OtlpAnyValue, OtlpKeyValue, OtlpLogRecord, OtlpLogsRequest, OtlpResourceLogs, OtlpScopeLogs } from './model.js';

export class ProtobufError extends Error {
  override readonly name = 'ProtobufError';
}

/** Deepest nesting of AnyValue arrays and maps accepted (a guard against stack exhaustion). */
const MAX_DEPTH = 32;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const utf8 = new TextDecoder('utf-8');

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint of up to 32 significant bits (higher bits are read and dropped, as protobuf does for int32/uint32). */
  uint32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtobufError('truncated varint');
      const b = this.buf[this.pos++] as number;
      if (shift < 32) result |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) return result >>> 0;
    }
    throw new ProtobufError('varint longer than 10 bytes');
  }

  /** A 64-bit varint as [low 32 bits, high 32 bits]. */
  varint64(): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtobufError('truncated varint');
      const b = this.buf[this.pos++] as number;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >>> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) return [lo >>> 0, hi >>> 0];
    }
    throw new ProtobufError('varint longer than 10 bytes');
  }

  fixed32(): number {
    if (this.pos + 4 > this.end) throw new ProtobufError('truncated fixed32');
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16) | ((b[p + 3] as number) << 24)) >>> 0;
  }

  fixed64(): [number, number] {
    const lo = this.fixed32();
    const hi = this.fixed32();
    return [lo, hi];
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new ProtobufError('truncated double');
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8);
    this.pos += 8;
    return view.getFloat64(0, true);
  }

  /** Length prefix of a LEN field; returns the end offset of its payload. */
  length(): number {
    const len = this.uint32();
    const end = this.pos + len;
    if (end > this.end) throw new ProtobufError(`length ${len} runs past the end of its message`);
    return end;
  }

  bytes(): Uint8Array {
    const end = this.length();
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  string(): string {
    const end = this.length();
    const out = utf8.decode(this.buf.subarray(this.pos, end));
    this.pos = end;
    return out;
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_I64:
        if (this.pos + 8 > this.end) throw new ProtobufError('truncated fixed64');
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.pos = this.length();
        return;
      case WIRE_I32:
        if (this.pos + 4 > this.end) throw new ProtobufError('truncated fixed32');
        this.pos += 4;
        return;
      default:
        throw new ProtobufError(`unsupported wire type ${wire}`);
    }
  }

  /** Read a tag; returns [field number, wire type]. */
  tag(): [number, number] {
    const t = this.uint32();
    const field = t >>> 3;
    if (field === 0) throw new ProtobufError('field number 0');
    return [field, t & 7];
  }

  sub(): Reader {
    const end = this.length();
    const r = new Reader(this.buf, this.pos, end);
    this.pos = end;
    return r;
  }
}

function expectWire(field: string, wire: number, expected: number): void {
  if (wire !== expected) throw new ProtobufError(`${field} has wire type ${wire}, expected ${expected}`);
}

const TWO_32 = 4294967296;

/** Unsigned 64-bit [lo, hi] as a decimal string. */
function u64String(lo: number, hi: number): string {
  if (hi === 0) return String(lo);
  if (hi < 0x200000) return String(hi * TWO_32 + lo); // below 2^53: exact as a double
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

/** Signed (two's complement) 64-bit [lo, hi] as a decimal string. */
function i64String(lo: number, hi: number): string {
  if (hi & 0x80000000) return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
  return u64String(lo, hi);
}

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, '0'));

function hex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i] as number];
  return out;
}

function anyValue(r: Reader, depth: number): OtlpAnyValue {
  if (depth > MAX_DEPTH) throw new ProtobufError(`AnyValue nested deeper than ${MAX_DEPTH}`);
  let value: OtlpAnyValue = {};
  while (!r.done) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1:
        expectWire('AnyValue.string_value', wire, WIRE_LEN);
        value = { stringValue: r.string() };
        break;
      case 2:
        expectWire('AnyValue.bool_value', wire, WIRE_VARINT);
        value = { boolValue: r.uint32() !== 0 };
        break;
      case 3: {
        expectWire('AnyValue.int_value', wire, WIRE_VARINT);
        const [lo, hi] = r.varint64();
        value = { intValue: i64String(lo, hi) };
        break;
      }
      case 4:
        expectWire('AnyValue.double_value', wire, WIRE_I64);
        value = { doubleValue: r.double() };
        break;
      case 5: {
        expectWire('AnyValue.array_value', wire, WIRE_LEN);
        const sub = r.sub();
        const values: OtlpAnyValue[] = [];
        while (!sub.done) {
          const [f, w] = sub.tag();
          if (f === 1) {
            expectWire('ArrayValue.values', w, WIRE_LEN);
            values.push(anyValue(sub.sub(), depth + 1));
          } else sub.skip(w);
        }
        value = { arrayValue: { values } };
        break;
      }
      case 6: {
        expectWire('AnyValue.kvlist_value', wire, WIRE_LEN);
        const sub = r.sub();
        const values: OtlpKeyValue[] = [];
        while (!sub.done) {
          const [f, w] = sub.tag();
          if (f === 1) {
            expectWire('KeyValueList.values', w, WIRE_LEN);
            values.push(keyValue(sub.sub(), depth + 1));
          } else sub.skip(w);
        }
        value = { kvlistValue: { values } };
        break;
      }
      case 7:
        expectWire('AnyValue.bytes_value', wire, WIRE_LEN);
        value = { bytesValue: Buffer.from(r.bytes()).toString('base64') };
        break;
      default:
        r.skip(wire);
    }
  }
  return value;
}

function keyValue(r: Reader, depth: number): OtlpKeyValue {
  let key = '';
  let value: OtlpAnyValue | undefined;
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1) {
      expectWire('KeyValue.key', wire, WIRE_LEN);
      key = r.string();
    } else if (field === 2) {
      expectWire('KeyValue.value', wire, WIRE_LEN);
      value = anyValue(r.sub(), depth);
    } else r.skip(wire);
  }
  return value === undefined ? { key } : { key, value };
}

/** Resource and InstrumentationScope share `repeated KeyValue attributes`; their field numbers differ. */
function attributesOf(r: Reader, attributesField: number, strings: Record<number, string>, out: Record<string, unknown>): OtlpKeyValue[] {
  const attributes: OtlpKeyValue[] = [];
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === attributesField) {
      expectWire('attributes', wire, WIRE_LEN);
      attributes.push(keyValue(r.sub(), 0));
    } else if (strings[field] !== undefined && wire === WIRE_LEN) {
      out[strings[field] as string] = r.string();
    } else r.skip(wire);
  }
  return attributes;
}

function logRecord(r: Reader): OtlpLogRecord {
  const rec: OtlpLogRecord = {};
  let attributes: OtlpKeyValue[] | undefined;
  while (!r.done) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1: {
        expectWire('LogRecord.time_unix_nano', wire, WIRE_I64);
        const [lo, hi] = r.fixed64();
        rec.timeUnixNano = u64String(lo, hi);
        break;
      }
      case 11: {
        expectWire('LogRecord.observed_time_unix_nano', wire, WIRE_I64);
        const [lo, hi] = r.fixed64();
        rec.observedTimeUnixNano = u64String(lo, hi);
        break;
      }
      case 2:
        expectWire('LogRecord.severity_number', wire, WIRE_VARINT);
        rec.severityNumber = r.uint32() | 0;
        break;
      case 3:
        expectWire('LogRecord.severity_text', wire, WIRE_LEN);
        rec.severityText = r.string();
        break;
      case 5:
        expectWire('LogRecord.body', wire, WIRE_LEN);
        rec.body = anyValue(r.sub(), 0);
        break;
      case 6:
        expectWire('LogRecord.attributes', wire, WIRE_LEN);
        (attributes ??= []).push(keyValue(r.sub(), 0));
        break;
      case 7:
        expectWire('LogRecord.dropped_attributes_count', wire, WIRE_VARINT);
        rec.droppedAttributesCount = r.uint32();
        break;
      case 8:
        expectWire('LogRecord.flags', wire, WIRE_I32);
        rec.flags = r.fixed32();
        break;
      case 9:
        expectWire('LogRecord.trace_id', wire, WIRE_LEN);
        rec.traceId = hex(r.bytes());
        break;
      case 10:
        expectWire('LogRecord.span_id', wire, WIRE_LEN);
        rec.spanId = hex(r.bytes());
        break;
      case 12:
        expectWire('LogRecord.event_name', wire, WIRE_LEN);
        rec.eventName = r.string();
        break;
      default:
        r.skip(wire);
    }
  }
  if (attributes) rec.attributes = attributes;
  return rec;
}

function scopeLogs(r: Reader): OtlpScopeLogs {
  const out: OtlpScopeLogs = { logRecords: [] };
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1) {
      expectWire('ScopeLogs.scope', wire, WIRE_LEN);
      const extra: Record<string, unknown> = {};
      const attributes = attributesOf(r.sub(), 3, { 1: 'name', 2: 'version' }, extra);
      out.scope = { ...extra, attributes };
    } else if (field === 2) {
      expectWire('ScopeLogs.log_records', wire, WIRE_LEN);
      out.logRecords.push(logRecord(r.sub()));
    } else if (field === 3 && wire === WIRE_LEN) {
      out.schemaUrl = r.string();
    } else r.skip(wire);
  }
  return out;
}

function resourceLogs(r: Reader): OtlpResourceLogs {
  const out: OtlpResourceLogs = { scopeLogs: [] };
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1) {
      expectWire('ResourceLogs.resource', wire, WIRE_LEN);
      out.resource = { attributes: attributesOf(r.sub(), 1, {}, {}) };
    } else if (field === 2 || field === 1000) {
      // 1000: the deprecated instrumentation_library_logs, laid out like ScopeLogs.
      expectWire('ResourceLogs.scope_logs', wire, WIRE_LEN);
      out.scopeLogs.push(scopeLogs(r.sub()));
    } else if (field === 3 && wire === WIRE_LEN) {
      out.schemaUrl = r.string();
    } else r.skip(wire);
  }
  return out;
}

/** Decode a binary `ExportLogsServiceRequest`. Throws ProtobufError on malformed input. */
export function decodeLogsRequest(bytes: Uint8Array): OtlpLogsRequest {
  const r = new Reader(bytes, 0, bytes.length);
  const request: OtlpLogsRequest = { resourceLogs: [] };
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1) {
      expectWire('ExportLogsServiceRequest.resource_logs', wire, WIRE_LEN);
      request.resourceLogs.push(resourceLogs(r.sub()));
    } else r.skip(wire);
  }
  return request;
}

// ---- writer ---------------------------------------------------------------------------------

function pushVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function pushString(out: number[], field: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  pushVarint(out, (field << 3) | WIRE_LEN);
  pushVarint(out, bytes.length);
  for (const b of bytes) out.push(b);
}

/** Binary `ExportLogsServiceResponse`: empty on full success, with `partial_success` when records were rejected. */
export function encodeLogsResponse(partial?: { rejectedLogRecords: number; errorMessage: string }): Uint8Array {
  if (!partial) return new Uint8Array(0);
  const inner: number[] = [];
  if (partial.rejectedLogRecords > 0) {
    pushVarint(inner, (1 << 3) | WIRE_VARINT);
    pushVarint(inner, partial.rejectedLogRecords);
  }
  if (partial.errorMessage) pushString(inner, 2, partial.errorMessage);
  const out: number[] = [];
  pushVarint(out, (1 << 3) | WIRE_LEN);
  pushVarint(out, inner.length);
  return Uint8Array.from([...out, ...inner]);
}

/** Binary `google.rpc.Status` with a code and a message, the body of OTLP/HTTP error responses. */
export function encodeStatus(code: number, message: string): Uint8Array {
  const out: number[] = [];
  if (code !== 0) {
    pushVarint(out, (1 << 3) | WIRE_VARINT);
    pushVarint(out, code);
  }
  pushString(out, 2, message);
  return Uint8Array.from(out);
}
