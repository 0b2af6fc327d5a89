#!/usr/bin/env node
// Replays a JSON-lines file of Outflow events through one rule and prints alerts on the console.
//   node dist/main.js [file]   (default: data/events.jsonl)
import { fileURLToPath } from 'node:url';
import { examplePipeline } from './pipeline.js';

const file = process.argv[2] ?? fileURLToPath(new URL('../data/events.jsonl', import.meta.url));
const pipeline = examplePipeline(file);
process.once('SIGINT', () => void pipeline.shutdown({ deadlineMs: 5_000 }));
await pipeline.start();
await pipeline.done;
await pipeline.shutdown();
const stats = pipeline.telemetry;
process.stderr.write(
  `read ${stats.total('received')} events, ${stats.total('emitted', { component: 'large_external_transfer' })} alerts, ${stats.total('errors')} bad records (dead-lettered)\n`,
);
