import { createHash } from 'node:crypto';
import type { AttributeValue, EventRef, WorkloadIdentity } from './events.js';

/** Alert severity, lowest to highest. */
export type Severity = 'informational' | 'low' | 'medium' | 'high' | 'critical';

export const SEVERITIES: readonly Severity[] = ['informational', 'low', 'medium', 'high', 'critical'];

/**
 * Stable numeric mapping, identical to OCSF `severity_id`
 * (1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical). Never renumbered.
 */
export const SEVERITY_ID: Readonly<Record<Severity, number>> = {
  informational: 1,
  low: 2,
  medium: 3,
  high: 4,
  critical: 5,
};

export function severityAtLeast(severity: Severity, floor: Severity): boolean {
  return SEVERITY_ID[severity] >= SEVERITY_ID[floor];
}

export function isSeverity(value: unknown): value is Severity {
  return typeof value === 'string' && value in SEVERITY_ID;
}

/** Raise a severity by `steps`, capped at critical. */
export function raiseSeverity(severity: Severity, steps = 1): Severity {
  const index = Math.min(SEVERITIES.length - 1, SEVERITIES.indexOf(severity) + steps);
  return SEVERITIES[index] as Severity;
}

/** MITRE ATT&CK classification of a detection. */
export interface AttackRef {
  /** Technique id, e.g. `T1537`. */
  technique: string;
  techniqueName?: string;
  /** Tactic id, e.g. `TA0010`. */
  tactic: string;
  tacticName?: string;
}

/** T1537 Transfer Data to Cloud Account, tactic Exfiltration. */
export const T1537: AttackRef = Object.freeze({
  technique: 'T1537',
  techniqueName: 'Transfer Data to Cloud Account',
  tactic: 'TA0010',
  tacticName: 'Exfiltration',
});

/** Identifies the analytic that raised an alert. */
export interface DetectionRef {
  id: string;
  title: string;
  attack: AttackRef;
  /** Other techniques the analytic also covers. */
  relatedAttack?: readonly AttackRef[];
  version?: string;
}

/** Why an alert fired: what was observed and what was expected. */
export interface Explanation {
  /** One sentence an analyst reads first. */
  summary: string;
  /** What was observed, e.g. `bytes_out=5.2 GB in 5 min`. */
  observed?: string;
  /** What was expected, e.g. `p99 140 MB (median 12 MB)`. */
  expected?: string;
  /** Anomaly score and the threshold it crossed, for scored detections. */
  score?: number;
  threshold?: number;
  /** Baseline age (ms of event time) and sample count behind a scored decision. */
  baselineAgeMs?: number;
  samples?: number;
  /** Further reasons, one per line. */
  reasons?: readonly string[];
}

/** What the responder should do next, by phase of the strategy's response plan. */
export interface ResponseSteps {
  investigate?: readonly string[];
  contain?: readonly string[];
  analyse?: readonly string[];
  remediate?: readonly string[];
}

/** What a detection emits. The pipeline's alert hygiene turns findings into alerts. */
export interface Finding {
  detection: DetectionRef;
  severity: Severity;
  /** Event time of the finding: the time of the (last) event that triggered it. */
  time: number;
  workload?: WorkloadIdentity;
  /** The events behind the finding, by their source ids. */
  evidence: readonly EventRef[];
  explanation: Explanation;
  /**
   * Findings with equal detection id and dedup key within the dedup window are
   * one alert. Typical keys: actor + resource, workload + destination.
   */
  dedupKey: string;
  /** Flat attributes following OpenTelemetry semantic conventions (`destination.address`, `cloud.account.id`, ...). */
  attributes?: Readonly<Record<string, AttributeValue>>;
  tags?: readonly string[];
  response?: ResponseSteps;
  /** Ids of other alerts this one aggregates (correlation incidents). */
  related?: readonly string[];
}

/** An alert as delivered to exporters. */
export interface Alert extends Finding {
  /** Stable id: the same detection, dedup key and first-seen time give the same id across retries and restarts. Use it as the idempotency key. */
  id: string;
  severityId: number;
  /** Event time of the first and last finding folded into this alert. */
  firstSeen: number;
  lastSeen: number;
  /** Findings folded into this alert. */
  count: number;
  /** `new` for the first delivery of an alert; `update` when a later delivery of the same alert carries a higher count. */
  status: 'new' | 'update';
  /** Processing time when the alert was emitted. */
  emittedAt: number;
  /** Static fields added by the pipeline (cluster, environment, ...). */
  labels?: Readonly<Record<string, string>>;
}

/** Deterministic alert id from detection id, dedup key and first-seen time. */
export function alertId(detectionId: string, dedupKey: string, firstSeen: number): string {
  return createHash('sha256').update(detectionId).update('\u0000').update(dedupKey).update('\u0000').update(String(firstSeen)).digest('hex').slice(0, 32);
}

/** Turn a single finding into a fresh alert (count 1). */
export function alertFromFinding(finding: Finding, emittedAt: number): Alert {
  return {
    ...finding,
    id: alertId(finding.detection.id, finding.dedupKey, finding.time),
    severityId: SEVERITY_ID[finding.severity],
    firstSeen: finding.time,
    lastSeen: finding.time,
    count: 1,
    status: 'new',
    emittedAt,
  };
}

/** The idempotency key of one delivery of an alert: the alert id, plus the count for updates. */
export function deliveryKey(alert: Alert): string {
  return alert.status === 'new' ? alert.id : `${alert.id}:${alert.count}`;
}
