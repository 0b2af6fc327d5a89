import {
  type Clock,
  type ComponentContext,
  type ComponentKind,
  type DeadLetterEntry,
  type DeadLetterInput,
  encodeRaw,
  type OutflowEvent,
  type ReceiverHost,
  silentLogger,
  systemClock,
  Telemetry,
} from '@outflow/core';
import { asyncScheduler, type SchedulerLike } from 'rxjs';

export interface TestContext extends ComponentContext {
  readonly telemetry: Telemetry;
  /** Dead-letter entries written through this context. */
  readonly deadLetters: DeadLetterEntry[];
  readonly abort: AbortController;
}

/** A ComponentContext for unit tests: in-process telemetry, an in-memory dead letter, silent logger. */
export function createTestContext(options: { name?: string; type?: string; kind?: ComponentKind; clock?: Clock; scheduler?: SchedulerLike } = {}): TestContext {
  const name = options.name ?? 'test';
  const telemetry = new Telemetry({ pipeline: 'test' });
  const metrics = telemetry.forComponent(name);
  const deadLetters: DeadLetterEntry[] = [];
  const abort = new AbortController();
  const clock = options.clock ?? systemClock;
  return {
    name,
    type: options.type ?? name,
    kind: options.kind ?? 'receiver',
    metrics,
    logger: silentLogger,
    clock,
    scheduler: options.scheduler ?? asyncScheduler,
    signal: abort.signal,
    abort,
    telemetry,
    deadLetters,
    deadLetter(entry: DeadLetterInput) {
      metrics.add('errors', 1, entry.reason);
      deadLetters.push({
        time: new Date(clock.now()).toISOString(),
        pipeline: 'test',
        component: name,
        stage: entry.stage,
        reason: entry.reason,
        ...(entry.message !== undefined ? { message: entry.message } : {}),
        ...(entry.raw !== undefined ? encodeRaw(entry.raw) : {}),
        ...(entry.location !== undefined ? { location: entry.location } : {}),
        ...(entry.event !== undefined ? { event: entry.event } : {}),
        ...(entry.alert !== undefined ? { alert: entry.alert } : {}),
      });
    },
  };
}

export interface TestHost extends ReceiverHost {
  /** Every event emitted, in order. */
  readonly events: OutflowEvent[];
  /** Batches as emitted. */
  readonly batches: OutflowEvent[][];
  readonly deadLetters: DeadLetterEntry[];
  readonly telemetry: Telemetry;
  completed: boolean;
  /** Make `tryEmit` refuse (and `emit` wait) as if the pipeline queue were full. */
  full: boolean;
  /** Resolves once at least `n` events were emitted (rejects after `timeoutMs`). */
  waitForEvents(n: number, timeoutMs?: number): Promise<OutflowEvent[]>;
  /** Resolves once at least `n` dead letters were written. */
  waitForDeadLetters(n: number, timeoutMs?: number): Promise<DeadLetterEntry[]>;
  /** Resolves when the receiver calls `complete()`. */
  waitForComplete(timeoutMs?: number): Promise<void>;
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A ReceiverHost that records what a receiver emits, for receiver tests without a pipeline. */
export function createTestHost(options: { name?: string; clock?: Clock; ctx?: TestContext } = {}): TestHost {
  const name = options.ctx?.name ?? options.name ?? 'receiver';
  const ctx = options.ctx ?? createTestContext({ name, kind: 'receiver', ...(options.clock ? { clock: options.clock } : {}) });
  const host: TestHost = {
    name,
    metrics: ctx.metrics,
    events: [],
    batches: [],
    deadLetters: ctx.deadLetters,
    telemetry: ctx.telemetry,
    completed: false,
    full: false,
    now: () => ctx.clock.now(),
    async emit(batch) {
      while (host.full) await new Promise((r) => setTimeout(r, 5));
      ctx.metrics.add('received', batch.length);
      host.batches.push(batch);
      host.events.push(...batch);
    },
    tryEmit(batch) {
      if (host.full) {
        ctx.metrics.add('refused', batch.length, 'queue_full');
        return false;
      }
      ctx.metrics.add('received', batch.length);
      host.batches.push(batch);
      host.events.push(...batch);
      return true;
    },
    deadLetter: (entry) => ctx.deadLetter(entry),
    complete() {
      host.completed = true;
    },
    async waitForEvents(n, timeoutMs = 5_000) {
      await waitUntil(() => host.events.length >= n, timeoutMs, `${n} events (have ${host.events.length})`);
      return host.events;
    },
    async waitForDeadLetters(n, timeoutMs = 5_000) {
      await waitUntil(() => host.deadLetters.length >= n, timeoutMs, `${n} dead letters (have ${host.deadLetters.length})`);
      return host.deadLetters;
    },
    async waitForComplete(timeoutMs = 5_000) {
      await waitUntil(() => host.completed, timeoutMs, 'completion');
    },
  };
  return host;
}
