import type { Alert, Severity, WorkloadIdentity } from '@outflow/core';

/** How an alert is rendered on a console. */
export interface ConsoleFormatOptions {
  /** ANSI colours. */
  color: boolean;
  /** Print the indented explanation under the headline. */
  explain: boolean;
  /** Evidence references listed; the rest are counted. */
  maxEvidence: number;
  /** Indentation of the explanation lines. */
  indent: string;
}

export const DEFAULT_FORMAT: ConsoleFormatOptions = { color: false, explain: true, maxEvidence: 5, indent: '    ' };

const ESC = '\u001b[';
const style = {
  reset: `${ESC}0m`,
  bold: `${ESC}1m`,
  dim: `${ESC}2m`,
  red: `${ESC}31m`,
  yellow: `${ESC}33m`,
  cyan: `${ESC}36m`,
  magenta: `${ESC}35m`,
  inverse: `${ESC}7m`,
};

const SEVERITY_STYLE: Record<Severity, string> = {
  critical: `${style.bold}${style.inverse}${style.red}`,
  high: `${style.bold}${style.red}`,
  medium: style.yellow,
  low: style.cyan,
  informational: style.dim,
};

const SEVERITY_LABEL: Record<Severity, string> = {
  critical: 'CRITICAL',
  high: 'HIGH',
  medium: 'MEDIUM',
  low: 'LOW',
  informational: 'INFO',
};

/**
 * Make untrusted text safe for a terminal: alert fields come from logs an
 * attacker may write to (pod names, user agents, command lines), so control
 * characters (escape sequences, carriage returns, newlines) are shown as
 * `\xNN` / `\uNNNN` instead of being interpreted.
 */
export function terminalSafe(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** `cluster/namespace/Kind/name`, falling back to the pod, the container id, then the image. */
export function workloadLabel(w: WorkloadIdentity | undefined): string {
  if (!w) return '-';
  const parts: string[] = [];
  if (w.cluster) parts.push(w.cluster);
  if (w.namespace) parts.push(w.namespace);
  if (w.workloadName) parts.push(`${w.workloadKind ?? 'Workload'}/${w.workloadName}`);
  else if (w.pod) parts.push(`Pod/${w.pod}`);
  else if (w.containerId) parts.push(`Container/${w.containerId.slice(0, 24)}`);
  else if (w.image) parts.push(`Image/${w.image}`);
  return parts.length > 0 ? parts.join('/') : '-';
}

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function duration(ms: number): string {
  if (ms >= 86_400_000) return `${(ms / 86_400_000).toFixed(1).replace(/\.0$/, '')} d`;
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1).replace(/\.0$/, '')} h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 1000)} s`;
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toPrecision(3);
}

/**
 * Render one alert: a headline (time, severity, detection title, workload,
 * summary) and, when `explain`, indented lines with what was observed and
 * expected, the score, the reasons, the evidence ids and the next steps.
 * Ends with a newline.
 */
export function formatAlert(alert: Alert, options: Partial<ConsoleFormatOptions> = {}): string {
  const o = { ...DEFAULT_FORMAT, ...options };
  const paint = (s: string, code: string) => (o.color ? `${code}${s}${style.reset}` : s);
  const safe = terminalSafe;
  const severity = SEVERITY_LABEL[alert.severity] ?? String(alert.severity).toUpperCase();
  const status = alert.status === 'update' ? ` ${paint(`[update x${alert.count}]`, style.magenta)}` : alert.count > 1 ? ` [x${alert.count}]` : '';
  const headline = [
    paint(iso(alert.lastSeen ?? alert.time), style.dim),
    paint(severity.padEnd(8), SEVERITY_STYLE[alert.severity] ?? ''),
    paint(safe(alert.detection.title), style.bold),
    safe(workloadLabel(alert.workload)),
    safe(alert.explanation.summary),
  ].join('  ');
  const lines = [`${headline}${status}`];
  if (o.explain) {
    const row = (label: string, value: string) => lines.push(`${o.indent}${paint(label.padEnd(9), style.dim)} ${value}`);
    const more = (value: string) => lines.push(`${o.indent}${' '.repeat(10)}${value}`);
    const e = alert.explanation;
    if (e.observed) row('observed', safe(e.observed));
    if (e.expected) row('expected', safe(e.expected));
    if (e.score !== undefined) {
      const details: string[] = [];
      if (e.threshold !== undefined) details.push(`threshold ${num(e.threshold)}`);
      if (e.baselineAgeMs !== undefined) details.push(`baseline ${duration(e.baselineAgeMs)}`);
      if (e.samples !== undefined) details.push(`${e.samples} samples`);
      row('score', `${num(e.score)}${details.length > 0 ? ` (${details.join(', ')})` : ''}`);
    }
    for (const [i, reason] of (e.reasons ?? []).entries()) {
      if (i === 0) row('reasons', `- ${safe(reason)}`);
      else more(`- ${safe(reason)}`);
    }
    if (alert.evidence.length > 0) {
      const shown = alert.evidence.slice(0, o.maxEvidence).map((r) => safe(`${r.source}:${r.id}`));
      const rest = alert.evidence.length - shown.length;
      row('evidence', `${shown.join(', ')}${rest > 0 ? ` (+${rest} more)` : ''}`);
    }
    const steps = alert.response;
    if (steps) {
      let first = true;
      for (const phase of ['investigate', 'contain', 'analyse', 'remediate'] as const) {
        for (const step of steps[phase] ?? []) {
          const text = `${phase}: ${safe(step)}`;
          if (first) row('next', text);
          else more(text);
          first = false;
        }
      }
    }
    const seen = alert.count > 1 ? `, ${alert.count} findings ${iso(alert.firstSeen)} .. ${iso(alert.lastSeen)}` : '';
    row('alert', paint(`${alert.id} (${alert.detection.id}, ${alert.status}${seen})`, style.dim));
  }
  return `${lines.join('\n')}\n`;
}
