import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import { type Observable, Subject } from 'rxjs';
import type { Alert } from '../alert.js';
import type { EmitOptions, ReceiverHost } from '../contracts/receiver.js';
import { type DeadLetterSink, deadLetterEntry, MemoryDeadLetter } from '../dead-letter.js';
import { errorMessage } from '../errors.js';
import { type OutflowEvent, workloadKey } from '../events.js';
import { consoleLogger, type Logger } from '../logger.js';
import type { ShutdownReport } from '../runtime/pipeline.js';
import { type StatEntry, Telemetry } from '../telemetry.js';
import { shardOf } from './hash.js';
import type { FromWorker, RecordMeta, ShardWorkerInit, ToWorker } from './protocol.js';

export interface ShardedPipelineOptions {
  /**
   * The shard module every worker imports (a file path or URL). It exports
   * `createShard(shard)` (or a default function) returning a ShardDefinition:
   * the shard's pipeline and the decoders of the records it is sent.
   */
  module: string | URL;
  /** Worker threads, one shard each. Default: the available parallelism. */
  workers?: number;
  /** Plain data for `createShard` (structured-cloned into each worker): configuration, paths. */
  data?: unknown;
  /**
   * Routing key of a raw record, by format, computed on the main thread
   * (keep it cheap: find a field, do not decode). Records with equal keys go
   * to the same shard; a record without a key goes to any shard (round robin
   * by batch). Formats not listed are spread round robin.
   */
  recordKeys?: Readonly<Record<string, (record: string) => string | undefined>>;
  /** Routing key of a decoded event (`send`, hosts). Default: the event's workload key (`workloadKey(event.workload)`). */
  eventKey?: (event: OutflowEvent) => string | undefined;
  /** Batches sent to a worker and not yet processed by it before senders wait (backpressure). Default 4. */
  maxInFlight?: number;
  /** How long to wait for every worker to build its pipeline. Default 30 000 ms. */
  startTimeoutMs?: number;
  /** V8 heap limits of each worker. */
  resourceLimits?: ResourceLimits;
  execArgv?: string[];
  /** Where main-thread dead letters go (records a shard could not take). Default: memory, 10 000 newest. */
  deadLetter?: DeadLetterSink;
  logger?: Logger;
  /** @internal The worker entry module; default the `worker.js` next to this file (the build when running from sources). */
  runtime?: string | URL;
}

/** What one shard did, as the main thread sees it, with the shard pipeline's own counters. */
export interface ShardStats {
  index: number;
  /** Records and events sent to it. */
  sent: number;
  batches: number;
  /** Batches sent and not yet processed. */
  inFlight: number;
  alerts: number;
  /** Why the worker failed, when it did. */
  failed?: string;
  /** The shard pipeline's counters (`Telemetry.stats()`), empty for a failed shard. */
  telemetry: StatEntry[];
}

export interface ShardedShutdownReport {
  clean: boolean;
  durationMs: number;
  shards: (ShutdownReport | { failed: string })[];
}

/**
 * A pipeline sharded by key over worker threads: every worker runs its own
 * copy of the pipeline (built by the shard module), and each record or event
 * goes to the worker its key hashes to, so all of a key's state lives in one
 * worker. Raw records are routed by a cheap key and decoded in the workers,
 * so the main thread only reads, routes and merges alerts.
 */
export interface ShardedPipeline {
  readonly shards: number;
  /** Alerts of every shard, in arrival order. */
  readonly alerts$: Observable<Alert>;
  /** Route raw records of `format` to their shards (decoded there). Resolves once queued; waits while a shard's window is full. */
  sendRecords(format: string, records: readonly string[], meta?: RecordMeta): Promise<void>;
  /** Route decoded events to their shards by `eventKey` (structured-cloned: costlier than raw records). */
  send(events: readonly OutflowEvent[], options?: EmitOptions): Promise<void>;
  /** A ReceiverHost that routes what a main-thread receiver emits; `complete()` on it ends every shard's input. */
  host(name?: string): ReceiverHost;
  /** End of input: every shard processes what it has, flushes, and delivers its alerts. Resolves when all have. */
  complete(): Promise<void>;
  /** Resolves when every shard finished its input (after `complete()`) or was shut down. */
  readonly done: Promise<void>;
  stats(): Promise<ShardStats[]>;
  /** Shut every shard's pipeline down (idempotent), then stop the workers. */
  shutdown(options?: { deadlineMs?: number }): Promise<ShardedShutdownReport>;
}

interface Shard {
  index: number;
  worker: Worker;
  inFlight: number;
  sent: number;
  batches: number;
  alerts: number;
  failed?: string;
  done: boolean;
  waiters: (() => void)[];
  acks: Map<number, () => void>;
  statsWaiters: Map<number, (s: StatEntry[]) => void>;
  onDone: (() => void)[];
  onStopped?: (r: ShutdownReport) => void;
}

function defaultRuntime(): URL {
  const here = import.meta.url;
  // Running from the TypeScript sources (tests through the `source` export condition): workers need the build.
  if (here.endsWith('.ts')) return new URL('../../dist/shard/worker.js', here);
  return new URL('./worker.js', here);
}

function moduleSpecifier(m: string | URL): string {
  if (m instanceof URL) return m.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(m)) return m;
  return pathToFileURL(m).href;
}

/**
 * Start `workers` worker threads, each building its shard's pipeline from
 * `module`; resolves when all are running. Throws (and stops them all) when
 * one fails to start.
 *
 * ```ts
 * const sharded = await startShardedPipeline({
 *   module: new URL('./shard.js', import.meta.url),
 *   workers: 2,
 *   recordKeys: { aws_vpc_flow: recordField(3) }, // srcaddr of a default-format line
 * });
 * sharded.alerts$.subscribe((a) => console.log(a.explanation.summary));
 * await sharded.sendRecords('aws_vpc_flow', lines, { location: path, firstLine: lines[0] });
 * await sharded.complete();
 * await sharded.shutdown();
 * ```
 */
export async function startShardedPipeline(options: ShardedPipelineOptions): Promise<ShardedPipeline> {
  const impl = new ShardedPipelineImpl(options);
  await impl.start();
  return impl;
}

class ShardedPipelineImpl implements ShardedPipeline {
  readonly shards: number;
  private readonly list: Shard[] = [];
  private readonly alertsSubject = new Subject<Alert>();
  private readonly maxInFlight: number;
  private readonly recordKeys: Readonly<Record<string, (record: string) => string | undefined>>;
  private readonly eventKey: (event: OutflowEvent) => string | undefined;
  private readonly logger: Logger;
  private readonly telemetry = new Telemetry({ pipeline: 'sharded' });
  private readonly deadLetterSink: DeadLetterSink;
  private nextId = 1;
  private roundRobin = 0;
  private completed = false;
  private completePromise: Promise<void> | undefined;
  private shutdownPromise: Promise<ShardedShutdownReport> | undefined;
  private resolveDone!: () => void;
  readonly done: Promise<void>;

  constructor(private readonly options: ShardedPipelineOptions) {
    const n = options.workers ?? availableParallelism();
    if (!(Number.isInteger(n) && n >= 1)) throw new RangeError('workers must be a positive integer');
    this.shards = n;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 4);
    this.recordKeys = options.recordKeys ?? {};
    this.eventKey = options.eventKey ?? ((e) => workloadKey(e.workload));
    this.logger = options.logger ?? consoleLogger('warn');
    this.deadLetterSink = options.deadLetter ?? new MemoryDeadLetter();
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  get alerts$(): Observable<Alert> {
    return this.alertsSubject.asObservable();
  }

  async start(): Promise<void> {
    const runtime = this.options.runtime ?? defaultRuntime();
    const module = moduleSpecifier(this.options.module);
    const ready: Promise<void>[] = [];
    for (let index = 0; index < this.shards; index++) {
      const init: ShardWorkerInit = { module, index, count: this.shards, data: this.options.data };
      const worker = new Worker(runtime, {
        workerData: { outflowShard: init },
        ...(this.options.resourceLimits ? { resourceLimits: this.options.resourceLimits } : {}),
        ...(this.options.execArgv ? { execArgv: this.options.execArgv } : {}),
      });
      const shard: Shard = {
        index,
        worker,
        inFlight: 0,
        sent: 0,
        batches: 0,
        alerts: 0,
        done: false,
        waiters: [],
        acks: new Map(),
        statsWaiters: new Map(),
        onDone: [],
      };
      this.list.push(shard);
      ready.push(
        new Promise<void>((resolve, reject) => {
          let started = false;
          worker.on('message', (m: FromWorker) => {
            if (m.t === 'ready') {
              started = true;
              resolve();
            } else if (m.t === 'failed') {
              reject(new Error(`shard ${index}: ${m.message}`));
            } else this.onMessage(shard, m);
          });
          worker.on('error', (err) => {
            if (!started) reject(new Error(`shard ${index}: ${errorMessage(err)}`));
            this.fail(shard, errorMessage(err));
          });
          worker.on('exit', (code) => {
            if (!started) reject(new Error(`shard ${index} exited with code ${code} before it started`));
            if (!shard.done && !this.shutdownPromise) this.fail(shard, `worker exited with code ${code}`);
          });
        }),
      );
    }
    const timeoutMs = this.options.startTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`shards did not start within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all(ready), timeout]);
    } catch (err) {
      this.shutdownPromise = Promise.resolve({ clean: false, durationMs: 0, shards: [] });
      await Promise.all(this.list.map((s) => s.worker.terminate()));
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private onMessage(shard: Shard, m: FromWorker): void {
    switch (m.t) {
      case 'ack': {
        shard.inFlight--;
        const cb = shard.acks.get(m.id);
        if (cb) {
          shard.acks.delete(m.id);
          cb();
        }
        this.release(shard);
        break;
      }
      case 'alerts':
        shard.alerts += m.alerts.length;
        for (const a of m.alerts) this.alertsSubject.next(a);
        break;
      case 'done':
        shard.done = true;
        for (const cb of shard.onDone.splice(0)) cb();
        break;
      case 'stats': {
        const cb = shard.statsWaiters.get(m.id);
        shard.statsWaiters.delete(m.id);
        cb?.(m.stats);
        break;
      }
      case 'stopped':
        shard.onStopped?.(m.report);
        break;
    }
  }

  /** A worker died: nothing more can reach it; wake everyone waiting on it. */
  private fail(shard: Shard, reason: string): void {
    if (shard.failed) return;
    shard.failed = reason;
    shard.done = true;
    this.logger.error('shard worker failed; its share of the input is dropped from now on', { shard: shard.index, error: reason });
    if (shard.inFlight > 0) this.telemetry.add(`shard-${shard.index}`, 'dropped', shard.inFlight, 'shard_failed');
    shard.inFlight = 0;
    for (const cb of shard.acks.values()) cb();
    shard.acks.clear();
    for (const cb of shard.statsWaiters.values()) cb([]);
    shard.statsWaiters.clear();
    for (const cb of shard.onDone.splice(0)) cb();
    this.release(shard);
    shard.onStopped?.({ clean: false, durationMs: 0, alertsDroppedAtDeadline: 0, failures: [{ component: `shard-${shard.index}`, error: reason }] });
  }

  private release(shard: Shard): void {
    while (shard.waiters.length > 0 && (shard.inFlight < this.maxInFlight || shard.failed)) (shard.waiters.shift() as () => void)();
  }

  /** Undefined when the shard has room now; else a promise resolving when it has. */
  private room(shard: Shard): Promise<void> | undefined {
    if (shard.inFlight < this.maxInFlight || shard.failed) return undefined;
    return new Promise((resolve) => shard.waiters.push(resolve));
  }

  private async post(shard: Shard, message: Extract<ToWorker, { t: 'records' } | { t: 'events' }>, items: number, onAck?: () => void): Promise<void> {
    const wait = this.room(shard);
    if (wait) await wait;
    if (shard.failed || this.completed) {
      this.telemetry.add(`shard-${shard.index}`, 'dropped', items, shard.failed ? 'shard_failed' : 'input_completed');
      onAck?.();
      return;
    }
    shard.inFlight++;
    shard.batches++;
    shard.sent += items;
    if (onAck) shard.acks.set(message.id, onAck);
    if (message.t === 'records' && message.lines) shard.worker.postMessage(message, [message.lines.buffer as ArrayBuffer]);
    else shard.worker.postMessage(message);
  }

  private counter(parts: number, done: (() => void) | undefined): (() => void) | undefined {
    if (!done) return undefined;
    let left = parts;
    return () => {
      if (--left === 0) done();
    };
  }

  async sendRecords(format: string, records: readonly string[], meta: RecordMeta = {}): Promise<void> {
    if (records.length === 0) {
      meta.onProcessed?.();
      return;
    }
    const n = this.list.length;
    const keyOf = this.recordKeys[format];
    const observedTime = meta.observedTime ?? Date.now();
    const numbered = meta.lines !== undefined || meta.firstLineNumber !== undefined;
    const lineOf = (i: number) => (meta.lines ? (meta.lines[i] as number) : (meta.firstLineNumber as number) + i);
    const base = {
      t: 'records' as const,
      format,
      observedTime,
      ...(meta.location !== undefined ? { location: meta.location } : {}),
      ...(meta.firstLine !== undefined ? { firstLine: meta.firstLine } : {}),
    };
    if (n === 1 || !keyOf) {
      const shard = this.list[this.roundRobin++ % n] as Shard;
      const lines = numbered ? Int32Array.from({ length: records.length }, (_, i) => lineOf(i)) : undefined;
      await this.post(shard, { ...base, id: this.nextId++, records: records as string[], ...(lines ? { lines } : {}) }, records.length, meta.onProcessed);
      return;
    }
    const parts: string[][] = [];
    const lines: number[][] = [];
    for (let s = 0; s < n; s++) {
      parts.push([]);
      lines.push([]);
    }
    const spill = this.roundRobin++ % n;
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as string;
      let s: number;
      try {
        const key = keyOf(record);
        s = key === undefined ? spill : shardOf(key, n);
      } catch {
        s = spill;
      }
      (parts[s] as string[]).push(record);
      if (numbered) (lines[s] as number[]).push(lineOf(i));
    }
    const used = parts.filter((p) => p.length > 0).length;
    const onAck = this.counter(used, meta.onProcessed);
    const sends: Promise<void>[] = [];
    for (let s = 0; s < n; s++) {
      const p = parts[s] as string[];
      if (p.length === 0) continue;
      const message = { ...base, id: this.nextId++, records: p, ...(numbered ? { lines: Int32Array.from(lines[s] as number[]) } : {}) };
      sends.push(this.post(this.list[s] as Shard, message, p.length, onAck));
    }
    await Promise.all(sends);
  }

  async send(events: readonly OutflowEvent[], options: EmitOptions = {}): Promise<void> {
    if (events.length === 0) {
      options.onProcessed?.();
      return;
    }
    const n = this.list.length;
    const parts: OutflowEvent[][] = Array.from({ length: n }, () => []);
    const spill = this.roundRobin++ % n;
    for (const e of events) {
      let s = spill;
      if (n > 1) {
        try {
          const key = this.eventKey(e);
          if (key !== undefined) s = shardOf(key, n);
        } catch {
          // no key: any shard
        }
      }
      (parts[s] as OutflowEvent[]).push(e);
    }
    const used = parts.filter((p) => p.length > 0).length;
    const onAck = this.counter(used, options.onProcessed);
    await Promise.all(
      parts.map((p, s) => (p.length === 0 ? undefined : this.post(this.list[s] as Shard, { t: 'events', id: this.nextId++, events: p }, p.length, onAck))),
    );
  }

  host(name = 'sharded'): ReceiverHost {
    const metrics = this.telemetry.forComponent(name);
    return {
      name,
      metrics,
      now: () => Date.now(),
      emit: async (events, options) => {
        metrics.add('received', events.length);
        await this.send(events, options);
      },
      tryEmit: (events, options) => {
        if (this.list.some((s) => s.inFlight >= this.maxInFlight && !s.failed)) {
          metrics.add('refused', events.length, 'queue_full');
          return false;
        }
        metrics.add('received', events.length);
        void this.send(events, options);
        return true;
      },
      deadLetter: (entry) => {
        metrics.add('errors', 1, entry.reason);
        try {
          this.deadLetterSink.write(deadLetterEntry(entry, { time: Date.now(), pipeline: 'sharded', component: name }));
          metrics.add('dead_lettered', 1, entry.reason);
        } catch {
          metrics.add('dropped', 1, 'dead_letter_failed');
        }
      },
      complete: () => {
        void this.complete();
      },
    };
  }

  complete(): Promise<void> {
    this.completePromise ??= (async () => {
      // Let sends already waiting for room go first: `completed` makes later ones count as dropped.
      await Promise.all(
        this.list.map(async (s) => {
          while (s.waiters.length > 0 && !s.failed) await new Promise((r) => setImmediate(r));
        }),
      );
      this.completed = true;
      await Promise.all(
        this.list.map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.done) return resolve();
              s.onDone.push(resolve);
              s.worker.postMessage({ t: 'complete' } satisfies ToWorker);
            }),
        ),
      );
      this.resolveDone();
    })();
    return this.completePromise;
  }

  async stats(): Promise<ShardStats[]> {
    return Promise.all(
      this.list.map(async (s) => {
        let telemetry: StatEntry[] = [];
        if (!s.failed && !this.shutdownPromise) {
          const id = this.nextId++;
          telemetry = await new Promise<StatEntry[]>((resolve) => {
            s.statsWaiters.set(id, resolve);
            s.worker.postMessage({ t: 'stats', id } satisfies ToWorker);
          });
        }
        return {
          index: s.index,
          sent: s.sent,
          batches: s.batches,
          inFlight: s.inFlight,
          alerts: s.alerts,
          ...(s.failed ? { failed: s.failed } : {}),
          telemetry,
        };
      }),
    );
  }

  shutdown(options: { deadlineMs?: number } = {}): Promise<ShardedShutdownReport> {
    this.shutdownPromise ??= (async () => {
      const started = Date.now();
      const deadlineMs = options.deadlineMs ?? 10_000;
      const reports = await Promise.all(
        this.list.map(async (s): Promise<ShutdownReport | { failed: string }> => {
          if (s.failed) return { failed: s.failed };
          const report = await new Promise<ShutdownReport | undefined>((resolve) => {
            const timer = setTimeout(() => resolve(undefined), deadlineMs + 2_000);
            s.onStopped = (r) => {
              clearTimeout(timer);
              resolve(r);
            };
            s.worker.postMessage({ t: 'shutdown', deadlineMs } satisfies ToWorker);
          });
          s.done = true;
          await s.worker.terminate();
          return report ?? { failed: 'no shutdown report within the deadline' };
        }),
      );
      for (const s of this.list) this.release(s);
      this.alertsSubject.complete();
      this.resolveDone();
      return {
        clean: reports.every((r) => 'clean' in r && r.clean),
        durationMs: Date.now() - started,
        shards: reports,
      };
    })();
    return this.shutdownPromise;
  }
}
