#!/usr/bin/env node
// The exporter process of the demo: reads the alerts stream and hands every alert to an ordinary exporter (a
// JSON-lines file), acknowledging after delivery.
//   node dist/exporter.js --url nats://127.0.0.1:4222 --out alerts.jsonl
import { parseArgs } from 'node:util';
import { consoleLogger } from '@outflow/core';
import { fileExporter } from '@outflow/exporter-file';
import { NatsAlertWorker } from '@outflow/transport-nats';

const { values } = parseArgs({ options: { url: { type: 'string' }, out: { type: 'string' } } });
if (!values.url || !values.out) {
  process.stderr.write('usage: exporter --url <nats url> --out <alerts.jsonl>\n');
  process.exit(2);
}
const worker = new NatsAlertWorker({
  name: 'exporter',
  connection: { servers: [values.url], name: 'exporter' },
  exporters: [fileExporter({ path: values.out, maxBytes: 0 })],
  logger: consoleLogger('error'),
});
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ instance: 'exporter', at: Date.now(), ...o })}\n`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await worker.shutdown({ deadlineMs: 10_000 });
  say({ type: 'exit', delivered: worker.delivered, duplicates: worker.duplicates });
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
await worker.start();
say({ type: 'ready' });
const timer = setInterval(() => {
  worker.backlog().then(
    (backlog) => say({ type: 'progress', delivered: worker.delivered, duplicates: worker.duplicates, inHand: worker.pending, ...backlog }),
    () => {},
  );
}, 250);
timer.unref();
