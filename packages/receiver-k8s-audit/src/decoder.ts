import { gunzipSync } from 'node:zlib';
import type { AttributeValue, DecodeError, DecodeMeta, Decoder, DecodeSink, K8sAuditEvent, OutflowEvent, WorkloadIdentity } from '@outflow/core';
import {
  type At,
  atLine,
  brief,
  decodeJsonInputGuarded,
  derivedId,
  epochMs,
  isObject,
  type Json,
  type JsonInputHandler,
  lastJsonError,
  NOT_JSON,
  nonEmpty,
  parseJson,
  parseTimestamp,
  pointerLocation,
  recordError,
  recordText,
  str,
  stringArray,
  stringRecord,
} from '@outflow/core/codec';

/** Format name of Kubernetes audit events. */
export const K8S_AUDIT_FORMAT = 'k8s_audit';

/** The stages of an audit event, in order. */
export const AUDIT_STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
export type AuditStage = (typeof AUDIT_STAGES)[number];

/** Stage given to records that carry none. */
export const UNKNOWN_STAGE = 'Unknown';

const SUPPORTED_VERSIONS = new Set(['audit.k8s.io/v1', 'audit.k8s.io/v1beta1', 'audit.k8s.io/v1alpha1']);
const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
const DECISION_ANNOTATION = 'authorization.k8s.io/decision';
/** Largest gunzipped Kinesis Firehose record accepted. */
const MAX_FIREHOSE_RECORD_BYTES = 16 * 1024 * 1024;

/** What a wrapper (CloudWatch, Cloud Logging, Azure diagnostics) tells about the audit events inside it. */
interface Wrapper {
  /** Event-time fallback: the wrapper's own timestamp. */
  time: number | undefined;
  provider: 'aws' | 'gcp' | 'azure' | undefined;
  cluster: string | undefined;
  account: string | undefined;
  region: string | undefined;
  zone: string | undefined;
  resourceId: string | undefined;
}

function wrapper(provider: Wrapper['provider']): Wrapper {
  return { time: undefined, provider, cluster: undefined, account: undefined, region: undefined, zone: undefined, resourceId: undefined };
}

const NO_WRAPPER: Wrapper = Object.freeze(wrapper(undefined)) as Wrapper;

/** Exec/attach details decoded from requestURI and the PodExecOptions request object. */
interface ExecInfo {
  command: string[] | undefined;
  container: string | undefined;
  tty: boolean | undefined;
  stdin: boolean | undefined;
}

function queryValue(value: string): string {
  if (value.indexOf('%') < 0 && value.indexOf('+') < 0) return value;
  try {
    return decodeURIComponent(value.replaceAll('+', ' '));
  } catch {
    return value;
  }
}

function queryBool(value: string): boolean | undefined {
  if (value === 'true' || value === '1' || value === 'True' || value === 'TRUE') return true;
  if (value === 'false' || value === '0' || value === 'False' || value === 'FALSE') return false;
  return undefined;
}

/** Read `command=` (repeated, in order), `container=`, `tty=`, `stdin=` from a request URI's query. */
function execFromUri(uri: string | undefined, out: ExecInfo): void {
  if (uri === undefined) return;
  const q = uri.indexOf('?');
  if (q < 0) return;
  let i = q + 1;
  const end = uri.length;
  while (i < end) {
    let amp = uri.indexOf('&', i);
    if (amp < 0) amp = end;
    const eq = uri.indexOf('=', i);
    const hasValue = eq >= 0 && eq < amp;
    const key = uri.slice(i, hasValue ? eq : amp);
    const value = hasValue ? uri.slice(eq + 1, amp) : '';
    if (key === 'command') (out.command ??= []).push(queryValue(value));
    else if (key === 'container') out.container = queryValue(value);
    else if (key === 'tty') out.tty = queryBool(value);
    else if (key === 'stdin') out.stdin = queryBool(value);
    i = amp + 1;
  }
}

function execFromObject(obj: unknown, out: ExecInfo): void {
  if (!isObject(obj)) return;
  if (out.command === undefined) {
    const command = stringArray(obj.command);
    if (command && command.length > 0) out.command = command;
  }
  if (out.container === undefined) out.container = nonEmpty(obj.container);
  if (out.tty === undefined && typeof obj.tty === 'boolean') out.tty = obj.tty;
  if (out.stdin === undefined && typeof obj.stdin === 'boolean') out.stdin = obj.stdin;
}

/** Map a google.rpc.Code to the HTTP status the API server would have answered. */
function grpcToHttp(code: number): number {
  switch (code) {
    case 0:
      return 200;
    case 1:
      return 499;
    case 3:
    case 9:
    case 11:
      return 400;
    case 4:
      return 504;
    case 5:
      return 404;
    case 6:
    case 10:
      return 409;
    case 7:
      return 403;
    case 8:
      return 429;
    case 12:
      return 501;
    case 14:
      return 503;
    case 16:
      return 401;
    default:
      return 500;
  }
}

function decisionFromCode(code: number | undefined): 'allow' | 'forbid' | undefined {
  if (code === undefined) return undefined;
  return code === 401 || code === 403 ? 'forbid' : 'allow';
}

function decisionFromAnnotation(value: string | undefined): 'allow' | 'forbid' | undefined {
  return value === 'allow' || value === 'forbid' ? value : undefined;
}

/** `/aws/eks/<cluster>/cluster` → `<cluster>`. */
export function clusterFromLogGroup(logGroup: string | undefined): string | undefined {
  if (logGroup === undefined || !logGroup.startsWith('/aws/eks/')) return undefined;
  const end = logGroup.indexOf('/', 9);
  const name = end < 0 ? logGroup.slice(9) : logGroup.slice(9, end);
  return name.length > 0 ? name : undefined;
}

/** Subscription id and cluster name from an AKS resource id (`/subscriptions/<id>/.../managedClusters/<name>`, any case). */
export function parseAksResourceId(resourceId: string | undefined, into: Wrapper): void {
  if (resourceId === undefined) return;
  into.resourceId = resourceId;
  const lower = resourceId.toLowerCase();
  const sub = lower.indexOf('/subscriptions/');
  if (sub >= 0) {
    const from = sub + 15;
    const end = resourceId.indexOf('/', from);
    const id = resourceId.slice(from, end < 0 ? undefined : end);
    if (id.length > 0) into.account = id;
  }
  const mc = lower.indexOf('/managedclusters/');
  if (mc >= 0) {
    const from = mc + 17;
    const end = resourceId.indexOf('/', from);
    const name = resourceId.slice(from, end < 0 ? undefined : end);
    if (name.length > 0) into.cluster = name;
  }
}

/**
 * GKE resourceName (`core/v1/namespaces/<ns>/pods/<name>/exec`,
 * `rbac.authorization.k8s.io/v1/clusterroles/<name>`) → objectRef.
 */
export function objectRefFromResourceName(resourceName: string | undefined): K8sAuditEvent['objectRef'] | undefined {
  if (resourceName === undefined || resourceName.length === 0 || resourceName.charCodeAt(0) === 47) return undefined;
  const parts = resourceName.split('/');
  if (parts.length < 3) return undefined;
  const group = parts[0] as string;
  const ref: NonNullable<K8sAuditEvent['objectRef']> = {};
  if (group !== 'core' && group !== '') ref.apiGroup = group;
  ref.apiVersion = parts[1] as string;
  let i = 2;
  if (parts[i] === 'namespaces' && parts.length >= 5) {
    ref.namespace = parts[i + 1] as string;
    i += 2;
  }
  ref.resource = parts[i] as string;
  if (parts.length > i + 1) ref.name = parts[i + 1] as string;
  if (parts.length > i + 2) ref.subresource = parts.slice(i + 2).join('/');
  if (ref.resource === 'namespaces' && ref.name !== undefined && ref.namespace === undefined) ref.namespace = ref.name;
  return ref;
}

function objectRefFromAudit(value: unknown): K8sAuditEvent['objectRef'] | undefined {
  if (!isObject(value)) return undefined;
  const ref: NonNullable<K8sAuditEvent['objectRef']> = {};
  const resource = nonEmpty(value.resource);
  if (resource !== undefined) ref.resource = resource;
  const subresource = nonEmpty(value.subresource);
  if (subresource !== undefined) ref.subresource = subresource;
  const namespace = nonEmpty(value.namespace);
  if (namespace !== undefined) ref.namespace = namespace;
  const name = nonEmpty(value.name);
  if (name !== undefined) ref.name = name;
  const apiGroup = nonEmpty(value.apiGroup);
  if (apiGroup !== undefined) ref.apiGroup = apiGroup;
  const apiVersion = nonEmpty(value.apiVersion);
  if (apiVersion !== undefined) ref.apiVersion = apiVersion;
  const uid = nonEmpty(value.uid);
  if (uid !== undefined) ref.uid = uid;
  return ref;
}

function firstExtra(extra: Json, key: string): string | undefined {
  const v = extra[key];
  if (Array.isArray(v)) return typeof v[0] === 'string' ? v[0] : undefined;
  return typeof v === 'string' ? v : undefined;
}

/**
 * Decodes Kubernetes API server audit events into `K8sAuditEvent`s:
 * `audit.k8s.io/v1` (and `v1beta1`, and records without `apiVersion`) Event
 * and EventList, as JSON lines or whole documents; EKS CloudWatch Logs
 * subscription payloads, exported lines and `filter-log-events` output (and
 * Kinesis Firehose records carrying them); GKE Cloud Audit Logs entries; AKS
 * diagnostic records. Pure and never throws: a bad record is reported to
 * `sink.error` and the rest of the input is still decoded.
 */
export class K8sAuditDecoder implements Decoder<string>, JsonInputHandler {
  readonly format = K8S_AUDIT_FORMAT;

  decode(input: string, sink: DecodeSink, meta: DecodeMeta): void {
    decodeJsonInputGuarded(input, sink, meta, this);
  }

  /** @internal CloudWatch export lines: `<RFC 3339 timestamp> <audit event JSON>`. */
  jsonStart(text: string): number {
    const c = text.charCodeAt(0);
    if (c < 48 || c > 57) return -1;
    const space = text.indexOf(' {');
    return space > 0 && space < 40 && parseTimestamp(text.slice(0, space)) !== undefined ? space + 1 : -1;
  }

  /** @internal One JSON value of the input. */
  value(value: unknown, text: string | undefined, line: number | undefined, sink: DecodeSink, meta: DecodeMeta, prefixTime: number | undefined): void {
    const at = atLine(meta, line);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) this.record(value[i], undefined, at, `/${i}`, sink, meta, NO_WRAPPER);
      return;
    }
    if (prefixTime !== undefined) {
      const w = wrapper('aws');
      w.time = prefixTime;
      this.record(value, text, at, '', sink, meta, w);
      return;
    }
    this.record(value, text, at, '', sink, meta, NO_WRAPPER);
  }

  private record(v: unknown, text: string | undefined, at: At, pointer: string, sink: DecodeSink, meta: DecodeMeta, w: Wrapper): void {
    if (!isObject(v)) {
      recordError(
        sink,
        'unrecognized_record',
        `expected a JSON object, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`,
        v,
        text,
        at,
        pointer,
      );
      return;
    }
    const items = v.items;
    if (v.kind === 'EventList' || (Array.isArray(items) && v.kind === undefined && v.verb === undefined)) {
      this.eventList(v, text, at, pointer, sink, meta);
      return;
    }
    if (v.protoPayload !== undefined) {
      this.gke(v, text, at, pointer, sink, meta);
      return;
    }
    if (Array.isArray(v.logEvents) || typeof v.messageType === 'string') {
      this.cloudWatch(v, text, at, pointer, sink, meta);
      return;
    }
    if (Array.isArray(v.events) && v.verb === undefined) {
      this.logEventsOutput(v, text, at, pointer, sink, meta);
      return;
    }
    if (Array.isArray(v.records) && v.verb === undefined) {
      this.records(v.records, at, `${pointer}/records`, sink, meta);
      return;
    }
    if (typeof v.category === 'string' && v.properties !== undefined && v.verb === undefined) {
      this.azure(v, text, at, pointer, sink, meta);
      return;
    }
    this.audit(v, text, at, pointer, sink, meta, w);
  }

  private eventList(v: Json, text: string | undefined, at: At, pointer: string, sink: DecodeSink, meta: DecodeMeta): void {
    const apiVersion = v.apiVersion;
    if (apiVersion !== undefined && !SUPPORTED_VERSIONS.has(apiVersion as string)) {
      recordError(sink, 'unsupported_version', `EventList apiVersion ${brief(apiVersion)} is not audit.k8s.io/v1 or v1beta1`, v, text, at, pointer);
      return;
    }
    const items = v.items;
    if (!Array.isArray(items)) {
      recordError(sink, 'invalid_field', 'EventList.items must be an array', v, text, at, pointer);
      return;
    }
    for (let i = 0; i < items.length; i++) this.audit(items[i], undefined, at, `${pointer}/items/${i}`, sink, meta, NO_WRAPPER);
  }

  /** CloudWatch Logs subscription payload (`messageType`, `logGroup`, `logStream`, `logEvents`). */
  private cloudWatch(v: Json, text: string | undefined, at: At, pointer: string, sink: DecodeSink, meta: DecodeMeta): void {
    if (v.messageType === 'CONTROL_MESSAGE') return; // CloudWatch's connectivity probe: carries no log data
    const stream = str(v.logStream);
    if (stream !== undefined && !stream.startsWith('kube-apiserver-audit')) {
      recordError(sink, 'not_audit_stream', `log stream ${stream} is not a kube-apiserver-audit stream`, v, text, at, pointer);
      return;
    }
    const events = v.logEvents;
    if (!Array.isArray(events)) {
      recordError(sink, 'missing_field', 'CloudWatch payload has no logEvents array', v, text, at, pointer);
      return;
    }
    const w = wrapper('aws');
    w.cluster = clusterFromLogGroup(str(v.logGroup));
    w.account = nonEmpty(v.owner);
    for (let i = 0; i < events.length; i++) this.logEvent(events[i], at, `${pointer}/logEvents/${i}`, sink, meta, w);
  }

  /** `aws logs filter-log-events` / `get-log-events` output: `{ "events": [{ logStreamName, timestamp, message }] }`. */
  private logEventsOutput(v: Json, _text: string | undefined, at: At, pointer: string, sink: DecodeSink, meta: DecodeMeta): void {
    const events = v.events as unknown[];
    const w = wrapper('aws');
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      const stream = isObject(e) ? str(e.logStreamName) : undefined;
      if (stream !== undefined && !stream.startsWith('kube-apiserver-audit')) {
        recordError(sink, 'not_audit_stream', `log stream ${stream} is not a kube-apiserver-audit stream`, e, undefined, at, `${pointer}/events/${i}`);
        continue;
      }
      this.logEvent(e, at, `${pointer}/events/${i}`, sink, meta, w);
    }
  }

  private logEvent(e: unknown, at: At, pointer: string, sink: DecodeSink, meta: DecodeMeta, w: Wrapper): void {
    if (!isObject(e)) {
      recordError(sink, 'unrecognized_record', 'a CloudWatch log event must be an object', e, undefined, at, pointer);
      return;
    }
    w.time = epochMs(e.timestamp);
    const message = e.message;
    if (typeof message === 'string') {
      const inner = parseJson(message);
      if (inner === NOT_JSON) {
        recordError(sink, 'invalid_json', `log event message is not JSON: ${lastJsonError}`, message, message, at, pointer);
        return;
      }
      this.audit(inner, message, at, pointer, sink, meta, w);
    } else if (isObject(message)) {
      this.audit(message, undefined, at, pointer, sink, meta, w);
    } else {
      recordError(sink, 'missing_field', 'CloudWatch log event has no message', e, undefined, at, pointer);
    }
  }

  /** `records`: Azure diagnostic records, or Kinesis Firehose HTTP delivery records (`data`, base64, maybe gzip). */
  private records(records: unknown[], at: At, pointer: string, sink: DecodeSink, meta: DecodeMeta): void {
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (isObject(r) && typeof r.data === 'string' && r.category === undefined) this.firehose(r.data, at, `${pointer}/${i}`, sink, meta);
      else this.azure(r, undefined, at, `${pointer}/${i}`, sink, meta);
    }
  }

  private firehose(data: string, at: At, pointer: string, sink: DecodeSink, meta: DecodeMeta): void {
    let text: string;
    try {
      let bytes = Buffer.from(data, 'base64');
      if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes, { maxOutputLength: MAX_FIREHOSE_RECORD_BYTES });
      text = bytes.toString('utf8');
    } catch (err) {
      recordError(
        sink,
        'invalid_encoding',
        `Firehose record data is not base64 (gzip) JSON: ${err instanceof Error ? err.message : String(err)}`,
        data,
        data,
        at,
        pointer,
      );
      return;
    }
    const value = parseJson(text);
    if (value === NOT_JSON) {
      recordError(sink, 'invalid_json', `Firehose record data is not JSON: ${lastJsonError}`, text, text, at, pointer);
      return;
    }
    if (isObject(value) && (Array.isArray(value.logEvents) || typeof value.messageType === 'string')) this.cloudWatch(value, text, at, pointer, sink, meta);
    else this.audit(value, text, at, pointer, sink, meta, NO_WRAPPER);
  }

  /** Azure diagnostic record: `{ category: "kube-audit", properties: { log: "<event JSON>" }, time, resourceId }`. */
  private azure(r: unknown, text: string | undefined, at: At, pointer: string, sink: DecodeSink, meta: DecodeMeta): void {
    if (!isObject(r)) {
      recordError(sink, 'unrecognized_record', 'a diagnostic record must be an object', r, text, at, pointer);
      return;
    }
    const category = str(r.category);
    if (category !== 'kube-audit' && category !== 'kube-audit-admin') {
      recordError(sink, 'unsupported_category', `diagnostic category ${brief(r.category)} is not kube-audit or kube-audit-admin`, r, text, at, pointer);
      return;
    }
    const props = r.properties;
    const log = isObject(props) ? props.log : undefined;
    const w = wrapper('azure');
    w.time = parseTimestamp(r.time);
    parseAksResourceId(str(r.resourceId), w);
    if (typeof log === 'string') {
      const inner = parseJson(log);
      if (inner === NOT_JSON) {
        recordError(sink, 'invalid_json', `properties.log is not JSON: ${lastJsonError}`, log, log, at, pointer);
        return;
      }
      this.audit(inner, log, at, pointer, sink, meta, w);
    } else if (isObject(log)) {
      this.audit(log, undefined, at, pointer, sink, meta, w);
    } else {
      recordError(sink, 'missing_field', 'diagnostic record has no properties.log', r, text, at, pointer);
    }
  }

  /** A native audit event (v1, v1beta1, or without apiVersion). */
  private audit(ev: unknown, text: string | undefined, at: At, pointer: string, sink: DecodeSink, meta: DecodeMeta, w: Wrapper): void {
    if (!isObject(ev)) {
      recordError(sink, 'unrecognized_record', 'an audit event must be a JSON object', ev, text, at, pointer);
      return;
    }
    const kind = ev.kind;
    if (kind !== undefined && kind !== 'Event') {
      recordError(sink, 'unsupported_kind', `kind ${brief(kind)} is not an audit Event`, ev, text, at, pointer);
      return;
    }
    const apiVersion = ev.apiVersion;
    if (apiVersion !== undefined && !SUPPORTED_VERSIONS.has(apiVersion as string)) {
      recordError(sink, 'unsupported_version', `apiVersion ${brief(apiVersion)} is not audit.k8s.io/v1 or v1beta1`, ev, text, at, pointer);
      return;
    }
    const verb = nonEmpty(ev.verb);
    if (verb === undefined) {
      if (kind === undefined && apiVersion === undefined && ev.auditID === undefined && ev.user === undefined)
        recordError(sink, 'unrecognized_record', 'not a Kubernetes audit event (no kind, apiVersion, auditID, verb or user)', ev, text, at, pointer);
      else recordError(sink, 'missing_field', 'audit event has no verb', ev, text, at, pointer);
      return;
    }
    const userValue = ev.user;
    const username = isObject(userValue) ? str(userValue.username) : undefined;
    if (username === undefined) {
      recordError(sink, 'missing_field', 'audit event has no user.username', ev, text, at, pointer);
      return;
    }
    let time = parseTimestamp(ev.requestReceivedTimestamp);
    if (time === undefined) time = parseTimestamp(ev.stageTimestamp);
    if (time === undefined) time = parseTimestamp(ev.timestamp);
    if (time === undefined) time = w.time;
    if (time === undefined) {
      const present = ev.requestReceivedTimestamp !== undefined || ev.stageTimestamp !== undefined || ev.timestamp !== undefined;
      recordError(
        sink,
        present ? 'invalid_timestamp' : 'missing_field',
        present ? 'requestReceivedTimestamp/stageTimestamp is not an RFC 3339 timestamp' : 'audit event has no requestReceivedTimestamp or stageTimestamp',
        ev,
        text,
        at,
        pointer,
      );
      return;
    }
    const user: K8sAuditEvent['user'] = { username };
    const u = userValue as Json;
    const uid = nonEmpty(u.uid);
    if (uid !== undefined) user.uid = uid;
    const groups = stringArray(u.groups);
    if (groups !== undefined) user.groups = groups;
    const location = pointer === '' ? at.loc : pointerLocation(at.loc, pointer);
    let auditId = nonEmpty(ev.auditID);
    const sourceId = auditId ?? (auditId = derivedId(location, text ?? recordText(ev)));
    const event: K8sAuditEvent = {
      kind: 'k8s_audit',
      time,
      observedTime: meta.observedTime,
      source: K8S_AUDIT_FORMAT,
      sourceId,
      auditId,
      stage: nonEmpty(ev.stage) ?? UNKNOWN_STAGE,
      verb,
      user,
      sourceIps: stringArray(ev.sourceIPs) ?? [],
    };
    if (meta.receiver !== undefined) event.receiver = meta.receiver;
    if (at.loc !== undefined) event.location = at.loc;
    event.raw = ev;
    const level = nonEmpty(ev.level);
    if (level !== undefined) event.level = level;
    const requestUri = str(ev.requestURI);
    if (requestUri !== undefined) event.requestUri = requestUri;
    const imp = ev.impersonatedUser;
    if (isObject(imp)) {
      const impName = str(imp.username);
      if (impName !== undefined) {
        const impGroups = stringArray(imp.groups);
        event.impersonatedUser = impGroups === undefined ? { username: impName } : { username: impName, groups: impGroups };
      }
    }
    const userAgent = str(ev.userAgent);
    if (userAgent !== undefined) event.userAgent = userAgent;
    const objectRef = objectRefFromAudit(ev.objectRef);
    if (objectRef !== undefined) event.objectRef = objectRef;
    const status = ev.responseStatus;
    const code = isObject(status) && typeof status.code === 'number' && Number.isFinite(status.code) ? status.code : undefined;
    if (code !== undefined) event.responseCode = code;
    const annotations = stringRecord(ev.annotations);
    if (annotations !== undefined) event.annotations = annotations;
    const decision = decisionFromAnnotation(annotations?.[DECISION_ANNOTATION]) ?? decisionFromCode(code);
    if (decision !== undefined) event.decision = decision;
    if (ev.requestObject !== undefined && ev.requestObject !== null) event.requestObject = ev.requestObject;
    if (ev.responseObject !== undefined && ev.responseObject !== null) event.responseObject = ev.responseObject;
    const extra = isObject(u.extra) ? u.extra : undefined;
    this.finish(event, ev.requestObject, w, extra, sink);
  }

  /** GKE: a Cloud Logging LogEntry whose protoPayload is a Kubernetes AuditLog. */
  private gke(v: Json, text: string | undefined, at: At, pointer: string, sink: DecodeSink, meta: DecodeMeta): void {
    const pp = v.protoPayload;
    if (!isObject(pp)) {
      recordError(sink, 'invalid_field', 'protoPayload must be an object', v, text, at, pointer);
      return;
    }
    const method = str(pp.methodName);
    if (method === undefined || !(method.startsWith('io.k8s.') || pp.serviceName === 'k8s.io')) {
      recordError(sink, 'unsupported_record', `not a Kubernetes audit entry (methodName ${brief(pp.methodName)})`, v, text, at, pointer);
      return;
    }
    const verb = method.slice(method.lastIndexOf('.') + 1);
    if (verb.length === 0) {
      recordError(sink, 'missing_field', `methodName ${method} has no verb`, v, text, at, pointer);
      return;
    }
    const auth = pp.authenticationInfo;
    const username = isObject(auth) ? (nonEmpty(auth.principalEmail) ?? nonEmpty(auth.principalSubject)) : undefined;
    if (username === undefined) {
      recordError(sink, 'missing_field', 'protoPayload.authenticationInfo has no principalEmail', v, text, at, pointer);
      return;
    }
    let time = parseTimestamp(v.timestamp);
    if (time === undefined) time = parseTimestamp(v.receiveTimestamp);
    if (time === undefined) {
      const present = v.timestamp !== undefined || v.receiveTimestamp !== undefined;
      recordError(
        sink,
        present ? 'invalid_timestamp' : 'missing_field',
        present ? 'timestamp is not an RFC 3339 timestamp' : 'LogEntry has no timestamp',
        v,
        text,
        at,
        pointer,
      );
      return;
    }
    const operation = isObject(v.operation) ? v.operation : undefined;
    const insertId = nonEmpty(v.insertId);
    const location = pointer === '' ? at.loc : pointerLocation(at.loc, pointer);
    const auditId = nonEmpty(operation?.id) ?? insertId ?? derivedId(location, text ?? recordText(v));
    const rm = isObject(pp.requestMetadata) ? pp.requestMetadata : undefined;
    const callerIp = rm ? (nonEmpty(rm.callerIp) ?? nonEmpty(rm.callerIP)) : undefined;
    const stage = operation !== undefined && operation.first === true && operation.last !== true ? 'ResponseStarted' : 'ResponseComplete';
    const event: K8sAuditEvent = {
      kind: 'k8s_audit',
      time,
      observedTime: meta.observedTime,
      source: K8S_AUDIT_FORMAT,
      sourceId: insertId ?? auditId,
      auditId,
      stage,
      verb,
      user: { username },
      sourceIps: callerIp === undefined ? [] : [callerIp],
    };
    if (meta.receiver !== undefined) event.receiver = meta.receiver;
    if (at.loc !== undefined) event.location = at.loc;
    event.raw = v;
    const userAgent = rm ? str(rm.callerSuppliedUserAgent) : undefined;
    if (userAgent !== undefined) event.userAgent = userAgent;
    const objectRef = objectRefFromResourceName(str(pp.resourceName));
    if (objectRef !== undefined) event.objectRef = objectRef;
    const response = isObject(pp.response) ? pp.response : undefined;
    let code: number | undefined;
    if (response !== undefined && response.kind === 'Status' && typeof response.code === 'number') code = response.code;
    else if (isObject(pp.status)) code = grpcToHttp(typeof pp.status.code === 'number' ? pp.status.code : 0);
    if (code !== undefined) event.responseCode = code;
    const labels = stringRecord(v.labels);
    if (labels !== undefined) event.annotations = labels;
    let decision = decisionFromAnnotation(labels?.[DECISION_ANNOTATION]);
    if (decision === undefined && Array.isArray(pp.authorizationInfo) && pp.authorizationInfo.length > 0) {
      let granted = true;
      for (const a of pp.authorizationInfo) if (!isObject(a) || a.granted !== true) granted = false;
      if (granted) decision = 'allow';
      else if (pp.authorizationInfo.some((a) => isObject(a) && a.granted === false)) decision = 'forbid';
    }
    decision ??= decisionFromCode(code);
    if (decision !== undefined) event.decision = decision;
    if (pp.request !== undefined && pp.request !== null) event.requestObject = pp.request;
    if (response !== undefined) event.responseObject = response;
    const w = wrapper('gcp');
    const resource = isObject(v.resource) ? v.resource : undefined;
    const rl = resource && isObject(resource.labels) ? resource.labels : undefined;
    if (rl !== undefined) {
      w.cluster = nonEmpty(rl.cluster_name);
      w.account = nonEmpty(rl.project_id);
      const where = nonEmpty(rl.location);
      if (where !== undefined) {
        // GKE locations are regions (us-west1) or zones (us-west1-a).
        const dash = where.lastIndexOf('-');
        if (dash > 0 && where.length - dash === 2) w.zone = where;
        else w.region = where;
      }
    }
    this.finish(event, pp.request, w, undefined, sink);
  }

  /** Exec details, workload identity and attributes common to every shape; then emit. */
  private finish(event: K8sAuditEvent, requestObject: unknown, w: Wrapper, extra: Json | undefined, sink: DecodeSink): void {
    const ref = event.objectRef;
    let workload: WorkloadIdentity | undefined;
    let attributes: Record<string, AttributeValue> | undefined;
    if (ref !== undefined && ref.resource === 'pods') {
      workload = {};
      if (ref.namespace !== undefined) workload.namespace = ref.namespace;
      if (ref.name !== undefined) workload.pod = ref.name;
      if (ref.subresource === 'exec' || ref.subresource === 'attach') {
        const exec: ExecInfo = { command: undefined, container: undefined, tty: undefined, stdin: undefined };
        execFromUri(event.requestUri, exec);
        execFromObject(requestObject, exec);
        if (exec.command !== undefined && ref.subresource === 'exec') event.command = exec.command;
        if (exec.container !== undefined) event.execContainer = exec.container;
        if (exec.tty !== undefined) event.tty = exec.tty;
        if (exec.stdin !== undefined) event.stdin = exec.stdin;
      }
    }
    const username = event.user.username;
    if (username.startsWith(SERVICE_ACCOUNT_PREFIX)) {
      const rest = username.slice(SERVICE_ACCOUNT_PREFIX.length);
      const colon = rest.indexOf(':');
      if (colon > 0 && colon < rest.length - 1) {
        const ns = rest.slice(0, colon);
        attributes = { 'k8s.namespace.name': ns, 'k8s.serviceaccount.name': rest.slice(colon + 1) };
        if (workload === undefined) workload = { namespace: ns };
      }
    }
    if (extra !== undefined) {
      // Bound service-account tokens name the pod (and node) that presented them: the actor.
      const pod = firstExtra(extra, 'authentication.kubernetes.io/pod-name');
      if (pod !== undefined) (attributes ??= {})['k8s.audit.actor.pod.name'] = pod;
      const podUid = firstExtra(extra, 'authentication.kubernetes.io/pod-uid');
      if (podUid !== undefined) (attributes ??= {})['k8s.audit.actor.pod.uid'] = podUid;
      const node = firstExtra(extra, 'authentication.kubernetes.io/node-name');
      if (node !== undefined) (attributes ??= {})['k8s.audit.actor.node.name'] = node;
    }
    if (w.provider !== undefined) {
      attributes ??= {};
      attributes['cloud.provider'] = w.provider;
      if (w.account !== undefined) attributes['cloud.account.id'] = w.account;
      if (w.region !== undefined) attributes['cloud.region'] = w.region;
      if (w.zone !== undefined) attributes['cloud.availability_zone'] = w.zone;
      if (w.resourceId !== undefined) attributes['cloud.resource_id'] = w.resourceId;
      if (w.cluster !== undefined) {
        attributes['k8s.cluster.name'] = w.cluster;
        (workload ??= {}).cluster = w.cluster;
        if (w.account !== undefined) workload.account = w.account;
      }
    }
    if (workload !== undefined) event.workload = workload;
    if (attributes !== undefined) event.attributes = attributes;
    sink.event(event as OutflowEvent);
  }
}

/** The decoder instance (stateless; share it freely). */
export const k8sAuditDecoder = new K8sAuditDecoder();

/**
 * A decoder that passes on only events of the given stages. `onFiltered` is
 * told how many events one decode call left out (once per input, not per event).
 */
export class StageFilterDecoder implements Decoder<string>, DecodeSink {
  readonly format: string;
  private readonly keep: ReadonlySet<string>;
  private target: DecodeSink | undefined;
  private filtered = 0;

  constructor(
    private readonly inner: Decoder<string>,
    stages: readonly string[],
    private readonly onFiltered?: (count: number) => void,
  ) {
    this.format = inner.format;
    this.keep = new Set(stages);
  }

  decode(input: string, sink: DecodeSink, meta: DecodeMeta): void {
    const outer = this.target;
    const outerFiltered = this.filtered;
    this.target = sink;
    this.filtered = 0;
    try {
      this.inner.decode(input, this, meta);
      if (this.filtered > 0) this.onFiltered?.(this.filtered);
    } finally {
      this.target = outer;
      this.filtered = outerFiltered;
    }
  }

  /** @internal */
  event(e: OutflowEvent): void {
    if (e.kind === 'k8s_audit' && !this.keep.has(e.stage)) this.filtered++;
    else this.target?.event(e);
  }

  /** @internal */
  error(e: DecodeError): void {
    this.target?.error(e);
  }
}
