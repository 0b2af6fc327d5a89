import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SCENARIOS, evaluateAlerts, generateScenario, MemoryExporter, writeScenario } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { demoPipeline } from '../src/pipeline.js';

describe('the demo written as code', () => {
  it('catches the attack chain with one receiver per source, and nothing fires on the benign workloads', async () => {
    const telemetry = generateScenario({ seed: 1537, hours: 8, scenarios: DEFAULT_SCENARIOS });
    const files = writeScenario(mkdtempSync(join(tmpdir(), 'demo-as-code-')), telemetry);
    const exporter = new MemoryExporter();
    const pipeline = demoPipeline(files, telemetry.presetConfig as never, [exporter]);
    await pipeline.start();
    await pipeline.done;
    await pipeline.shutdown();
    const e = evaluateAlerts(exporter.alerts, telemetry.labels);
    expect(e.steps.filter((s) => !s.caught).map((s) => s.step.step)).toEqual([]);
    expect(e.falseAlerts.map((a) => `${a.detection.id}: ${a.explanation.summary}`)).toEqual([]);
    expect(pipeline.telemetry.total('errors')).toBe(0);
  });
});
