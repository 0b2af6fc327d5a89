import { type CallableFactory, type ComponentContext, type Detection, type DetectionBundle, defineComponent, type Processor } from '@outflow/core';
import { type AnalyticEnv, detectionRefOf } from './analytic.js';
import { ANALYTICS, type AnyAnalytic } from './analytics/index.js';
import { buildConfigSchema, checkConfig, type T1537Config, type T1537ConfigInput } from './config.js';
import { AccountOwnership, BucketOwnership } from './enrich/account-ownership.js';
import { CloudResourceLearner } from './enrich/cloud-resources.js';
import { DestinationClassifier, DestinationClassProcessor, loadAwsIpRanges } from './enrich/destination-class.js';
import { ImageTrust, ImageTrustProcessor } from './enrich/image-trust.js';
import { WorkloadIdentityProcessor, Workloads } from './enrich/workload-identity.js';
import { type ExceptionRule, type ExceptionStatus, ExceptionSuppressor } from './hygiene/exceptions.js';
import { SuppressionWindowSuppressor } from './hygiene/suppressions.js';

/** The helpers every analytic shares with the enrichers: one instance of each per preset. */
export interface SharedEnvironment {
  readonly accounts: AccountOwnership;
  readonly buckets: BucketOwnership;
  readonly images: ImageTrust;
  readonly destinations: DestinationClassifier;
  readonly workloads: Workloads;
}

/** Build the shared helpers from a validated preset config. */
export function createEnvironment(config: T1537Config): SharedEnvironment {
  const org = config.organization;
  return {
    accounts: new AccountOwnership({ accounts: org.accounts, trustedAccounts: org.trustedAccounts, organizationIds: org.organizationIds }),
    buckets: new BucketOwnership({ ownBuckets: org.buckets, maxKeys: config.limits.maxKeys, ttlMs: Math.max(config.limits.ttlMs, 30 * 86_400_000) }),
    images: new ImageTrust({ trustedRegistries: config.images.trustedRegistries, trustedDigests: config.images.trustedDigests }),
    destinations: new DestinationClassifier({
      podCidrs: config.cluster.podCidrs,
      serviceCidrs: config.cluster.serviceCidrs,
      ownCidrs: org.cidrs,
      allow: config.destinations.allow,
      cloudPrefixes: config.destinations.cloudRanges.prefixes,
      selfEndpoints: config.self.endpoints,
    }),
    workloads: new Workloads({ maxKeys: config.limits.maxKeys, ttlMs: config.limits.ttlMs, maxVersions: config.limits.maxVersions }),
  };
}

/** The environment one analytic is created with: shared helpers plus its own params, severity and references. */
export function analyticEnv<P>(def: AnyAnalytic, shared: SharedEnvironment, config: T1537Config): AnalyticEnv<P> {
  const settings = config.analytics[def.id];
  return {
    ...shared,
    config,
    params: (settings?.params ?? {}) as P,
    severity: settings?.severity ?? def.severity,
    detection: detectionRefOf(def),
    response: def.response,
  };
}

/** The default exceptions of the enabled analytics (unless turned off per analytic), scoped to their analytic, ids prefixed with it. */
export function defaultExceptions(config: T1537Config, analytics: readonly AnyAnalytic[] = ANALYTICS): ExceptionRule[] {
  const out: ExceptionRule[] = [];
  for (const def of analytics) {
    const settings = config.analytics[def.id];
    if (settings && (!settings.enabled || !settings.defaultExceptions)) continue;
    for (const rule of def.defaultExceptions) out.push({ ...rule, id: `${def.id}/${rule.id}`, analytics: [def.id] });
  }
  return out;
}

/** What `t1537` creates: a DetectionBundle plus the helpers and hygiene state, for hosts that want to look inside. */
export interface T1537Bundle extends DetectionBundle {
  /** Names the bundle in a pipeline given the instance itself (as a spec would): its enrichers' metrics and checkpoints are `t1537.<enricher>`. */
  readonly type: 't1537';
  readonly environment: SharedEnvironment;
  readonly exceptions: ExceptionSuppressor;
  readonly suppressionWindows: SuppressionWindowSuppressor;
  readonly workloadIdentity: WorkloadIdentityProcessor;
  /** Every exception (configured and default) with its counts; `expired` ones no longer apply. */
  exceptionReport(): ExceptionStatus[];
}

const configSchema = buildConfigSchema(ANALYTICS);

function createBundle(ctx: ComponentContext, config: T1537Config): T1537Bundle {
  const shared = createEnvironment(config);
  const workloadIdentity = new WorkloadIdentityProcessor(
    {
      cluster: config.cluster.name,
      inventory: config.inventory,
      kubernetes: config.kubernetes,
      index: config.limits,
      logger: ctx.logger,
      metrics: ctx.metrics,
      clock: ctx.clock,
    },
    shared.workloads,
  );
  const destinations = new DestinationClassProcessor(shared.destinations, async () => {
    const path = config.destinations.cloudRanges.path;
    if (path) {
      const { prefixes, invalid } = await loadAwsIpRanges(path);
      shared.destinations.addCloudPrefixes(prefixes);
      if (invalid > 0) ctx.logger.warn('cloud range entries skipped: not a valid prefix', { path, skipped: invalid });
    }
    await shared.destinations.resolveSelf(ctx.logger);
  });
  const processors: Processor[] = [workloadIdentity, new ImageTrustProcessor(shared.images), destinations, new CloudResourceLearner(shared.buckets)];
  const detections: Detection[] = [];
  for (const def of ANALYTICS) {
    if (config.analytics[def.id]?.enabled === false) continue;
    detections.push(def.create(analyticEnv(def, shared, config)));
  }
  const exceptions = new ExceptionSuppressor([...config.exceptions, ...defaultExceptions(config)], {
    name: `${ctx.name}.exceptions`,
    clock: ctx.clock,
    logger: ctx.logger,
    metrics: ctx.metrics,
  });
  const suppressionWindows = new SuppressionWindowSuppressor(config.suppressions, `${ctx.name}.suppressions`);
  return {
    type: 't1537',
    detections,
    processors,
    suppressors: [exceptions, suppressionWindows],
    environment: shared,
    exceptions,
    suppressionWindows,
    workloadIdentity,
    exceptionReport: () => exceptions.report(),
  };
}

const factory = defineComponent({
  type: 't1537',
  kind: 'detection',
  stability: 'alpha',
  description:
    'The T1537 (Transfer Data to Cloud Account) strategy for containers in AWS: enrichers (workload identity, destination class, image trust, bucket owners), the analytics, exceptions and suppression windows.',
  schema: configSchema,
  check: (config) => checkConfig(config as T1537Config, ANALYTICS),
  create: (ctx, config): T1537Bundle => createBundle(ctx, config as T1537Config),
}) as unknown as CallableFactory<T1537Config, T1537ConfigInput, T1537Bundle>;

/**
 * The T1537 preset: `createPipeline({ detections: t1537({ organization: { accounts: ['111122223333'] } }) })`.
 * `t1537.analytics` lists every analytic, to run them one by one (see `createAnalytic`).
 */
export const t1537 = Object.assign(factory, {
  analytics: ANALYTICS,
});

/** Validate a preset config (every problem with its path) and fill its defaults. */
export function t1537Config(input: T1537ConfigInput = {}): T1537Config {
  return t1537.validate(input);
}

/**
 * One analytic as a standalone Detection, for running analytics one by one:
 * `createPipeline({ detections: [createAnalytic('ebs_snapshot_shared', { organization: { accounts: [...] } })] })`.
 * It gets its own helpers but no enrichers: add them yourself for analytics that read enriched fields.
 */
export function createAnalytic(analytic: string | AnyAnalytic, input: T1537ConfigInput = {}): Detection {
  const def = typeof analytic === 'string' ? ANALYTICS.find((a) => a.id === analytic) : analytic;
  if (!def) throw new Error(`unknown analytic "${String(analytic)}"; known: ${ANALYTICS.map((a) => a.id).join(', ')}`);
  const config = t1537Config(input);
  return def.create(analyticEnv(def, createEnvironment(config), config));
}
