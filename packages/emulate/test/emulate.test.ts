import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { leftovers } from '../src/cleanup.js';
import { formatReport } from '../src/report.js';
import { runEmulation, scenarioNames } from '../src/runner.js';
import { skipReason } from './helpers.js';

const stateDir = mkdtempSync(join(tmpdir(), 'outflow-emulate-full-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

// The whole emulation with its defaults, as `outflow emulate` runs it (about two minutes of wall time): every
// attack step is caught, nothing benign alerts, and the lab is gone afterwards.
describe.skipIf(skipReason)('outflow emulate, every scenario', () => {
  it('catches every attack step with no false alert, and cleans up', { timeout: 300_000 }, async () => {
    const progress: string[] = [];
    const report = await runEmulation({ stateDir, onProgress: (l) => progress.push(l) });
    const printed = formatReport(report);
    console.log(printed);
    expect(report.steps.map((s) => s.id)).toEqual(scenarioNames());
    for (const step of report.steps) {
      expect(step.error, `${step.id} failed\n${printed}`).toBeUndefined();
      expect(step.caught, `${step.id} missed\n${printed}`).toBe(true);
      expect(step.latencyMs).toBeGreaterThanOrEqual(0);
    }
    expect(report.falseAlerts, printed).toEqual([]);
    expect(report.benign.every((b) => !b.error)).toBe(true);
    // what the analytics saw came from every source, and softflowd kept up
    expect(report.stats['received.netflow']).toBeGreaterThan(500);
    expect(report.stats['received.k8s_audit']).toBeGreaterThan(10);
    expect(report.stats['received.tetragon']).toBeGreaterThan(10);
    expect(report.stats.heartbeatsMissed).toBe(0);
    expect(report.stats.pipelineErrors).toBe(0);
    expect(printed.split('\n').at(-1)).toMatch(/^emulate caught=(\d+)\/\1 false=0 latency_p50_ms=\d+ latency_max_ms=\d+$/);
    expect(report.cleanup).not.toBe('kept');
    expect(report.cleanup === 'kept' ? ['kept'] : report.cleanup.failures).toEqual([]);
    expect(await leftovers(report.runId)).toEqual({ namespaces: [], links: [], processes: [] });
  });
});
