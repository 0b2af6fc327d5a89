import { createHash } from 'node:crypto';
import type { DecodeMeta, Decoder, DecodeSink, FormatDefinition } from '../contracts/receiver.js';
import { metaLocation } from '../contracts/receiver.js';
import { isEventKind, type OutflowEvent } from '../events.js';

const REQUIRED: Record<OutflowEvent['kind'], (e: Record<string, unknown>) => string | undefined> = {
  network_flow: (e) =>
    typeof (e.src as { address?: unknown })?.address === 'string' && typeof (e.dst as { address?: unknown })?.address === 'string'
      ? undefined
      : 'network_flow needs src.address and dst.address',
  cloud_api_call: (e) => (typeof e.service === 'string' && typeof e.operation === 'string' ? undefined : 'cloud_api_call needs service and operation'),
  k8s_audit: (e) =>
    typeof e.verb === 'string' && typeof (e.user as { username?: unknown })?.username === 'string' ? undefined : 'k8s_audit needs verb and user.username',
  process_exec: (e) => (typeof (e.process as { executable?: unknown })?.executable === 'string' ? undefined : 'process_exec needs process.executable'),
  file_access: (e) => (typeof e.path === 'string' ? undefined : 'file_access needs path'),
  runtime_alert: (e) => (typeof e.rule === 'string' ? undefined : 'runtime_alert needs rule'),
};

const DEFAULTS: Partial<Record<OutflowEvent['kind'], Record<string, unknown>>> = {
  network_flow: { direction: 'unknown' },
  cloud_api_call: { provider: 'aws', actor: {} },
  k8s_audit: { stage: 'ResponseComplete', sourceIps: [] },
  process_exec: { phase: 'exec' },
  file_access: { operation: 'open' },
  runtime_alert: { engine: 'unknown', priority: 'unknown', output: '', tags: [], fields: {} },
};

function parseTime(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const t = Date.parse(value);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

/**
 * Outflow's own JSON-lines format: one normalized event per line, as the
 * event model defines it (`kind`, `time` as epoch ms or an ISO 8601 string,
 * and the kind's fields). What `outflow decode` prints, the scenario generator
 * writes, and `outflow replay --format outflow_json` reads back.
 */
export class OutflowJsonDecoder implements Decoder<string> {
  readonly format = 'outflow_json';

  decode(input: string, sink: DecodeSink, meta: DecodeMeta): void {
    const location = metaLocation(meta);
    let record: unknown;
    try {
      record = JSON.parse(input);
    } catch (err) {
      sink.error({ reason: 'invalid_json', message: err instanceof Error ? err.message : String(err), raw: input, ...(location ? { location } : {}) });
      return;
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      sink.error({ reason: 'invalid_event', message: 'expected a JSON object', raw: input, ...(location ? { location } : {}) });
      return;
    }
    const r = record as Record<string, unknown>;
    if (!isEventKind(r.kind)) {
      sink.error({ reason: 'invalid_event', message: `unknown or missing kind ${JSON.stringify(r.kind)}`, raw: input, ...(location ? { location } : {}) });
      return;
    }
    const time = parseTime(r.time);
    if (time === undefined) {
      sink.error({ reason: 'invalid_time', message: `invalid or missing time ${JSON.stringify(r.time)}`, raw: input, ...(location ? { location } : {}) });
      return;
    }
    const problem = REQUIRED[r.kind](r);
    if (problem) {
      sink.error({ reason: 'missing_field', message: problem, raw: input, ...(location ? { location } : {}) });
      return;
    }
    const event = {
      ...DEFAULTS[r.kind],
      ...r,
      time,
      observedTime: parseTime(r.observedTime) ?? meta.observedTime,
      source: typeof r.source === 'string' ? r.source : 'outflow_json',
      sourceId: typeof r.sourceId === 'string' ? r.sourceId : createHash('sha256').update(input).digest('hex').slice(0, 24),
      ...(meta.receiver ? { receiver: meta.receiver } : {}),
      ...(location && r.location === undefined ? { location } : {}),
    } as OutflowEvent;
    sink.event(event);
  }
}

export const outflowJsonDecoder = new OutflowJsonDecoder();

export const outflowJsonFormat: FormatDefinition = {
  name: 'outflow_json',
  description: "Outflow's normalized events, one JSON object per line",
  framing: 'lines',
  decoder: outflowJsonDecoder,
  sniff(head) {
    const line = head.split('\n', 1)[0]?.trim() ?? '';
    if (!line.startsWith('{')) return 0;
    try {
      const r = JSON.parse(line) as { kind?: unknown; time?: unknown };
      return isEventKind(r.kind) && r.time !== undefined ? 0.95 : 0;
    } catch {
      return /"kind"\s*:\s*"(network_flow|cloud_api_call|k8s_audit|process_exec|file_access|runtime_alert)"/.test(line) ? 0.5 : 0;
    }
  },
};
