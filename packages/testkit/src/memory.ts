import {
  type Alert,
  type DecodeError,
  defineComponent,
  type Exporter,
  type OutflowEvent,
  outflowJsonDecoder,
  type Receiver,
  type ReceiverHost,
  z,
} from '@outflow/core';

const channels = new Map<string, Set<MemoryReceiver>>();

/**
 * Send to every running memory receiver listening on `channel`. Objects are
 * events; strings are decoded as Outflow JSON lines (bad ones are
 * dead-lettered by the receiver, like any receiver's bad input).
 */
export async function sendToChannel(channel: string, items: readonly (OutflowEvent | string)[]): Promise<void> {
  for (const receiver of channels.get(channel) ?? []) await receiver.push(...items);
}

/**
 * A receiver fed from memory: events given up front (emitted at start, then
 * complete, like a replayed file), or pushed while running with `push()` or
 * `sendToChannel()`.
 */
export class MemoryReceiver implements Receiver {
  private host: ReceiverHost | undefined;
  private stopped = false;
  started = false;
  shutdownCalls = 0;

  constructor(
    private readonly initial: readonly OutflowEvent[] = [],
    private readonly options: { batchSize?: number; complete?: boolean; channel?: string } = {},
  ) {}

  async start(host: ReceiverHost): Promise<void> {
    this.host = host;
    this.started = true;
    if (this.options.channel) {
      let set = channels.get(this.options.channel);
      if (!set) channels.set(this.options.channel, (set = new Set()));
      set.add(this);
    }
    const size = this.options.batchSize ?? 256;
    for (let i = 0; i < this.initial.length && !this.stopped; i += size) {
      await host.emit(this.initial.slice(i, i + size));
    }
    if (this.options.complete ?? (this.initial.length > 0 && !this.options.channel)) host.complete();
  }

  /** Emit now (waits for room under the `block` policy). Strings are decoded as Outflow JSON lines. */
  async push(...items: (OutflowEvent | string)[]): Promise<void> {
    const host = this.host;
    if (!host) throw new Error('MemoryReceiver.push before start');
    if (this.stopped) return;
    const events: OutflowEvent[] = [];
    const sink = {
      event: (e: OutflowEvent) => events.push(e),
      error: (e: DecodeError) => host.deadLetter({ stage: 'decode', reason: e.reason, message: e.message, raw: e.raw, location: 'memory' }),
    };
    for (const item of items) {
      if (typeof item === 'string') outflowJsonDecoder.decode(item, sink, { observedTime: host.now(), location: 'memory', receiver: host.name });
      else events.push(item);
    }
    await host.emit(events);
  }

  /** Signal the end of input. */
  complete(): void {
    this.host?.complete();
  }

  async shutdown(): Promise<void> {
    this.shutdownCalls++;
    this.stopped = true;
    if (this.options.channel) channels.get(this.options.channel)?.delete(this);
  }
}

const exporterChannels = new Map<string, Alert[]>();

/** Alerts exported so far by memory exporters on `channel`. */
export function exportedToChannel(channel: string): Alert[] {
  let list = exporterChannels.get(channel);
  if (!list) exporterChannels.set(channel, (list = []));
  return list;
}

/** Collects every alert exported to it. Can be told to fail the next calls or to be slow. */
export class MemoryExporter implements Exporter {
  readonly alerts: Alert[];
  readonly batches: Alert[][] = [];
  shutdownCalls = 0;
  /** Errors to throw from the next export calls, in order. */
  failures: Error[] = [];
  /** Delay each export by this many ms. */
  delayMs = 0;

  constructor(channel?: string) {
    this.alerts = channel ? exportedToChannel(channel) : [];
  }

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

const eventSchema = z.custom<OutflowEvent>((v) => typeof v === 'object' && v !== null && 'kind' in v, 'expected an Outflow event');

/** `memory` receiver component: events given in the config, and/or pushed on a named channel. */
export const memoryReceiver = defineComponent({
  type: 'memory',
  kind: 'receiver',
  stability: 'stable',
  description: 'Emits events given in its configuration (then completes) or sent to its channel with sendToChannel(). For tests and examples.',
  schema: z
    .object({
      events: z.array(eventSchema).default([]),
      channel: z.string().min(1).optional(),
      batchSize: z.number().int().positive().default(256),
      /** Complete after emitting `events`. Default: true without a channel. */
      complete: z.boolean().optional(),
    })
    .strict(),
  create: (_ctx, config) =>
    new MemoryReceiver(config.events, {
      batchSize: config.batchSize,
      ...(config.complete !== undefined ? { complete: config.complete } : {}),
      ...(config.channel ? { channel: config.channel } : {}),
    }),
});

/** `memory` exporter component; read what it received with `exportedToChannel(channel)`. */
export const memoryExporter = defineComponent({
  type: 'memory',
  kind: 'exporter',
  stability: 'stable',
  description: 'Keeps exported alerts in memory, readable with exportedToChannel(). For tests.',
  schema: z.object({ channel: z.string().min(1).default('default') }).strict(),
  create: (_ctx, config) => new MemoryExporter(config.channel),
});
