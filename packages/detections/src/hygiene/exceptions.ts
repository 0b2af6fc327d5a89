import { type Clock, type ComponentMetrics, type Finding, type FindingSuppressor, type Logger, silentLogger, systemClock, z } from '@outflow/core';
import { CompiledMatch, isoDateSchema, isoTime, type MatchSpec, matchSpecSchema } from './match.js';

/**
 * An exception: findings that match are known and accepted, with a reason,
 * an owner who answers for it, and an optional expiry after which it stops
 * applying (and is reported).
 */
export interface ExceptionRule {
  /** Unique id, e.g. `nightly-backup-to-dr-account`. */
  id: string;
  /** Analytic ids it applies to; all analytics when omitted. */
  analytics?: string[];
  /** Field path → matcher over the finding; all must match. See `MatchSpec`. */
  match: MatchSpec;
  /** Why these findings are accepted. */
  reason: string;
  /** Who answers for the exception (team, person). */
  owner: string;
  /** ISO date or date-time after which the exception stops applying; a date alone lasts to the end of that day (UTC). */
  expires?: string;
}

export const exceptionRuleSchema = z
  .object({
    id: z.string().min(1),
    analytics: z.array(z.string().min(1)).min(1).optional(),
    match: matchSpecSchema,
    reason: z.string().min(1),
    owner: z.string().min(1),
    expires: isoDateSchema.optional(),
  })
  .strict();

/** Status of one exception, as reported by `ExceptionSuppressor.report()`. */
export interface ExceptionStatus {
  id: string;
  analytics?: readonly string[];
  reason: string;
  owner: string;
  expires?: string;
  expired: boolean;
  /** Findings suppressed by it. */
  suppressed: number;
  /** Findings it matched after it had expired (and therefore did not suppress). */
  matchedAfterExpiry: number;
}

/** The exceptions in `rules` that have expired as of `now` (epoch ms, processing time). */
export function expiredExceptions(rules: readonly ExceptionRule[], now: number): ExceptionRule[] {
  return rules.filter((r) => r.expires !== undefined && now >= isoTime(r.expires, true));
}

interface Compiled {
  rule: ExceptionRule;
  analytics: ReadonlySet<string> | undefined;
  match: CompiledMatch;
  expiresAt: number;
  reported: boolean;
  suppressed: number;
  matchedAfterExpiry: number;
}

export interface ExceptionSuppressorOptions {
  /** Processing-time clock that expiry is judged by. */
  clock?: Clock;
  logger?: Logger;
  /** `errors{reason=exception_expired}` is counted once per expired exception. */
  metrics?: ComponentMetrics;
  name?: string;
}

/**
 * Applies exceptions to findings (a FindingSuppressor for the pipeline).
 *
 * Expiry is judged in processing time: an exception is a decision that lapses
 * in real time, whatever the age of the data replayed. An expired exception
 * no longer suppresses anything; it is logged once at warn, counted once as
 * `errors{reason=exception_expired}`, listed by `report()` and
 * `expiredExceptions()`, and its later matches are tallied.
 */
export class ExceptionSuppressor implements FindingSuppressor {
  readonly name: string;
  private readonly rules: Compiled[];
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics: ComponentMetrics | undefined;
  /** Findings suppressed, by analytic id. */
  readonly suppressedByAnalytic = new Map<string, number>();

  constructor(rules: readonly ExceptionRule[], options: ExceptionSuppressorOptions = {}) {
    this.name = options.name ?? 'exceptions';
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.metrics = options.metrics;
    this.rules = rules.map((rule) => ({
      rule,
      analytics: rule.analytics ? new Set(rule.analytics) : undefined,
      match: new CompiledMatch(rule.match),
      expiresAt: rule.expires === undefined ? Number.POSITIVE_INFINITY : isoTime(rule.expires, true),
      reported: false,
      suppressed: 0,
      matchedAfterExpiry: 0,
    }));
    const now = this.clock.now();
    for (const c of this.rules) if (now >= c.expiresAt) this.reportExpired(c);
  }

  private reportExpired(c: Compiled): void {
    if (c.reported) return;
    c.reported = true;
    this.metrics?.add('errors', 1, 'exception_expired');
    this.logger.warn('exception expired; it no longer suppresses findings', {
      exception: c.rule.id,
      owner: c.rule.owner,
      expires: c.rule.expires,
      reason: c.rule.reason,
    });
  }

  check(finding: Finding): string | undefined {
    let now: number | undefined;
    for (const c of this.rules) {
      if (c.analytics && !c.analytics.has(finding.detection.id)) continue;
      if (!c.match.matches(finding)) continue;
      now ??= this.clock.now();
      if (now >= c.expiresAt) {
        this.reportExpired(c);
        c.matchedAfterExpiry++;
        continue;
      }
      c.suppressed++;
      this.suppressedByAnalytic.set(finding.detection.id, (this.suppressedByAnalytic.get(finding.detection.id) ?? 0) + 1);
      return `exception ${c.rule.id} (owner ${c.rule.owner}): ${c.rule.reason}`;
    }
    return undefined;
  }

  /** Every exception with its counts; `expired` as of now. */
  report(): ExceptionStatus[] {
    const now = this.clock.now();
    return this.rules.map((c) => ({
      id: c.rule.id,
      ...(c.rule.analytics ? { analytics: c.rule.analytics } : {}),
      reason: c.rule.reason,
      owner: c.rule.owner,
      ...(c.rule.expires ? { expires: c.rule.expires } : {}),
      expired: now >= c.expiresAt,
      suppressed: c.suppressed,
      matchedAfterExpiry: c.matchedAfterExpiry,
    }));
  }

  /** The exceptions expired as of now. */
  expired(): ExceptionRule[] {
    const now = this.clock.now();
    return this.rules.filter((c) => now >= c.expiresAt).map((c) => c.rule);
  }
}
