import type { FormatDefinition } from '@outflow/core';
import { K8S_AUDIT_FORMAT, k8sAuditDecoder } from './decoder.js';

/**
 * Confidence that `head` (the first 64 KiB of a file) holds Kubernetes audit
 * events in one of the shapes the decoder reads. Works on substrings only, so
 * a head cut mid-record still scores.
 */
export function sniffK8sAudit(head: string): number {
  let score = 0;
  // Native events and EventLists; also AKS records, whose escaped properties.log still contains `"audit.k8s.io/v1`.
  if (head.includes('"audit.k8s.io/v1')) score = 0.95;
  else if (head.includes('auditID') && head.includes('requestURI') && head.includes('verb')) score = 0.85;
  // GKE Cloud Audit Logs entries for the Kubernetes API.
  if (head.includes('"methodName"') && head.includes('"io.k8s.')) score = Math.max(score, 0.9);
  // EKS CloudWatch Logs payloads.
  if (head.includes('kube-apiserver-audit') && (head.includes('"logEvents"') || head.includes('"events"'))) score = Math.max(score, 0.9);
  // AKS diagnostic records.
  if (head.includes('"kube-audit')) score = Math.max(score, 0.9);
  // A CloudTrail record that merely mentions the EKS API is not an audit log.
  if (score < 0.9 && head.includes('"eventSource"') && head.includes('"eventName"')) score = Math.min(score, 0.2);
  return score;
}

/** `k8s_audit`: every shape of Kubernetes audit log the decoder reads. Files default to JSON lines (`/var/log/kubernetes/audit.log`). */
export const k8sAuditFormat: FormatDefinition<string> = {
  name: K8S_AUDIT_FORMAT,
  description:
    'Kubernetes API server audit events: audit.k8s.io/v1 (and v1beta1) Event and EventList as JSON lines or documents; EKS CloudWatch Logs payloads and exports; GKE Cloud Audit Logs entries; AKS kube-audit diagnostic records',
  framing: 'lines',
  decoder: k8sAuditDecoder,
  sniff: sniffK8sAudit,
};

/** The formats of this package, for the CLI and format auto-detection. */
export const formats: FormatDefinition[] = [k8sAuditFormat];
