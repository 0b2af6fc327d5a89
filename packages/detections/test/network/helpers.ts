import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Alert,
  type CheckpointHandle,
  createPipeline,
  type Decoder,
  type DetectionContext,
  decodeAll,
  MemoryDeadLetter,
  type OutflowEvent,
  type SuppressedFinding,
  silentLogger,
  type Telemetry,
} from '@outflow/core';
import { cloudTrailDecoder } from '@outflow/receiver-aws-cloudtrail';
import { createVpcFlowDecoder } from '@outflow/receiver-flow-logs';
import { tetragonDecoder } from '@outflow/receiver-tetragon';
import { createTestContext, MemoryExporter, MemoryReceiver } from '@outflow/testkit';
import { BehaviorSubject, Subject } from 'rxjs';
import { type T1537ConfigInput, t1537 } from '../../src/index.js';
import { fixedClock, TESTDATA } from '../helpers.js';

export const NETWORK = join(TESTDATA, 'network');

/** The preset configuration of the network fixtures, with their inventory. */
export function networkConfig(extra: Partial<T1537ConfigInput> = {}): T1537ConfigInput {
  const base = JSON.parse(readFileSync(join(NETWORK, 'config.json'), 'utf8')) as T1537ConfigInput;
  return { ...base, inventory: join(NETWORK, 'inventory.json'), ...extra };
}

/** Decode a line-framed file with a real decoder, line by line (`firstLine` set, as the file transports do). Fails on any decode error. */
export function decodeLines(path: string, decoder: Decoder<string>): OutflowEvent[] {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const firstLine = lines[0];
  const out: OutflowEvent[] = [];
  lines.forEach((line, i) => {
    if (line.length === 0) return;
    const { events, errors } = decodeAll(decoder, line, {
      location: path,
      line: i + 1,
      observedTime: fixedClock.now(),
      ...(firstLine !== undefined ? { firstLine } : {}),
    });
    if (errors.length > 0) throw new Error(`${path}:${i + 1}: ${errors.map((e) => e.message).join('; ')}`);
    out.push(...events);
  });
  return out;
}

/** Decode a whole-document file (CloudTrail delivery file). */
export function decodeDocument(path: string, decoder: Decoder<string>): OutflowEvent[] {
  const { events, errors } = decodeAll(decoder, readFileSync(path, 'utf8'), { location: path, observedTime: fixedClock.now() });
  if (errors.length > 0) throw new Error(`${path}: ${errors.map((e) => e.message).join('; ')}`);
  return events;
}

export const vpc = (name: string) => decodeLines(join(NETWORK, name), createVpcFlowDecoder());
export const tetragon = (name: string) => decodeLines(join(NETWORK, name), tetragonDecoder);
export const trail = (name: string) => decodeDocument(join(NETWORK, name), cloudTrailDecoder);

export interface Run {
  alerts: Alert[];
  suppressed: SuppressedFinding[];
  deadLetter: MemoryDeadLetter;
  /** New alerts (status `new`) of one analytic. */
  of(id: string): Alert[];
}

/**
 * Run the t1537 preset with one memory receiver per source (as a pipeline with
 * several receivers would have): each source's events are emitted in its own
 * order, the sources one after the other.
 *
 * `completion: 'settled'` (default) completes the receivers only once the
 * pipeline has processed their events, as a live source ends after its data
 * flowed (the watermark advances in event time). `'immediate'` completes each
 * receiver as soon as its events are queued, as a replayed file does: the
 * pipeline's watermark then jumps to +Infinity while the queued events are
 * still being processed.
 */
export async function runSources(
  sources: readonly (readonly OutflowEvent[])[],
  config: T1537ConfigInput,
  options: { dedupWindowMs?: number; completion?: 'settled' | 'immediate'; batchSize?: number } = {},
): Promise<Run> {
  const deadLetter = new MemoryDeadLetter();
  const immediate = options.completion === 'immediate';
  const receivers = sources.map((events) => new MemoryReceiver([...events], { batchSize: options.batchSize ?? 200, complete: immediate }));
  const pipeline = createPipeline({
    receivers,
    detections: t1537(config),
    exporters: [new MemoryExporter()],
    deadLetter,
    logger: silentLogger,
    clock: fixedClock,
    ...(options.dedupWindowMs ? { dedup: { windowMs: options.dedupWindowMs } } : {}),
  });
  const alerts: Alert[] = [];
  const suppressed: SuppressedFinding[] = [];
  pipeline.alerts$.subscribe((a) => alerts.push(a));
  pipeline.suppressed$.subscribe((s) => suppressed.push(s));
  await pipeline.start();
  if (!immediate) {
    // Every source has emitted; wait until the watermark says all of it was processed, then end the sources.
    const maxTimes = sources.filter((s) => s.length > 0).map((s) => Math.max(...s.map((e) => e.time)));
    const target = Math.min(...maxTimes) - 120_000;
    const started = Date.now();
    while (pipeline.watermark() < target && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 2));
    for (const r of receivers) r.complete();
  }
  await pipeline.done;
  await pipeline.shutdown({ deadlineMs: 5_000 });
  return { alerts, suppressed, deadLetter, of: (id) => alerts.filter((a) => a.detection.id === id && a.status === 'new') };
}

/** A hand-driven DetectionContext: push watermarks and alerts yourself. */
export function manualContext(name: string): DetectionContext & {
  wm: BehaviorSubject<number>;
  alerts: Subject<Alert>;
  states: Map<string, { readonly size: number }>;
  checkpoints: Map<string, CheckpointHandle>;
  telemetry: Telemetry;
} {
  const base = createTestContext({ name, kind: 'detection', clock: fixedClock });
  const wm = new BehaviorSubject<number>(Number.NEGATIVE_INFINITY);
  const alerts = new Subject<Alert>();
  const states = new Map<string, { readonly size: number }>();
  const checkpoints = new Map<string, CheckpointHandle>();
  return {
    ...base,
    wm,
    alerts,
    states,
    watermark$: wm.asObservable(),
    alerts$: alerts.asObservable(),
    watermark: () => wm.value,
    late: (event, reason = 'late') => base.deadLetter({ stage: 'late', reason, event }),
    reportError: (error, event) =>
      base.deadLetter({
        stage: 'detect',
        reason: 'exception',
        message: error instanceof Error ? error.message : String(error),
        ...(event !== undefined ? { event } : {}),
      }),
    registerState: (n, s) => {
      states.set(n, s);
    },
    checkpoints,
    registerCheckpoint: (n, h) => {
      checkpoints.set(n, h);
    },
  };
}
