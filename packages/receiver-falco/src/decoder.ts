import type { AttributeValue, DecodeMeta, Decoder, DecodeSink, ProcessInfo, RuntimeAlertEvent, WorkloadIdentity } from '@outflow/core';
import {
  decodeJsonLines,
  detailLocation,
  isObject,
  type JsonLineHandler,
  parseRfc3339,
  shortHash,
  splitArgs,
  toNumber,
  unmapAddress,
} from '@outflow/core/codec';

/** Format name of Falco's JSON alert output. */
export const FALCO_FORMAT = 'falco';

/** Falco writes `<NA>` (or null) for fields it could not resolve. */
function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value !== '<NA>' ? value : undefined;
}

/** `host:port` → [host, port]; IPv6 hosts come bracketed or as the part before the last colon. */
function splitEndpoint(value: string): [string, number | undefined] | undefined {
  const colon = value.lastIndexOf(':');
  if (colon <= 0) return undefined;
  let host = value.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = Number(value.slice(colon + 1));
  return [unmapAddress(host), Number.isInteger(port) && port >= 0 && port <= 65535 ? port : undefined];
}

/**
 * Decodes Falco alerts as Falco writes them with `json_output: true` (stdout,
 * file and `http_output`) and as falcosidekick forwards them: one JSON object
 * per alert with `time`, `rule`, `priority`, `output`, `output_fields`, `tags`,
 * `hostname`, `source` and, from falcosidekick, `uuid`.
 *
 * `decode` accepts one alert, a JSON array of alerts, or JSON lines (one
 * alert per line). Every alert becomes a `runtime_alert` event; a bad alert is
 * reported through `sink.error` and the others still decode.
 */
export class FalcoDecoder implements Decoder<string, RuntimeAlertEvent>, JsonLineHandler<RuntimeAlertEvent> {
  readonly format = FALCO_FORMAT;

  decode(input: string, sink: DecodeSink<RuntimeAlertEvent>, meta: DecodeMeta): void {
    // One alert, or several lines: one pretty-printed alert or array, or JSON lines.
    decodeJsonLines(input, sink, meta, '{[', this);
  }

  /** @internal One JSON value of the input: an alert or an array of alerts. */
  lineValue(value: unknown, raw: string, sink: DecodeSink<RuntimeAlertEvent>, meta: DecodeMeta, detail: string | undefined): void {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        this.decodeAlert(item, undefined, sink, meta, `${detail ?? ''}[${i}]`);
      }
      return;
    }
    this.decodeAlert(value, raw, sink, meta, detail);
  }

  private decodeAlert(
    value: unknown,
    rawText: string | undefined,
    sink: DecodeSink<RuntimeAlertEvent>,
    meta: DecodeMeta,
    detail: string | undefined,
  ): undefined {
    if (!isObject(value)) {
      const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
      return fail(sink, 'invalid_record', `a Falco alert is a JSON object, got ${got}`, value, rawText, detail);
    }
    const { rule, priority, output } = value;
    if (typeof rule !== 'string' || rule.length === 0)
      return fail(sink, rule === undefined ? 'missing_field' : 'invalid_field', 'rule must be a non-empty string', value, rawText, detail);
    if (typeof priority !== 'string' || priority.length === 0)
      return fail(sink, priority === undefined ? 'missing_field' : 'invalid_field', 'priority must be a non-empty string', value, rawText, detail);
    if (typeof output !== 'string')
      return fail(sink, output === undefined ? 'missing_field' : 'invalid_field', 'output must be a string', value, rawText, detail);
    if (value.time === undefined) return fail(sink, 'missing_field', 'time is missing', value, rawText, detail);
    const time = parseRfc3339(value.time);
    if (time === undefined) return fail(sink, 'invalid_time', `time ${JSON.stringify(value.time)} is not an RFC 3339 timestamp`, value, rawText, detail);
    const rawFields = value.output_fields;
    if (rawFields !== undefined && rawFields !== null && !isObject(rawFields))
      return fail(sink, 'invalid_field', 'output_fields must be an object', value, rawText, detail);
    const rawTags = value.tags;
    if (rawTags !== undefined && rawTags !== null && !Array.isArray(rawTags))
      return fail(sink, 'invalid_field', 'tags must be an array of strings', value, rawText, detail);
    const location = detailLocation(meta, detail);
    const fields: Record<string, unknown> = rawFields ?? {};
    const tags = rawTags ? stringsOnly(rawTags) : NO_TAGS;

    const hostname = text(value.hostname);
    const uuid = text(value.uuid);
    const event: RuntimeAlertEvent = {
      kind: 'runtime_alert',
      time,
      observedTime: meta.observedTime,
      source: FALCO_FORMAT,
      sourceId: uuid ?? `falco-${hashAlert(value.time as string, rule, hostname ?? '', output)}`,
      engine: 'falco',
      rule,
      priority,
      output,
      tags,
      fields,
      raw: value,
    };
    if (meta.receiver !== undefined) event.receiver = meta.receiver;
    if (location !== undefined) event.location = location;
    normalizeFields(event, fields, hostname, text(value.source));
    sink.event(event);
  }
}

/**
 * Fill process, workload and attributes from `output_fields` in one pass over
 * its keys (no lookups of absent keys, no per-field closures).
 */
function normalizeFields(event: RuntimeAlertEvent, fields: Record<string, unknown>, hostname: string | undefined, source: string | undefined): void {
  let exepath: string | undefined;
  let exe: string | undefined;
  let name: string | undefined;
  let cmdline: string | undefined;
  let procArgs: string | undefined;
  let pid: number | undefined;
  let cwd: string | undefined;
  let tty: number | undefined;
  let userName: string | undefined;
  let uid: number | undefined;
  let ppid: number | undefined;
  let pname: string | undefined;
  let pexepath: string | undefined;
  let pcmdline: string | undefined;
  let imageRepo: string | undefined;
  let imageTag: string | undefined;
  let image: string | undefined;
  let sip: string | undefined;
  let sport: number | undefined;
  let cip: string | undefined;
  let cport: number | undefined;
  let rip: string | undefined;
  let rport: number | undefined;
  let lip: string | undefined;
  let lport: number | undefined;
  let fdName: string | undefined;
  let fdType: string | undefined;
  let l4proto: string | undefined;
  let labels: Record<string, string> | undefined;
  let kaNamespace: string | undefined;
  let kaName: string | undefined;
  let kaResource: string | undefined;
  let kaUser: string | undefined;
  const w: WorkloadIdentity = {};
  let hasWorkload = false;

  for (const key in fields) {
    const v = fields[key];
    if (v === null || v === undefined) continue;
    switch (key) {
      case 'proc.exepath':
        exepath = text(v);
        break;
      case 'proc.exe':
        exe = text(v);
        break;
      case 'proc.name':
        name = text(v);
        break;
      case 'proc.cmdline':
        cmdline = text(v);
        break;
      case 'proc.args':
        procArgs = typeof v === 'string' && v !== '<NA>' ? v : undefined;
        break;
      case 'proc.pid':
        pid = toNumber(v);
        break;
      case 'proc.cwd':
        cwd = text(v);
        break;
      case 'proc.tty':
        tty = toNumber(v);
        break;
      case 'user.name':
        userName = text(v);
        break;
      case 'user.uid':
        uid = toNumber(v);
        break;
      case 'proc.ppid':
        ppid = toNumber(v);
        break;
      case 'proc.pname':
        pname = text(v);
        break;
      case 'proc.pexepath':
        pexepath = text(v);
        break;
      case 'proc.pcmdline':
        pcmdline = text(v);
        break;
      case 'k8s.ns.name':
        if ((w.namespace = text(v))) hasWorkload = true;
        break;
      case 'k8s.pod.name':
        if ((w.pod = text(v))) hasWorkload = true;
        break;
      case 'k8s.pod.uid':
        if ((w.podUid = text(v))) hasWorkload = true;
        break;
      case 'k8s.deployment.name':
        if ((w.workloadName = text(v))) {
          w.workloadKind = 'Deployment';
          hasWorkload = true;
        }
        break;
      case 'container.id': {
        const id = text(v);
        if (id && id !== 'host') {
          w.containerId = id;
          hasWorkload = true;
        }
        break;
      }
      case 'container.name': {
        const c = text(v);
        if (c && c !== 'host') {
          w.container = c;
          hasWorkload = true;
        }
        break;
      }
      case 'container.image.repository':
        imageRepo = text(v);
        break;
      case 'container.image.tag':
        imageTag = text(v);
        break;
      case 'container.image':
        image = text(v);
        break;
      case 'container.image.digest':
        if ((w.imageDigest = text(v))) hasWorkload = true;
        break;
      case 'fd.sip':
        sip = text(v);
        break;
      case 'fd.sport':
        sport = toNumber(v);
        break;
      case 'fd.cip':
        cip = text(v);
        break;
      case 'fd.cport':
        cport = toNumber(v);
        break;
      case 'fd.rip':
        rip = text(v);
        break;
      case 'fd.rport':
        rport = toNumber(v);
        break;
      case 'fd.lip':
        lip = text(v);
        break;
      case 'fd.lport':
        lport = toNumber(v);
        break;
      case 'fd.name':
        fdName = text(v);
        break;
      case 'fd.type':
        fdType = text(v);
        break;
      case 'fd.l4proto':
        l4proto = text(v);
        break;
      case 'ka.target.namespace':
        kaNamespace = text(v);
        break;
      case 'ka.target.name':
        kaName = text(v);
        break;
      case 'ka.target.resource':
        kaResource = text(v);
        break;
      case 'ka.user.name':
        kaUser = text(v);
        break;
      default:
        if (key.startsWith('k8s.pod.label.') && typeof v === 'string') {
          labels ??= {};
          labels[key.slice(14)] = v;
        }
    }
  }

  // Process: only when the alert names one.
  const executable = exepath ?? (exe?.includes('/') ? exe : undefined) ?? name ?? exe;
  if (executable !== undefined || cmdline !== undefined || pid !== undefined) {
    let args: string[];
    if (cmdline !== undefined) args = splitArgs(cmdline);
    else if (procArgs !== undefined) args = name ? [name, ...splitArgs(procArgs)] : splitArgs(procArgs);
    else args = name ? [name] : [];
    const process: ProcessInfo = { executable: executable ?? args[0] ?? '', args };
    if (pid !== undefined) process.pid = pid;
    if (cwd !== undefined) process.cwd = cwd;
    if (uid !== undefined) process.uid = uid;
    if (userName !== undefined) process.user = userName;
    if (tty !== undefined) process.tty = tty !== 0;
    if (ppid !== undefined || pname !== undefined || pexepath !== undefined || pcmdline !== undefined) {
      const parent: NonNullable<ProcessInfo['parent']> = {};
      if (ppid !== undefined) parent.pid = ppid;
      const pexe = pexepath ?? pname;
      if (pexe !== undefined) parent.executable = pexe;
      if (pcmdline !== undefined) parent.args = splitArgs(pcmdline);
      process.parent = parent;
    }
    event.process = process;
  }

  // Workload.
  const repoTag = imageRepo ? (imageTag ? `${imageRepo}:${imageTag}` : imageRepo) : image;
  if (repoTag) {
    w.image = repoTag;
    hasWorkload = true;
  }
  if (labels) {
    w.labels = labels;
    hasWorkload = true;
  }
  // Kubernetes audit alerts (plugin source k8s_audit) are about the object they target.
  if (kaNamespace !== undefined && w.namespace === undefined) {
    w.namespace = kaNamespace;
    hasWorkload = true;
  }
  if (kaName !== undefined && kaResource === 'pods' && w.pod === undefined) {
    w.pod = kaName;
    hasWorkload = true;
  }
  // `hostname` is the node for the syscall source; for plugin sources it is wherever Falco runs.
  if (hostname && (source === undefined || source === 'syscall')) {
    w.node = hostname;
    hasWorkload = true;
  }
  if (hasWorkload) event.workload = w;

  // Attributes (OpenTelemetry semantic-convention names).
  const attributes: Record<string, AttributeValue> = {};
  let hasAttributes = false;
  let dstAddr = sip ?? rip;
  let dstPort = sip !== undefined ? sport : rip !== undefined ? rport : sport;
  let srcAddr = cip ?? lip;
  let srcPort = cip !== undefined ? cport : lip !== undefined ? lport : cport;
  const socket = fdType === 'ipv4' || fdType === 'ipv6' || fdName?.includes('->') === true;
  if (socket && fdName !== undefined && dstAddr === undefined) {
    const arrow = fdName.indexOf('->');
    if (arrow > 0) {
      const client = splitEndpoint(fdName.slice(0, arrow));
      const server = splitEndpoint(fdName.slice(arrow + 2));
      if (server) {
        dstAddr = server[0];
        dstPort ??= server[1];
      }
      if (client && srcAddr === undefined) {
        srcAddr = client[0];
        srcPort ??= client[1];
      }
    }
  }
  if (dstAddr !== undefined) {
    attributes['destination.address'] = unmapAddress(dstAddr);
    hasAttributes = true;
  }
  if (dstPort !== undefined && dstAddr !== undefined) attributes['destination.port'] = dstPort;
  if (srcAddr !== undefined) {
    attributes['source.address'] = unmapAddress(srcAddr);
    hasAttributes = true;
    if (srcPort !== undefined) attributes['source.port'] = srcPort;
  }
  if (l4proto !== undefined && socket) {
    attributes['network.transport'] = l4proto;
    hasAttributes = true;
  }
  if (!socket && fdName !== undefined && (fdType === 'file' || fdType === 'directory' || (fdType === undefined && fdName.startsWith('/')))) {
    attributes['file.path'] = fdName;
    hasAttributes = true;
  }
  if (hostname !== undefined) {
    attributes['host.name'] = hostname;
    hasAttributes = true;
  }
  if (kaUser !== undefined) {
    attributes['user.name'] = kaUser;
    hasAttributes = true;
  }
  if (source !== undefined) {
    attributes['falco.source'] = source;
    hasAttributes = true;
  }
  if (hasAttributes) event.attributes = attributes;
}

/**
 * Id of an alert without `uuid`. Falco raises one alert per rule per event, so
 * host + rule + a nanosecond timestamp (syscall events) already name one
 * alert; with coarser timestamps (plugin sources) the output is hashed too.
 */
function hashAlert(time: string, rule: string, hostname: string, output: string): string {
  const dot = time.indexOf('.');
  let digits = 0;
  if (dot > 0) while (dot + 1 + digits < time.length && time.charCodeAt(dot + 1 + digits) >= 48 && time.charCodeAt(dot + 1 + digits) <= 57) digits++;
  return digits >= 7 ? shortHash(time, rule, hostname) : shortHash(time, rule, hostname, output);
}

function fail(
  sink: DecodeSink<RuntimeAlertEvent>,
  reason: string,
  message: string,
  value: unknown,
  rawText: string | undefined,
  detail: string | undefined,
): undefined {
  sink.error({ reason, message, raw: rawText ?? safeStringify(value), location: detail });
  return undefined;
}

const NO_TAGS: readonly string[] = Object.freeze([]);

/** The array itself when every element is a string (the usual case), else a filtered copy. */
function stringsOnly(values: unknown[]): readonly string[] {
  for (let i = 0; i < values.length; i++) if (typeof values[i] !== 'string') return values.filter((v): v is string => typeof v === 'string');
  return values as string[];
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The shared, stateless Falco decoder. */
export const falcoDecoder = new FalcoDecoder();
