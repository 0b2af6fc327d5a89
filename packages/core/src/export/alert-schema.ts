import { z } from 'zod';
import { type Alert, SEVERITIES, type Severity } from '../alert.js';

/**
 * The canonical alert shape as a zod schema: what every exporter delivers
 * and what `@outflow/core/schema/alert.schema.json` publishes (generated from
 * this schema; docs/alert-schema.md explains every field). Times are epoch
 * milliseconds; numbers are finite.
 */

const text = z.string();
const epochMs = z.number().nonnegative().describe('Epoch milliseconds (UTC).');
const strings = z.array(z.string());

export const attackRefSchema = z
  .object({
    technique: z
      .string()
      .regex(/^T\d{4}(\.\d{3})?$/)
      .describe('MITRE ATT&CK technique id, e.g. `T1537` or `T1048.003`.'),
    techniqueName: text.optional().describe('Technique name, e.g. `Transfer Data to Cloud Account`.'),
    tactic: z
      .string()
      .regex(/^TA\d{4}$/)
      .describe('MITRE ATT&CK tactic id, e.g. `TA0010`.'),
    tacticName: text.optional().describe('Tactic name, e.g. `Exfiltration`.'),
  })
  .strict()
  .meta({ id: 'AttackRef', title: 'ATT&CK classification' });

export const detectionRefSchema = z
  .object({
    id: text.min(1).describe('Stable id of the analytic (snake_case), e.g. `snapshot_shared_external`.'),
    title: text.describe('Human title of the analytic.'),
    attack: attackRefSchema.describe('Primary ATT&CK technique and tactic.'),
    relatedAttack: z.array(attackRefSchema).optional().describe('Further techniques the analytic covers.'),
    version: text.optional().describe('Version of the analytic.'),
  })
  .strict()
  .meta({ id: 'DetectionRef', title: 'Detection' });

export const workloadIdentitySchema = z
  .object({
    cluster: text.optional().describe('`k8s.cluster.name`'),
    namespace: text.optional().describe('`k8s.namespace.name`'),
    workloadKind: text.optional().describe('Owner kind: Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod, ...'),
    workloadName: text.optional().describe('Owner name, e.g. the Deployment name.'),
    pod: text.optional().describe('`k8s.pod.name`'),
    podUid: text.optional().describe('`k8s.pod.uid`'),
    container: text.optional().describe('`k8s.container.name`'),
    containerId: text.optional().describe('`container.id`'),
    image: text.optional().describe('`container.image.name`, with tag when known.'),
    imageDigest: text.optional().describe('`container.image.id`, `sha256:...`'),
    node: text.optional().describe('`k8s.node.name`'),
    labels: z.record(z.string(), z.string()).optional().describe('Pod labels.'),
    account: text.optional().describe('Cloud account running the workload (`cloud.account.id`).'),
  })
  .strict()
  .meta({ id: 'WorkloadIdentity', title: 'Workload identity' });

export const eventRefSchema = z
  .object({
    source: text.min(1).describe('Format of the source record, e.g. `aws_cloudtrail`, `k8s_audit`.'),
    id: text.min(1).describe("The record's id in its source (CloudTrail `eventID`, audit `auditID`, ...) or its location."),
    time: epochMs.optional().describe('Event time of the record, epoch ms.'),
  })
  .strict()
  .meta({ id: 'EventRef', title: 'Evidence reference' });

export const explanationSchema = z
  .object({
    summary: text.describe('One sentence an analyst reads first.'),
    observed: text.optional().describe('What was observed, e.g. `bytes_out=5.2 GB in 5 min`.'),
    expected: text.optional().describe('What was expected, e.g. `p99 140 MB (median 12 MB)`.'),
    score: z.number().optional().describe('Anomaly score, for scored detections.'),
    threshold: z.number().optional().describe('Threshold the score crossed.'),
    baselineAgeMs: z.number().nonnegative().optional().describe('Age of the baseline behind a scored decision, ms of event time.'),
    samples: z.number().int().nonnegative().optional().describe('Samples in that baseline.'),
    reasons: strings.optional().describe('Further reasons, one per entry.'),
  })
  .strict()
  .meta({ id: 'Explanation', title: 'Explanation' });

export const responseStepsSchema = z
  .object({
    investigate: strings.optional(),
    contain: strings.optional(),
    analyse: strings.optional(),
    remediate: strings.optional(),
  })
  .strict()
  .meta({ id: 'ResponseSteps', title: 'Next steps by phase of the response plan' });

const attributeValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string()), z.array(z.number())]);

export const alertSchema = z
  .object({
    id: text
      .min(1)
      .max(128)
      .describe('Stable alert id (32 hex digits from detection id, dedup key and first-seen time). The same across retries and restarts.'),
    status: z.enum(['new', 'update']).describe('`new` for the first delivery of an alert, `update` for a later delivery with a higher count.'),
    detection: detectionRefSchema,
    severity: z.enum(SEVERITIES as [Severity, ...Severity[]]).describe('Severity name.'),
    severityId: z.number().int().min(1).max(5).describe('1 informational, 2 low, 3 medium, 4 high, 5 critical (equal to OCSF `severity_id`).'),
    time: epochMs.describe('Event time of the finding that raised the alert.'),
    firstSeen: epochMs.describe('Event time of the first finding folded into the alert.'),
    lastSeen: epochMs.describe('Event time of the last finding folded into the alert.'),
    count: z.number().int().min(1).describe('Findings folded into the alert.'),
    emittedAt: epochMs.describe('Processing time when the alert was emitted.'),
    dedupKey: text.describe('Key under which findings of the same detection fold into one alert.'),
    workload: workloadIdentitySchema.optional().describe('The workload the alert is about.'),
    evidence: z.array(eventRefSchema).describe('Source records behind the alert (capped; `count` tells how many findings).'),
    explanation: explanationSchema.describe('Why the alert fired.'),
    attributes: z
      .record(z.string(), attributeValue)
      .optional()
      .describe('Flat attributes named after OpenTelemetry semantic conventions (`destination.address`, `cloud.account.id`, ...).'),
    tags: strings.optional().describe('Free-form tags for routing and search.'),
    response: responseStepsSchema.optional().describe('Next steps for the responder.'),
    related: strings.optional().describe('Ids of other alerts this one aggregates.'),
    labels: z.record(z.string(), z.string()).optional().describe('Static fields added by the pipeline and exporters (cluster, environment, ...).'),
  })
  .strict()
  .meta({ id: 'Alert', title: 'Outflow alert' });

/** `$id` of the published JSON Schema. */
export const ALERT_SCHEMA_ID = 'urn:outflow:schema:alert:1';

/** The JSON Schema (draft 2020-12) of an alert, as published in `@outflow/core/schema/alert.schema.json`. */
export function alertJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(alertSchema, { target: 'draft-2020-12', io: 'output', unrepresentable: 'throw' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: ALERT_SCHEMA_ID,
    description:
      'An alert delivered by Outflow (detection of data exfiltration from containers, MITRE ATT&CK T1537). See docs/alert-schema.md for the field reference and the mappings to OCSF Detection Finding (class 2004) and to OpenTelemetry log records.',
    ...rest,
  };
}

/** Validate an alert against the canonical schema. Returns the problems, each with its path; empty when valid. */
export function validateAlert(value: unknown): { path: string; message: string }[] {
  const result = alertSchema.safeParse(value);
  if (result.success) return [];
  return result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}

/** True when `value` is a valid alert. */
export function isValidAlert(value: unknown): value is Alert {
  return alertSchema.safeParse(value).success;
}
