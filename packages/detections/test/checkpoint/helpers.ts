import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Alert,
  type CheckpointStore,
  type CounterName,
  createPipeline,
  type Decoder,
  type Detection,
  type DetectionBundle,
  decodeAll,
  MemoryDeadLetter,
  type OutflowEvent,
  type PipelineCheckpoint,
  type Receiver,
  type ReceiverHost,
  silentLogger,
} from '@outflow/core';
import { cloudTrailDecoder } from '@outflow/receiver-aws-cloudtrail';
import { falcoDecoder } from '@outflow/receiver-falco';
import { createVpcFlowDecoder } from '@outflow/receiver-flow-logs';
import { k8sAuditDecoder } from '@outflow/receiver-k8s-audit';
import { tetragonDecoder } from '@outflow/receiver-tetragon';
import { createTestContext, MemoryExporter, type ScenarioFiles } from '@outflow/testkit';
import { expect } from 'vitest';
import { type T1537Bundle, type T1537ConfigInput, t1537, t1537Config } from '../../src/index.js';
import { fixedClock } from '../helpers.js';

function decodeLines(path: string, decoder: Decoder<string>): OutflowEvent[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const firstLine = lines[0] as string;
  const out: OutflowEvent[] = [];
  lines.forEach((line, i) => {
    if (line.length === 0) return;
    const { events, errors } = decodeAll(decoder, line, { location: path, line: i + 1, observedTime: fixedClock.now(), firstLine });
    if (errors.length > 0) throw new Error(`${path}:${i + 1}: ${errors.map((e) => e.message).join('; ')}`);
    out.push(...events);
  });
  return out;
}

function decodeDocument(path: string, decoder: Decoder<string>): OutflowEvent[] {
  const { events, errors } = decodeAll(decoder, readFileSync(path, 'utf8'), { location: path, observedTime: fixedClock.now() });
  if (errors.length > 0) throw new Error(`${path}: ${errors.map((e) => e.message).join('; ')}`);
  return events;
}

/** The files `writeScenario` wrote, decoded with each source's receiver decoder: audit, CloudTrail, VPC flows, Falco, Tetragon. */
export function decodeScenario(files: ScenarioFiles): OutflowEvent[][] {
  return [
    decodeLines(join(files.k8s_audit, 'audit.jsonl'), k8sAuditDecoder),
    readdirSync(files.aws_cloudtrail)
      .sort()
      .flatMap((f) => decodeDocument(join(files.aws_cloudtrail, f), cloudTrailDecoder)),
    decodeLines(join(files.aws_vpc_flow, 'flows.log'), createVpcFlowDecoder()),
    decodeLines(join(files.falco, 'falco.jsonl'), falcoDecoder),
    decodeLines(join(files.tetragon, 'tetragon.jsonl'), tetragonDecoder),
  ];
}

/**
 * A replayable source with a position: it emits its events from
 * `host.restoredPosition` (an index) in batches, advances its position as
 * the pipeline reports each batch processed, and stops at `stopAt` (a crash
 * or a shutdown mid-stream) or completes at the end (a replayed file).
 */
export class ListReceiver implements Receiver {
  processed = 0;
  private stopped = false;

  constructor(
    readonly events: readonly OutflowEvent[],
    readonly options: { stopAt?: number; batchSize?: number; completeAtEnd?: boolean } = {},
  ) {}

  /** Where it stops in this run. */
  get target(): number {
    return Math.min(this.options.stopAt ?? this.events.length, this.events.length);
  }

  async start(host: ReceiverHost): Promise<void> {
    const restored = host.restoredPosition;
    const from = typeof restored === 'number' ? restored : 0;
    this.processed = from;
    const size = this.options.batchSize ?? 100;
    const end = this.target;
    // Batches on fixed boundaries (multiples of the batch size), whatever the position resumed from, as a
    // file read in fixed chunks: a resumed run sees the same batches (and watermark steps) as an uninterrupted one.
    for (let i = from; i < end && !this.stopped; ) {
      const upTo = Math.min((Math.floor(i / size) + 1) * size, end);
      await host.emit(this.events.slice(i, upTo), { onProcessed: () => (this.processed = upTo) });
      i = upTo;
    }
    if (end === this.events.length && this.options.completeAtEnd !== false) host.complete();
  }

  position(): number {
    return this.processed;
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
  }
}

export interface PhaseResult {
  /** Every alert delivery (new and update), in order. */
  alerts: Alert[];
  deadLetter: MemoryDeadLetter;
  bundle: T1537Bundle;
  /** Counter total, optionally of one component and reason. */
  total(counter: CounterName, filter?: { component?: string; reason?: string }): number;
  /** The checkpoint taken at the end of the phase (stopped runs: the one saved at shutdown). */
  checkpoint: PipelineCheckpoint | undefined;
}

/** Deep copies of the events: processors enrich events in place, and each run must start from what the sources delivered. */
export function fresh(sources: readonly (readonly OutflowEvent[])[]): OutflowEvent[][] {
  return sources.map((s) => structuredClone(s) as OutflowEvent[]);
}

/** The t1537 bundle, created directly so a test can look at its shared helpers after the run. */
export function createBundle(config: T1537ConfigInput): T1537Bundle {
  return t1537.create(createTestContext({ name: 't1537', kind: 'detection', clock: fixedClock }), t1537Config(config)) as T1537Bundle;
}

/**
 * Run the t1537 preset over `sources` (one ListReceiver each). With `stopAt`
 * (per source) the run stops once each receiver has had those events
 * processed and shuts down, saving a checkpoint in `store`; otherwise it runs
 * to the end of every source. A pipeline started with a `store` holding a
 * checkpoint resumes from it.
 */
export async function runPhase(
  sources: readonly (readonly OutflowEvent[])[],
  config: T1537ConfigInput,
  options: {
    store?: CheckpointStore;
    restore?: PipelineCheckpoint;
    stopAt?: readonly (number | undefined)[];
    batchSize?: number;
    extraDetections?: readonly (Detection | DetectionBundle)[];
  } = {},
): Promise<PhaseResult> {
  const stopping = options.stopAt !== undefined;
  const receivers = sources.map(
    (events, i) =>
      new ListReceiver(events, {
        ...(options.stopAt?.[i] !== undefined ? { stopAt: options.stopAt[i] as number } : {}),
        batchSize: options.batchSize ?? 100,
      }),
  );
  const deadLetter = new MemoryDeadLetter();
  const bundle = createBundle(config);
  const pipeline = createPipeline({
    name: 'checkpoint-test',
    receivers,
    detections: [bundle, ...(options.extraDetections ?? [])],
    exporters: [new MemoryExporter()],
    deadLetter,
    logger: silentLogger,
    clock: fixedClock,
    ...(options.store ? { checkpoint: { store: options.store, intervalMs: 3_600_000 } } : {}),
    ...(options.restore ? { restore: options.restore } : {}),
  });
  const alerts: Alert[] = [];
  pipeline.alerts$.subscribe((a) => alerts.push(a));
  await pipeline.start();
  if (stopping) {
    const started = Date.now();
    while (receivers.some((r) => r.processed < r.target) && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 2));
    if (receivers.some((r) => r.processed < r.target)) throw new Error('the stopped phase did not process its events in 20 s');
  } else {
    await pipeline.done;
  }
  await pipeline.shutdown({ deadlineMs: 5_000 });
  const checkpoint = options.store ? await options.store.load() : undefined;
  return {
    alerts,
    deadLetter,
    bundle,
    checkpoint,
    total: (counter, filter) => pipeline.telemetry.total(counter, filter),
  };
}

/** Per alert id, what was last delivered: status, count, severity. */
export function lastDelivered(alerts: readonly Alert[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of alerts) out.set(a.id, `${a.detection.id} ${a.status} count=${a.count} ${a.severity}`);
  return out;
}

/** Ids delivered with status `new`, sorted (duplicates kept: an id raised twice shows twice). */
export function newIds(alerts: readonly Alert[]): string[] {
  return alerts
    .filter((a) => a.status === 'new')
    .map((a) => a.id)
    .sort();
}

/** Sorted `id → last delivery` lines, for readable diffs. */
export function describe(map: Map<string, string>): string[] {
  return [...map.entries()].map(([id, what]) => `${what} ${id}`).sort();
}

export interface Restart {
  first: PhaseResult;
  second: PhaseResult;
  checkpoint: PipelineCheckpoint;
}

/**
 * Run `events` (one receiver, one event per batch so the watermark follows each event) up to `cut` with checkpoints in
 * `store`, then resume. `strip` removes those detections' state from the checkpoint before resuming and `mangle` edits
 * it (the controls); `resumeWith` is the config of the resumed run (a config change).
 */
export async function restartAt(
  events: readonly OutflowEvent[],
  cut: number,
  store: CheckpointStore,
  options: { config: T1537ConfigInput; resumeWith?: T1537ConfigInput; strip?: string[]; probe?: Detection; mangle?: (c: PipelineCheckpoint) => void },
): Promise<Restart> {
  const { config } = options;
  const extra = options.probe ? { extraDetections: [options.probe] } : {};
  const first = await runPhase(fresh([events]), config, { store, stopAt: [cut], batchSize: 1, ...extra });
  const checkpoint = first.checkpoint as PipelineCheckpoint;
  expect(checkpoint.positions.receiver).toBe(cut);
  let second: PhaseResult;
  if (options.strip || options.mangle) {
    const edited = structuredClone(checkpoint);
    for (const id of options.strip ?? []) delete edited.detections[id];
    options.mangle?.(edited);
    second = await runPhase(fresh([events]), options.resumeWith ?? config, { restore: edited, batchSize: 1, ...extra });
  } else {
    second = await runPhase(fresh([events]), options.resumeWith ?? config, { store, batchSize: 1, ...extra });
  }
  return { first, second, checkpoint };
}
