import type { AnyValueMap, LogRecord } from '@opentelemetry/api-logs';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { type Alert, type DetectionRef, deliveryKey, type Severity, workloadAttributes } from '@outflow/core';

/** Event name of every alert log record. */
export const ALERT_EVENT_NAME = 'outflow.alert';

/**
 * Alert severity to OpenTelemetry severity number: informational → INFO (9),
 * low → WARN (13), medium → WARN2 (14), high → ERROR (17), critical → FATAL (21).
 * `severityText` carries the alert's own severity name.
 */
export const SEVERITY_NUMBER: Readonly<Record<Severity, SeverityNumber>> = {
  informational: SeverityNumber.INFO,
  low: SeverityNumber.WARN,
  medium: SeverityNumber.WARN2,
  high: SeverityNumber.ERROR,
  critical: SeverityNumber.FATAL,
};

/** Attribute holding the delivery key; the exporter reads it back to know which alerts were delivered. */
export const DELIVERY_KEY_ATTRIBUTE = 'outflow.alert.delivery_key';

function attackUrl(technique: string): string {
  return `https://attack.mitre.org/techniques/${technique.replace('.', '/')}/`;
}

/** `security_rule.*` and `threat.*` (ECS) attributes of a detection. */
export function setDetectionAttributes(a: AnyValueMap, d: DetectionRef): void {
  a['security_rule.uuid'] = d.id;
  a['security_rule.name'] = d.title;
  a['security_rule.ruleset.name'] = 'outflow';
  a['security_rule.category'] = d.attack.tacticName ?? d.attack.tactic;
  a['security_rule.reference'] = attackUrl(d.attack.technique);
  if (d.version) a['security_rule.version'] = d.version;
  const techniques = [d.attack, ...(d.relatedAttack ?? [])];
  a['threat.framework'] = 'MITRE ATT&CK';
  a['threat.technique.id'] = techniques.map((t) => t.technique);
  a['threat.technique.name'] = techniques.map((t) => t.techniqueName ?? t.technique);
  a['threat.tactic.id'] = [...new Set(techniques.map((t) => t.tactic))];
  a['threat.tactic.name'] = [...new Set(techniques.map((t) => t.tacticName ?? t.tactic))];
}

/**
 * An alert as an OpenTelemetry log record: event name `outflow.alert`,
 * timestamp = last seen (event time), observed timestamp = emitted at,
 * severity number and text, the summary as body, and attributes following the
 * semantic conventions (`security_rule.*`, `k8s.*`, `container.*`, `cloud.*`,
 * and the finding's own `source.*` / `destination.*` attributes), ECS-style
 * `threat.*` for the ATT&CK classification, and `outflow.alert.*` for the rest.
 */
export function toLogRecord(alert: Alert): LogRecord {
  const a: AnyValueMap = {};
  const w = alert.workload;
  Object.assign(a, workloadAttributes(w));
  for (const [k, v] of Object.entries(w?.labels ?? {})) a[`k8s.pod.label.${k}`] = v;
  if (alert.attributes) for (const [k, v] of Object.entries(alert.attributes)) a[k] = v as AnyValueMap[string];
  setDetectionAttributes(a, alert.detection);
  a['outflow.alert.id'] = alert.id;
  a[DELIVERY_KEY_ATTRIBUTE] = deliveryKey(alert);
  a['outflow.alert.status'] = alert.status;
  a['outflow.alert.count'] = alert.count;
  a['outflow.alert.severity_id'] = alert.severityId;
  a['outflow.alert.time'] = alert.time;
  a['outflow.alert.first_seen'] = alert.firstSeen;
  a['outflow.alert.last_seen'] = alert.lastSeen;
  a['outflow.alert.dedup_key'] = alert.dedupKey;
  const e = alert.explanation;
  if (e.observed !== undefined) a['outflow.alert.observed'] = e.observed;
  if (e.expected !== undefined) a['outflow.alert.expected'] = e.expected;
  if (e.score !== undefined) a['outflow.alert.score'] = e.score;
  if (e.threshold !== undefined) a['outflow.alert.threshold'] = e.threshold;
  if (e.baselineAgeMs !== undefined) a['outflow.alert.baseline_age_ms'] = e.baselineAgeMs;
  if (e.samples !== undefined) a['outflow.alert.samples'] = e.samples;
  if (e.reasons && e.reasons.length > 0) a['outflow.alert.reasons'] = [...e.reasons];
  a['outflow.alert.evidence'] = alert.evidence.map((r) => `${r.source}:${r.id}`);
  if (alert.tags && alert.tags.length > 0) a['outflow.alert.tags'] = [...alert.tags];
  if (alert.related && alert.related.length > 0) a['outflow.alert.related'] = [...alert.related];
  for (const phase of ['investigate', 'contain', 'analyse', 'remediate'] as const) {
    const steps = alert.response?.[phase];
    if (steps && steps.length > 0) a[`outflow.alert.response.${phase}`] = [...steps];
  }
  for (const [k, v] of Object.entries(alert.labels ?? {})) a[`outflow.label.${k}`] = v;
  return {
    eventName: ALERT_EVENT_NAME,
    timestamp: alert.lastSeen,
    observedTimestamp: alert.emittedAt,
    severityNumber: SEVERITY_NUMBER[alert.severity],
    severityText: alert.severity,
    body: e.summary,
    attributes: a,
  };
}

/** An OTLP JSON `AnyValue` (as the OpenTelemetry JS transformer writes it: integers as `intValue`, arrays and maps nested). */
export function encodeAnyValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `{"stringValue":${JSON.stringify(value)}}`;
    case 'number':
      if (Number.isInteger(value)) return `{"intValue":${value}}`;
      // ProtoJSON spells non-finite doubles as strings
      return Number.isFinite(value) ? `{"doubleValue":${value}}` : `{"doubleValue":"${Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity'}"}`;
    case 'boolean':
      return value ? '{"boolValue":true}' : '{"boolValue":false}';
    case 'object': {
      if (value === null) return '{}';
      if (value instanceof Uint8Array) return `{"bytesValue":"${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')}"}`;
      if (Array.isArray(value)) {
        let out = '{"arrayValue":{"values":[';
        for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + encodeAnyValue(value[i]);
        return `${out}]}}`;
      }
      return `{"kvlistValue":{"values":${encodeKeyValues(value as Record<string, unknown>)}}}`;
    }
    default:
      return '{}';
  }
}

/** OTLP JSON `KeyValue[]` of a flat attribute map (undefined values left out). */
export function encodeKeyValues(attributes: Readonly<Record<string, unknown>>): string {
  let out = '[';
  let first = true;
  for (const key in attributes) {
    const v = attributes[key];
    if (v === undefined) continue;
    out += `${first ? '' : ','}{"key":${JSON.stringify(key)},"value":${encodeAnyValue(v)}}`;
    first = false;
  }
  return `${out}]`;
}

/** Epoch milliseconds as OTLP JSON nanoseconds (a decimal string, as int64 is written in ProtoJSON). */
function nanos(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '"0"';
  return Number.isInteger(ms) ? `"${ms}000000"` : `"${BigInt(Math.round(ms * 1e6))}"`;
}

/** A log record as OTLP JSON (`LogRecord` of opentelemetry/proto/logs/v1), from `toLogRecord`'s output. */
export function encodeLogRecord(record: LogRecord): string {
  const time = typeof record.timestamp === 'number' ? record.timestamp : undefined;
  const observed = typeof record.observedTimestamp === 'number' ? record.observedTimestamp : undefined;
  return (
    `{"timeUnixNano":${nanos(time)},"observedTimeUnixNano":${nanos(observed ?? time)}` +
    `,"severityNumber":${record.severityNumber ?? 0}` +
    (record.severityText !== undefined ? `,"severityText":${JSON.stringify(record.severityText)}` : '') +
    `,"body":${encodeAnyValue(record.body)}` +
    (record.eventName !== undefined ? `,"eventName":${JSON.stringify(record.eventName)}` : '') +
    `,"attributes":${encodeKeyValues(record.attributes ?? {})},"droppedAttributesCount":0}`
  );
}
