import { createHash, createHmac } from 'node:crypto';
import { type Alert, deliveryKey, toOcsfDetectionFinding, type WorkloadIdentity } from '@outflow/core';

/** Body of a generic JSON delivery of one alert. */
export interface WebhookDelivery {
  /** The delivery's idempotency key (also in the `Idempotency-Key` header): the alert id, plus `:count` for updates. */
  idempotencyKey: string;
  alert: Alert;
}

/** Body of a batched generic JSON delivery. */
export interface WebhookBatch {
  /** Key of the whole request: SHA-256 of the deliveries' keys. Each delivery keeps its own key. */
  idempotencyKey: string;
  deliveries: WebhookDelivery[];
}

export function jsonBody(alert: Alert): { key: string; body: string } {
  const key = deliveryKey(alert);
  return { key, body: JSON.stringify({ idempotencyKey: key, alert } satisfies WebhookDelivery) };
}

export function batchBody(alerts: readonly Alert[]): { key: string; body: string } {
  const deliveries = alerts.map((alert) => ({ idempotencyKey: deliveryKey(alert), alert }));
  const hash = createHash('sha256');
  for (const d of deliveries) hash.update(d.idempotencyKey).update('\n');
  const key = `batch-${hash.digest('hex').slice(0, 32)}`;
  return { key, body: JSON.stringify({ idempotencyKey: key, deliveries } satisfies WebhookBatch) };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters from untrusted text
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/** Escape text for Slack mrkdwn (`&`, `<`, `>`), and drop control characters. */
export function slackEscape(text: string): string {
  return text.replace(CONTROL, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function workload(w: WorkloadIdentity | undefined): string | undefined {
  if (!w) return undefined;
  const name = w.workloadName ? `${w.workloadKind ?? 'Workload'}/${w.workloadName}` : w.pod ? `Pod/${w.pod}` : undefined;
  return [w.cluster, w.namespace, name].filter(Boolean).join('/') || undefined;
}

const SEVERITY_MARK: Record<string, string> = {
  critical: ':red_circle:',
  high: ':large_orange_circle:',
  medium: ':large_yellow_circle:',
  low: ':large_blue_circle:',
  informational: ':white_circle:',
};

/** A Slack-compatible incoming-webhook payload (`{ "text": ... }`, mrkdwn) for one alert. */
export function slackBody(alert: Alert): { key: string; body: string } {
  const key = deliveryKey(alert);
  const e = alert.explanation;
  const lines = [
    `${SEVERITY_MARK[alert.severity] ?? ''} *[${alert.severity.toUpperCase()}] ${slackEscape(alert.detection.title)}*${alert.status === 'update' ? ` (update, ${alert.count} findings)` : ''}`.trim(),
    `>${slackEscape(e.summary)}`,
  ];
  const w = workload(alert.workload);
  if (w) lines.push(`*Workload:* \`${slackEscape(w)}\``);
  if (e.observed) lines.push(`*Observed:* ${slackEscape(e.observed)}`);
  if (e.expected) lines.push(`*Expected:* ${slackEscape(e.expected)}`);
  for (const reason of e.reasons ?? []) lines.push(`• ${slackEscape(reason)}`);
  const next = [...(alert.response?.investigate ?? []), ...(alert.response?.contain ?? [])].slice(0, 3);
  if (next.length > 0) lines.push(`*Next:* ${next.map(slackEscape).join('; ')}`);
  lines.push(
    `_${alert.detection.attack.technique} · ${slackEscape(alert.detection.id)} · alert ${alert.id} · ${new Date(alert.lastSeen).toISOString()}${alert.labels?.environment ? ` · ${slackEscape(alert.labels.environment)}` : ''}_`,
  );
  return { key, body: JSON.stringify({ text: lines.join('\n') }) };
}

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes with `secret`. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** An OCSF Detection Finding (class 2004) for one alert; its `metadata.uid` is the delivery key. */
export function ocsfBody(alert: Alert): { key: string; body: string } {
  return { key: deliveryKey(alert), body: JSON.stringify(toOcsfDetectionFinding(alert)) };
}
