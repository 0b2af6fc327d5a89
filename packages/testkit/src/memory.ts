import { type Alert, defineComponent, type Exporter, type OutflowEvent, type Receiver, type ReceiverHost, z } from '@outflow/core';

/**
 * A receiver fed from memory: `push()` events while running, or give them up
 * front. With `complete: true` (the default when events are given) it
 * completes after emitting them, like a replayed file.
 */
export class MemoryReceiver implements Receiver {
  private host: ReceiverHost | undefined;
  private stopped = false;
  started = false;
  shutdownCalls = 0;

  constructor(
    private readonly initial: readonly OutflowEvent[] = [],
    private readonly options: { batchSize?: number; complete?: boolean } = {},
  ) {}

  async start(host: ReceiverHost): Promise<void> {
    this.host = host;
    this.started = true;
    const size = this.options.batchSize ?? 256;
    for (let i = 0; i < this.initial.length && !this.stopped; i += size) {
      await host.emit(this.initial.slice(i, i + size));
    }
    if (this.options.complete ?? this.initial.length > 0) host.complete();
  }

  /** Emit events now (waits for room under the `block` policy). */
  async push(...events: OutflowEvent[]): Promise<void> {
    if (!this.host) throw new Error('MemoryReceiver.push before start');
    await this.host.emit(events);
  }

  /** Signal the end of input. */
  complete(): void {
    this.host?.complete();
  }

  async shutdown(): Promise<void> {
    this.shutdownCalls++;
    this.stopped = true;
  }
}

/** Collects every alert exported to it. Can be told to fail the next N calls. */
export class MemoryExporter implements Exporter {
  readonly alerts: Alert[] = [];
  readonly batches: Alert[][] = [];
  shutdownCalls = 0;
  /** Errors to throw from the next export calls, in order. */
  failures: Error[] = [];
  /** Delay each export by this many ms. */
  delayMs = 0;

  async export(batch: readonly Alert[], signal: AbortSignal): Promise<void> {
    if (this.delayMs > 0) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, this.delayMs);
        signal.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            reject(signal.reason);
          },
          { once: true },
        );
      });
    }
    const failure = this.failures.shift();
    if (failure) throw failure;
    this.batches.push([...batch]);
    this.alerts.push(...batch);
  }

  async shutdown(): Promise<void> {
    this.shutdownCalls++;
  }
}

/** `memory` receiver component: events given in the config. */
export const memoryReceiver = defineComponent({
  type: 'memory',
  kind: 'receiver',
  stability: 'stable',
  description: 'Emits events given in its configuration, then completes. For tests and examples.',
  schema: z
    .object({
      events: z.array(z.custom<OutflowEvent>((v) => typeof v === 'object' && v !== null && 'kind' in v, 'expected an Outflow event')).default([]),
      batchSize: z.number().int().positive().default(256),
      complete: z.boolean().default(true),
    })
    .strict(),
  create: (_ctx, config) => new MemoryReceiver(config.events, { batchSize: config.batchSize, complete: config.complete }),
});

/** `memory` exporter component. Read the alerts from `exporterOf(...)` or pass your own MemoryExporter instance instead. */
export const memoryExporter = defineComponent({
  type: 'memory',
  kind: 'exporter',
  stability: 'stable',
  description: 'Keeps exported alerts in memory. For tests.',
  schema: z.object({}).strict(),
  create: () => new MemoryExporter(),
});
