import {
  type Alert,
  type Clock,
  type ComponentSpec,
  createPipeline,
  type DeadLetterEntry,
  type Exporter,
  type FormatDefinition,
  type Logger,
  MemoryDeadLetter,
  type Receiver,
  type ReceiverHost,
  type SuppressedFinding,
} from '@outflow/core';
import { t1537 } from '@outflow/detections';
import { listFiles } from './formats.js';
import { ReplayReceiver, resolveInputs } from './replay-source.js';

/**
 * Processing time during a replay: the latest event time handed to the
 * pipeline, so that `observedTime` and `emittedAt` are functions of the input
 * and identical input gives identical output.
 */
export class ReplayClock implements Clock {
  private value = 0;
  now(): number {
    return this.value;
  }
  advance(to: number): void {
    if (to > this.value) this.value = to;
  }
}

export interface ReplayRunOptions {
  paths: readonly string[];
  format?: FormatDefinition;
  /** `t1537` preset configuration (unvalidated; errors are thrown with paths). */
  presetConfig?: unknown;
  exporters: readonly (ComponentSpec<Exporter> | Exporter)[];
  from?: number;
  to?: number;
  speed?: number;
  onProgress?: (bytesRead: number, bytesTotal: number, eventTime: number) => void;
  signal?: AbortSignal;
  logger?: Logger;
  /** Files whose format cannot be detected are skipped (reported) instead of failing the run. */
  skipUnknown?: boolean;
}

export interface ReplayResult {
  events: number;
  alerts: Alert[];
  errors: number;
  deadLetters: DeadLetterEntry[];
  suppressed: SuppressedFinding[];
  skipped: string[];
  missing: string[];
  wallMs: number;
  /** Emitted findings and suppressions per analytic. */
  perDetection: Record<string, { findings: number; suppressed: number; deduplicated: number }>;
}

/** Wraps the replay receiver so the replay clock follows the events handed to the pipeline. */
class ClockedReplay implements Receiver {
  constructor(
    private readonly inner: ReplayReceiver,
    private readonly clock: ReplayClock,
  ) {}
  start(host: ReceiverHost) {
    const clock = this.clock;
    const wrapped: ReceiverHost = {
      ...host,
      emit: (batch) => {
        for (const e of batch) clock.advance(e.time);
        return host.emit(batch);
      },
      tryEmit: (batch) => {
        for (const e of batch) clock.advance(e.time);
        return host.tryEmit(batch);
      },
      deadLetter: (entry) => host.deadLetter(entry),
      complete: () => host.complete(),
      now: () => host.now(),
    };
    return this.inner.start(wrapped);
  }
  shutdown() {
    return this.inner.shutdown();
  }
}

/** Replay files through the t1537 preset in event time. */
export async function runReplay(options: ReplayRunOptions): Promise<ReplayResult> {
  const started = Date.now();
  const { files, missing } = listFiles(options.paths);
  const { inputs, unknown } = resolveInputs(files, options.format);
  if (unknown.length > 0 && !options.skipUnknown) throw new Error(`cannot detect the format of ${unknown.join(', ')}; give --format`);
  const clock = new ReplayClock();
  const receiver = new ClockedReplay(
    new ReplayReceiver({
      inputs,
      ...(options.from !== undefined ? { from: options.from } : {}),
      ...(options.to !== undefined ? { to: options.to } : {}),
      ...(options.speed !== undefined ? { speed: options.speed } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    }),
    clock,
  );
  const deadLetter = new MemoryDeadLetter(10_000);
  const alerts: Alert[] = [];
  const suppressed: SuppressedFinding[] = [];
  const pipeline = createPipeline({
    name: 'replay',
    receivers: [receiver],
    detections: [t1537((options.presetConfig ?? {}) as never)],
    exporters: [...options.exporters],
    deadLetter,
    clock,
    // Replayed input is merged in event time: little disorder to wait for.
    watermark: { maxOutOfOrdernessMs: 60_000, idleTimeoutMs: 3_600_000 },
    ...(options.logger ? { logger: options.logger } : {}),
  });
  pipeline.alerts$.subscribe((a) => alerts.push(a));
  pipeline.suppressed$.subscribe((s) => suppressed.push(s));
  const onAbort = () => void pipeline.shutdown({ deadlineMs: 5_000 });
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await pipeline.start();
    await pipeline.done;
  } finally {
    await pipeline.shutdown({ deadlineMs: 10_000 });
    options.signal?.removeEventListener('abort', onAbort);
  }
  const t = pipeline.telemetry;
  const perDetection: ReplayResult['perDetection'] = {};
  for (const s of t.stats()) {
    if (s.counter !== 'emitted' && !(s.counter === 'dropped' && (s.reason === 'suppressed' || s.reason === 'deduplicated'))) continue;
    if (s.component === 'pipeline' || s.component === 'replay' || s.component.includes('processor')) continue;
    const row = (perDetection[s.component] ??= { findings: 0, suppressed: 0, deduplicated: 0 });
    if (s.counter === 'emitted') row.findings += s.value;
    else if (s.reason === 'suppressed') row.suppressed += s.value;
    else row.deduplicated += s.value;
  }
  for (const id of Object.keys(perDetection)) if (!t1537.analytics.some((a) => a.id === id)) delete perDetection[id];
  return {
    events: t.total('received', { component: 'receiver' }),
    alerts,
    errors: t.total('errors'),
    deadLetters: deadLetter.entries(),
    suppressed,
    skipped: unknown,
    missing,
    wallMs: Date.now() - started,
    perDetection,
  };
}
