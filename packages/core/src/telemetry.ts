import { type Attributes, type Counter, type Meter, metrics } from '@opentelemetry/api';

/** Names of the counters every component reports. */
export type CounterName = 'received' | 'refused' | 'dropped' | 'emitted' | 'errors' | 'dead_lettered' | 'late';

const COUNTER_INSTRUMENTS: Record<CounterName, { name: string; description: string; unit: string }> = {
  received: { name: 'outflow.received', description: 'Items accepted by a component', unit: '{item}' },
  refused: { name: 'outflow.refused', description: 'Items refused because a queue was full; the sender may retry', unit: '{item}' },
  dropped: { name: 'outflow.dropped', description: 'Items dropped, by reason', unit: '{item}' },
  emitted: { name: 'outflow.emitted', description: 'Items emitted by a component (events, findings, alerts, exported alerts)', unit: '{item}' },
  errors: { name: 'outflow.errors', description: 'Errors, by reason', unit: '{error}' },
  dead_lettered: { name: 'outflow.dead_lettered', description: 'Records written to the dead letter', unit: '{item}' },
  late: { name: 'outflow.late', description: 'Events that arrived after their window closed', unit: '{event}' },
};

/** Counters and gauges a component reports. All methods are cheap; call them per batch, not per event, on hot paths. */
export interface ComponentMetrics {
  add(counter: CounterName, n: number, reason?: string): void;
  /** Register a gauge read at collection time: `queue_depth`, `state_keys`, ... */
  gauge(name: GaugeName, read: () => number, labels?: Record<string, string>): void;
}

export type GaugeName = 'queue_depth' | 'state_keys' | 'event_time_lag_ms' | 'watermark';

const GAUGE_INSTRUMENTS: Record<GaugeName, { name: string; description: string; unit: string }> = {
  queue_depth: { name: 'outflow.queue.depth', description: 'Items waiting in a bounded queue', unit: '{item}' },
  state_keys: { name: 'outflow.state.keys', description: 'Live keys in keyed state', unit: '{key}' },
  event_time_lag_ms: { name: 'outflow.event_time.lag', description: 'Processing time minus the event-time watermark', unit: 'ms' },
  watermark: { name: 'outflow.event_time.watermark', description: 'Current event-time watermark (epoch ms)', unit: 'ms' },
};

/** One counter value in a stats snapshot. */
export interface StatEntry {
  component: string;
  counter: CounterName;
  reason?: string;
  value: number;
}

/**
 * Self-telemetry shared by the components of one pipeline. Every count goes to
 * an OpenTelemetry counter (through `@opentelemetry/api`, so a host that
 * registers a MeterProvider gets them) and to an in-process table that
 * `stats()` returns, so tests and the CLI can read counts without an SDK.
 */
export class Telemetry {
  private readonly meter: Meter;
  private readonly counters = new Map<CounterName, Counter>();
  private readonly values = new Map<string, StatEntry>();
  private readonly attributeCache = new Map<string, Attributes>();
  private readonly gauges: { name: GaugeName; component: string; read: () => number; labels: Record<string, string> }[] = [];

  constructor(options: { meter?: Meter; pipeline?: string } = {}) {
    this.meter = options.meter ?? metrics.getMeter('@outflow/core');
    this.pipelineName = options.pipeline ?? 'default';
    for (const [gaugeName, spec] of Object.entries(GAUGE_INSTRUMENTS) as [GaugeName, (typeof GAUGE_INSTRUMENTS)[GaugeName]][]) {
      const gauge = this.meter.createObservableGauge(spec.name, { description: spec.description, unit: spec.unit });
      gauge.addCallback((result) => {
        for (const g of this.gauges) {
          if (g.name !== gaugeName) continue;
          let value: number;
          try {
            value = g.read();
          } catch {
            continue;
          }
          if (Number.isFinite(value)) result.observe(value, { 'outflow.pipeline': this.pipelineName, 'outflow.component': g.component, ...g.labels });
        }
      });
    }
  }

  readonly pipelineName: string;

  /** Metrics handle for one component instance. */
  forComponent(component: string): ComponentMetrics {
    return {
      add: (counter, n, reason) => this.add(component, counter, n, reason),
      gauge: (name, read, labels) => {
        this.gauges.push({ name, component, read, labels: labels ?? {} });
      },
    };
  }

  add(component: string, counter: CounterName, n: number, reason?: string): void {
    if (n === 0) return;
    const key = reason === undefined ? `${component}\u0000${counter}` : `${component}\u0000${counter}\u0000${reason}`;
    let entry = this.values.get(key);
    if (!entry) {
      entry = reason === undefined ? { component, counter, value: 0 } : { component, counter, reason, value: 0 };
      this.values.set(key, entry);
    }
    entry.value += n;
    let attrs = this.attributeCache.get(key);
    if (!attrs) {
      attrs = { 'outflow.pipeline': this.pipelineName, 'outflow.component': component };
      if (reason !== undefined) attrs.reason = reason;
      this.attributeCache.set(key, attrs);
    }
    this.instrument(counter).add(n, attrs);
  }

  private instrument(counter: CounterName): Counter {
    let c = this.counters.get(counter);
    if (!c) {
      const spec = COUNTER_INSTRUMENTS[counter];
      c = this.meter.createCounter(spec.name, { description: spec.description, unit: spec.unit });
      this.counters.set(counter, c);
    }
    return c;
  }

  /** Snapshot of every counter value recorded so far. */
  stats(): StatEntry[] {
    return [...this.values.values()].map((e) => ({ ...e }));
  }

  /** Sum of a counter, optionally for one component and/or one reason. */
  total(counter: CounterName, filter: { component?: string; reason?: string } = {}): number {
    let sum = 0;
    for (const e of this.values.values()) {
      if (e.counter !== counter) continue;
      if (filter.component !== undefined && e.component !== filter.component) continue;
      if (filter.reason !== undefined && e.reason !== filter.reason) continue;
      sum += e.value;
    }
    return sum;
  }

  /** Read every registered gauge now. */
  readGauges(): { name: GaugeName; component: string; labels: Record<string, string>; value: number }[] {
    return this.gauges.map((g) => {
      let value = Number.NaN;
      try {
        value = g.read();
      } catch {
        // a failing gauge reads as NaN
      }
      return { name: g.name, component: g.component, labels: g.labels, value };
    });
  }
}
