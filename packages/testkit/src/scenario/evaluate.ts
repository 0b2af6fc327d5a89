import type { Alert, WorkloadIdentity } from '@outflow/core';
import type { StepLabel } from './generate.js';

/** How alerts are matched to labelled steps. */
export interface MatchOptions {
  /** An alert may come this long (event time) after its step ended. Default 45 min (windows, dedup and correlation delay alerts). */
  slackMs?: number;
  /** Or start this long before the step (windows aligned before it). Default 5 min. */
  leadMs?: number;
}

/** `namespace/name` of a workload (the workload name, else the pod), the loose identity steps and alerts share. */
function workloadName(w: WorkloadIdentity | undefined): string | undefined {
  if (!w) return undefined;
  const name = w.workloadName ?? w.pod;
  return name && w.namespace ? `${w.namespace}/${name}` : undefined;
}

function stepWorkloadName(key: string | undefined): string | undefined {
  if (!key) return undefined;
  const parts = key.split('/');
  return parts.length >= 4 ? `${parts[1]}/${parts.slice(3).join('/')}` : undefined;
}

/** Does `alert` belong to `step`: overlapping in event time, and sharing evidence, the workload or the actor. */
export function alertMatchesStep(alert: Alert, step: StepLabel, options: MatchOptions = {}): boolean {
  const slack = options.slackMs ?? 45 * 60_000;
  const lead = options.leadMs ?? 5 * 60_000;
  if (alert.lastSeen < step.start - lead || alert.firstSeen > step.end + slack) return false;
  if (step.evidence.length > 0) {
    const ids = new Set(step.evidence.map((e) => e.id));
    if (alert.evidence.some((e) => ids.has(e.id))) return true;
    // Evidence from the same sources as the step's, but other records: a different event, not this step.
    const sources = new Set(step.evidence.map((e) => e.source));
    if (alert.evidence.length > 0 && alert.evidence.every((e) => sources.has(e.source))) return false;
  }
  const stepWorkload = stepWorkloadName(step.workload);
  if (stepWorkload && workloadName(alert.workload) === stepWorkload) return true;
  if (step.actor) {
    const text = `${alert.dedupKey} ${JSON.stringify(alert.attributes ?? {})}`;
    if (text.includes(step.actor)) return true;
  }
  return false;
}

export interface AnalyticScore {
  analytic: string;
  /** Alerts (first deliveries) of this analytic that match an attack step. */
  truePositives: number;
  /** Alerts of this analytic that match no attack step. */
  falsePositives: number;
  /** Attack steps that list this analytic as expected. */
  expectedSteps: number;
  /** Of those, the ones this analytic caught. */
  caughtSteps: number;
  precision: number | null;
  recall: number | null;
  /** Event time from the start of each caught step to this analytic's first alert on it: median and max, ms. */
  latencyMedianMs: number | null;
  latencyMaxMs: number | null;
}

export interface StepResult {
  step: StepLabel;
  caught: boolean;
  /** Analytics whose alerts matched the step. */
  by: string[];
  /** Of those, the ones the step expected. */
  byExpected: string[];
  /** Event time from the step's start to the first matching alert. */
  latencyMs: number | null;
}

export interface Evaluation {
  perAnalytic: AnalyticScore[];
  steps: StepResult[];
  /** Alerts on benign steps, and alerts matching no attack step at all. */
  falseAlerts: Alert[];
  alerts: number;
  truePositives: number;
  falsePositives: number;
  precision: number | null;
  recall: number | null;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * Score alerts against labelled steps. An alert is a true positive when it
 * matches an attack step (see `alertMatchesStep`), otherwise a false positive;
 * a step is caught when any alert matches it. Only first deliveries count
 * (`status: 'new'`); updates of the same alert are not new alerts.
 */
export function evaluateAlerts(alertsIn: readonly Alert[], labels: readonly StepLabel[], options: MatchOptions = {}): Evaluation {
  const alerts = alertsIn.filter((a) => a.status === 'new');
  const attacks = labels.filter((l) => l.kind === 'attack');
  const per = new Map<string, { tp: number; fp: number; expected: number; caught: number; latencies: number[] }>();
  const row = (id: string) => {
    let r = per.get(id);
    if (!r) per.set(id, (r = { tp: 0, fp: 0, expected: 0, caught: 0, latencies: [] }));
    return r;
  };
  const falseAlerts: Alert[] = [];
  let tp = 0;
  for (const alert of alerts) {
    const matched = attacks.some((s) => alertMatchesStep(alert, s, options));
    if (matched) {
      tp++;
      row(alert.detection.id).tp++;
    } else {
      row(alert.detection.id).fp++;
      falseAlerts.push(alert);
    }
  }
  const steps: StepResult[] = attacks.map((step) => {
    const matching = alerts.filter((a) => alertMatchesStep(a, step, options));
    const by = [...new Set(matching.map((a) => a.detection.id))].sort();
    for (const id of step.expected) {
      const r = row(id);
      r.expected++;
      const first = matching.filter((a) => a.detection.id === id).sort((a, b) => a.firstSeen - b.firstSeen)[0];
      if (first) {
        r.caught++;
        r.latencies.push(Math.max(0, first.firstSeen - step.start));
      }
    }
    const first = [...matching].sort((a, b) => a.firstSeen - b.firstSeen)[0];
    return {
      step,
      caught: matching.length > 0,
      by,
      byExpected: by.filter((id) => step.expected.includes(id)),
      latencyMs: first ? Math.max(0, first.firstSeen - step.start) : null,
    };
  });
  const perAnalytic: AnalyticScore[] = [...per.entries()]
    .map(([analytic, r]) => ({
      analytic,
      truePositives: r.tp,
      falsePositives: r.fp,
      expectedSteps: r.expected,
      caughtSteps: r.caught,
      precision: r.tp + r.fp > 0 ? r.tp / (r.tp + r.fp) : null,
      recall: r.expected > 0 ? r.caught / r.expected : null,
      latencyMedianMs: median(r.latencies),
      latencyMaxMs: r.latencies.length ? Math.max(...r.latencies) : null,
    }))
    .sort((a, b) => a.analytic.localeCompare(b.analytic));
  const caught = steps.filter((s) => s.caught).length;
  return {
    perAnalytic,
    steps,
    falseAlerts,
    alerts: alerts.length,
    truePositives: tp,
    falsePositives: alerts.length - tp,
    precision: alerts.length > 0 ? tp / alerts.length : null,
    recall: attacks.length > 0 ? caught / attacks.length : null,
  };
}
