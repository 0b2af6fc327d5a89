import type { Meter } from '@opentelemetry/api';
import { asyncScheduler, BehaviorSubject, type Observable, type SchedulerLike, Subject, type Subscription } from 'rxjs';
import { type Alert, alertFromFinding, type Finding } from '../alert.js';
import {
  type Clock,
  type ComponentContext,
  type ComponentFactory,
  type ComponentKind,
  type ComponentSpec,
  isComponentSpec,
  systemClock,
} from '../component.js';
import type { Detection, DetectionBundle, DetectionContext, FindingSuppressor } from '../contracts/detection.js';
import { isDetectionBundle } from '../contracts/detection.js';
import type { Exporter } from '../contracts/exporter.js';
import type { Processor } from '../contracts/processor.js';
import type { Receiver, ReceiverHost } from '../contracts/receiver.js';
import { type DeadLetterInput, type DeadLetterSink, deadLetterEntry, FileDeadLetter, MemoryDeadLetter } from '../dead-letter.js';
import { ConfigError, type ConfigIssue, errorMessage } from '../errors.js';
import { EVENT_KINDS, type EventKind, type OutflowEvent } from '../events.js';
import type { ExporterWithDelivery } from '../export/delivery-options.js';
import { childLogger, consoleLogger, type Logger } from '../logger.js';
import type { CheckpointHandle, CheckpointStore, PipelineCheckpoint } from '../state/checkpoint.js';
import { Telemetry } from '../telemetry.js';
import { type WatermarkOptions, WatermarkTracker } from '../time/watermark.js';
import { AlertDeduplicator, type DedupOptions } from './dedup.js';
import { type ExportOptions, ExportRunner, resolveExportRunnerOptions } from './export-runner.js';
import { BoundedQueue, OVERFLOW_POLICIES, type OverflowPolicy } from './queue.js';

type Maybe<T> = T | ComponentSpec<T>;

export interface SuppressedFinding {
  finding: Finding;
  suppressor: string;
  reason: string;
}

export interface PipelineOptions {
  /** Pipeline name, the `outflow.pipeline` metric attribute. Default `default`. */
  name?: string;
  receivers: readonly Maybe<Receiver>[];
  processors?: readonly Maybe<Processor>[];
  /** Detections, bundles (presets such as `t1537`) or specs creating either. */
  detections?: Maybe<Detection | DetectionBundle> | readonly Maybe<Detection | DetectionBundle>[];
  exporters?: readonly Maybe<Exporter>[];
  /** Where bad records go: a sink, `{ path }` for a JSON-lines file, or `{ memory: n }` (default: memory, 10 000 newest). */
  deadLetter?: DeadLetterSink | { path: string } | { memory: number };
  /** The queue between receivers and processing, sized in events. */
  queue?: { capacity?: number; policy?: OverflowPolicy };
  watermark?: WatermarkOptions;
  /** Alert dedup; `false` turns it off (every finding is an alert). */
  dedup?: DedupOptions | false;
  /** Findings dropped before they become alerts (exceptions, suppression windows). */
  suppressors?: readonly FindingSuppressor[];
  /** Static fields added to every alert (cluster, environment, ...). */
  labels?: Readonly<Record<string, string>>;
  /**
   * Queue, batching, retry and outbox of each exporter: defaults for all, and
   * per-exporter entries by instance name (`export.exporters.webhook`). An
   * exporter's own `delivery` settings (route, labels, queue, retry in its
   * config) win over these.
   */
  export?: ExportOptions;
  /**
   * Checkpoint operator state and receiver positions to `store` every
   * `intervalMs` (default 60 000) and at shutdown, and resume from the
   * store's latest checkpoint at start.
   */
  checkpoint?: { store: CheckpointStore; intervalMs?: number };
  /** Resume from this checkpoint (instead of, or without, a store). */
  restore?: PipelineCheckpoint;
  /** Events processed per turn of the event loop before yielding to I/O. Default 8192. */
  maxEventsPerTurn?: number;
  meter?: Meter;
  logger?: Logger;
  clock?: Clock;
  scheduler?: SchedulerLike;
}

export type PipelineState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped';

export interface ShutdownReport {
  /** True when everything queued was processed and delivered within the deadline. */
  clean: boolean;
  durationMs: number;
  /** Alerts dead-lettered because the deadline passed. */
  alertsDroppedAtDeadline: number;
  /** Components whose shutdown failed or timed out. */
  failures: { component: string; error: string }[];
}

export interface Pipeline {
  readonly name: string;
  readonly state: PipelineState;
  /** Create components and start receiving. Rejects when a component fails to start (and shuts the rest down). */
  start(): Promise<void>;
  /**
   * Stop receiving, process what is queued, flush exporters and release
   * everything. Idempotent (every call returns the same promise), safe before
   * start, and bounded by `deadlineMs` (default 10 000).
   */
  shutdown(options?: {
    deadlineMs?: number;
    /**
     * Stop for a restart or a partition move: open windows, orderings and dedup entries are not flushed (they
     * are in the checkpoint, and the resumed run completes them once). Default: true when the pipeline has a
     * `checkpoint` store, false otherwise (then shutdown flushes everything, as at the end of input).
     */
    keepState?: boolean;
  }): Promise<ShutdownReport>;
  /** Resolves when every receiver has completed (finite input) and every alert has been handled, or when shut down. */
  readonly done: Promise<void>;
  /** Alerts after hygiene, as delivered to exporters. */
  readonly alerts$: Observable<Alert>;
  /** Findings dropped by a suppressor, with the reason. */
  readonly suppressed$: Observable<SuppressedFinding>;
  /** Current event-time watermark. */
  watermark(): number;
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetterSink;
  /**
   * Operator state and receiver positions now, as plain data. Taken between
   * batches, so the state reflects exactly the events the positions cover.
   */
  checkpoint(): PipelineCheckpoint;
}

interface Named<T> {
  name: string;
  type: string;
  instance: T;
  ctx: ComponentContext;
}

interface ResolvedSpec<T> {
  spec?: ComponentSpec<T>;
  instance?: T;
  config?: unknown;
  name: string;
  type: string;
}

/** One batch in the ingress queue, with the receiver it came from. */
interface IngressBatch {
  source: string;
  events: OutflowEvent[];
  onProcessed?: (() => void) | undefined;
  /** The receiver completed after this (empty) batch's predecessors: queued behind them so the watermark reaches +Infinity only once they are processed. */
  complete?: boolean;
}

const DEFAULT_DEADLINE_MS = 10_000;

function deadline(ms: number): { signal: AbortSignal; cancel: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`shutdown deadline of ${ms} ms passed`)), ms);
  timer.unref();
  return { signal: controller.signal, cancel: () => clearTimeout(timer) };
}

function withDeadline<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | 'deadline'> {
  if (signal.aborted) return Promise.resolve('deadline');
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve('deadline');
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Compose receivers, processors, detections and exporters into a pipeline.
 * Every component's configuration is validated here; all problems are thrown
 * together as one ConfigError, each with its path.
 */
export function createPipeline(options: PipelineOptions): Pipeline {
  return new PipelineImpl(options);
}

class PipelineImpl implements Pipeline {
  readonly name: string;
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetterSink;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly scheduler: SchedulerLike;
  private readonly lifetime = new AbortController();
  private _state: PipelineState = 'created';
  private readonly specs: {
    receivers: ResolvedSpec<Receiver>[];
    processors: ResolvedSpec<Processor>[];
    detections: ResolvedSpec<Detection | DetectionBundle>[];
    exporters: ResolvedSpec<Exporter>[];
  };
  private receivers: Named<Receiver>[] = [];
  private processors: Named<Processor>[] = [];
  private detections: Named<Detection>[] = [];
  private exporters: { named: Named<Exporter>; runner: ExportRunner }[] = [];
  private readonly ingress: BoundedQueue<IngressBatch>;
  private readonly tracker: WatermarkTracker;
  /** Per event kind, the input subjects of the detections that take it (one subject per detection, stable across reconnects). */
  private readonly routes = new Map<EventKind, Subject<OutflowEvent>[]>();
  /** Detection inputs in the order they complete: by the last event kind they take (EVENT_KINDS order), then connect order. */
  private readonly detectionInputs: { input: Subject<OutflowEvent>; lastKind: number; order: number }[] = [];
  private readonly watermarkSubject = new BehaviorSubject<number>(Number.NEGATIVE_INFINITY);
  private readonly alertsSubject = new Subject<Alert>();
  private readonly suppressedSubject = new Subject<SuppressedFinding>();
  private readonly dedup: AlertDeduplicator | undefined;
  private readonly suppressors: FindingSuppressor[];
  private readonly subscriptions: Subscription[] = [];
  private readonly maxEventsPerTurn: number;
  private drainScheduled = false;
  private draining = false;
  private completedReceivers = new Set<string>();
  private readonly completing = new Set<string>();
  private endOfInput = false;
  private inputsCompleted = false;
  private currentEvent: OutflowEvent | undefined;
  private shutdownPromise: Promise<ShutdownReport> | undefined;
  private resolveDone!: () => void;
  readonly done: Promise<void>;
  private idleTimer: NodeJS.Timeout | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private restoreFrom: PipelineCheckpoint | undefined;
  private readonly checkpointHandles = new Map<string, Map<string, CheckpointHandle>>();
  private readonly restoredHandles = new Set<string>();
  private readonly options: PipelineOptions;

  constructor(options: PipelineOptions) {
    this.options = options;
    this.name = options.name ?? 'default';
    this.logger = options.logger ?? consoleLogger('warn');
    this.clock = options.clock ?? systemClock;
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.telemetry = new Telemetry({ ...(options.meter ? { meter: options.meter } : {}), pipeline: this.name });
    this.maxEventsPerTurn = options.maxEventsPerTurn ?? 8192;
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });

    const issues: ConfigIssue[] = [];
    const used = new Map<string, number>();
    const resolve = <T>(
      list: readonly Maybe<T>[] | undefined,
      section: string,
      expected: ComponentKind[],
      isInstance: (v: unknown) => boolean,
    ): ResolvedSpec<T>[] => {
      const out: ResolvedSpec<T>[] = [];
      (list ?? []).forEach((item, index) => {
        const path = `${section}[${index}]`;
        if (isComponentSpec(item)) {
          const factory = item.factory as ComponentFactory<unknown, T>;
          if (!expected.includes(factory.kind)) {
            issues.push({ path, message: `a ${factory.kind} ("${factory.type}") cannot be used as ${section}` });
            return;
          }
          const base = item.name ?? factory.type;
          const n = (used.get(base) ?? 0) + 1;
          used.set(base, n);
          try {
            const config = factory.validate(item.config, path);
            out.push({ spec: item as ComponentSpec<T>, config, name: n === 1 ? base : `${base}/${n}`, type: factory.type });
          } catch (err) {
            if (err instanceof ConfigError) issues.push(...err.issues);
            else issues.push({ path, message: errorMessage(err) });
          }
        } else if (isInstance(item)) {
          const type = (item as { type?: string; id?: string }).id ?? (item as { type?: string }).type ?? section.replace(/s$/, '');
          const n = (used.get(type) ?? 0) + 1;
          used.set(type, n);
          out.push({ instance: item as T, name: n === 1 ? type : `${type}/${n}`, type });
        } else {
          issues.push({ path, message: `expected a ${expected.join(' or ')} or a component spec, got ${item === null ? 'null' : typeof item}` });
        }
      });
      return out;
    };
    if (!Array.isArray(options.receivers) || options.receivers.length === 0) issues.push({ path: 'receivers', message: 'at least one receiver is required' });
    const detections = options.detections === undefined ? [] : Array.isArray(options.detections) ? options.detections : [options.detections];
    this.specs = {
      receivers: resolve<Receiver>(options.receivers, 'receivers', ['receiver'], (v) => typeof (v as Receiver)?.start === 'function'),
      processors: resolve<Processor>(options.processors, 'processors', ['processor'], (v) => typeof (v as Processor)?.process === 'function'),
      detections: resolve<Detection | DetectionBundle>(
        detections as Maybe<Detection | DetectionBundle>[],
        'detections',
        ['detection'],
        (v) => typeof (v as Detection)?.connect === 'function' || isDetectionBundle(v),
      ),
      exporters: resolve<Exporter>(options.exporters, 'exporters', ['exporter'], (v) => typeof (v as Exporter)?.export === 'function'),
    };
    const capacity = options.queue?.capacity ?? 100_000;
    const policy = options.queue?.policy ?? 'block';
    if (!(Number.isInteger(capacity) && capacity > 0)) issues.push({ path: 'queue.capacity', message: 'must be a positive integer' });
    if (!OVERFLOW_POLICIES.includes(policy)) issues.push({ path: 'queue.policy', message: `must be one of ${OVERFLOW_POLICIES.join(', ')}` });
    if (options.watermark?.maxOutOfOrdernessMs !== undefined && !(options.watermark.maxOutOfOrdernessMs >= 0))
      issues.push({ path: 'watermark.maxOutOfOrdernessMs', message: 'must be >= 0' });
    if (options.watermark?.idleTimeoutMs !== undefined && !(options.watermark.idleTimeoutMs > 0))
      issues.push({ path: 'watermark.idleTimeoutMs', message: 'must be > 0' });
    if (issues.length > 0) throw new ConfigError(issues, 'Invalid pipeline configuration');

    this.deadLetter = this.createDeadLetter(options.deadLetter);
    this.tracker = new WatermarkTracker(options.watermark);
    this.dedup = options.dedup === false ? undefined : new AlertDeduplicator(options.dedup);
    this.suppressors = [...(options.suppressors ?? [])];
    this.ingress = new BoundedQueue<IngressBatch>({
      capacity: options.queue?.capacity ?? 100_000,
      policy: options.queue?.policy ?? 'block',
      weigh: (b) => b.events.length,
      onDrop: (b, weight, reason) => {
        // An end-of-stream marker is never lost to drop_oldest: it goes back in line.
        if (b.complete) {
          if (reason === 'queue_full') this.ingress.force(b);
          return;
        }
        this.telemetry.add(b.source, 'dropped', weight, reason);
      },
    });
    this.telemetry.forComponent('pipeline').gauge('queue_depth', () => this.ingress.size, { queue: 'ingress' });
    this.telemetry.forComponent('pipeline').gauge('watermark', () => this.tracker.current());
    this.telemetry.forComponent('pipeline').gauge('event_time_lag_ms', () => this.clock.now() - this.tracker.current());
  }

  get state(): PipelineState {
    return this._state;
  }

  get alerts$(): Observable<Alert> {
    return this.alertsSubject.asObservable();
  }

  get suppressed$(): Observable<SuppressedFinding> {
    return this.suppressedSubject.asObservable();
  }

  watermark(): number {
    return this.tracker.current();
  }

  private createDeadLetter(option: PipelineOptions['deadLetter']): DeadLetterSink {
    if (!option) return new MemoryDeadLetter();
    if ('write' in option) return option;
    if ('path' in option) return new FileDeadLetter({ path: option.path });
    return new MemoryDeadLetter(option.memory);
  }

  private writeDeadLetter(component: string, input: DeadLetterInput): void {
    const entry = deadLetterEntry(input, { time: this.clock.now(), pipeline: this.name, component });
    try {
      this.deadLetter.write(entry);
      this.telemetry.add(component, 'dead_lettered', 1, input.reason);
    } catch (err) {
      this.telemetry.add(component, 'dropped', 1, 'dead_letter_failed');
      this.logger.error('dead letter write failed', { component, error: errorMessage(err) });
    }
  }

  private context(name: string, type: string, kind: ComponentKind): ComponentContext {
    const metrics = this.telemetry.forComponent(name);
    return {
      name,
      type,
      kind,
      metrics,
      logger: childLogger(this.logger, { component: name }),
      deadLetter: (entry) => {
        metrics.add('errors', 1, entry.reason);
        this.writeDeadLetter(name, entry);
      },
      clock: this.clock,
      scheduler: this.scheduler,
      signal: this.lifetime.signal,
    };
  }

  private instantiate<T>(resolved: ResolvedSpec<T>, kind: ComponentKind): Named<T> {
    const ctx = this.context(resolved.name, resolved.type, kind);
    const instance = resolved.instance ?? (resolved.spec as ComponentSpec<T>).factory.create(ctx, resolved.config);
    return { name: resolved.name, type: resolved.type, instance, ctx };
  }

  async start(): Promise<void> {
    if (this._state !== 'created') throw new Error(`pipeline "${this.name}" cannot start: it is ${this._state}`);
    this._state = 'starting';
    try {
      this.restoreFrom = this.options.restore ?? (await this.options.checkpoint?.store.load());
      // Resume at the checkpoint's watermark: windows and orderings restored with the state see the same time.
      if (typeof this.restoreFrom?.watermark === 'number') {
        this.tracker.seed(this.restoreFrom.watermark);
        this.watermarkSubject.next(this.tracker.current());
      }
      if (this.restoreFrom && this.dedup && Array.isArray(this.restoreFrom.dedup))
        this.dedup.restore(this.restoreFrom.dedup as Parameters<AlertDeduplicator['restore']>[0]);
      this.processors = this.specs.processors.map((s) => this.instantiate(s, 'processor'));
      for (const spec of this.specs.detections) {
        const named = this.instantiate(spec, 'detection');
        if (isDetectionBundle(named.instance)) {
          (named.instance.processors ?? []).forEach((p, i) => {
            const own = (p as { name?: unknown }).name;
            const name = `${named.name}.${typeof own === 'string' && own ? own : `processor${i}`}`;
            this.processors.push({ name, type: named.type, instance: p, ctx: this.context(name, named.type, 'processor') });
          });
          this.suppressors.push(...(named.instance.suppressors ?? []));
          for (const d of named.instance.detections) {
            this.detections.push({ name: d.id, type: d.id, instance: d, ctx: this.context(d.id, d.id, 'detection') });
          }
        } else {
          this.detections.push(named as Named<Detection>);
        }
      }
      this.exporters = this.specs.exporters.map((s) => {
        const named = this.instantiate(s, 'exporter');
        const delivery = (named.instance as ExporterWithDelivery).delivery;
        return { named, runner: new ExportRunner(named.instance, named.ctx, resolveExportRunnerOptions(named.name, this.options.export, delivery)) };
      });
      this.receivers = this.specs.receivers.map((s) => this.instantiate(s, 'receiver'));

      for (const p of this.processors) {
        if (p.instance.checkpoint) this.registerCheckpoint(`processor:${p.name}`, 'state', p.instance.checkpoint, p.ctx);
        await p.instance.start?.();
      }
      for (const e of this.exporters) {
        await e.named.instance.start?.();
        e.runner.start();
      }
      this.connectDetections();
      this.subscriptions.push(this.alertsSubject.subscribe((alert) => this.routeAlert(alert)));
      const now = this.clock.now();
      for (const r of this.receivers) this.tracker.register(r.name, now);
      this._state = 'running';
      this.startIdleTimer();
      if (this.options.checkpoint) {
        this.checkpointTimer = setInterval(() => {
          if (this._state === 'running') void this.saveCheckpoint();
        }, this.options.checkpoint.intervalMs ?? 60_000);
        this.checkpointTimer.unref();
      }
      for (const r of this.receivers) await r.instance.start(this.host(r));
    } catch (err) {
      this.logger.error('pipeline failed to start', { pipeline: this.name, error: errorMessage(err) });
      await this.shutdown({ deadlineMs: 5_000 });
      throw err;
    }
  }

  private startIdleTimer(): void {
    const period = Math.max(50, Math.min(1_000, this.tracker.idleTimeoutMs / 2));
    this.idleTimer = setInterval(() => {
      if (this._state === 'running' && !this.draining && this.ingress.length === 0) this.advanceWatermark();
    }, period);
    this.idleTimer.unref();
  }

  private host(receiver: Named<Receiver>): ReceiverHost {
    const name = receiver.name;
    const metrics = receiver.ctx.metrics;
    return {
      name,
      metrics,
      now: () => this.clock.now(),
      ...(this.restoreFrom?.positions[name] !== undefined ? { restoredPosition: this.restoreFrom.positions[name] } : {}),
      emit: async (events, options) => {
        if (events.length === 0) {
          options?.onProcessed?.();
          return;
        }
        if (this._state !== 'running' && this._state !== 'starting') {
          metrics.add('dropped', events.length, 'pipeline_stopped');
          return;
        }
        metrics.add('received', events.length);
        const accepted = await this.ingress.put({ source: name, events, onProcessed: options?.onProcessed });
        if (accepted) this.scheduleDrain();
      },
      tryEmit: (events, options) => {
        if (events.length === 0) {
          options?.onProcessed?.();
          return true;
        }
        if (this._state !== 'running' && this._state !== 'starting') {
          metrics.add('refused', events.length, 'pipeline_stopped');
          return false;
        }
        if (!this.ingress.offer({ source: name, events, onProcessed: options?.onProcessed })) {
          metrics.add('refused', events.length, 'queue_full');
          return false;
        }
        metrics.add('received', events.length);
        this.scheduleDrain();
        return true;
      },
      deadLetter: (entry) => receiver.ctx.deadLetter(entry),
      complete: () => {
        if (this.completedReceivers.has(name) || this.completing.has(name)) return;
        this.completing.add(name);
        // Behind the receiver's queued batches: completing now would let the watermark jump to +Infinity
        // before those batches are processed, making their events late for every window.
        this.ingress.force({ source: name, events: [], complete: true });
        this.scheduleDrain();
      },
    };
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.draining) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      void this.drain();
    });
  }

  private exportersHaveRoom(): boolean {
    for (const e of this.exporters) if (!e.runner.hasRoom()) return false;
    return true;
  }

  /** Process queued batches; yields to the event loop every `maxEventsPerTurn` events and waits while an exporter queue is full. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (;;) {
        let processed = 0;
        while (processed < this.maxEventsPerTurn && this.ingress.length > 0) {
          if (!this.exportersHaveRoom()) break;
          const batch = this.ingress.take() as IngressBatch;
          this.processBatch(batch);
          processed += batch.events.length;
        }
        if (this.ingress.length === 0) break;
        if (!this.exportersHaveRoom()) {
          await Promise.all(this.exporters.map((e) => e.runner.waitForRoom()));
        } else {
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      this.checkEndOfInput();
    } finally {
      this.draining = false;
    }
    if (this.ingress.length > 0) this.scheduleDrain();
  }

  private processBatch(batch: IngressBatch): void {
    if (batch.complete) {
      this.completedReceivers.add(batch.source);
      this.tracker.complete(batch.source, this.clock.now());
      this.advanceWatermark();
      return;
    }
    const events = batch.events;
    let maxTime = Number.NEGATIVE_INFINITY;
    const processors = this.processors;
    for (let i = 0; i < events.length; i++) {
      let event: OutflowEvent | undefined = events[i] as OutflowEvent;
      for (let p = 0; p < processors.length && event; p++) {
        const proc = processors[p] as Named<Processor>;
        const input: OutflowEvent = event;
        try {
          event = proc.instance.process(input);
          if (!event) proc.ctx.metrics.add('dropped', 1, 'filtered');
        } catch (err) {
          proc.ctx.deadLetter({
            stage: 'process',
            reason: 'exception',
            message: errorMessage(err),
            event: input,
            ...(input.location ? { location: input.location } : {}),
          });
          event = undefined;
        }
      }
      if (!event) continue;
      if (event.time > maxTime) maxTime = event.time;
      const targets = this.routes.get(event.kind);
      if (targets !== undefined && targets.length > 0) {
        this.currentEvent = event;
        for (let t = 0; t < targets.length; t++) (targets[t] as Subject<OutflowEvent>).next(event);
      }
    }
    this.currentEvent = undefined;
    if (batch.onProcessed) {
      try {
        batch.onProcessed();
      } catch (err) {
        this.telemetry.add(batch.source, 'errors', 1, 'on_processed_exception');
        this.logger.error('onProcessed callback failed', { receiver: batch.source, error: errorMessage(err) });
      }
    }
    this.telemetry.add('pipeline', 'emitted', events.length);
    if (maxTime > Number.NEGATIVE_INFINITY) this.tracker.observe(batch.source, maxTime, this.clock.now());
    this.advanceWatermark();
  }

  private advanceWatermark(): void {
    const before = this.watermarkSubject.value;
    const wm = this.tracker.update(this.clock.now());
    if (wm > before) {
      this.watermarkSubject.next(wm);
      if (this.dedup) for (const update of this.dedup.advance(wm, this.clock.now())) this.alertsSubject.next(this.finish(update));
    }
  }

  private checkEndOfInput(): void {
    if (this.endOfInput || this.receivers.length === 0) return;
    if (this.completedReceivers.size < this.receivers.length || this.ingress.length > 0) return;
    this.endOfInput = true;
    this.advanceWatermark();
    void this.finishInput().then(() => this.resolveDone());
  }

  /** Complete detection inputs, flush dedup, and wait for exporters to deliver. */
  private async finishInput(signal?: AbortSignal, keepState = false): Promise<void> {
    if (!this.inputsCompleted) {
      this.inputsCompleted = true;
      // Each detection's input completes in turn, ordered as the kinds it takes: one that takes every kind (a correlation)
      // completes after the others, so the findings they flush at the end still reach it.
      // At the end of input, open windows, orderings and dedup entries are final: completing the detections
      // flushes them. At a shutdown that keeps its state for a restart or a move (checkpoints), they are not:
      // they live on in the checkpoint and the resumed run completes them once, so nothing is flushed here.
      if (!keepState) {
        const inputs = [...this.detectionInputs].sort((a, b) => a.lastKind - b.lastKind || a.order - b.order);
        for (const { input } of inputs) input.complete();
        if (this.dedup) for (const update of this.dedup.flush(this.clock.now())) this.alertsSubject.next(this.finish(update));
      }
    }
    const s = signal ?? new AbortController().signal;
    if (!signal) {
      // Finite run: wait for exporters to empty their queues without closing them.
      await Promise.all(this.exporters.map((e) => this.waitIdle(e.runner, s)));
    }
  }

  private async waitIdle(runner: ExportRunner, signal: AbortSignal): Promise<void> {
    while (runner.pending > 0 && !signal.aborted) await new Promise((r) => setTimeout(r, 5));
  }

  private connectDetections(): void {
    for (const kind of EVENT_KINDS) this.routes.set(kind, []);
    const findings = new Subject<{ finding: Finding; detection: Named<Detection> }>();
    this.subscriptions.push(findings.subscribe(({ finding, detection }) => this.onFinding(finding, detection)));
    for (const detection of this.detections) {
      const d = detection.instance;
      const kinds = d.kinds && d.kinds.length > 0 ? EVENT_KINDS.filter((k) => d.kinds?.includes(k)) : EVENT_KINDS;
      const input = new Subject<OutflowEvent>();
      for (const k of kinds) this.routes.get(k)?.push(input);
      this.detectionInputs.push({ input, lastKind: Math.max(-1, ...kinds.map((k) => EVENT_KINDS.indexOf(k))), order: this.detectionInputs.length });
      this.connect(detection, input, findings, 0);
    }
  }

  private detectionContext(detection: Named<Detection>): DetectionContext {
    const ctx = detection.ctx;
    return {
      ...ctx,
      watermark$: this.watermarkSubject.asObservable(),
      alerts$: this.alertsSubject.asObservable(),
      watermark: () => this.tracker.current(),
      late: (event, reason = 'late') => {
        ctx.metrics.add('late', 1, reason);
        this.writeDeadLetter(ctx.name, { stage: 'late', reason, event });
      },
      reportError: (error, event) => {
        ctx.deadLetter({ stage: 'detect', reason: 'exception', message: errorMessage(error), ...(event !== undefined ? { event } : {}) });
      },
      registerState: (name, state) => ctx.metrics.gauge('state_keys', () => state.size, { state: name }),
      registerCheckpoint: (name, handle) => this.registerCheckpoint(detection.instance.id, name, handle, ctx),
    };
  }

  private registerCheckpoint(detectionId: string, name: string, handle: CheckpointHandle, ctx: ComponentContext): void {
    let handles = this.checkpointHandles.get(detectionId);
    if (!handles) this.checkpointHandles.set(detectionId, (handles = new Map()));
    handles.set(name, handle);
    const restoredKey = `${detectionId}\u0000${name}`;
    // A detection reconnected after a stream error registers again: its state then starts fresh, not from the
    // (by now stale) checkpoint taken before the start.
    if (this.restoredHandles.has(restoredKey)) return;
    this.restoredHandles.add(restoredKey);
    const saved = this.restoreFrom?.detections[detectionId]?.[name];
    if (!saved) return;
    if (saved.version !== handle.version) {
      ctx.metrics.add('errors', 1, 'checkpoint_version_mismatch');
      this.logger.warn('checkpointed state has another version; relearning from scratch', {
        detection: detectionId,
        state: name,
        saved: saved.version,
        current: handle.version,
      });
      return;
    }
    try {
      handle.restore(saved.state);
    } catch (err) {
      ctx.metrics.add('errors', 1, 'checkpoint_restore_failed');
      this.logger.error('restoring checkpointed state failed; relearning from scratch', { detection: detectionId, state: name, error: errorMessage(err) });
    }
  }

  checkpoint(): PipelineCheckpoint {
    const detections: PipelineCheckpoint['detections'] = {};
    for (const [id, handles] of this.checkpointHandles) {
      const entry: Record<string, { version: string; state: unknown }> = {};
      // Copied now: handles may return live objects, and a store that saves asynchronously must not see state
      // newer than the positions taken with it.
      for (const [name, handle] of handles) entry[name] = { version: handle.version, state: structuredClone(handle.snapshot()) };
      detections[id] = entry;
    }
    const positions: Record<string, unknown> = {};
    for (const r of this.receivers) {
      const p = r.instance.position?.();
      if (p !== undefined) positions[r.name] = p;
    }
    const wm = this.tracker.current();
    return {
      format: 'outflow.checkpoint/v1',
      pipeline: this.name,
      takenAt: this.clock.now(),
      watermark: Number.isFinite(wm) ? wm : null,
      positions,
      detections,
      ...(this.dedup ? { dedup: structuredClone(this.dedup.snapshot()) } : {}),
    };
  }

  private async saveCheckpoint(): Promise<void> {
    const store = this.options.checkpoint?.store;
    if (!store) return;
    try {
      await store.save(this.checkpoint());
      this.telemetry.add('pipeline', 'emitted', 1, 'checkpoint');
    } catch (err) {
      this.telemetry.add('pipeline', 'errors', 1, 'checkpoint_failed');
      this.logger.error('checkpoint failed', { error: errorMessage(err) });
    }
  }

  private connect(
    detection: Named<Detection>,
    input: Subject<OutflowEvent>,
    findings: Subject<{ finding: Finding; detection: Named<Detection> }>,
    attempt: number,
  ): void {
    const d = detection.instance;
    const input$ = input.asObservable();
    let output$: Observable<Finding>;
    try {
      output$ = d.connect(input$, this.detectionContext(detection));
    } catch (err) {
      detection.ctx.deadLetter({ stage: 'detect', reason: 'connect_failed', message: errorMessage(err) });
      this.logger.error('detection failed to connect; it is disabled', { detection: d.id, error: errorMessage(err) });
      return;
    }
    const sub = output$.subscribe({
      next: (finding) => findings.next({ finding, detection }),
      error: (err) => {
        const event = this.currentEvent;
        detection.ctx.deadLetter({ stage: 'detect', reason: 'stream_error', message: errorMessage(err), ...(event ? { event } : {}) });
        if (attempt >= 100 || this.inputsCompleted) {
          this.logger.error('detection failed repeatedly; it is disabled', { detection: d.id, error: errorMessage(err) });
          return;
        }
        this.logger.warn('detection stream failed; reconnecting (its state is reset)', { detection: d.id, error: errorMessage(err) });
        this.connect(detection, input, findings, attempt + 1);
      },
    });
    this.subscriptions.push(sub);
  }

  private onFinding(finding: Finding, detection: Named<Detection>): void {
    detection.ctx.metrics.add('emitted', 1);
    for (const suppressor of this.suppressors) {
      let reason: string | undefined;
      try {
        reason = suppressor.check(finding);
      } catch (err) {
        detection.ctx.deadLetter({ stage: 'detect', reason: 'suppressor_exception', message: `${suppressor.name}: ${errorMessage(err)}` });
        continue;
      }
      if (reason !== undefined) {
        detection.ctx.metrics.add('dropped', 1, 'suppressed');
        this.suppressedSubject.next({ finding, suppressor: suppressor.name, reason });
        return;
      }
    }
    const now = this.clock.now();
    if (!this.dedup) {
      this.alertsSubject.next(this.finish(alertFromFinding(finding, now)));
      return;
    }
    const alert = this.dedup.push(finding, now, (update) => this.alertsSubject.next(this.finish(update)));
    if (alert) this.alertsSubject.next(this.finish(alert));
    else detection.ctx.metrics.add('dropped', 1, 'deduplicated');
  }

  private finish(alert: Alert): Alert {
    if (this.options.labels) alert.labels = { ...this.options.labels, ...alert.labels };
    return alert;
  }

  private routeAlert(alert: Alert): void {
    this.telemetry.add('pipeline', 'emitted', 1, 'alert');
    for (const e of this.exporters) e.runner.enqueue(alert);
  }

  shutdown(options: { deadlineMs?: number; keepState?: boolean } = {}): Promise<ShutdownReport> {
    this.shutdownPromise ??= this.doShutdown(options.deadlineMs ?? DEFAULT_DEADLINE_MS, options.keepState ?? this.options.checkpoint !== undefined);
    return this.shutdownPromise;
  }

  private async doShutdown(deadlineMs: number, keepState: boolean): Promise<ShutdownReport> {
    const started = Date.now();
    const failures: ShutdownReport['failures'] = [];
    if (this._state === 'created') {
      this._state = 'stopped';
      this.resolveDone();
      return { clean: true, durationMs: 0, alertsDroppedAtDeadline: 0, failures };
    }
    this._state = 'stopping';
    const { signal, cancel } = deadline(deadlineMs);
    const guard = async (component: string, fn: () => Promise<unknown> | unknown) => {
      try {
        const r = await withDeadline(Promise.resolve().then(fn), signal);
        if (r === 'deadline') failures.push({ component, error: 'shutdown deadline passed' });
      } catch (err) {
        failures.push({ component, error: errorMessage(err) });
      }
    };
    if (this.idleTimer) clearInterval(this.idleTimer);
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    // 1. Stop receiving.
    await Promise.all(this.receivers.map((r) => guard(r.name, () => r.instance.shutdown())));
    this.ingress.close('pipeline_stopped');
    // 2. Process what is queued.
    while (this.ingress.length > 0 && !signal.aborted) {
      const batch = this.ingress.take() as IngressBatch;
      this.processBatch(batch);
      if (!this.exportersHaveRoom()) await withDeadline(Promise.all(this.exporters.map((e) => e.runner.waitForRoom())), signal);
    }
    if (this.ingress.length > 0) this.ingress.close('shutdown_deadline', true);
    // The state now reflects every event the receivers' positions cover: save it before completing the detections.
    if (this.options.checkpoint && !this.endOfInput) await guard('checkpoint', () => this.saveCheckpoint());
    // 3. Complete detections and flush dedup.
    await this.finishInput(signal, keepState && !this.endOfInput);
    // 4. Deliver queued alerts, then shut exporters down.
    const droppedBefore = this.telemetry.total('dropped', { reason: 'shutdown_deadline' });
    await Promise.all(this.exporters.map((e) => guard(e.named.name, () => e.runner.drain(signal))));
    this.lifetime.abort(new Error('pipeline stopped'));
    await Promise.all(this.exporters.map((e) => guard(e.named.name, () => e.named.instance.shutdown())));
    await Promise.all(this.processors.map((p) => guard(p.name, () => p.instance.shutdown?.())));
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.alertsSubject.complete();
    this.suppressedSubject.complete();
    this.watermarkSubject.complete();
    await guard('dead_letter', async () => {
      await this.deadLetter.flush?.();
      await this.deadLetter.close?.();
    });
    cancel();
    this._state = 'stopped';
    this.resolveDone();
    const alertsDroppedAtDeadline = this.telemetry.total('dropped', { reason: 'shutdown_deadline' }) - droppedBefore;
    return {
      clean: failures.length === 0 && alertsDroppedAtDeadline === 0 && !signal.aborted,
      durationMs: Date.now() - started,
      alertsDroppedAtDeadline,
      failures,
    };
  }
}
