import { describe, expect, it } from 'vitest';
import {
  type Alert,
  createPipeline,
  type Detection,
  type Exporter,
  MemoryDeadLetter,
  type OutflowEvent,
  type Receiver,
  type ReceiverHost,
  rule,
} from '../src/index.js';

const T0 = Date.UTC(2024, 0, 1);

function flow(i: number, extra: Partial<OutflowEvent> = {}): OutflowEvent {
  return {
    kind: 'network_flow',
    time: T0 + i * 1000,
    observedTime: T0,
    source: 'test',
    sourceId: `f${i}`,
    src: { address: '10.0.0.1' },
    dst: { address: '203.0.113.9', port: 443 },
    direction: 'egress',
    bytes: i,
    ...extra,
  } as OutflowEvent;
}

class ArrayReceiver implements Receiver {
  constructor(
    private readonly events: OutflowEvent[],
    private readonly batch = 10,
  ) {}
  async start(host: ReceiverHost) {
    for (let i = 0; i < this.events.length; i += this.batch) await host.emit(this.events.slice(i, i + this.batch));
    host.complete();
  }
  async shutdown() {}
}

class Collect implements Exporter {
  alerts: Alert[] = [];
  async export(batch: readonly Alert[]) {
    this.alerts.push(...batch);
  }
  async shutdown() {}
}

describe('pipeline smoke', () => {
  it('runs events through a rule to an exporter and isolates a throwing event', async () => {
    const exporter = new Collect();
    const deadLetter = new MemoryDeadLetter();
    const big: Detection = rule({
      id: 'big_transfer',
      title: 'Big transfer',
      severity: 'high',
      kinds: ['network_flow'],
      match: (e) => {
        if (e.bytes === 13) throw new Error('boom on 13');
        return (e.bytes ?? 0) >= 95 ? { dedupKey: `${e.dst.address}:${e.bytes}`, explanation: { summary: `sent ${e.bytes} bytes` } } : undefined;
      },
    });
    const events = Array.from({ length: 100 }, (_, i) => flow(i));
    const pipeline = createPipeline({ receivers: [new ArrayReceiver(events)], detections: [big], exporters: [exporter], deadLetter });
    await pipeline.start();
    await pipeline.done;
    const report = await pipeline.shutdown();
    expect(report.clean).toBe(true);
    expect(exporter.alerts.map((a) => a.explanation.summary)).toEqual(['sent 95 bytes', 'sent 96 bytes', 'sent 97 bytes', 'sent 98 bytes', 'sent 99 bytes']);
    expect(deadLetter.entries()).toHaveLength(1);
    expect(deadLetter.entries()[0]?.reason).toBe('exception');
    expect((deadLetter.entries()[0]?.event as OutflowEvent | undefined)?.sourceId).toBe('f13');
    expect(pipeline.telemetry.total('errors', { component: 'big_transfer' })).toBe(1);
  });
});
