import { appendFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Alert,
  type ComponentContext,
  type ConfigIssue,
  compileRoute,
  defineComponent,
  deliveryKey,
  type Exporter,
  type ExporterDelivery,
  errorMessage,
  exporterDeliveryShape,
  PermanentError,
  RetryableError,
  SEVERITIES,
  type Severity,
  usableAlerts,
  z,
} from '@outflow/core';
import { stringify as toYaml } from 'yaml';
import { type ApplyOutcome, inClusterConnection, KubeClient, loadKubeconfig } from './kube.js';
import { buildQuarantinePolicy, isCidr, type NetworkPolicy, type PolicyOptions, validateNetworkPolicy } from './policy.js';

export { type ApplyOutcome, inClusterConnection, KubeClient, type KubeConnection, loadKubeconfig } from './kube.js';
export {
  buildQuarantinePolicy,
  isCidr,
  NETWORK_POLICY_SCHEMA,
  type NetworkPolicy,
  type PolicyOptions,
  type SkipReason,
  validateNetworkPolicy,
} from './policy.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const namespaceName = z.string().max(63).regex(DNS_LABEL, 'must be a Kubernetes namespace name');
const cidr = z.string().refine(isCidr, 'must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32');

export const quarantineConfigSchema = z
  .object({
    /** Quarantine only alerts at or above this severity. */
    minSeverity: z.enum(SEVERITIES as [Severity, ...Severity[]]).default('high'),
    /** Quarantine only alerts of these detections (exact ids or prefixes ending in `*`); all when absent. */
    detections: z.array(z.string().min(1)).optional(),
    /** Pod label keys that select the workload's pods; empty: every workload label except `ignoreLabels`. */
    selectorLabels: z.array(z.string().min(1)).default([]),
    /** Labels never used in the selector (per-pod and per-revision labels). */
    ignoreLabels: z
      .array(z.string())
      .default([
        'pod-template-hash',
        'controller-revision-hash',
        'pod-template-generation',
        'statefulset.kubernetes.io/pod-name',
        'apps.kubernetes.io/pod-index',
      ]),
    /** Also deny all ingress to the workload's pods. */
    isolateIngress: z.boolean().default(false),
    /** Allow DNS (UDP and TCP 53) to the cluster DNS pods. */
    allowDns: z.boolean().default(true),
    dns: z
      .object({
        namespace: namespaceName.default('kube-system'),
        podLabels: z.record(z.string(), z.string()).default({ 'k8s-app': 'kube-dns' }),
      })
      .strict()
      .prefault({}),
    /** Egress still allowed to these CIDRs (e.g. a forensics collector). */
    allowCidrs: z.array(z.union([cidr, z.object({ cidr, except: z.array(cidr).default([]) }).strict()])).default([]),
    /** Egress still allowed to every pod of these namespaces. */
    allowNamespaces: z.array(namespaceName).default([]),
    /** Namespaces never quarantined. */
    protectedNamespaces: z.array(namespaceName).default(['kube-system', 'kube-public', 'kube-node-lease']),
    /** Policy names are `<prefix>-<workload>-<hash>`. */
    namePrefix: z.string().regex(DNS_LABEL).max(40).default('outflow-quarantine'),
    /** Annotation keys are `<prefix>/alert-id`, `<prefix>/detection`, ... */
    annotationPrefix: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/)
      .default('outflow'),
    /** Write manifests (and a decisions log) to this directory. */
    directory: z.string().min(1).optional(),
    format: z.enum(['yaml', 'json']).default('yaml'),
    /** Apply policies through the Kubernetes API. */
    apply: z.boolean().default(false),
    /** Send applies with `dryRun=All`: validated and admitted by the API server, not persisted. */
    dryRun: z.boolean().default(true),
    /** Kubeconfig file (default `$KUBECONFIG`, then `~/.kube/config`). */
    kubeconfig: z.string().min(1).optional(),
    /** Kubeconfig context (default: the current context). */
    context: z.string().min(1).optional(),
    /** Use the pod's service account instead of a kubeconfig. */
    inCluster: z.boolean().default(false),
    fieldManager: z.string().min(1).default('outflow'),
    /** Per-request timeout for the Kubernetes API, ms. */
    timeoutMs: z.number().int().positive().default(10_000),
    ...exporterDeliveryShape,
  })
  .strict();

export type QuarantineExporterConfig = z.output<typeof quarantineConfigSchema>;

function checkConfig(config: QuarantineExporterConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (!config.directory && !config.apply) issues.push({ path: '', message: 'set directory (write manifests), apply: true (Kubernetes API), or both' });
  if (config.inCluster && config.kubeconfig) issues.push({ path: 'kubeconfig', message: 'give kubeconfig or inCluster, not both' });
  return issues;
}

/** One decision of the exporter, as written to `quarantine-decisions.jsonl`. */
export interface QuarantineDecision {
  time: string;
  alertId: string;
  deliveryKey: string;
  detection: string;
  severity: string;
  action: 'written' | 'applied' | 'skipped';
  outcome?: ApplyOutcome;
  dryRun?: boolean;
  policy?: string;
  reason?: string;
}

/**
 * The containment step: for alerts at or above `minSeverity` (and of the
 * chosen detections), a NetworkPolicy that isolates the workload's pods
 * (egress only to DNS and the allow-list), written as a manifest and/or
 * applied through the Kubernetes API (dry-run by default). Idempotent: one
 * policy per workload, created or replaced.
 */
export class QuarantineExporter implements Exporter {
  readonly delivery: ExporterDelivery;
  private readonly accepts: (alert: Alert) => boolean;
  private readonly policyOptions: PolicyOptions;
  private client: KubeClient | undefined;
  private closed = false;
  /** Policies written or applied. */
  readonly stats = { written: 0, applied: 0, skipped: 0 };

  constructor(
    private readonly ctx: Pick<ComponentContext, 'deadLetter' | 'metrics' | 'logger' | 'clock'>,
    private readonly config: QuarantineExporterConfig,
  ) {
    const route = { minSeverity: config.minSeverity, ...(config.detections ? { detections: config.detections } : {}), ...config.route };
    this.delivery = {
      route,
      ...(config.labels ? { labels: config.labels } : {}),
      ...(config.queue ? { queue: config.queue } : {}),
      ...(config.retry ? { retry: config.retry } : {}),
    };
    this.accepts = compileRoute(route);
    this.policyOptions = {
      selectorLabels: config.selectorLabels,
      ignoreLabels: config.ignoreLabels,
      isolateIngress: config.isolateIngress,
      allowDns: config.allowDns,
      dns: config.dns,
      allowCidrs: config.allowCidrs,
      allowNamespaces: config.allowNamespaces,
      protectedNamespaces: config.protectedNamespaces,
      namePrefix: config.namePrefix,
      annotationPrefix: config.annotationPrefix,
    };
  }

  /** Connect to the Kubernetes API (reads the kubeconfig or the service account) when `apply` is on. */
  start(): void {
    if (!this.config.apply || this.client) return;
    const conn = this.config.inCluster ? inClusterConnection() : loadKubeconfig(this.config.kubeconfig, this.config.context);
    this.client = new KubeClient(conn, { fieldManager: this.config.fieldManager, timeoutMs: this.config.timeoutMs });
  }

  /** Build (without writing or applying) the policy for an alert. */
  policyFor(alert: Alert): ReturnType<typeof buildQuarantinePolicy> {
    return buildQuarantinePolicy(alert, this.policyOptions);
  }

  async export(batch: readonly Alert[], signal: AbortSignal): Promise<void> {
    if (this.closed) throw new PermanentError('quarantine exporter is shut down');
    this.start();
    const decisions: QuarantineDecision[] = [];
    // One write/apply per policy per batch: alerts about the same workload share a policy, the latest alert's wins.
    const planned = new Map<string, { policy: NetworkPolicy; alerts: { alert: Alert; base: Omit<QuarantineDecision, 'action'> }[] }>();
    for (const alert of usableAlerts(batch, this.ctx)) {
      if (!this.accepts(alert)) continue;
      const base = {
        time: new Date(this.ctx.clock.now()).toISOString(),
        alertId: alert.id,
        deliveryKey: deliveryKey(alert),
        detection: alert.detection.id,
        severity: alert.severity,
      };
      const built = this.policyFor(alert);
      if ('skip' in built) {
        this.stats.skipped++;
        this.ctx.metrics.add('dropped', 1, built.skip);
        this.ctx.logger.warn('alert not quarantined', { alert: alert.id, detection: alert.detection.id, reason: built.skip, detail: built.message });
        decisions.push({ ...base, action: 'skipped', reason: `${built.skip}: ${built.message}` });
        continue;
      }
      const policy = built.policy;
      const problems = validateNetworkPolicy(policy);
      if (problems.length > 0) {
        // A label or name the API would reject: never written, never applied.
        this.ctx.deadLetter({
          stage: 'export',
          reason: 'invalid_manifest',
          message: problems.map((p) => `${p.path}: ${p.message}`).join('; '),
          raw: JSON.stringify(policy),
          alert,
        });
        decisions.push({ ...base, action: 'skipped', reason: 'invalid_manifest' });
        continue;
      }
      const ref = `${policy.metadata.namespace}/${policy.metadata.name}`;
      const entry = planned.get(ref);
      if (entry) {
        entry.policy = policy;
        entry.alerts.push({ alert, base });
      } else {
        planned.set(ref, { policy, alerts: [{ alert, base }] });
      }
    }
    let retryable: unknown;
    for (const [ref, { policy, alerts }] of planned) {
      if (this.config.directory) {
        try {
          await this.writeManifest(policy);
        } catch (err) {
          await this.logDecisions(decisions);
          throw err;
        }
        this.stats.written++;
        for (const { base } of alerts) decisions.push({ ...base, action: 'written', policy: ref });
      }
      if (this.client) {
        try {
          const outcome = await this.client.applyNetworkPolicy(policy, this.config.dryRun, signal);
          this.stats.applied++;
          for (const { base } of alerts) decisions.push({ ...base, action: 'applied', outcome, dryRun: this.config.dryRun, policy: ref });
        } catch (err) {
          if (err instanceof PermanentError) {
            for (const { alert, base } of alerts) {
              this.ctx.deadLetter({ stage: 'export', reason: 'permanent_error', message: `${errorMessage(err)} (delivery ${base.deliveryKey})`, alert });
              decisions.push({ ...base, action: 'skipped', reason: `apply failed: ${errorMessage(err)}`, policy: ref });
            }
          } else {
            retryable = err;
            break;
          }
        }
      }
    }
    await this.logDecisions(decisions);
    if (retryable !== undefined) {
      // Policies already applied are idempotent: the retry finds them unchanged.
      throw retryable instanceof RetryableError ? retryable : new RetryableError(errorMessage(retryable), { cause: retryable });
    }
  }

  private async writeManifest(policy: NetworkPolicy): Promise<void> {
    const dir = this.config.directory as string;
    const ext = this.config.format === 'json' ? 'json' : 'yaml';
    const file = join(dir, `${policy.metadata.namespace}.${policy.metadata.name}.${ext}`);
    const text = this.config.format === 'json' ? `${JSON.stringify(policy, null, 2)}\n` : toYaml(policy, { lineWidth: 0 });
    try {
      await mkdir(dir, { recursive: true });
      const tmp = `${file}.tmp-${process.pid}`;
      await writeFile(tmp, text, { mode: 0o644 });
      await rename(tmp, file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const message = `writing ${file} failed: ${errorMessage(err)}`;
      throw code === 'EACCES' || code === 'EROFS' || code === 'EEXIST' || code === 'ENOTDIR'
        ? new PermanentError(message, { cause: err })
        : new RetryableError(message, { cause: err });
    }
  }

  private async logDecisions(decisions: QuarantineDecision[]): Promise<void> {
    if (!this.config.directory || decisions.length === 0) return;
    try {
      await mkdir(this.config.directory, { recursive: true });
      await appendFile(join(this.config.directory, 'quarantine-decisions.jsonl'), decisions.map((d) => `${JSON.stringify(d)}\n`).join(''));
    } catch (err) {
      this.ctx.metrics.add('errors', 1, 'decision_log_failed');
      this.ctx.logger.error('could not write the quarantine decisions log', { error: errorMessage(err) });
    }
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client?.close();
  }
}

/** `k8s_quarantine` exporter: NetworkPolicies that isolate a flagged workload. */
export const k8sQuarantine = defineComponent({
  type: 'k8s_quarantine',
  kind: 'exporter',
  stability: 'alpha',
  description:
    'Containment: for alerts at or above a severity, a NetworkPolicy isolating the workload (egress only to DNS and an allow-list), written as a manifest or applied through the Kubernetes API (dry-run by default).',
  schema: quarantineConfigSchema,
  check: checkConfig,
  create: (ctx, config) => new QuarantineExporter(ctx, config),
});
