import { type Detection, type DetectionContext, eventRef, type Finding, KeyedState, type OutflowEvent, safeMap, workloadKey } from '@outflow/core';
import { Observable } from 'rxjs';

/**
 * A stateful test detection: counts events per workload and raises a finding
 * at every `n`-th one, its dedup key naming the count. Lost state shows at
 * once: after a restart without it, counts start again and the findings
 * (and alert ids) differ.
 */
export function everyNth(n: number, version = 'v1'): Detection {
  return {
    id: 'every_nth',
    title: 'Every n-th event of a workload',
    connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
      const counts = new KeyedState<string, number>({ maxKeys: 10_000, ttlMs: 30 * 86_400_000 });
      ctx.registerState('counts', counts);
      ctx.registerCheckpoint('counts', {
        version,
        snapshot: () => counts.snapshot(),
        restore: (state) => counts.restore(state as ReturnType<typeof counts.snapshot>),
      });
      return events$.pipe(
        safeMap<OutflowEvent, Finding>(
          (event) => {
            const key = workloadKey(event.workload) ?? 'none';
            const count = (counts.get(key, event.time) ?? 0) + 1;
            counts.set(key, count, event.time);
            if (count % n !== 0) return undefined;
            return {
              detection: { id: 'every_nth', title: 'Every n-th event of a workload', attack: { technique: 'T1537', tactic: 'TA0010' } },
              severity: 'low',
              time: event.time,
              evidence: [eventRef(event)],
              explanation: { summary: `${count} events from ${key}` },
              dedupKey: `${key}#${count}`,
              ...(event.workload ? { workload: event.workload } : {}),
            };
          },
          (err, event) => ctx.reportError(err, event),
        ),
      );
    },
  };
}

/**
 * Counts events per workload and reports each count once, when its input
 * completes (as a window flushes at the end of input). State is checkpointed.
 * A pipeline stopped for a restart also completes its detections: what this
 * emits then describes an input that has not ended.
 */
export function tallyAtEnd(version = 'v1'): Detection {
  return {
    id: 'tally_at_end',
    title: 'Events per workload, at the end of input',
    connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
      const tallies = new KeyedState<string, { count: number; last: number; evidence: ReturnType<typeof eventRef> }>({
        maxKeys: 10_000,
        ttlMs: 30 * 86_400_000,
      });
      ctx.registerCheckpoint('tallies', {
        version,
        snapshot: () => tallies.snapshot(),
        restore: (state) => tallies.restore(state as ReturnType<typeof tallies.snapshot>),
      });
      return new Observable<Finding>((subscriber) =>
        events$.subscribe({
          next: (event) => {
            const key = workloadKey(event.workload) ?? 'none';
            const t = tallies.get(key, event.time) ?? { count: 0, last: event.time, evidence: eventRef(event) };
            t.count++;
            t.last = event.time;
            t.evidence = eventRef(event);
            tallies.set(key, t, event.time);
          },
          error: (err) => subscriber.error(err),
          complete: () => {
            for (const [key, t] of tallies.entries()) {
              subscriber.next({
                detection: { id: 'tally_at_end', title: 'Events per workload, at the end of input', attack: { technique: 'T1537', tactic: 'TA0010' } },
                severity: 'informational',
                time: t.last,
                evidence: [t.evidence],
                explanation: { summary: `${t.count} events from ${key}` },
                dedupKey: `${key}#${t.count}`,
              });
            }
            subscriber.complete();
          },
        }),
      );
    },
  };
}
