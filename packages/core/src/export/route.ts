import { z } from 'zod';
import { type Alert, SEVERITIES, SEVERITY_ID, type Severity } from '../alert.js';

/**
 * Which alerts an exporter delivers. Every condition given must hold; an empty
 * route delivers everything.
 */
export interface AlertRoute {
  /** Lowest severity delivered. */
  minSeverity?: Severity;
  /** Only alerts of these detections (exact ids, or prefixes ending in `*`). */
  detections?: readonly string[];
  /** Never alerts of these detections (exact ids, or prefixes ending in `*`). */
  excludeDetections?: readonly string[];
  /** Only alerts carrying at least one of these tags. */
  tags?: readonly string[];
  /** Deliver `update` deliveries (an alert that folded more findings). Default true. */
  updates?: boolean;
}

const idPattern = z.string().min(1, 'must not be empty');

/** Zod schema of an AlertRoute, for exporter configs. */
export const alertRouteSchema = z
  .object({
    minSeverity: z.enum(SEVERITIES as [Severity, ...Severity[]]).optional(),
    detections: z.array(idPattern).optional(),
    excludeDetections: z.array(idPattern).optional(),
    tags: z.array(idPattern).optional(),
    updates: z.boolean().optional(),
  })
  .strict();

function idMatcher(patterns: readonly string[]): (id: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const p of patterns) {
    if (p.endsWith('*')) prefixes.push(p.slice(0, -1));
    else exact.add(p);
  }
  return (id) => exact.has(id) || prefixes.some((prefix) => id.startsWith(prefix));
}

/** Compile a route into a predicate. `undefined` (or an empty route) accepts every alert. */
export function compileRoute(route: AlertRoute | undefined): (alert: Alert) => boolean {
  if (!route) return () => true;
  const checks: ((alert: Alert) => boolean)[] = [];
  if (route.minSeverity) {
    const floor = SEVERITY_ID[route.minSeverity];
    checks.push((a) => (SEVERITY_ID[a.severity] ?? a.severityId ?? 0) >= floor);
  }
  if (route.detections && route.detections.length > 0) {
    const match = idMatcher(route.detections);
    checks.push((a) => match(a.detection?.id ?? ''));
  }
  if (route.excludeDetections && route.excludeDetections.length > 0) {
    const match = idMatcher(route.excludeDetections);
    checks.push((a) => !match(a.detection?.id ?? ''));
  }
  if (route.tags && route.tags.length > 0) {
    const wanted = new Set(route.tags);
    checks.push((a) => (a.tags ?? []).some((t) => wanted.has(t)));
  }
  if (route.updates === false) checks.push((a) => a.status !== 'update');
  if (checks.length === 0) return () => true;
  return (alert) => {
    for (const check of checks) if (!check(alert)) return false;
    return true;
  };
}

/** True when `alert` passes `route`. Compile once with `compileRoute` on hot paths. */
export function routeMatches(route: AlertRoute | undefined, alert: Alert): boolean {
  return compileRoute(route)(alert);
}
