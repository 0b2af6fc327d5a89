import { type Alert, isSeverity } from '../alert.js';
import type { ComponentContext } from '../component.js';

/**
 * Static fields (cluster, environment, team, ...) added to an alert's
 * `labels`. The alert's own labels win over the static ones. Returns the same
 * alert when there is nothing to add, a shallow copy otherwise (alerts are
 * shared between exporters and must not be mutated).
 */
export function withLabels(alert: Alert, labels: Readonly<Record<string, string>> | undefined): Alert {
  if (!labels) return alert;
  const keys = Object.keys(labels);
  if (keys.length === 0) return alert;
  return { ...alert, labels: { ...labels, ...alert.labels } };
}

/**
 * A cheap structural check of the fields every exporter relies on. Returns
 * the first problem found, or undefined when the alert is usable. (The full
 * schema check is `validateAlert`; this one runs per alert on hot paths.)
 */
export function alertProblem(alert: unknown): string | undefined {
  if (typeof alert !== 'object' || alert === null) return 'alert is not an object';
  const a = alert as Partial<Alert>;
  if (typeof a.id !== 'string' || a.id.length === 0) return 'id is missing';
  if (typeof a.detection !== 'object' || a.detection === null) return 'detection is missing';
  if (typeof a.detection.id !== 'string' || a.detection.id.length === 0) return 'detection.id is missing';
  if (typeof a.detection.title !== 'string') return 'detection.title is missing';
  if (!isSeverity(a.severity)) return `severity ${JSON.stringify(a.severity)} is not a severity`;
  if (typeof a.time !== 'number' || !Number.isFinite(a.time)) return 'time is not a finite number';
  if (typeof a.explanation !== 'object' || a.explanation === null || typeof a.explanation.summary !== 'string') return 'explanation.summary is missing';
  if (!Array.isArray(a.evidence)) return 'evidence is not an array';
  if (a.status !== 'new' && a.status !== 'update') return `status ${JSON.stringify(a.status)} is not new or update`;
  if (typeof a.count !== 'number' || !(a.count >= 1)) return 'count is not a positive number';
  return undefined;
}

/**
 * Split a batch into usable alerts and malformed ones. Malformed alerts are
 * dead-lettered through `ctx` with reason `invalid_alert` (counted as an
 * error) and left out; the rest of the batch goes on.
 */
export function usableAlerts(batch: readonly Alert[], ctx: Pick<ComponentContext, 'deadLetter'>): Alert[] {
  let out: Alert[] | undefined;
  for (let i = 0; i < batch.length; i++) {
    const alert = batch[i] as Alert;
    const problem = alertProblem(alert);
    if (problem === undefined) {
      out?.push(alert);
      continue;
    }
    out ??= batch.slice(0, i);
    let raw: string | undefined;
    try {
      raw = JSON.stringify(alert);
    } catch {
      raw = undefined;
    }
    ctx.deadLetter({ stage: 'export', reason: 'invalid_alert', message: problem, ...(raw !== undefined ? { raw } : {}) });
  }
  return out ?? (batch as Alert[]);
}
