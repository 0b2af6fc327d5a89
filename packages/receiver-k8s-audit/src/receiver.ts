import { type ComponentContext, type Decoder, defineComponent, type Receiver, z } from '@outflow/core';
import { createFileHttpReceiver, fileSourceSchema, httpServerSchema } from '@outflow/io';
import { AUDIT_STAGES, K8S_AUDIT_FORMAT, k8sAuditDecoder, StageFilterDecoder } from './decoder.js';

/** Configuration of the `k8s_audit` receiver. */
export const k8sAuditConfigSchema = z
  .object({
    /** Read audit logs from files or directories (tailing with checkpoints when `file.follow`). */
    file: fileSourceSchema.optional(),
    /** Accept the kube-apiserver audit webhook (POST of an audit.k8s.io/v1 EventList). */
    http: httpServerSchema.optional(),
    /** URL path of the webhook. */
    path: z.string().startsWith('/').default('/audit'),
    /** How files are cut into inputs: `lines` (JSON lines, tailed) or `document` (whole-file EventList, CloudWatch or Azure export). */
    framing: z.enum(['lines', 'document']).default('lines'),
    /** Stages to pass on; `all` keeps every stage. Detections should read ResponseComplete (and ResponseStarted for exec/watch). */
    stages: z.union([z.literal('all'), z.array(z.enum(AUDIT_STAGES)).min(1)]).default('all'),
  })
  .strict();

export type K8sAuditConfig = z.output<typeof k8sAuditConfigSchema>;
export type K8sAuditConfigInput = z.input<typeof k8sAuditConfigSchema>;

/** The receiver built by `k8sAudit(...)`: a file receiver, an HTTP webhook receiver, or both. */
export interface K8sAuditReceiver extends Receiver {
  /** The webhook's bound address once started (for `http.port: 0`). */
  address(): { port: number; url: string } | undefined;
}

export function createK8sAuditReceiver(ctx: ComponentContext, config: K8sAuditConfig): K8sAuditReceiver {
  const decoder: Decoder<string> =
    config.stages === 'all' ? k8sAuditDecoder : new StageFilterDecoder(k8sAuditDecoder, config.stages, (n) => ctx.metrics.add('dropped', n, 'stage_filtered'));
  return createFileHttpReceiver(ctx, {
    file: config.file,
    http: config.http,
    paths: [config.path],
    format: { name: K8S_AUDIT_FORMAT, framing: config.framing, decoder },
  });
}

/**
 * The `k8s_audit` receiver: Kubernetes audit events from files (kube-apiserver
 * `--audit-log-path`, EKS/GKE/AKS exports) and from the audit webhook.
 *
 * ```ts
 * k8sAudit({ http: { port: 8443, tls: { certFile, keyFile } } })
 * k8sAudit({ file: { paths: ['/var/log/kubernetes/audit.log'], follow: true } })
 * ```
 */
export const k8sAudit = defineComponent({
  type: 'k8s_audit',
  kind: 'receiver',
  stability: 'alpha',
  description: 'Kubernetes audit events (audit.k8s.io Event/EventList; EKS, GKE, AKS shapes) from files and the kube-apiserver audit webhook',
  schema: k8sAuditConfigSchema,
  check: (config) => (config.file || config.http ? [] : [{ path: '', message: 'configure at least one transport: file or http' }]),
  create: (ctx, config): K8sAuditReceiver => createK8sAuditReceiver(ctx, config),
});
