import { type Alert, createPipeline, type Exporter, type OutflowEvent, silentLogger } from '@outflow/core';
import { MemoryReceiver } from '@outflow/testkit';
import { demoDetections, WATERMARK } from './config.js';

/** The reference: the same input through the same detections in one process, uninterrupted. */
export async function runSingle(events: OutflowEvent[], preset: Record<string, unknown>): Promise<{ alerts: Alert[]; ms: number }> {
  const started = Date.now();
  const alerts: Alert[] = [];
  const collect: Exporter = {
    export: async (batch) => {
      alerts.push(...batch);
    },
    shutdown: async () => {},
  };
  const pipeline = createPipeline({
    name: 'single',
    receivers: [new MemoryReceiver(events, { batchSize: 500 })],
    detections: demoDetections(preset),
    exporters: [collect],
    watermark: WATERMARK,
    logger: silentLogger,
  });
  await pipeline.start();
  await pipeline.done;
  await pipeline.shutdown();
  return { alerts, ms: Date.now() - started };
}
