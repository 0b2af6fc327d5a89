import type { DecodeError, DecodeMeta, DecodeSink, FormatDefinition, OutflowEvent, WorkloadIdentity } from '@outflow/core';
import type { OtlpAnyValue, OtlpKeyValue } from './model.js';

/**
 * Routes log records to a format by an attribute, a resource attribute or
 * the body text. With `attribute` and/or `resourceAttribute`, each named
 * attribute must exist and its value pass `equals`/`prefix`; with neither,
 * `equals`/`prefix` test the body text.
 */
export interface MappingRule {
  match: { attribute?: string; resourceAttribute?: string; equals?: string; prefix?: string };
  /** Name of one of the configured formats. */
  format: string;
}

export interface OtlpMapperOptions {
  /** Formats log record bodies may be in (the `formats` arrays of receiver packages). */
  formats: readonly FormatDefinition[];
  /** Checked in order before sniffing; the first match decides. */
  rules?: readonly MappingRule[];
  /** Recognise bodies with each format's `sniff` when no rule matched. Default true. */
  sniff?: boolean;
  /** Lowest sniff confidence accepted. Default 0.5. */
  sniffThreshold?: number;
}

/** Where the mapper puts what it found. */
export interface MapOutput {
  event(event: OutflowEvent): void;
  /** The chosen format's decoder reported an error for a record's body; its location is relative to the request (`resourceLogs[0].scopeLogs[0].logRecords[3]`). */
  error(error: DecodeError): void;
  /** No rule or format recognised the record; `record` is the log record as received, `detail` its place in the request. */
  unmapped(record: unknown, detail: string): void;
  /** The record's format decoded it to nothing (neither event nor error). */
  empty(detail: string): void;
}

export interface MapResult {
  /** Log records seen. */
  records: number;
  /** Records that produced no event: unmapped, or whose body failed to decode. */
  rejected: number;
  unmapped: number;
  failed: number;
  /** The first decode failure, for the partial-success message. */
  firstFailure?: string;
}

/** The request is not an ExportLogsServiceRequest (wrong shape): the whole request is bad. */
export class RequestShapeError extends Error {
  override readonly name = 'RequestShapeError';
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A field by its lowerCamelCase name, or by its proto name (`resource_logs`) as lenient readers accept. */
function field(obj: Json, camel: string, snake: string): unknown {
  const v = obj[camel];
  return v !== undefined ? v : obj[snake];
}

function list(obj: Json, camel: string, snake: string, where: string): unknown[] {
  const v = field(obj, camel, snake);
  if (v === undefined || v === null) return EMPTY;
  if (!Array.isArray(v)) throw new RequestShapeError(`${where}.${camel} must be an array`);
  return v;
}

const EMPTY: unknown[] = [];

/** Nanoseconds (decimal string or number) to epoch ms; undefined when absent, zero or not a number. */
export function nanosToMs(value: unknown): number | undefined {
  if (typeof value === 'string') {
    if (value.length <= 6) return undefined;
    const ms = Number(value.slice(0, -6));
    return Number.isFinite(ms) && ms > 0 && Number.isFinite(Number(value)) ? ms : undefined;
  }
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return Math.floor(value / 1e6);
  return undefined;
}

const MAX_DEPTH = 32;

/** An AnyValue as a plain JSON value (maps become objects, int64 numbers when exact). */
export function plainValue(value: unknown, depth = 0): unknown {
  if (!isObject(value) || depth > MAX_DEPTH) return null;
  let v: unknown;
  if ((v = value.stringValue) !== undefined || (v = value.string_value) !== undefined) return v;
  if ((v = value.boolValue) !== undefined || (v = value.bool_value) !== undefined) return v;
  if ((v = value.intValue) !== undefined || (v = value.int_value) !== undefined) {
    if (typeof v === 'number') return v;
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v;
  }
  if ((v = value.doubleValue) !== undefined || (v = value.double_value) !== undefined) return v;
  if ((v = value.kvlistValue) !== undefined || (v = value.kvlist_value) !== undefined) {
    const out: Record<string, unknown> = {};
    const values = isObject(v) ? v.values : undefined;
    if (Array.isArray(values)) for (const kv of values) if (isObject(kv) && typeof kv.key === 'string') out[kv.key] = plainValue(kv.value, depth + 1);
    return out;
  }
  if ((v = value.arrayValue) !== undefined || (v = value.array_value) !== undefined) {
    const values = isObject(v) ? v.values : undefined;
    return Array.isArray(values) ? values.map((x) => plainValue(x, depth + 1)) : [];
  }
  if ((v = value.bytesValue) !== undefined || (v = value.bytes_value) !== undefined) return v;
  return null;
}

/** The string form of an attribute value for rule matching: strings as is, scalars stringified. */
function scalarText(value: unknown): string | undefined {
  if (!isObject(value)) return undefined;
  let v: unknown;
  if ((v = value.stringValue) !== undefined || (v = value.string_value) !== undefined) return typeof v === 'string' ? v : undefined;
  if ((v = value.intValue) !== undefined || (v = value.int_value) !== undefined) return String(v);
  if ((v = value.boolValue) !== undefined || (v = value.bool_value) !== undefined) return String(v);
  if ((v = value.doubleValue) !== undefined || (v = value.double_value) !== undefined) return String(v);
  return undefined;
}

function attribute(attributes: unknown[], key: string): unknown {
  for (let i = 0; i < attributes.length; i++) {
    const kv = attributes[i];
    if (isObject(kv) && kv.key === key) return kv.value;
  }
  return undefined;
}

/** Text a format's decoder can read: a string body as is, a map body as JSON. */
export function bodyText(body: unknown): string | undefined {
  if (!isObject(body)) return undefined;
  let v: unknown;
  if ((v = body.stringValue) !== undefined || (v = body.string_value) !== undefined) return typeof v === 'string' ? v : undefined;
  if (body.kvlistValue !== undefined || body.kvlist_value !== undefined) return JSON.stringify(plainValue(body));
  return undefined;
}

const WORKLOAD_KINDS: Record<string, string> = {
  'k8s.deployment.name': 'Deployment',
  'k8s.statefulset.name': 'StatefulSet',
  'k8s.daemonset.name': 'DaemonSet',
  'k8s.cronjob.name': 'CronJob',
  'k8s.job.name': 'Job',
  'k8s.replicaset.name': 'ReplicaSet',
};

/** Workload identity from resource attributes (`k8s.*`, `container.*`, `cloud.*`), or undefined when they name none. */
export function resourceWorkload(attributes: unknown[]): WorkloadIdentity | undefined {
  const w: WorkloadIdentity = {};
  let any = false;
  let image: string | undefined;
  let tag: string | undefined;
  let labels: Record<string, string> | undefined;
  let kindRank = 99;
  for (const kv of attributes) {
    if (!isObject(kv) || typeof kv.key !== 'string') continue;
    const key = kv.key;
    if (!(key.startsWith('k8s.') || key.startsWith('container.') || key.startsWith('cloud.'))) continue;
    const value = scalarText(kv.value);
    if (value === undefined || value.length === 0) {
      if (key === 'container.image.tags' || key === 'container.image.repo_digests') {
        const arr = plainValue(kv.value);
        const first = Array.isArray(arr) && typeof arr[0] === 'string' ? arr[0] : undefined;
        if (first !== undefined && key === 'container.image.tags') tag ??= first;
        if (first !== undefined && key === 'container.image.repo_digests' && w.imageDigest === undefined) {
          const at = first.lastIndexOf('@');
          w.imageDigest = at >= 0 ? first.slice(at + 1) : first;
          any = true;
        }
      }
      continue;
    }
    switch (key) {
      case 'k8s.cluster.name':
        w.cluster = value;
        break;
      case 'k8s.namespace.name':
        w.namespace = value;
        break;
      case 'k8s.pod.name':
        w.pod = value;
        break;
      case 'k8s.pod.uid':
        w.podUid = value;
        break;
      case 'k8s.container.name':
        w.container = value;
        break;
      case 'container.name':
        w.container ??= value;
        break;
      case 'container.id':
        w.containerId = value;
        break;
      case 'container.image.name':
        image = value;
        break;
      case 'container.image.tag':
        tag = value;
        break;
      case 'container.image.id':
        w.imageDigest = value;
        break;
      case 'k8s.node.name':
        w.node = value;
        break;
      case 'cloud.account.id':
        w.account = value;
        break;
      default: {
        const kind = WORKLOAD_KINDS[key];
        if (kind !== undefined) {
          // Prefer the owner closest to the user: Deployment over its ReplicaSet, CronJob over its Job.
          const rank = Object.keys(WORKLOAD_KINDS).indexOf(key);
          if (rank < kindRank) {
            kindRank = rank;
            w.workloadName = value;
            w.workloadKind = kind;
          }
        } else if (key.startsWith('k8s.pod.label.')) {
          labels ??= {};
          labels[key.slice(14)] = value;
        } else continue;
      }
    }
    any = true;
  }
  if (image !== undefined) {
    w.image = tag !== undefined && !image.includes('@') && image.lastIndexOf(':') <= image.lastIndexOf('/') ? `${image}:${tag}` : image;
    any = true;
  }
  if (labels) w.labels = labels;
  return any ? w : undefined;
}

interface CompiledRule {
  attribute: string | undefined;
  resourceAttribute: string | undefined;
  equals: string | undefined;
  prefix: string | undefined;
  format: FormatDefinition;
}

function passes(value: string, rule: CompiledRule): boolean {
  return (rule.equals === undefined || value === rule.equals) && (rule.prefix === undefined || value.startsWith(rule.prefix));
}

/** The sink an inner decoder writes one record's events to: fills what the OTLP record adds, counts outcomes. */
class RecordSink implements DecodeSink {
  events = 0;
  errors = 0;
  private text = '';
  private detail = '';
  private formatName = '';
  private fallbackTime: number | undefined;
  private workload: WorkloadIdentity | undefined;

  constructor(
    private readonly out: MapOutput,
    private readonly result: MapResult,
    private readonly receiver: string | undefined,
  ) {}

  reset(text: string, detail: string, formatName: string, fallbackTime: number | undefined, workload: WorkloadIdentity | undefined): void {
    this.events = 0;
    this.errors = 0;
    this.text = text;
    this.detail = detail;
    this.formatName = formatName;
    this.fallbackTime = fallbackTime;
    this.workload = workload;
  }

  // Arrow properties: bound once per request, so decoders may call them detached.
  readonly event = (e: OutflowEvent): void => {
    if (!(e.time > 0) && this.fallbackTime !== undefined) e.time = this.fallbackTime;
    if (!Number.isFinite(e.time)) {
      this.error({ reason: 'missing_time', message: `the ${this.formatName} record and the log record carry no usable time`, raw: this.text });
      return;
    }
    this.events++;
    if (e.workload === undefined && this.workload) e.workload = { ...this.workload };
    if (e.receiver === undefined && this.receiver !== undefined) e.receiver = this.receiver;
    this.out.event(e);
  };

  readonly error = (err: DecodeError): void => {
    this.errors++;
    if (this.result.firstFailure === undefined) this.result.firstFailure = `${err.reason}: ${err.message}`;
    this.out.error({ ...err, location: err.location === undefined ? this.detail : `${this.detail} ${err.location}` });
  };
}

/**
 * Maps OTLP log records to Outflow events by decoding each record's body with
 * one of the configured formats, chosen by the first matching rule or, failing
 * that, by the formats' `sniff` over the body text.
 */
export class OtlpLogsMapper {
  private readonly rules: CompiledRule[];
  private readonly sniffable: FormatDefinition[];
  private readonly threshold: number;

  constructor(options: OtlpMapperOptions) {
    const byName = new Map(options.formats.map((f) => [f.name, f]));
    this.rules = (options.rules ?? []).map((r) => {
      const format = byName.get(r.format);
      if (!format) throw new Error(`mapping rule names format "${r.format}", which is not among the configured formats`);
      return { attribute: r.match.attribute, resourceAttribute: r.match.resourceAttribute, equals: r.match.equals, prefix: r.match.prefix, format };
    });
    this.sniffable = options.sniff === false ? [] : options.formats.filter((f) => typeof f.sniff === 'function');
    this.threshold = options.sniffThreshold ?? 0.5;
  }

  /** Map every record of a request (JSON shape). Throws RequestShapeError when it is not an ExportLogsServiceRequest. */
  map(request: unknown, meta: DecodeMeta, out: MapOutput): MapResult {
    if (!isObject(request)) throw new RequestShapeError('an ExportLogsServiceRequest is a JSON object');
    const result: MapResult = { records: 0, rejected: 0, unmapped: 0, failed: 0 };
    // One sink and one meta per request, reset per record (decoders must not keep either).
    const sink = new RecordSink(out, result, meta.receiver);
    const innerMeta: DecodeMeta = { observedTime: meta.observedTime };
    if (meta.receiver !== undefined) innerMeta.receiver = meta.receiver;
    const base = meta.location === undefined ? 'otlp' : meta.line === undefined ? meta.location : `${meta.location}:${meta.line}`;
    const resources = list(request, 'resourceLogs', 'resource_logs', 'request');
    for (let i = 0; i < resources.length; i++) {
      const rl = resources[i];
      if (!isObject(rl)) throw new RequestShapeError(`resourceLogs[${i}] must be an object`);
      const resource = field(rl, 'resource', 'resource');
      const resourceAttributes = isObject(resource) ? list(resource, 'attributes', 'attributes', `resourceLogs[${i}].resource`) : EMPTY;
      let workload: WorkloadIdentity | undefined | null = null;
      const scopes = [
        ...list(rl, 'scopeLogs', 'scope_logs', `resourceLogs[${i}]`),
        ...list(rl, 'instrumentationLibraryLogs', 'instrumentation_library_logs', `resourceLogs[${i}]`),
      ];
      for (let j = 0; j < scopes.length; j++) {
        const sl = scopes[j];
        if (!isObject(sl)) throw new RequestShapeError(`resourceLogs[${i}].scopeLogs[${j}] must be an object`);
        const records = list(sl, 'logRecords', 'log_records', `resourceLogs[${i}].scopeLogs[${j}]`);
        let last: FormatDefinition | undefined;
        for (let k = 0; k < records.length; k++) {
          const record = records[k];
          if (!isObject(record)) throw new RequestShapeError(`resourceLogs[${i}].scopeLogs[${j}].logRecords[${k}] must be an object`);
          result.records++;
          const detail = `resourceLogs[${i}].scopeLogs[${j}].logRecords[${k}]`;
          const location = `${base}#${detail}`;
          const attributes = list(record, 'attributes', 'attributes', 'logRecord');
          const text = bodyText(field(record, 'body', 'body'));
          const format = this.choose(attributes, resourceAttributes, text, last);
          if (format === undefined || text === undefined) {
            result.rejected++;
            result.unmapped++;
            out.unmapped(record, detail);
            continue;
          }
          last = format;
          if (workload === null) workload = resourceWorkload(resourceAttributes);
          sink.reset(
            text,
            detail,
            format.name,
            nanosToMs(field(record, 'timeUnixNano', 'time_unix_nano')) ?? nanosToMs(field(record, 'observedTimeUnixNano', 'observed_time_unix_nano')),
            workload,
          );
          innerMeta.location = location;
          try {
            format.decoder.decode(text, sink, innerMeta);
          } catch (err) {
            sink.error({
              reason: 'decoder_exception',
              message: `decoder ${format.name} threw: ${err instanceof Error ? err.message : String(err)}`,
              raw: text,
            });
          }
          if (sink.events === 0) {
            if (sink.errors > 0) {
              result.rejected++;
              result.failed++;
            } else out.empty(detail);
          }
        }
      }
    }
    return result;
  }

  private choose(
    attributes: unknown[],
    resourceAttributes: unknown[],
    text: string | undefined,
    last: FormatDefinition | undefined,
  ): FormatDefinition | undefined {
    for (const rule of this.rules) {
      if (rule.attribute === undefined && rule.resourceAttribute === undefined) {
        if (text !== undefined && passes(text, rule)) return rule.format;
        continue;
      }
      if (rule.attribute !== undefined) {
        const v = scalarText(attribute(attributes, rule.attribute));
        if (v === undefined || !passes(v, rule)) continue;
      }
      if (rule.resourceAttribute !== undefined) {
        const v = scalarText(attribute(resourceAttributes, rule.resourceAttribute));
        if (v === undefined || !passes(v, rule)) continue;
      }
      return rule.format;
    }
    if (text === undefined || this.sniffable.length === 0) return undefined;
    // Records of one scope are usually in one format: try the last one first.
    if (last?.sniff && safeSniff(last, text) >= this.threshold) return last;
    let best: FormatDefinition | undefined;
    let bestScore = this.threshold;
    for (const f of this.sniffable) {
      if (f === last) continue;
      const score = safeSniff(f, text);
      if (score > bestScore || (score === bestScore && best === undefined)) {
        best = f;
        bestScore = score;
      }
    }
    return best;
  }
}

function safeSniff(format: FormatDefinition, text: string): number {
  try {
    const score = format.sniff?.(text) ?? 0;
    return Number.isFinite(score) ? score : 0;
  } catch {
    return 0;
  }
}

/** A mapping run collected into arrays (the HTTP receiver answers only after deciding what to accept). */
export interface CollectedMapping extends MapOutput {
  readonly events: OutflowEvent[];
  readonly errors: DecodeError[];
  readonly unmappedRecords: { record: unknown; detail: string }[];
  emptyRecords: number;
}

export function collectMapping(): CollectedMapping {
  const c: CollectedMapping = {
    events: [],
    errors: [],
    unmappedRecords: [],
    emptyRecords: 0,
    event: (e) => {
      c.events.push(e);
    },
    error: (e) => {
      c.errors.push(e);
    },
    unmapped: (record, detail) => {
      c.unmappedRecords.push({ record, detail });
    },
    empty: () => {
      c.emptyRecords++;
    },
  };
  return c;
}

export type { OtlpAnyValue, OtlpKeyValue };
