import { type ConfigIssue, SEVERITIES, type Severity, z } from '@outflow/core';
import type { AnyAnalytic } from './analytics/index.js';
import { parseEndpoint } from './enrich/destination-class.js';
import { exceptionRuleSchema } from './hygiene/exceptions.js';
import { isoTime } from './hygiene/match.js';
import { suppressionWindowSchema } from './hygiene/suppressions.js';
import { parseCidr } from './util/ip.js';

const accountId = z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id');
const orgId = z.string().regex(/^o-[a-z0-9]{10,32}$/, 'must be an AWS Organizations id (o-xxxxxxxxxx)');
const cidr = z.string().refine((s) => parseCidr(s) !== undefined, { message: 'must be an IP address or a CIDR (10.0.0.0/8, fd00::/8)' });
const hostOrCidr = z
  .string()
  .min(1)
  .refine((s) => parseCidr(s) !== undefined || /^[a-z0-9*?.-]+$/i.test(s), { message: 'must be a CIDR, an address, or a host name (globs * and ? allowed)' });
const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be an image digest sha256:<64 hex digits>');

const cloudPrefix = z
  .object({
    prefix: cidr,
    service: z.string().min(1).default('AMAZON'),
    region: z.string().min(1).optional(),
    provider: z.string().min(1).default('aws'),
  })
  .strict();

/** `cloudRanges`: a path to an ip-ranges.json, a list of prefixes, or `{ path, prefixes }`. */
const cloudRanges = z.preprocess(
  (v) => (typeof v === 'string' ? { path: v } : Array.isArray(v) ? { prefixes: v } : v),
  z
    .object({
      /** An AWS ip-ranges.json file (https://ip-ranges.amazonaws.com/ip-ranges.json), read at start. */
      path: z.string().min(1).optional(),
      prefixes: z.array(cloudPrefix).default([]),
    })
    .strict(),
);

/** The preset's configuration without the per-analytic settings. */
export const baseConfigSchema = z
  .object({
    organization: z
      .object({
        /** Our AWS account ids. Empty: the account owning each call's resource (`recipientAccountId`) is ours, every other is foreign. */
        accounts: z.array(accountId).default([]),
        /** Partner accounts data may go to. */
        trustedAccounts: z.array(accountId).default([]),
        /** Our AWS Organizations ids, for `aws:PrincipalOrgID` / `aws:SourceOrgID` conditions. */
        organizationIds: z.array(orgId).default([]),
        /** Our VPC ids, for `aws:SourceVpc` conditions. */
        vpcIds: z.array(z.string().regex(/^vpc-[0-9a-f]+$/, 'must be a VPC id (vpc-...)')).default([]),
        /** Our own address ranges (VPC CIDRs, elastic IPs): destination class `own`. */
        cidrs: z.array(cidr).default([]),
        /** S3 bucket names (globs) that are ours, besides those learned from CloudTrail. */
        buckets: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .prefault({}),
    cluster: z
      .object({
        /** Cluster name put on workload identities (`k8s.cluster.name`). */
        name: z.string().min(1).optional(),
        podCidrs: z.array(cidr).default([]),
        serviceCidrs: z.array(cidr).default([]),
      })
      .strict()
      .prefault({}),
    destinations: z
      .object({
        /** Allow-listed destinations: CIDRs/addresses, or host names and globs matched against flow DNS names. */
        allow: z.array(hostOrCidr).default([]),
        cloudRanges: cloudRanges.prefault({}),
      })
      .strict()
      .prefault({}),
    images: z
      .object({
        /** Registry or repository prefixes (globs allowed), matched on the normalized image reference. */
        trustedRegistries: z.array(z.string().min(1)).default([]),
        trustedDigests: z.array(digest).default([]),
      })
      .strict()
      .prefault({}),
    /** A static inventory file (JSON): Outflow's `{ "pods": [...] }` or `kubectl get pods -A -o json` output. */
    inventory: z.string().min(1).optional(),
    kubernetes: z
      .object({
        /** Watch pods through the Kubernetes API. */
        watch: z.boolean().default(false),
        kubeconfig: z.string().min(1).optional(),
        context: z.string().min(1).optional(),
        /** Re-list all pods this often (ms, processing time). */
        resyncMs: z.number().int().positive().default(3_600_000),
        /** How long start waits for the first pod list (ms) before going on without it. */
        startTimeoutMs: z.number().int().positive().default(10_000),
      })
      .strict()
      .prefault({}),
    /** Bounds of the enrichment state (workload index, bucket owners). */
    limits: z
      .object({
        maxKeys: z.number().int().positive().default(100_000),
        ttlMs: z.number().int().positive().default(86_400_000),
        maxVersions: z.number().int().positive().default(8),
      })
      .strict()
      .prefault({}),
    exceptions: z.array(exceptionRuleSchema).default([]),
    suppressions: z.array(suppressionWindowSchema).default([]),
    self: z
      .object({
        /** The pipeline's own exporter endpoints (URLs, host:port, addresses): their traffic is class `self` and never scored. */
        endpoints: z.array(z.string().refine((s) => parseEndpoint(s) !== undefined, { message: 'must be a URL, host:port, or an address' })).default([]),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** Per-analytic settings: `analytics: { <id>: { enabled, severity, defaultExceptions, params } }`. */
export interface AnalyticSettings<P = Record<string, unknown>> {
  enabled: boolean;
  /** Base severity; the analytic raises or lowers it for stronger or weaker cases. */
  severity?: Severity | undefined;
  /** Apply the analytic's default exceptions. */
  defaultExceptions: boolean;
  params: P;
}

export type T1537Config = z.output<typeof baseConfigSchema> & { analytics: Record<string, AnalyticSettings> };
export type T1537ConfigInput = z.input<typeof baseConfigSchema> & {
  analytics?: Record<string, { enabled?: boolean; severity?: Severity; defaultExceptions?: boolean; params?: Record<string, unknown> }>;
};

/** The full config schema for a list of analytics: unknown analytic ids and unknown params are reported with their paths. */
export function buildConfigSchema(analytics: readonly AnyAnalytic[]) {
  const shape: Record<string, z.ZodType> = {};
  for (const def of analytics) {
    const params = (def.params ?? z.object({}).strict()) as z.ZodType;
    shape[def.id] = z
      .object({
        enabled: z.boolean().default(true),
        severity: z.enum(SEVERITIES as [Severity, ...Severity[]]).optional(),
        defaultExceptions: z.boolean().default(true),
        params: (params as z.ZodObject).prefault({}),
      })
      .strict()
      .prefault({});
  }
  return baseConfigSchema.extend({ analytics: z.object(shape).strict().prefault({}) });
}

/** Cross-field checks: exception and window analytics exist, ids are unique, windows end after they start. */
export function checkConfig(config: T1537Config, analytics: readonly AnyAnalytic[]): ConfigIssue[] {
  const known = new Set(analytics.map((a) => a.id));
  const issues: ConfigIssue[] = [];
  const ids = new Set<string>();
  config.exceptions.forEach((e, i) => {
    if (ids.has(e.id)) issues.push({ path: `exceptions[${i}].id`, message: `duplicate exception id "${e.id}"` });
    ids.add(e.id);
    e.analytics?.forEach((a, j) => {
      if (!known.has(a)) issues.push({ path: `exceptions[${i}].analytics[${j}]`, message: `unknown analytic "${a}"` });
    });
  });
  config.suppressions.forEach((w, i) => {
    w.analytics?.forEach((a, j) => {
      if (!known.has(a)) issues.push({ path: `suppressions[${i}].analytics[${j}]`, message: `unknown analytic "${a}"` });
    });
    if (!(isoTime(w.to, true) > isoTime(w.from))) issues.push({ path: `suppressions[${i}].to`, message: 'must be after from' });
  });
  return issues;
}
