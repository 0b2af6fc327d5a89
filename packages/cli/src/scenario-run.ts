import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ComponentSpec, Exporter } from '@outflow/core';
import { consoleLogger } from '@outflow/core';
import { type Evaluation, evaluateAlerts, type GeneratedTelemetry, generateScenario, type ScenarioOptions, writeScenario } from '@outflow/testkit';
import { type ReplayResult, runReplay } from './replay-run.js';

export interface ScenarioRun {
  telemetry: GeneratedTelemetry;
  result: ReplayResult;
  evaluation: Evaluation;
  dir: string;
}

/** Generate a scenario, write it as the sources would, replay it through the t1537 preset, and score the alerts against the labels. */
export async function runScenario(
  options: ScenarioOptions & {
    exporters?: readonly (ComponentSpec<Exporter> | Exporter)[];
    keep?: boolean;
    onProgress?: (read: number, total: number, time: number) => void;
    signal?: AbortSignal;
  },
): Promise<ScenarioRun> {
  const telemetry = generateScenario(options);
  const dir = mkdtempSync(join(tmpdir(), 'outflow-scenario-'));
  try {
    const files = writeScenario(dir, telemetry);
    const result = await runReplay({
      paths: [files.k8s_audit, files.aws_cloudtrail, files.aws_vpc_flow, files.falco, files.tetragon],
      presetConfig: telemetry.presetConfig,
      exporters: options.exporters ?? [],
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      logger: consoleLogger('error'),
    });
    return { telemetry, result, evaluation: evaluateAlerts(result.alerts, telemetry.labels), dir };
  } finally {
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
  }
}

export function pct(x: number | null): string {
  return x === null ? '-' : x.toFixed(2);
}

export function duration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(0)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** Render rows as an aligned text table. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
