import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Alert,
  type Clock,
  type CloudApiCallEvent,
  createPipeline,
  decodeAll,
  type K8sAuditEvent,
  type Logger,
  MemoryDeadLetter,
  type OutflowEvent,
  type SuppressedFinding,
  silentLogger,
} from '@outflow/core';
import { cloudTrailDecoder } from '@outflow/receiver-aws-cloudtrail';
import { k8sAuditDecoder } from '@outflow/receiver-k8s-audit';
import { MemoryExporter, MemoryReceiver } from '@outflow/testkit';
import { type T1537ConfigInput, t1537 } from '../src/index.js';

export const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata');

/** Our accounts in the synthetic fixtures; 999988887777 is the foreign one. */
export const OURS = '111122223333';
export const OURS2 = '111122224444';
export const EVIL = '999988887777';

/** A fixed processing-time clock (2024-06-01), so exception expiry is deterministic. */
export const FIXED_NOW = Date.UTC(2024, 5, 1);
export const fixedClock: Clock = { now: () => FIXED_NOW };

/** Decode a CloudTrail file from testdata with the real receiver's decoder. Fails the test on any decode error. */
export function cloudTrail(relative: string): CloudApiCallEvent[] {
  const path = join(TESTDATA, relative);
  const { events, errors } = decodeAll(cloudTrailDecoder, readFileSync(path, 'utf8'), { location: path, observedTime: FIXED_NOW });
  if (errors.length > 0) throw new Error(`${relative}: ${errors.map((e) => e.message).join('; ')}`);
  return events as CloudApiCallEvent[];
}

/** Decode a Kubernetes audit JSON-lines file from testdata, line by line. */
export function auditEvents(relative: string): K8sAuditEvent[] {
  const path = join(TESTDATA, relative);
  const out: K8sAuditEvent[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      const { events, errors } = decodeAll(k8sAuditDecoder, line, { location: path, line: i + 1, observedTime: FIXED_NOW });
      if (errors.length > 0) throw new Error(`${relative}:${i + 1}: ${errors.map((e) => e.message).join('; ')}`);
      out.push(...(events as K8sAuditEvent[]));
    });
  return out;
}

export function stratusFiles(): string[] {
  return readdirSync(join(TESTDATA, 'stratus'))
    .filter((f) => f.endsWith('.json'))
    .sort();
}

export interface PresetRun {
  alerts: Alert[];
  suppressed: SuppressedFinding[];
  deadLetter: MemoryDeadLetter;
  /** New alerts only (status `new`), by detection id. */
  byDetection(id: string): Alert[];
  detectionIds(): string[];
  stats: ReturnType<ReturnType<typeof createPipeline>['telemetry']['stats']>;
}

/** Run events through a pipeline with the t1537 preset; resolves when everything is processed. */
export async function runPreset(
  events: readonly OutflowEvent[],
  config: T1537ConfigInput = {},
  options: { clock?: Clock; batchSize?: number; dedupWindowMs?: number; logger?: Logger } = {},
): Promise<PresetRun> {
  const exporter = new MemoryExporter();
  const deadLetter = new MemoryDeadLetter();
  const pipeline = createPipeline({
    receivers: [new MemoryReceiver([...events], { batchSize: options.batchSize ?? 256 })],
    detections: t1537(config),
    exporters: [exporter],
    deadLetter,
    logger: options.logger ?? silentLogger,
    clock: options.clock ?? fixedClock,
    ...(options.dedupWindowMs ? { dedup: { windowMs: options.dedupWindowMs } } : {}),
  });
  const alerts: Alert[] = [];
  const suppressed: SuppressedFinding[] = [];
  pipeline.alerts$.subscribe((a) => alerts.push(a));
  pipeline.suppressed$.subscribe((s) => suppressed.push(s));
  await pipeline.start();
  await pipeline.done;
  const stats = pipeline.telemetry.stats();
  await pipeline.shutdown({ deadlineMs: 5_000 });
  return {
    alerts,
    suppressed,
    deadLetter,
    stats,
    byDetection: (id) => alerts.filter((a) => a.detection.id === id && a.status === 'new'),
    detectionIds: () => [...new Set(alerts.map((a) => a.detection.id))].sort(),
  };
}
