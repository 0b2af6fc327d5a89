#!/usr/bin/env node
// node dist/main.js <cloudtrail-dir> <vpc-flow-dir> [otlp-url] [--follow]
import { filesToOtlp } from './pipeline.js';

const args = process.argv.slice(2).filter((a) => a !== '--follow');
const [cloudtrailDir, vpcFlowDir, otlpUrl = 'http://localhost:4318/v1/logs'] = args;
if (!cloudtrailDir || !vpcFlowDir) {
  process.stderr.write('usage: node dist/main.js <cloudtrail-dir> <vpc-flow-dir> [otlp-url] [--follow]\n');
  process.exit(2);
}
const follow = process.argv.includes('--follow');
const pipeline = filesToOtlp({ cloudtrailDir, vpcFlowDir, otlpUrl, follow, stateDir: '.outflow-state' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void pipeline.shutdown());
await pipeline.start();
await pipeline.done;
await pipeline.shutdown();
process.stderr.write(`read ${pipeline.telemetry.total('received')} records; ${pipeline.telemetry.total('emitted', { component: 'otlp' })} alerts exported\n`);
