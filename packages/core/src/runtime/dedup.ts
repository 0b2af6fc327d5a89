import { type Alert, alertFromFinding, type Finding, SEVERITY_ID } from '../alert.js';
import type { EventRef } from '../events.js';

export interface DedupOptions {
  /** Findings with the same detection and dedup key within this much event time of the first are one alert. Default 3 600 000 (1 h). */
  windowMs?: number;
  /** Most open dedup entries; the oldest is closed early past it. Default 100 000. */
  maxKeys?: number;
  /** Most evidence references kept per alert (the first ones, and the count). Default 50. */
  maxEvidence?: number;
}

interface Entry {
  alert: Alert;
  /** Count last delivered. */
  delivered: number;
  evidenceKeys: Set<string>;
}

/**
 * Alert dedup: the first finding for a (detection, dedup key) becomes an alert
 * at once (status `new`); later findings within the window fold into it
 * (count, last seen, evidence, highest severity). When the window closes on
 * the watermark, an alert that folded more findings is delivered once more
 * with status `update` and the same id.
 */
export class AlertDeduplicator {
  private readonly open = new Map<string, Entry>();
  readonly windowMs: number;
  readonly maxKeys: number;
  readonly maxEvidence: number;

  constructor(options: DedupOptions = {}) {
    this.windowMs = options.windowMs ?? 3_600_000;
    this.maxKeys = options.maxKeys ?? 100_000;
    this.maxEvidence = options.maxEvidence ?? 50;
  }

  get size(): number {
    return this.open.size;
  }

  /** Fold a finding; returns the alert to deliver now, if any. `closed` receives updates of entries closed to make room. */
  push(finding: Finding, now: number, closed: (alert: Alert) => void): Alert | undefined {
    const key = `${finding.detection.id}\u0000${finding.dedupKey}`;
    const entry = this.open.get(key);
    if (entry && finding.time - entry.alert.firstSeen < this.windowMs && finding.time >= entry.alert.firstSeen - this.windowMs) {
      const a = entry.alert;
      a.count++;
      if (finding.time > a.lastSeen) a.lastSeen = finding.time;
      if (finding.time < a.firstSeen) a.firstSeen = finding.time;
      if (SEVERITY_ID[finding.severity] > a.severityId) {
        a.severity = finding.severity;
        a.severityId = SEVERITY_ID[finding.severity];
        // The alert now speaks for its strongest finding: its explanation, attributes and next steps.
        a.explanation = finding.explanation;
        if (finding.attributes) a.attributes = finding.attributes;
        if (finding.response) a.response = finding.response;
      }
      const evidence = a.evidence as EventRef[];
      for (const ref of finding.evidence) {
        if (evidence.length >= this.maxEvidence) break;
        const k = `${ref.source}\u0000${ref.id}`;
        if (entry.evidenceKeys.has(k)) continue;
        entry.evidenceKeys.add(k);
        evidence.push(ref);
      }
      return undefined;
    }
    if (entry) {
      this.open.delete(key);
      const update = this.close(entry, now);
      if (update) closed(update);
    }
    while (this.open.size >= this.maxKeys) {
      const [oldestKey, oldest] = this.open.entries().next().value as [string, Entry];
      this.open.delete(oldestKey);
      const update = this.close(oldest, now);
      if (update) closed(update);
    }
    const alert = alertFromFinding(finding, now);
    alert.evidence = finding.evidence.slice(0, this.maxEvidence);
    this.open.set(key, {
      alert,
      delivered: 1,
      evidenceKeys: new Set(alert.evidence.map((r) => `${r.source}\u0000${r.id}`)),
    });
    return { ...alert, evidence: [...alert.evidence] };
  }

  private close(entry: Entry, now: number): Alert | undefined {
    if (entry.alert.count <= entry.delivered) return undefined;
    entry.delivered = entry.alert.count;
    return { ...entry.alert, evidence: [...entry.alert.evidence], status: 'update', emittedAt: now };
  }

  /** Close the windows the watermark has passed; returns their updates. */
  advance(watermark: number, now: number): Alert[] {
    const out: Alert[] = [];
    for (const [key, entry] of this.open) {
      // Entries are in creation order, so first-seen times are ordered up to
      // the sources' out-of-orderness: stop at the first window still open.
      if (entry.alert.firstSeen + this.windowMs > watermark) break;
      this.open.delete(key);
      const update = this.close(entry, now);
      if (update) out.push(update);
    }
    return out;
  }

  /** Open entries as plain data, for checkpoints. */
  snapshot(): { key: string; alert: Alert; delivered: number }[] {
    return [...this.open.entries()].map(([key, e]) => ({ key, alert: e.alert, delivered: e.delivered }));
  }

  /** Replace the open entries with a snapshot. */
  restore(entries: readonly { key: string; alert: Alert; delivered: number }[]): void {
    this.open.clear();
    for (const e of entries) {
      this.open.set(e.key, { alert: e.alert, delivered: e.delivered, evidenceKeys: new Set(e.alert.evidence.map((r) => `${r.source}\u0000${r.id}`)) });
    }
  }

  /** Close everything (end of input). */
  flush(now: number): Alert[] {
    const out: Alert[] = [];
    for (const entry of this.open.values()) {
      const update = this.close(entry, now);
      if (update) out.push(update);
    }
    this.open.clear();
    return out;
  }
}
