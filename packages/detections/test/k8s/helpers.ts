import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Alert, decodeAll, type K8sAuditEvent, type OutflowEvent } from '@outflow/core';
import { falcoDecoder } from '@outflow/receiver-falco';
import { k8sAuditDecoder } from '@outflow/receiver-k8s-audit';
import { tetragonDecoder } from '@outflow/receiver-tetragon';
import { FIXED_NOW, TESTDATA } from '../helpers.js';

/** The analytics of part 2 (Kubernetes and containers). */
export const K8S_ANALYTICS = ['pod_exec', 'kubectl_cp', 'exec_payload', 'secret_harvesting', 'untrusted_image_sensitive_access'] as const;

export interface PantherTest {
  rule_id: string;
  test_name: string;
  expected_result: boolean;
  log: Record<string, unknown>;
}

export function pantherTests(relative: string): PantherTest[] {
  return readFileSync(join(TESTDATA, relative), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as PantherTest);
}

/**
 * Panther's test events often lack a timestamp (its rules do not need one);
 * Outflow's decoder requires event time. Add one, in the field each shape
 * takes it from, without touching anything else.
 */
export function withTimestamp(log: Record<string, unknown>, iso: string): Record<string, unknown> {
  const copy = structuredClone(log);
  if ('protoPayload' in copy) {
    copy.timestamp ??= iso;
    return copy;
  }
  if (typeof (copy.properties as { log?: unknown } | undefined)?.log === 'string') {
    copy.time ??= iso;
    return copy;
  }
  if (copy.requestReceivedTimestamp === undefined && copy.stageTimestamp === undefined) copy.requestReceivedTimestamp = iso;
  return copy;
}

/** Decode one Kubernetes audit record (any shape) with the real receiver's decoder; throws on decode errors. */
export function decodeAudit(record: unknown, location = 'test'): K8sAuditEvent[] {
  const { events, errors } = decodeAll(k8sAuditDecoder, JSON.stringify(record), { location, observedTime: FIXED_NOW });
  if (errors.length > 0) throw new Error(`${location}: ${errors.map((e) => `${e.reason}: ${e.message}`).join('; ')}`);
  return events as K8sAuditEvent[];
}

type Decoder = Parameters<typeof decodeAll>[0];

/** Decode a JSON-lines file from testdata with a receiver's decoder, line by line; throws on decode errors. */
export function decodeLines(relative: string, format: 'k8s_audit' | 'tetragon' | 'falco'): OutflowEvent[] {
  const decoder: Decoder = format === 'k8s_audit' ? k8sAuditDecoder : format === 'tetragon' ? tetragonDecoder : falcoDecoder;
  const path = join(TESTDATA, relative);
  const out: OutflowEvent[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim() || line.startsWith('//')) return;
      const { events, errors } = decodeAll(decoder, line, { location: path, line: i + 1, observedTime: FIXED_NOW });
      if (errors.length > 0) throw new Error(`${relative}:${i + 1}: ${errors.map((e) => `${e.reason}: ${e.message}`).join('; ')}`);
      out.push(...(events as OutflowEvent[]));
    });
  return out;
}

/** `[detection id, severity]` of the new alerts of the part-2 analytics, in order. */
export function verdicts(alerts: readonly Alert[]): [string, string][] {
  return alerts.filter((a) => a.status === 'new' && (K8S_ANALYTICS as readonly string[]).includes(a.detection.id)).map((a) => [a.detection.id, a.severity]);
}

export function byId(alerts: readonly Alert[], id: string): Alert[] {
  return alerts.filter((a) => a.detection.id === id && a.status === 'new');
}
