import type { Alert, AttributeValue } from '@outflow/core';

/** The steps of the container exfiltration chain, in order. */
export type ChainStage = 'foothold' | 'collection' | 'exfiltration';

export const CHAIN_STAGES: readonly ChainStage[] = ['foothold', 'collection', 'exfiltration'];

/**
 * Which member alerts make which stage. An entry is an analytic id (every
 * alert of it) or `id:category` (alerts of that analytic whose category —
 * a `*.category` / `*.categories` attribute or a tag — is `category`).
 */
export interface StageMap {
  foothold: readonly string[];
  collection: readonly string[];
  exfiltration: readonly string[];
}

/** The strategy's mapping of analytics to stages. */
export const DEFAULT_STAGES: StageMap = {
  foothold: ['pod_exec', 'untrusted_image_sensitive_access', 'exec_payload:reverse_shell', 'exec_payload:interactive_shell', 'exec_payload:tool_transfer'],
  collection: ['secret_harvesting', 'kubectl_cp', 'exec_payload:sensitive_read', 'exec_payload:archive', 'exec_payload:metadata_access'],
  exfiltration: [
    'egress_volume_anomaly',
    'new_external_destination',
    'cloud_storage_foreign_transfer',
    'exec_payload:upload',
    'exec_payload:cloud_copy',
    'exec_payload:network_tool',
    'ebs_snapshot_shared',
    'ami_shared',
    'rds_snapshot_shared',
    's3_bucket_policy_external',
    's3_replication_external',
    's3_copy_external',
    'export_task_started',
    'resource_policy_opened',
  ],
};

function addStrings(into: Set<string>, v: AttributeValue | undefined): void {
  if (typeof v === 'string') into.add(v);
  else if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') into.add(x);
}

/** Categories an alert declares: values of attributes named `*.category` / `*.categories`, and its tags. */
export function alertCategories(alert: Pick<Alert, 'attributes' | 'tags'>): Set<string> {
  const out = new Set<string>();
  const a = alert.attributes;
  if (a) {
    for (const key of Object.keys(a)) {
      if (key.endsWith('.category') || key.endsWith('.categories') || key === 'category' || key === 'categories') addStrings(out, a[key]);
    }
  }
  for (const t of alert.tags ?? []) out.add(t);
  return out;
}

/** A compiled StageMap: the stages one alert belongs to. */
export class StageClassifier {
  private readonly whole = new Map<string, Set<ChainStage>>();
  private readonly byCategory = new Map<string, Map<string, Set<ChainStage>>>();

  constructor(map: StageMap) {
    for (const stage of CHAIN_STAGES) {
      for (const entry of map[stage]) {
        const colon = entry.indexOf(':');
        if (colon < 0) {
          let s = this.whole.get(entry);
          if (!s) this.whole.set(entry, (s = new Set()));
          s.add(stage);
        } else {
          const id = entry.slice(0, colon);
          const cat = entry.slice(colon + 1);
          let m = this.byCategory.get(id);
          if (!m) this.byCategory.set(id, (m = new Map()));
          let s = m.get(cat);
          if (!s) m.set(cat, (s = new Set()));
          s.add(stage);
        }
      }
    }
  }

  /** Analytic ids that take part, whole or by category. */
  analytics(): Set<string> {
    return new Set([...this.whole.keys(), ...this.byCategory.keys()]);
  }

  stagesOf(alert: Pick<Alert, 'detection' | 'attributes' | 'tags'>): ChainStage[] {
    const id = alert.detection.id;
    const out = new Set<ChainStage>(this.whole.get(id) ?? []);
    const cats = this.byCategory.get(id);
    if (cats) {
      for (const c of alertCategories(alert)) for (const s of cats.get(c) ?? []) out.add(s);
    }
    return CHAIN_STAGES.filter((s) => out.has(s));
  }
}
