import { type Alert, deliveryKey } from '../alert.js';

/** OCSF schema version the mapping targets. */
export const OCSF_VERSION = '1.3.0';

const SEVERITY_CAPTION: Record<number, string> = { 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High', 5: 'Critical' };

/** An OCSF Detection Finding (class_uid 2004), as plain JSON. */
export type OcsfDetectionFinding = Record<string, unknown> & {
  class_uid: 2004;
  category_uid: 2;
  activity_id: 1 | 2;
  type_uid: 200401 | 200402;
  severity_id: number;
  time: number;
  finding_info: Record<string, unknown> & { uid: string };
  metadata: Record<string, unknown> & { version: string };
};

function drop<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

function endpoint(attrs: Readonly<Record<string, unknown>> | undefined, side: 'source' | 'destination'): Record<string, unknown> | undefined {
  if (!attrs) return undefined;
  const ip = attrs[`${side}.address`];
  const port = attrs[`${side}.port`];
  const domain = attrs[`${side}.domain`];
  if (ip === undefined && port === undefined && domain === undefined) return undefined;
  return drop({
    ip: typeof ip === 'string' ? ip : undefined,
    port: typeof port === 'number' ? port : undefined,
    domain: typeof domain === 'string' ? domain : undefined,
  });
}

/**
 * Map an alert to an OCSF 1.3.0 Detection Finding (class 2004, category 2
 * Findings). docs/alert-schema.md documents every field. What OCSF has no
 * place for (observed/expected, score, reasons, the finding attributes) goes
 * to `unmapped`.
 */
export function toOcsfDetectionFinding(alert: Alert, product: { version?: string } = {}): OcsfDetectionFinding {
  const activity = alert.status === 'update' ? 2 : 1;
  const d = alert.detection;
  const e = alert.explanation;
  const w = alert.workload;
  const scored = e.score !== undefined;
  const attacks = [d.attack, ...(d.relatedAttack ?? [])].map((a) =>
    drop({
      technique: drop({ uid: a.technique, name: a.techniqueName }),
      tactic: drop({ uid: a.tactic, name: a.tacticName }),
    }),
  );
  const container =
    w && (w.container || w.containerId || w.image)
      ? drop({ name: w.container, uid: w.containerId, image: w.image || w.imageDigest ? drop({ name: w.image, uid: w.imageDigest }) : undefined })
      : undefined;
  const src = endpoint(alert.attributes, 'source');
  const dst = endpoint(alert.attributes, 'destination');
  const evidence = drop({
    container,
    src_endpoint: src,
    dst_endpoint: dst,
    data: alert.evidence.length > 0 ? { events: alert.evidence.map((r) => drop({ source: r.source, id: r.id, time: r.time })) } : undefined,
  });
  const resource = w
    ? drop({
        uid: w.podUid ?? (w.workloadName ? `${w.cluster ?? ''}/${w.namespace ?? ''}/${w.workloadKind ?? 'Workload'}/${w.workloadName}` : w.pod),
        name: w.workloadName ?? w.pod ?? w.container,
        type: w.workloadKind ? `Kubernetes ${w.workloadKind}` : w.pod ? 'Kubernetes Pod' : 'Container',
        namespace: w.namespace,
        labels: w.labels ? Object.entries(w.labels).map(([k, v]) => `${k}=${v}`) : undefined,
        owner: w.account ? { account: { uid: w.account, type_id: 10, type: 'AWS Account' } } : undefined,
        data: w.cluster || w.node ? drop({ cluster: w.cluster, node: w.node, pod: w.pod }) : undefined,
      })
    : undefined;
  const steps = alert.response;
  const remediation = steps
    ? [
        ...(steps.contain ?? []).map((s) => `Contain: ${s}`),
        ...(steps.remediate ?? []).map((s) => `Remediate: ${s}`),
        ...(steps.investigate ?? []).map((s) => `Investigate: ${s}`),
      ]
    : [];
  const unmapped = drop({
    observed: e.observed,
    expected: e.expected,
    score: e.score,
    threshold: e.threshold,
    baseline_age_ms: e.baselineAgeMs,
    samples: e.samples,
    reasons: e.reasons && e.reasons.length > 0 ? [...e.reasons] : undefined,
    attributes: alert.attributes && Object.keys(alert.attributes).length > 0 ? { ...alert.attributes } : undefined,
    dedup_key: alert.dedupKey,
    related_alerts: alert.related && alert.related.length > 0 ? [...alert.related] : undefined,
    analyse: steps?.analyse && steps.analyse.length > 0 ? [...steps.analyse] : undefined,
  });
  return drop({
    class_uid: 2004 as const,
    class_name: 'Detection Finding',
    category_uid: 2 as const,
    category_name: 'Findings',
    activity_id: activity as 1 | 2,
    activity_name: activity === 1 ? 'Create' : 'Update',
    type_uid: (200400 + activity) as 200401 | 200402,
    type_name: `Detection Finding: ${activity === 1 ? 'Create' : 'Update'}`,
    severity_id: alert.severityId,
    severity: SEVERITY_CAPTION[alert.severityId],
    status_id: 1,
    status: 'New',
    time: alert.lastSeen,
    start_time: alert.firstSeen,
    end_time: alert.lastSeen,
    count: alert.count,
    message: e.summary,
    finding_info: drop({
      uid: alert.id,
      title: d.title,
      desc: e.summary,
      analytic: drop({ uid: d.id, name: d.title, type_id: scored ? 3 : 1, type: scored ? 'Statistical' : 'Rule', version: d.version }),
      attacks,
      first_seen_time: alert.firstSeen,
      last_seen_time: alert.lastSeen,
      created_time: activity === 1 ? alert.emittedAt : undefined,
      modified_time: activity === 2 ? alert.emittedAt : undefined,
      types: alert.tags && alert.tags.length > 0 ? [...alert.tags] : undefined,
      related_events: alert.evidence.length > 0 ? alert.evidence.map((r) => ({ uid: r.id, product_uid: r.source })) : undefined,
    }),
    evidences: Object.keys(evidence).length > 0 ? [evidence] : undefined,
    resources: resource ? [resource] : undefined,
    remediation: remediation.length > 0 ? { desc: remediation.join('\n') } : undefined,
    metadata: drop({
      version: OCSF_VERSION,
      product: drop({ name: 'Outflow', vendor_name: 'Outflow', version: product.version }),
      uid: deliveryKey(alert),
      correlation_uid: alert.id,
      processed_time: alert.emittedAt,
      labels: alert.labels ? Object.entries(alert.labels).map(([k, v]) => `${k}:${v}`) : undefined,
    }),
    unmapped: Object.keys(unmapped).length > 0 ? unmapped : undefined,
  }) as OcsfDetectionFinding;
}
