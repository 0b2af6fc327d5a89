import type { Observable } from 'rxjs';
import { type AttackRef, type Finding, type ResponseSteps, type Severity, T1537 } from './alert.js';
import type { Detection, DetectionContext } from './contracts/detection.js';
import { type EventKind, type EventOfKind, eventRef, type OutflowEvent } from './events.js';
import { safeMap } from './rx/operators.js';

/** What a rule's `match` returns: a finding with its detection, time, evidence and severity filled in for it when omitted. */
export type FindingDraft = Omit<Finding, 'detection' | 'time' | 'evidence' | 'severity'> & Partial<Pick<Finding, 'time' | 'evidence' | 'severity'>>;

export interface RuleDefinition<K extends EventKind> {
  id: string;
  title: string;
  attack?: AttackRef;
  /** Other techniques the rule also covers. */
  relatedAttack?: readonly AttackRef[];
  /** Default severity of a match. */
  severity: Severity;
  /** Event kinds the rule looks at. */
  kinds: readonly K[];
  /** Default next steps added to every finding that does not set its own. */
  response?: ResponseSteps;
  /** Return a finding (or several) for a matching event, nothing otherwise. Exceptions are isolated per event. */
  match(event: EventOfKind<K>, ctx: DetectionContext): FindingDraft | readonly FindingDraft[] | undefined | null | false;
}

/**
 * A stateless detection: one function applied to each event of the given
 * kinds. Defaults the finding's time, workload and evidence from the event,
 * and isolates exceptions per event.
 */
export function rule<K extends EventKind>(def: RuleDefinition<K>): Detection {
  const detection = { id: def.id, title: def.title, attack: def.attack ?? T1537, ...(def.relatedAttack?.length ? { relatedAttack: def.relatedAttack } : {}) };
  const complete = (event: OutflowEvent, draft: FindingDraft): Finding => ({
    ...draft,
    detection,
    severity: draft.severity ?? def.severity,
    time: draft.time ?? event.time,
    evidence: draft.evidence ?? [eventRef(event)],
    ...((draft.workload ?? event.workload) ? { workload: draft.workload ?? event.workload } : {}),
    ...((draft.response ?? def.response) ? { response: draft.response ?? def.response } : {}),
  });
  return {
    id: def.id,
    title: def.title,
    kinds: def.kinds,
    connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
      return events$.pipe(
        safeMap<OutflowEvent, Finding>(
          (event) => {
            const result = def.match(event as EventOfKind<K>, ctx);
            if (!result) return undefined;
            if (Array.isArray(result)) return (result as readonly FindingDraft[]).map((d) => complete(event, d));
            return complete(event, result as FindingDraft);
          },
          (err, event) => ctx.reportError(err, event),
        ),
      );
    },
  };
}
