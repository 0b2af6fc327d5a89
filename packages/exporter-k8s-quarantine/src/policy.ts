import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { type Alert, type JsonSchemaIssue, JsonSchemaValidator } from '@outflow/core';

/** A label selector (`matchLabels` only: what Outflow emits). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
}

export interface NetworkPolicyPeer {
  ipBlock?: { cidr: string; except?: string[] };
  namespaceSelector?: LabelSelector;
  podSelector?: LabelSelector;
}

export interface NetworkPolicyPort {
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port?: number | string;
  endPort?: number;
}

/** The NetworkPolicy (networking.k8s.io/v1) the quarantine exporter emits. */
export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
  };
  spec: {
    podSelector: LabelSelector;
    policyTypes: ('Ingress' | 'Egress')[];
    egress?: { to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
    ingress?: { from?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
  };
}

/** What shapes the policy. */
export interface PolicyOptions {
  /** Pod label keys that select the workload's pods. Empty: every label of the workload except `ignoreLabels`. */
  selectorLabels: readonly string[];
  /** Labels never used in the selector (per-pod or per-revision labels). */
  ignoreLabels: readonly string[];
  isolateIngress: boolean;
  allowDns: boolean;
  dns: { namespace: string; podLabels: Readonly<Record<string, string>> };
  allowCidrs: readonly (string | { cidr: string; except?: readonly string[] })[];
  allowNamespaces: readonly string[];
  protectedNamespaces: readonly string[];
  namePrefix: string;
  annotationPrefix: string;
}

/** Why an alert produced no policy. */
export type SkipReason = 'no_namespace' | 'no_pod_labels' | 'protected_namespace';

export const NETWORK_POLICY_SCHEMA: Record<string, unknown> = JSON.parse(readFileSync(new URL('../schema/networkpolicy.schema.json', import.meta.url), 'utf8'));
const validator = new JsonSchemaValidator(NETWORK_POLICY_SCHEMA);

/** Validate a manifest against the NetworkPolicy schema shipped in `schema/networkpolicy.schema.json`. */
export function validateNetworkPolicy(manifest: unknown): JsonSchemaIssue[] {
  return validator.validate(manifest);
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function slug(text: string, max: number): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  return s.slice(0, max).replace(/-$/, '');
}

/** True when `cidr` is `address/prefix` with a valid address and prefix length. */
export function isCidr(cidr: string): boolean {
  const [address, prefix, extra] = cidr.split('/');
  if (extra !== undefined || address === undefined || prefix === undefined || !/^\d{1,3}$/.test(prefix)) return false;
  const family = isIP(address);
  const bits = Number(prefix);
  return (family === 4 && bits <= 32) || (family === 6 && bits <= 128);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * The NetworkPolicy that quarantines the workload of `alert`: it selects the
 * workload's pods by their labels, and allows egress only to kube-dns (UDP and
 * TCP 53) and to the allow-listed CIDRs and namespaces (optionally denying all
 * ingress too). The name depends only on the workload, so repeated alerts
 * update one policy; annotations name the latest alert, its detection and why.
 * Returns the reason instead when the alert cannot be contained safely: an
 * empty selector would select every pod of the namespace, so it is never emitted.
 */
export function buildQuarantinePolicy(alert: Alert, o: PolicyOptions): { policy: NetworkPolicy } | { skip: SkipReason; message: string } {
  const w = alert.workload;
  const namespace = w?.namespace;
  if (!namespace) return { skip: 'no_namespace', message: 'the alert names no Kubernetes namespace' };
  if (o.protectedNamespaces.includes(namespace)) return { skip: 'protected_namespace', message: `namespace ${namespace} is protected from quarantine` };
  const labels = w?.labels ?? {};
  const keys = o.selectorLabels.length > 0 ? o.selectorLabels : Object.keys(labels).filter((k) => !o.ignoreLabels.includes(k));
  const matchLabels: Record<string, string> = {};
  for (const key of [...keys].sort()) {
    const value = labels[key];
    if (value !== undefined && LABEL_VALUE.test(value) && value.length <= 63) matchLabels[key] = value;
  }
  if (Object.keys(matchLabels).length === 0) {
    const which = o.selectorLabels.length > 0 ? ` among ${o.selectorLabels.join(', ')}` : '';
    return { skip: 'no_pod_labels', message: `the alert carries no pod labels${which} to select the workload's pods` };
  }
  const workloadName = w?.workloadName ?? w?.pod ?? Object.values(matchLabels).join('-');
  const selectorHash = createHash('sha256').update(namespace).update('\u0000').update(JSON.stringify(matchLabels)).digest('hex').slice(0, 10);
  const name = `${slug(o.namePrefix, 40)}-${slug(workloadName, 253 - 52) || 'workload'}-${selectorHash}`;
  const egress: NonNullable<NetworkPolicy['spec']['egress']> = [];
  if (o.allowDns) {
    egress.push({
      to: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': o.dns.namespace } },
          podSelector: { matchLabels: { ...o.dns.podLabels } },
        },
      ],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    });
  }
  if (o.allowCidrs.length > 0) {
    egress.push({
      to: o.allowCidrs.map((c) =>
        typeof c === 'string' ? { ipBlock: { cidr: c } } : { ipBlock: { cidr: c.cidr, ...(c.except && c.except.length > 0 ? { except: [...c.except] } : {}) } },
      ),
    });
  }
  if (o.allowNamespaces.length > 0) {
    egress.push({ to: o.allowNamespaces.map((ns) => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } })) });
  }
  const p = o.annotationPrefix;
  const workload = [w?.cluster, namespace, w?.workloadName ? `${w.workloadKind ?? 'Workload'}/${w.workloadName}` : w?.pod ? `Pod/${w.pod}` : undefined]
    .filter(Boolean)
    .join('/');
  const policy: NetworkPolicy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'outflow', 'app.kubernetes.io/component': 'quarantine' },
      annotations: {
        [`${p}/alert-id`]: alert.id,
        [`${p}/detection`]: alert.detection.id,
        [`${p}/detection-title`]: truncate(alert.detection.title, 256),
        [`${p}/severity`]: alert.severity,
        [`${p}/reason`]: truncate(alert.explanation.summary, 1024),
        [`${p}/workload`]: workload,
        [`${p}/quarantined-at`]: new Date(alert.emittedAt).toISOString(),
      },
    },
    spec: {
      podSelector: { matchLabels },
      policyTypes: o.isolateIngress ? ['Ingress', 'Egress'] : ['Egress'],
      egress,
    },
  };
  return { policy };
}
