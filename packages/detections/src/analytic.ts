import {
  type AttackRef,
  type Detection,
  type DetectionContext,
  type DetectionRef,
  type EventKind,
  type Finding,
  type OutflowEvent,
  type ResponseSteps,
  type RuleDefinition,
  rule,
  SEVERITIES,
  type Severity,
  type z,
} from '@outflow/core';
import { map, type Observable } from 'rxjs';
import type { T1537Config } from './config.js';
import type { AccountOwnership, BucketOwnership } from './enrich/account-ownership.js';
import type { DestinationClassifier } from './enrich/destination-class.js';
import type { ImageTrust } from './enrich/image-trust.js';
import type { Workloads } from './enrich/workload-identity.js';
import type { ExceptionRule } from './hygiene/exceptions.js';

/** Lifecycle of an analytic, shown in docs/detections/README.md. */
export type AnalyticStatus = 'experimental' | 'test' | 'stable';

/**
 * One analytic of the T1537 strategy: its metadata (the ADS page's summary),
 * its defaults, and a factory for the Detection that runs it.
 *
 * Stateless analytics build their Detection with core's `rule()`; stateful
 * ones keep per-key state in core's `KeyedState` (key cap + TTL in event
 * time) and fire on the event-time watermark (`ctx.watermark$`, core windows,
 * or `eventTimeOrdered` from this package).
 */
export interface AnalyticDefinition<P = Record<string, unknown>> {
  /** snake_case id: the detection id on every finding, the key under `analytics` in the preset config, the ADS page name. */
  readonly id: string;
  readonly title: string;
  /** One sentence: what the analytic finds. */
  readonly description: string;
  /** Default base severity. Analytics raise it for stronger evidence (a public share) and lower it for weaker. */
  readonly severity: Severity;
  /** Main ATT&CK technique (T1537 for this strategy). */
  readonly attack: AttackRef;
  /** Related techniques the analytic also covers. */
  readonly relatedAttack?: readonly AttackRef[];
  readonly kinds: readonly EventKind[];
  /** Telemetry it needs, in words: `AWS CloudTrail management events`, `Kubernetes audit (RequestResponse)`. */
  readonly dataSources: readonly string[];
  /** What findings are deduplicated on, in words (the dedup key's parts). */
  readonly dedupKeyDescription: string;
  /** Exceptions applied unless `analytics.<id>.defaultExceptions` is false. Scoped to this analytic. */
  readonly defaultExceptions: readonly ExceptionRule[];
  /** What to do next; every finding carries it. */
  readonly response: ResponseSteps;
  readonly status: AnalyticStatus;
  /** Schema of `analytics.<id>.params`: a strict zod object with defaults. */
  readonly params?: z.ZodType<P>;
  create(env: AnalyticEnv<P>): Detection;
}

/** What an analytic is built with. Shared helpers are the same instances the preset's enrichers fill. */
export interface AnalyticEnv<P = Record<string, unknown>> {
  /** The validated preset configuration. */
  readonly config: T1537Config;
  /** The analytic's own params, validated, defaults filled. */
  readonly params: P;
  /** Effective base severity (config override or the default). */
  readonly severity: Severity;
  /** The detection reference findings carry (id, title, ATT&CK). */
  readonly detection: DetectionRef;
  readonly response: ResponseSteps;
  readonly accounts: AccountOwnership;
  readonly buckets: BucketOwnership;
  readonly images: ImageTrust;
  readonly destinations: DestinationClassifier;
  readonly workloads: Workloads;
}

const ID_RE = /^[a-z][a-z0-9_]*$/;

/** Declare an analytic (checks the id is snake_case). */
export function defineAnalytic<P>(def: AnalyticDefinition<P>): AnalyticDefinition<P> {
  if (!ID_RE.test(def.id)) throw new Error(`analytic id must be snake_case: ${def.id}`);
  return Object.freeze(def);
}

/** The DetectionRef of an analytic. */
export function detectionRefOf(def: Pick<AnalyticDefinition<never>, 'id' | 'title' | 'attack' | 'relatedAttack'>): DetectionRef {
  return {
    id: def.id,
    title: def.title,
    attack: def.attack,
    ...(def.relatedAttack && def.relatedAttack.length > 0 ? { relatedAttack: def.relatedAttack } : {}),
  };
}

/** Move a severity up (positive) or down (negative) by `steps`, within informational..critical. */
export function adjustSeverity(severity: Severity, steps: number): Severity {
  const i = Math.max(0, Math.min(SEVERITIES.length - 1, SEVERITIES.indexOf(severity) + steps));
  return SEVERITIES[i] as Severity;
}

/**
 * Put the analytic's full DetectionRef (with related techniques) and default
 * response on every finding of `detection` (core's `rule()` sets only id,
 * title and the main technique).
 */
export function withAnalyticRef(detection: Detection, ref: DetectionRef, response?: ResponseSteps): Detection {
  return {
    id: detection.id,
    title: detection.title,
    ...(detection.kinds ? { kinds: detection.kinds } : {}),
    connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
      return detection.connect(events$, ctx).pipe(
        map((f) => {
          f.detection = ref;
          if (!f.response && response) f.response = response;
          return f;
        }),
      );
    },
  };
}

/**
 * A stateless analytic as a core `rule()` carrying the analytic's reference (id, title, ATT&CK with related
 * techniques), effective severity and response steps: the analytic only says which kinds it reads and what matches.
 */
export function analyticRule<K extends EventKind>(env: AnalyticEnv<unknown>, def: Pick<RuleDefinition<K>, 'kinds' | 'match'>): Detection {
  const { detection } = env;
  return withAnalyticRef(
    rule({ id: detection.id, title: detection.title, attack: detection.attack, severity: env.severity, response: env.response, ...def }),
    detection,
    env.response,
  );
}

/** MITRE ATT&CK references used by the strategy. */
export const ATTACK = {
  T1537: { technique: 'T1537', techniqueName: 'Transfer Data to Cloud Account', tactic: 'TA0010', tacticName: 'Exfiltration' },
  T1567: { technique: 'T1567', techniqueName: 'Exfiltration Over Web Service', tactic: 'TA0010', tacticName: 'Exfiltration' },
  T1567_002: { technique: 'T1567.002', techniqueName: 'Exfiltration to Cloud Storage', tactic: 'TA0010', tacticName: 'Exfiltration' },
  T1048: { technique: 'T1048', techniqueName: 'Exfiltration Over Alternative Protocol', tactic: 'TA0010', tacticName: 'Exfiltration' },
  T1020: { technique: 'T1020', techniqueName: 'Automated Exfiltration', tactic: 'TA0010', tacticName: 'Exfiltration' },
  T1030: { technique: 'T1030', techniqueName: 'Data Transfer Size Limits', tactic: 'TA0010', tacticName: 'Exfiltration' },
  T1609: { technique: 'T1609', techniqueName: 'Container Administration Command', tactic: 'TA0002', tacticName: 'Execution' },
  T1613: { technique: 'T1613', techniqueName: 'Container and Resource Discovery', tactic: 'TA0007', tacticName: 'Discovery' },
  T1552_007: { technique: 'T1552.007', techniqueName: 'Unsecured Credentials: Container API', tactic: 'TA0006', tacticName: 'Credential Access' },
  T1530: { technique: 'T1530', techniqueName: 'Data from Cloud Storage', tactic: 'TA0009', tacticName: 'Collection' },
  T1578: { technique: 'T1578', techniqueName: 'Modify Cloud Compute Infrastructure', tactic: 'TA0005', tacticName: 'Defense Evasion' },
  T1578_001: { technique: 'T1578.001', techniqueName: 'Modify Cloud Compute Infrastructure: Create Snapshot', tactic: 'TA0005', tacticName: 'Defense Evasion' },
  T1098: { technique: 'T1098', techniqueName: 'Account Manipulation', tactic: 'TA0003', tacticName: 'Persistence' },
  T1070: { technique: 'T1070', techniqueName: 'Indicator Removal', tactic: 'TA0005', tacticName: 'Defense Evasion' },
} as const satisfies Record<string, AttackRef>;
