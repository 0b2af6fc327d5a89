import type { AnyValueMap } from '@opentelemetry/api-logs';
import { type Alert, type DetectionRef, deliveryKey, type ResponseSteps, type WorkloadIdentity, workloadAttributes } from '@outflow/core';
import {
  ALERT_EVENT_NAME,
  DELIVERY_KEY_ATTRIBUTE,
  encodeAnyValue,
  encodeKeyValues,
  encodeLogRecord,
  SEVERITY_NUMBER,
  setDetectionAttributes,
  toLogRecord,
} from './mapping.js';

/**
 * JSON written straight into a growing byte buffer: constant parts are
 * copied as bytes, strings are written without building intermediate
 * JavaScript strings (an OTLP record is about 3.5 KB of JSON; building it by
 * string concatenation, flattening and encoding it costs about twice as much).
 * Short pieces are copied byte by byte in JavaScript: for the few dozen bytes
 * of a key or a value, `Buffer#write` and `Uint8Array#set` cost more in call
 * overhead than the copy itself.
 */
export class JsonWriter {
  buf: Buffer;
  pos = 0;

  constructor(size = 65_536) {
    this.buf = Buffer.allocUnsafe(Math.max(64, size));
  }

  private grow(n: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Start over (the buffer is kept). */
  reset(): void {
    this.pos = 0;
  }

  bytes(b: Uint8Array): void {
    const n = b.length;
    if (this.pos + n > this.buf.length) this.grow(n);
    if (n > 96) this.buf.set(b, this.pos);
    else {
      const buf = this.buf;
      const at = this.pos;
      for (let i = 0; i < n; i++) buf[at + i] = b[i] as number;
    }
    this.pos += n;
  }

  byte(c: number): void {
    if (this.pos + 1 > this.buf.length) this.grow(1);
    this.buf[this.pos++] = c;
  }

  /** Text that is already JSON (or needs no escaping: digits, known keys), as UTF-8. */
  text(s: string): void {
    const n = s.length;
    if (this.pos + n * 3 > this.buf.length) this.grow(n * 3);
    if (n <= 256) {
      // ASCII copied as is; the first character past it sends the whole text through the UTF-8 encoder
      const buf = this.buf;
      const at = this.pos;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        buf[at + i] = c;
      }
      if (i === n) {
        this.pos += n;
        return;
      }
    }
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** A JSON string literal: printable ASCII other than `"` and `\` copied as is, anything else through `JSON.stringify`. */
  string(s: string): void {
    const n = s.length;
    if (this.pos + n + 2 > this.buf.length) this.grow(n + 2);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
        // `this.pos` has not moved: what was copied so far is overwritten
        this.text(JSON.stringify(s));
        return;
      }
      buf[p++] = c;
    }
    buf[p++] = 0x22;
    this.pos = p;
  }

  /** A safe integer in decimal (anything else through `String`). */
  int(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) {
      this.text(String(v));
      return;
    }
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    if (this.pos + digits > this.buf.length) this.grow(digits);
    const buf = this.buf;
    let p = this.pos + digits;
    let x = v;
    do {
      const q = Math.floor(x / 10);
      buf[--p] = 0x30 + (x - q * 10);
      x = q;
    } while (x > 0);
    this.pos += digits;
  }

  /** What was written. Shares memory with the writer until the next write. */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

const b = (s: string) => Buffer.from(s, 'utf8');
const STRING_VALUE = b('{"stringValue":');
const INT_VALUE = b('{"intValue":');
const KEY = b('{"key":');
const VALUE = b(',"value":');
const NANOS = b('000000');
const ARRAY_OPEN = b('{"arrayValue":{"values":[');
const ARRAY_CLOSE = b(']}}');

function writeString(w: JsonWriter, s: string): void {
  w.bytes(STRING_VALUE);
  w.string(s);
  w.byte(0x7d);
}

/** An AnyValue: strings, integers and arrays of strings directly; anything else through `encodeAnyValue`. */
function writeAny(w: JsonWriter, v: unknown): void {
  if (typeof v === 'string') writeString(w, v);
  else if (typeof v === 'number' && Number.isInteger(v)) {
    w.bytes(INT_VALUE);
    w.int(v);
    w.byte(0x7d);
  } else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) {
    w.bytes(ARRAY_OPEN);
    for (let i = 0; i < v.length; i++) {
      if (i > 0) w.byte(0x2c);
      writeString(w, v[i] as string);
    }
    w.bytes(ARRAY_CLOSE);
  } else w.text(encodeAnyValue(v));
}

/** `{"key":"<name>","value":` as bytes. */
const key = (name: string) => b(`{"key":${JSON.stringify(name)},"value":`);

function writeKv(w: JsonWriter, k: Buffer, v: unknown, comma = true): void {
  if (comma) w.byte(0x2c);
  w.bytes(k);
  writeAny(w, v);
  w.byte(0x7d);
}

/** A key-value list's entries as bytes, without brackets (empty for none). */
function fragment(attributes: Readonly<Record<string, unknown>>): Buffer {
  const list = encodeKeyValues(attributes);
  return b(list.length > 2 ? list.slice(1, -1) : '');
}

const detectionFragments = new WeakMap<DetectionRef, { bytes: Buffer; title: string; version: string | undefined; attack: unknown; related: unknown }>();
/** `security_rule.*` and `threat.*` of a detection, cached per (unchanged) detection object: an analytic's alerts share one. */
function detectionFragment(d: DetectionRef): Buffer {
  const hit = detectionFragments.get(d);
  if (hit && hit.title === d.title && hit.version === d.version && hit.attack === d.attack && hit.related === d.relatedAttack) return hit.bytes;
  const a: AnyValueMap = {};
  setDetectionAttributes(a, d);
  const bytes = fragment(a);
  detectionFragments.set(d, { bytes, title: d.title, version: d.version, attack: d.attack, related: d.relatedAttack });
  return bytes;
}

const workloadFragments = new WeakMap<WorkloadIdentity, { bytes: Buffer; keys: ReadonlySet<string> }>();
/** Workload attributes and pod labels, cached for frozen identities (the enrichers share one per pod). */
function workloadFragment(w: WorkloadIdentity): { bytes: Buffer; keys: ReadonlySet<string> } {
  const hit = workloadFragments.get(w);
  if (hit) return hit;
  const a: AnyValueMap = {};
  Object.assign(a, workloadAttributes(w));
  for (const [k, v] of Object.entries(w.labels ?? {})) a[`k8s.pod.label.${k}`] = v;
  const f = { bytes: fragment(a), keys: new Set(Object.keys(a)) };
  if (Object.isFrozen(w) && (w.labels === undefined || Object.isFrozen(w.labels))) workloadFragments.set(w, f);
  return f;
}

const responseFragments = new WeakMap<ResponseSteps, { bytes: Buffer; steps: unknown[] }>();
/** `outflow.alert.response.*`, cached per (unchanged) response plan: an analytic's alerts share one. */
function responseFragment(r: ResponseSteps): Buffer {
  const steps = [r.investigate, r.contain, r.analyse, r.remediate];
  const hit = responseFragments.get(r);
  if (hit?.steps.every((s, i) => s === steps[i])) return hit.bytes;
  const a: AnyValueMap = {};
  for (const phase of ['investigate', 'contain', 'analyse', 'remediate'] as const) {
    const list = r[phase];
    if (list && list.length > 0) a[`outflow.alert.response.${phase}`] = [...list];
  }
  const bytes = fragment(a);
  responseFragments.set(r, { bytes, steps });
  return bytes;
}

const K_ID = key('outflow.alert.id');
const K_DELIVERY = key(DELIVERY_KEY_ATTRIBUTE);
const K_STATUS = key('outflow.alert.status');
const K_COUNT = key('outflow.alert.count');
const K_SEVERITY_ID = key('outflow.alert.severity_id');
const K_TIME = key('outflow.alert.time');
const K_FIRST = key('outflow.alert.first_seen');
const K_LAST = key('outflow.alert.last_seen');
const K_DEDUP = key('outflow.alert.dedup_key');
const K_OBSERVED = key('outflow.alert.observed');
const K_EXPECTED = key('outflow.alert.expected');
const K_SCORE = key('outflow.alert.score');
const K_THRESHOLD = key('outflow.alert.threshold');
const K_AGE = key('outflow.alert.baseline_age_ms');
const K_SAMPLES = key('outflow.alert.samples');
const K_REASONS = key('outflow.alert.reasons');
const K_EVIDENCE = key('outflow.alert.evidence');
const K_TAGS = key('outflow.alert.tags');
const K_RELATED = key('outflow.alert.related');
const TIME = b('{"timeUnixNano":"');
const OBSERVED_TIME = b('","observedTimeUnixNano":"');
const SEVERITY = b('","severityNumber":');
const SEVERITY_TEXT = b(',"severityText":');
const BODY = b(',"body":');
const ATTRIBUTES = b(`,"eventName":${JSON.stringify(ALERT_EVENT_NAME)},"attributes":[`);
const CLOSE = b('],"droppedAttributesCount":0}');

/** Finding attributes that would override one of the shared parts: such alerts take the general path. */
const RESERVED = /^(?:security_rule\.|threat\.|outflow\.alert\.|outflow\.label\.|k8s\.pod\.label\.)/;

/** Epoch milliseconds as nanoseconds, the digits only. */
function writeNanos(w: JsonWriter, ms: number): void {
  if (!Number.isFinite(ms)) w.byte(0x30);
  else if (Number.isSafeInteger(ms) && ms >= 0) {
    w.int(ms);
    w.bytes(NANOS);
  } else w.text(Number.isInteger(ms) ? `${ms}000000` : `${BigInt(Math.round(ms * 1e6))}`);
}

/**
 * Write an alert as an OTLP JSON log record: the same record as
 * `encodeLogRecord(toLogRecord(alert))` (attribute order aside), with the
 * parts shared by many alerts (a detection's rule and ATT&CK attributes, a
 * workload's attributes, an analytic's response plan) encoded once and copied.
 */
export function writeAlert(w: JsonWriter, alert: Alert): void {
  const wl = alert.workload ? workloadFragment(alert.workload) : undefined;
  const own = alert.attributes;
  if (own) {
    for (const k in own) {
      if (RESERVED.test(k) || wl?.keys.has(k)) {
        w.text(encodeLogRecord(toLogRecord(alert)));
        return;
      }
    }
  }
  w.bytes(TIME);
  writeNanos(w, alert.lastSeen);
  w.bytes(OBSERVED_TIME);
  writeNanos(w, alert.emittedAt);
  w.bytes(SEVERITY);
  w.int(SEVERITY_NUMBER[alert.severity] ?? 0);
  w.bytes(SEVERITY_TEXT);
  w.string(alert.severity);
  w.bytes(BODY);
  writeAny(w, alert.explanation.summary);
  w.bytes(ATTRIBUTES);
  let comma = false;
  if (wl && wl.bytes.length > 0) {
    w.bytes(wl.bytes);
    comma = true;
  }
  if (own) {
    for (const k in own) {
      const v = own[k];
      if (v === undefined) continue;
      if (comma) w.byte(0x2c);
      w.bytes(KEY);
      w.string(k);
      w.bytes(VALUE);
      writeAny(w, v);
      w.byte(0x7d);
      comma = true;
    }
  }
  if (comma) w.byte(0x2c);
  w.bytes(detectionFragment(alert.detection));
  writeKv(w, K_ID, alert.id);
  writeKv(w, K_DELIVERY, deliveryKey(alert));
  writeKv(w, K_STATUS, alert.status);
  writeKv(w, K_COUNT, alert.count);
  writeKv(w, K_SEVERITY_ID, alert.severityId);
  writeKv(w, K_TIME, alert.time);
  writeKv(w, K_FIRST, alert.firstSeen);
  writeKv(w, K_LAST, alert.lastSeen);
  writeKv(w, K_DEDUP, alert.dedupKey);
  const e = alert.explanation;
  if (e.observed !== undefined) writeKv(w, K_OBSERVED, e.observed);
  if (e.expected !== undefined) writeKv(w, K_EXPECTED, e.expected);
  if (e.score !== undefined) writeKv(w, K_SCORE, e.score);
  if (e.threshold !== undefined) writeKv(w, K_THRESHOLD, e.threshold);
  if (e.baselineAgeMs !== undefined) writeKv(w, K_AGE, e.baselineAgeMs);
  if (e.samples !== undefined) writeKv(w, K_SAMPLES, e.samples);
  if (e.reasons && e.reasons.length > 0) writeKv(w, K_REASONS, e.reasons);
  w.byte(0x2c);
  w.bytes(K_EVIDENCE);
  w.bytes(ARRAY_OPEN);
  for (let i = 0; i < alert.evidence.length; i++) {
    if (i > 0) w.byte(0x2c);
    const r = alert.evidence[i] as { source: string; id: string };
    writeString(w, `${r.source}:${r.id}`);
  }
  w.bytes(ARRAY_CLOSE);
  w.byte(0x7d);
  if (alert.tags && alert.tags.length > 0) writeKv(w, K_TAGS, alert.tags);
  if (alert.related && alert.related.length > 0) writeKv(w, K_RELATED, alert.related);
  if (alert.response) {
    const r = responseFragment(alert.response);
    if (r.length > 0) {
      w.byte(0x2c);
      w.bytes(r);
    }
  }
  if (alert.labels) {
    for (const k in alert.labels) {
      w.byte(0x2c);
      w.text(`{"key":${JSON.stringify(`outflow.label.${k}`)},"value":`);
      writeAny(w, alert.labels[k]);
      w.byte(0x7d);
    }
  }
  w.bytes(CLOSE);
}

/** `writeAlert` into a string (for tests and for callers that want the text). */
export function encodeAlert(alert: Alert): string {
  const w = new JsonWriter(4096);
  writeAlert(w, alert);
  return w.view().toString('utf8');
}
