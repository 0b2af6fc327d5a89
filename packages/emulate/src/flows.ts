import { type ComponentContext, defineComponent, type NetworkFlowEvent, type OutflowEvent, type Receiver, type ReceiverHost, z } from '@outflow/core';
import { type NetflowReceiver, netflow, netflowSchema } from '@outflow/receiver-netflow';
import { LabClock } from './clock.js';

/** Configuration of the `lab_netflow` receiver. */
export const labNetflowSchema = z
  .object({
    /** The wrapped `netflow` receiver's configuration (UDP listener, internal ranges, template limits). */
    netflow: netflowSchema.prefault({}),
    /** Compressed time: flow times (time, start, end) are mapped from wall clock to event time. Omit to keep them. */
    timeWarp: z
      .object({
        /** Wall-clock instant (epoch ms) that maps to `eventOrigin`. */
        wallOrigin: z.number().int(),
        /** Event time (epoch ms) of `wallOrigin`. */
        eventOrigin: z.number().int(),
        /** Event milliseconds per wall millisecond. */
        speed: z.number().positive().default(1),
      })
      .strict()
      .optional(),
    /** Flows from this address are the lab's heartbeat bursts: they are counted `dropped{reason=lab_heartbeat}` and reported to barrier waiters, never passed on. */
    heartbeatAddress: z.string().min(1).optional(),
    /** Heartbeat ports remembered for barrier waiters (the oldest are forgotten past it). */
    maxHeartbeats: z.number().int().positive().default(4096),
  })
  .strict();

export type LabNetflowConfig = z.output<typeof labNetflowSchema>;

/**
 * What the lab receiver does to a decoded batch: flows from (or to) the
 * heartbeat address are taken out and their destination ports pushed to
 * `ports`; every other flow gets time, start and end mapped by `clock`
 * (in place). Returns the flows to pass on and the number taken out.
 */
export function labFlowStep(
  batch: readonly OutflowEvent[],
  clock: LabClock | undefined,
  heartbeat: string | undefined,
  ports: number[],
): { events: OutflowEvent[]; heartbeats: number } {
  const events: OutflowEvent[] = [];
  let heartbeats = 0;
  for (const event of batch) {
    if (event.kind !== 'network_flow') {
      events.push(event);
      continue;
    }
    const flow = event as NetworkFlowEvent;
    if (heartbeat !== undefined && (flow.src.address === heartbeat || flow.dst.address === heartbeat)) {
      heartbeats++;
      if (flow.src.address === heartbeat && flow.dst.port !== undefined) ports.push(flow.dst.port);
      continue;
    }
    if (clock) {
      flow.time = clock.toEvent(flow.time);
      if (flow.start !== undefined) flow.start = clock.toEvent(flow.start);
      if (flow.end !== undefined) flow.end = clock.toEvent(flow.end);
    }
    events.push(flow);
  }
  return { events, heartbeats };
}

/**
 * The NetFlow/IPFIX receiver of the lab: the `netflow` receiver with two
 * lab-specific steps between its decoder and the pipeline. Flows of the
 * heartbeat probe are taken out (they only exist to push softflowd's capture
 * buffer along) and mark how far the export has got; every other flow gets its
 * times mapped to compressed event time with the run's `LabClock`, the same
 * mapping the scenario uses for the audit and runtime events it writes.
 */
export class LabFlowReceiver implements Receiver {
  readonly inner: NetflowReceiver;
  private readonly clock: LabClock | undefined;
  private readonly seen = new Set<number>();
  private readonly waiters = new Map<number, Set<() => void>>();
  private flows = 0;

  constructor(
    ctx: ComponentContext,
    private readonly config: LabNetflowConfig,
  ) {
    this.inner = netflow.create(ctx, config.netflow) as NetflowReceiver;
    const w = config.timeWarp;
    this.clock = w ? new LabClock(w.wallOrigin, w.eventOrigin, w.speed) : undefined;
  }

  /** The bound UDP port once started. */
  address(): { port: number } | undefined {
    return this.inner.address();
  }

  /** Flows passed on to the pipeline so far. */
  get flowCount(): number {
    return this.flows;
  }

  start(host: ReceiverHost): Promise<void> {
    const wrapped: ReceiverHost = {
      name: host.name,
      metrics: host.metrics,
      now: () => host.now(),
      deadLetter: (entry) => host.deadLetter(entry),
      complete: () => host.complete(),
      emit: async (batch) => {
        const ports: number[] = [];
        const out = this.transform(batch, host, ports);
        await host.emit(out);
        this.notify(ports);
      },
      tryEmit: (batch) => {
        const ports: number[] = [];
        const out = this.transform(batch, host, ports);
        const ok = host.tryEmit(out);
        this.notify(ports);
        return ok;
      },
    };
    return this.inner.start(wrapped);
  }

  private transform(batch: OutflowEvent[], host: ReceiverHost, ports: number[]): OutflowEvent[] {
    const { events, heartbeats } = labFlowStep(batch, this.clock, this.config.heartbeatAddress, ports);
    if (heartbeats > 0) host.metrics.add('dropped', heartbeats, 'lab_heartbeat');
    this.flows += events.length;
    return events;
  }

  private notify(ports: readonly number[]): void {
    for (const port of ports) {
      this.seen.add(port);
      if (this.seen.size > this.config.maxHeartbeats) {
        const oldest = this.seen.values().next().value as number;
        this.seen.delete(oldest);
      }
      const waiting = this.waiters.get(port);
      if (waiting) {
        this.waiters.delete(port);
        for (const resolve of waiting) resolve();
      }
    }
  }

  /** True once a heartbeat burst to `port` has come back as a flow record. */
  hasHeartbeat(port: number): boolean {
    return this.seen.has(port);
  }

  /** Wait up to `timeoutMs` for the heartbeat burst to `port`; resolves false on timeout. */
  waitForHeartbeat(port: number, timeoutMs: number): Promise<boolean> {
    if (this.seen.has(port)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const set = this.waiters.get(port) ?? new Set<() => void>();
      this.waiters.set(port, set);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        set.delete(done);
        if (set.size === 0) this.waiters.delete(port);
        resolve(false);
      }, timeoutMs);
      set.add(done);
    });
  }

  shutdown(): Promise<void> {
    for (const set of this.waiters.values()) for (const resolve of set) resolve();
    this.waiters.clear();
    return this.inner.shutdown();
  }
}

/**
 * `lab_netflow`: the emulation lab's NetFlow/IPFIX receiver (see
 * `LabFlowReceiver`). Outside the lab, use `netflow` from
 * `@outflow/receiver-netflow`.
 */
export const labNetflow = defineComponent({
  type: 'lab_netflow',
  kind: 'receiver',
  stability: 'development',
  description: 'NetFlow/IPFIX receiver of the emulation lab: drops the heartbeat probe flows and maps flow times to compressed event time',
  schema: labNetflowSchema,
  create: (ctx, config) => new LabFlowReceiver(ctx, config),
});
