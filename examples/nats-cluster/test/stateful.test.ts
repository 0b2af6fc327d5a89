import { type Alert, createPipeline, type Exporter, MemoryCheckpointStore, type NetworkFlowEvent, silentLogger } from '@outflow/core';
import { MemoryReceiver } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { egressBytesBaseline, egressVolumeWindow, newExternalPeer } from '../src/stateful.js';

const T0 = Date.UTC(2024, 2, 4, 6);
const workload = { cluster: 'c', namespace: 'shop', workloadKind: 'Deployment', workloadName: 'api' };

function flow(i: number, bytes: number, dst = '203.0.113.66'): NetworkFlowEvent {
  return {
    kind: 'network_flow',
    time: T0 + i * 30_000,
    observedTime: 0,
    source: 'test',
    sourceId: `f${i}`,
    src: { address: '10.0.0.5' },
    dst: { address: dst },
    direction: 'egress',
    bytes,
    workload,
  };
}

async function run(events: NetworkFlowEvent[], store: MemoryCheckpointStore, versionTag?: string): Promise<Alert[]> {
  const alerts: Alert[] = [];
  // new alerts only: when updates of still-open alerts are delivered depends on where each run stops
  const collect: Exporter = { export: async (b) => void alerts.push(...b.filter((a) => a.status === 'new')), shutdown: async () => {} };
  const v = versionTag ? { versionTag } : {};
  const pipeline = createPipeline({
    receivers: [new MemoryReceiver(events, { complete: false })],
    detections: [egressVolumeWindow(v), egressBytesBaseline(v), newExternalPeer(v)],
    exporters: [collect],
    checkpoint: { store, intervalMs: 60_000 },
    logger: silentLogger,
  });
  await pipeline.start();
  await new Promise((r) => setTimeout(r, 100));
  await pipeline.shutdown();
  return alerts;
}

describe('the demo’s checkpointed detections', () => {
  // 40 small flows to learn from, then 10 flows of 300 MB
  const events = [...Array.from({ length: 40 }, (_, i) => flow(i, 20_000 + i)), ...Array.from({ length: 10 }, (_, i) => flow(40 + i, 300_000_000))];

  it('a run interrupted by a checkpoint and a restore raises exactly the alerts of an uninterrupted run', async () => {
    const whole = await run(events, new MemoryCheckpointStore());
    expect(whole.map((a) => a.detection.id).sort()).toEqual(['egress_bytes_baseline', 'egress_volume_window']);
    const store = new MemoryCheckpointStore();
    const first = await run(events.slice(0, 42), store);
    const second = await run(events.slice(42), store);
    expect([...first, ...second].map((a) => a.id).sort()).toEqual(whole.map((a) => a.id).sort());
  });

  it('without its state (another version) the window restarts: the alert comes later, with another id, and the baseline is silent', async () => {
    const whole = await run(events, new MemoryCheckpointStore());
    const store = new MemoryCheckpointStore();
    await run(events.slice(0, 42), store);
    const relearnt = await run(events.slice(42), store, 'other');
    const wholeWindow = whole.find((a) => a.detection.id === 'egress_volume_window');
    const relearntWindow = relearnt.find((a) => a.detection.id === 'egress_volume_window');
    expect(relearntWindow?.id).toBeDefined();
    expect(relearntWindow?.id).not.toBe(wholeWindow?.id);
    expect(relearntWindow?.firstSeen).toBeGreaterThan(wholeWindow?.firstSeen as number);
    expect(relearnt.some((a) => a.detection.id === 'egress_bytes_baseline')).toBe(false);
  });
});
