import { type Finding, type FindingSuppressor, z } from '@outflow/core';
import { CompiledMatch, isoDateSchema, isoTime, type MatchSpec, matchSpecSchema } from './match.js';

/**
 * A suppression window: findings whose event time falls in [`from`, `to`)
 * (and that match, when `match` is given) are dropped. For planned work:
 * a migration, a DR test, a penetration test. A date alone for `to` means the
 * end of that day (UTC).
 */
export interface SuppressionWindow {
  id?: string;
  /** Analytic ids it applies to; all analytics when omitted. */
  analytics?: string[];
  match?: MatchSpec;
  from: string;
  to: string;
  reason?: string;
  owner?: string;
}

export const suppressionWindowSchema = z
  .object({
    id: z.string().min(1).optional(),
    analytics: z.array(z.string().min(1)).min(1).optional(),
    match: matchSpecSchema.optional(),
    from: isoDateSchema,
    to: isoDateSchema,
    reason: z.string().min(1).optional(),
    owner: z.string().min(1).optional(),
  })
  .strict();

interface Compiled {
  window: SuppressionWindow;
  label: string;
  analytics: ReadonlySet<string> | undefined;
  match: CompiledMatch | undefined;
  from: number;
  to: number;
  suppressed: number;
}

/**
 * Applies suppression windows (a FindingSuppressor). Windows are judged in
 * event time: they describe when the activity happened, so a replay of that
 * period is suppressed the same way.
 */
export class SuppressionWindowSuppressor implements FindingSuppressor {
  readonly name: string;
  private readonly windows: Compiled[];

  constructor(windows: readonly SuppressionWindow[], name = 'suppressions') {
    this.name = name;
    this.windows = windows.map((w, i) => ({
      window: w,
      label: w.id ?? `#${i}`,
      analytics: w.analytics ? new Set(w.analytics) : undefined,
      match: w.match ? new CompiledMatch(w.match) : undefined,
      from: isoTime(w.from),
      to: isoTime(w.to, true),
      suppressed: 0,
    }));
  }

  check(finding: Finding): string | undefined {
    for (const w of this.windows) {
      if (finding.time < w.from || finding.time >= w.to) continue;
      if (w.analytics && !w.analytics.has(finding.detection.id)) continue;
      if (w.match && !w.match.matches(finding)) continue;
      w.suppressed++;
      return `suppression window ${w.label} (${w.window.from} – ${w.window.to})${w.window.reason ? `: ${w.window.reason}` : ''}`;
    }
    return undefined;
  }

  report(): { id: string; from: string; to: string; suppressed: number }[] {
    return this.windows.map((w) => ({ id: w.label, from: w.window.from, to: w.window.to, suppressed: w.suppressed }));
  }
}
