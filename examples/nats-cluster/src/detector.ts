#!/usr/bin/env node
// One detector process of the demo: takes partitions through leases, runs the demo detections on each, checkpoints
// to JetStream KV, publishes alerts to the alerts stream. Prints one JSON line per partition event on stdout.
//   node dist/detector.js --url nats://127.0.0.1:4222 --id d1 --preset outflow.config.json [--full-preset]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { consoleLogger } from '@outflow/core';
import { NatsDetector, natsAlerts } from '@outflow/transport-nats';
import { demoDetections, demoPreset, PARTITIONS, WATERMARK } from './config.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    id: { type: 'string' },
    preset: { type: 'string' },
    'full-preset': { type: 'boolean', default: false },
    'lease-ttl': { type: 'string', default: '3000' },
    'checkpoint-ms': { type: 'string', default: '1000' },
    group: { type: 'string', default: 'detectors' },
    static: { type: 'string' },
    'state-version': { type: 'string' },
  },
});
if (!values.url || !values.id || !values.preset) {
  process.stderr.write('usage: detector --url <nats url> --id <instance id> --preset <preset config json> [--full-preset] [--static i/n]\n');
  process.exit(2);
}
const id = values.id;
const url = values.url;
const preset = demoPreset(JSON.parse(readFileSync(values.preset, 'utf8')) as Record<string, unknown>, values['full-preset']);
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ instance: id, at: Date.now(), ...o })}\n`);
const logger = consoleLogger((process.env.OUTFLOW_LOG_LEVEL as 'error' | undefined) ?? 'error', { instance: id });
const staticAssignment = values.static?.split('/').map(Number);

const detector = new NatsDetector({
  group: values.group,
  connection: { servers: [url], name: id },
  stream: { partitions: PARTITIONS },
  assignment:
    staticAssignment && staticAssignment.length === 2
      ? { mode: 'static', instance: staticAssignment[0] as number, instances: staticAssignment[1] as number }
      : { mode: 'leases', bucket: 'outflow_leases', ttlMs: Number(values['lease-ttl']), instanceId: id },
  checkpoint: { intervalMs: Number(values['checkpoint-ms']), kv: { bucket: 'outflow_checkpoints' } },
  logger,
  onEvent: (e) => {
    if (e.type === 'stopped') say({ type: e.type, partition: e.partition, reason: e.reason, clean: e.report.clean });
    else if (e.type === 'completed') {
      // Alerts this partition re-published while replaying, which the alerts stream dropped as duplicates.
      const duplicates = detector.pipelineOf(e.partition)?.telemetry.total('dropped', { reason: 'duplicate_delivery' }) ?? 0;
      say({ ...e, duplicates });
    } else say({ ...e });
  },
  pipeline: () => ({
    detections: demoDetections(preset, values['state-version']),
    exporters: [natsAlerts({ connection: { servers: [url], name: id } })],
    watermark: WATERMARK,
    logger,
  }),
});

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await detector.shutdown({ deadlineMs: 10_000 });
  say({ type: 'exit' });
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
await detector.start();
say({ type: 'ready' });
