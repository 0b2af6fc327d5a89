#!/usr/bin/env node
// node dist/main.js [seed] — generate the demo's telemetry, run it through the demo pipeline, print alerts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SCENARIOS, generateScenario, writeScenario } from '@outflow/testkit';
import { demoPipeline } from './pipeline.js';

const dir = mkdtempSync(join(tmpdir(), 'outflow-demo-as-code-'));
try {
  const telemetry = generateScenario({ seed: Number(process.argv[2] ?? 1537), hours: 8, scenarios: DEFAULT_SCENARIOS });
  const files = writeScenario(dir, telemetry);
  const pipeline = demoPipeline(files, telemetry.presetConfig as never);
  await pipeline.start();
  await pipeline.done;
  await pipeline.shutdown();
  process.stderr.write(
    `${pipeline.telemetry.total('received')} events, ${pipeline.telemetry.total('emitted', { component: 'pipeline', reason: 'alert' })} alerts\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
