import type { Alert } from '@outflow/core';
import type { CleanupReport } from './cleanup.js';
import type { ScenarioStep } from './scenario.js';

/** An alert as the emulation received it, with the wall-clock instant it arrived. */
export interface ReceivedAlert {
  alert: Alert;
  /** Wall clock (epoch ms) when the pipeline delivered it. */
  wall: number;
  /** Delivered while the pipeline was shutting down (windows flushed at end of input), not by the watermark. */
  atShutdown: boolean;
}

/** One step as it ran. */
export interface StepRun {
  step: ScenarioStep;
  /** Wall clock at the step's start and end. */
  startWall: number;
  endWall: number;
  /** Event time at the step's start. */
  startEvent: number;
  error?: string;
}

export interface AlertSummary {
  id: string;
  detection: string;
  severity: string;
  pod?: string;
  summary: string;
  /** Event time of the alert's first finding. */
  firstSeen: string;
  /** Wall ms from the start of the step it belongs to (attack alerts). */
  latencyMs?: number;
  atShutdown?: boolean;
}

export interface StepResult {
  id: string;
  kind: 'attack' | 'benign';
  title: string;
  caught: boolean;
  /** Analytics that alerted on the step, first to alert first. */
  detections: string[];
  /** Analytics the step is expected to exercise that did not alert on it. */
  silent: string[];
  /** The first alert attributed to the step. */
  firstAlert?: AlertSummary;
  /** Wall ms from the step's start to its first alert. */
  latencyMs?: number;
  startedAt: string;
  durationMs: number;
  error?: string;
  alerts: AlertSummary[];
}

export interface EmulationSummary {
  caught: number;
  total: number;
  falseAlerts: number;
  latencyP50Ms: number | undefined;
  latencyMaxMs: number | undefined;
}

export interface EmulationReport {
  runId: string;
  speed: number;
  steps: StepResult[];
  /** Benign activities that ran. */
  benign: { id: string; title: string; description: string; error?: string }[];
  /** Alerts not attributed to any attack step. */
  falseAlerts: AlertSummary[];
  /** Findings dropped by an exception or suppression window of the lab's configuration (not alerts). */
  suppressed: { detection: string; suppressor: string; reason: string; pod?: string; summary: string }[];
  summary: EmulationSummary;
  stats: Record<string, number>;
  /** Dead-lettered records by component and reason. */
  deadLetters: Record<string, number>;
  cleanup: CleanupReport | 'kept';
  wallMs: number;
}

function podOf(alert: Alert): string | undefined {
  const attr = alert.attributes?.['k8s.pod.name'];
  return alert.workload?.pod ?? (typeof attr === 'string' ? attr : undefined);
}

function destinationOf(alert: Alert): string | undefined {
  const attr = alert.attributes?.['destination.address'];
  return typeof attr === 'string' ? attr : undefined;
}

function userOf(alert: Alert): string | undefined {
  for (const key of ['user.name', 'user.id']) {
    const v = alert.attributes?.[key];
    if (typeof v === 'string') return v;
  }
  return undefined;
}

function summarize(r: ReceivedAlert, latencyMs?: number): AlertSummary {
  const pod = podOf(r.alert);
  return {
    id: r.alert.id,
    detection: r.alert.detection.id,
    severity: r.alert.severity,
    ...(pod ? { pod } : {}),
    summary: r.alert.explanation.summary,
    firstSeen: new Date(r.alert.firstSeen).toISOString(),
    ...(latencyMs !== undefined ? { latencyMs } : {}),
    ...(r.atShutdown ? { atShutdown: true } : {}),
  };
}

/**
 * Attribute each alert to the attack step it is about: an alert whose pod is
 * one the step acted from, or (for alerts without a pod) whose user is an
 * identity the step acted as or whose destination is one the step sent to,
 * and whose first finding is not before the step started (less `graceMs` of
 * event time). When several steps match, the latest to start before the
 * alert's first finding wins. Everything else is a false alert.
 */
export function attribute(
  runs: readonly StepRun[],
  alerts: readonly ReceivedAlert[],
  graceMs = 0,
): { perStep: Map<StepRun, ReceivedAlert[]>; unattributed: ReceivedAlert[] } {
  const perStep = new Map<StepRun, ReceivedAlert[]>();
  const attacks = runs.filter((r) => r.step.kind === 'attack');
  for (const run of attacks) perStep.set(run, []);
  const unattributed: ReceivedAlert[] = [];
  for (const received of alerts) {
    const pod = podOf(received.alert);
    const destination = destinationOf(received.alert);
    const user = userOf(received.alert);
    const time = received.alert.firstSeen;
    let match: StepRun | undefined;
    for (const run of attacks) {
      if (time < run.startEvent - graceMs) continue;
      const byPod = pod !== undefined && run.step.pods.includes(pod);
      const byUser = pod === undefined && user !== undefined && (run.step.principals ?? []).includes(user);
      const byDestination = pod === undefined && destination !== undefined && run.step.destinations.includes(destination);
      if ((byPod || byUser || byDestination) && (!match || run.startEvent >= match.startEvent)) match = run;
    }
    if (match) perStep.get(match)?.push(received);
    else unattributed.push(received);
  }
  return { perStep, unattributed };
}

/** Nearest-rank percentile of `values` (0 < p ≤ 1); undefined for no values. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1];
}

/** Per-step results and the summary line's numbers. */
export function buildResults(
  runs: readonly StepRun[],
  delivered: readonly ReceivedAlert[],
): { steps: StepResult[]; falseAlerts: AlertSummary[]; summary: EmulationSummary } {
  // an alert delivered again as an update (a higher count) is the same alert: keep its first delivery
  const firstDelivery = new Map<string, ReceivedAlert>();
  for (const r of delivered) if (!firstDelivery.has(r.alert.id)) firstDelivery.set(r.alert.id, r);
  const alerts = [...firstDelivery.values()];
  const { perStep, unattributed } = attribute(runs, alerts);
  const steps: StepResult[] = [];
  const latencies: number[] = [];
  for (const run of runs) {
    if (run.step.kind !== 'attack') continue;
    const mine = [...(perStep.get(run) ?? [])].sort((a, b) => a.wall - b.wall);
    const summaries = mine.map((r) => summarize(r, Math.round(r.wall - run.startWall)));
    const first = summaries[0];
    const detections: string[] = [];
    for (const s of summaries) if (!detections.includes(s.detection)) detections.push(s.detection);
    const result: StepResult = {
      id: run.step.id,
      kind: run.step.kind,
      title: run.step.title,
      caught: first !== undefined,
      detections,
      silent: run.step.expected.filter((e) => !detections.includes(e)),
      startedAt: new Date(run.startWall).toISOString(),
      durationMs: Math.round(run.endWall - run.startWall),
      alerts: summaries,
    };
    if (first) {
      result.firstAlert = first;
      result.latencyMs = first.latencyMs as number;
      latencies.push(result.latencyMs);
    }
    if (run.error) result.error = run.error;
    steps.push(result);
  }
  const falseAlerts = unattributed.map((r) => summarize(r));
  return {
    steps,
    falseAlerts,
    summary: {
      caught: steps.filter((s) => s.caught).length,
      total: steps.length,
      falseAlerts: falseAlerts.length,
      latencyP50Ms: percentile(latencies, 0.5),
      latencyMaxMs: latencies.length > 0 ? Math.max(...latencies) : undefined,
    },
  };
}

/** `emulate caught=<k>/<n> false=<f> latency_p50_ms=<x> latency_max_ms=<y>` (`-` for no latency). */
export function summaryLine(s: EmulationSummary): string {
  const ms = (v: number | undefined) => (v === undefined ? '-' : String(Math.round(v)));
  return `emulate caught=${s.caught}/${s.total} false=${s.falseAlerts} latency_p50_ms=${ms(s.latencyP50Ms)} latency_max_ms=${ms(s.latencyMaxMs)}`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
}

/** The human-readable report: the step table (Markdown), the benign activities and false alerts, then the summary line last. */
export function formatReport(report: EmulationReport): string {
  const lines: string[] = [];
  lines.push(
    ...table(
      ['step', 'result', 'first alert', 'latency ms', 'alerts: analytic (ms after the step started)'],
      report.steps.map((s) => [
        s.id,
        s.error ? `${s.caught ? 'caught' : 'missed'} (step failed: ${s.error})` : s.caught ? 'caught' : 'missed',
        s.firstAlert ? `${s.firstAlert.detection} (${s.firstAlert.severity})` : '-',
        s.latencyMs === undefined ? '-' : String(s.latencyMs),
        s.detections.map((d) => `${d} (${s.alerts.find((a) => a.detection === d)?.latencyMs ?? '?'})`).join(', ') || '-',
      ]),
    ),
  );
  lines.push('');
  const silent = report.steps.filter((s) => s.silent.length > 0);
  if (silent.length > 0) lines.push(`expected but silent: ${silent.map((s) => `${s.id}: ${s.silent.join(', ')}`).join('; ')}`);
  lines.push(`benign traffic: ${report.benign.map((b) => (b.error ? `${b.id} (failed: ${b.error})` : b.id)).join(', ')}`);
  for (const f of report.suppressed) lines.push(`suppressed (not an alert): ${f.detection} ${f.pod ?? '-'} by ${f.suppressor}: ${f.reason}`);
  if (report.falseAlerts.length === 0) lines.push('false alerts: none');
  else {
    lines.push(`false alerts: ${report.falseAlerts.length}`);
    for (const a of report.falseAlerts) lines.push(`  ${a.detection} (${a.severity}) ${a.pod ?? '-'} at ${a.firstSeen}: ${a.summary}`);
  }
  lines.push(summaryLine(report.summary));
  return lines.join('\n');
}
