import type { AttributeValue, CloudActor, CloudApiCallEvent, FindingDraft, Severity } from '@outflow/core';
import type { AnalyticEnv } from '../../analytic.js';
import { type AccountClass, accountOf } from '../../enrich/account-ownership.js';
import { asArray, isObject, path, str } from '../../util/json.js';

/** True when the call succeeded (no `errorCode`). */
export function succeeded(event: CloudApiCallEvent): boolean {
  return !event.errorCode;
}

/** The account that owns the resource of the call: `recipientAccountId`, else the caller's account. */
export function resourceOwner(event: CloudApiCallEvent): string | undefined {
  return event.recipientAccountId ?? event.actor.accountId;
}

/** Who made the call, for humans: the ARN, else the user name, principal id or account. */
export function describeActor(actor: CloudActor): string {
  return actor.arn ?? actor.userName ?? actor.principalId ?? (actor.accountId ? `account ${actor.accountId}` : 'an unknown principal');
}

/** A grantee named by a share or a policy. */
export type Grantee = { kind: 'account'; id: string } | { kind: 'public' } | { kind: 'organization'; arn: string; orgId?: string; managementAccount?: string };

export function granteeLabel(g: Grantee): string {
  if (g.kind === 'account') return g.id;
  if (g.kind === 'public') return 'all';
  return g.orgId ?? g.arn;
}

const ORG_ARN = /^arn:aws[a-z-]*:organizations::(\d{12}):(?:organization|ou)\/(o-[a-z0-9]+)/;

function granteeOf(item: unknown): Grantee | undefined {
  if (!isObject(item)) return undefined;
  const group = str(item.group) ?? str(item.userGroup);
  if (group) return group === 'all' ? { kind: 'public' } : undefined;
  // A user id that is not an account id cannot take effect (EC2 rejects it); it grants nothing.
  const user = str(item.userId);
  if (user) return /^\d{12}$/.test(user) ? { kind: 'account', id: user } : undefined;
  const org = str(item.organizationArn) ?? str(item.organizationalUnitArn);
  if (org) {
    const m = ORG_ARN.exec(org);
    return m ? { kind: 'organization', arn: org, orgId: m[2] as string, managementAccount: m[1] as string } : { kind: 'organization', arn: org };
  }
  return undefined;
}

/**
 * The grantees added and removed by an EC2 `Modify*Attribute` request, for the
 * permission attribute `key` (`createVolumePermission`, `launchPermission`):
 * `{ <key>: { add: { items: [...] }, remove: { items: [...] } } }`, and the
 * older flat form `{ operationType, userIds: { items }, userGroups: { items } }`.
 */
export function permissionChanges(request: unknown, key: string): { added: Grantee[]; removed: Grantee[] } {
  const added: Grantee[] = [];
  const removed: Grantee[] = [];
  const block = path(request, key);
  if (isObject(block)) {
    for (const item of asArray(path(block, 'add', 'items'))) {
      const g = granteeOf(item);
      if (g) added.push(g);
    }
    for (const item of asArray(path(block, 'remove', 'items'))) {
      const g = granteeOf(item);
      if (g) removed.push(g);
    }
  }
  const op = str(path(request, 'operationType'))?.toLowerCase();
  if (op === 'add' || op === 'remove') {
    const into = op === 'add' ? added : removed;
    for (const item of [...asArray(path(request, 'userIds', 'items')), ...asArray(path(request, 'userGroups', 'items'))]) {
      const g = granteeOf(item);
      if (g) into.push(g);
    }
  }
  return { added, removed };
}

/** Classify a grantee relative to the resource owner. */
export function classifyGrantee(env: AnalyticEnv<unknown>, g: Grantee, owner: string | undefined): AccountClass {
  if (g.kind === 'public') return 'public';
  if (g.kind === 'account') return env.accounts.classify(g.id, { recipientAccountId: owner });
  if (g.orgId) {
    const ours = env.accounts.isOurOrganization(g.orgId);
    if (ours !== undefined) return ours ? 'ours' : 'foreign';
  }
  if (g.managementAccount) {
    const c = env.accounts.classify(g.managementAccount, { recipientAccountId: owner });
    return c === 'partner' ? 'partner' : c === 'ours' ? 'ours' : 'foreign';
  }
  return 'foreign';
}

/** The grantees that take data outside: foreign accounts and organisations, and the public. */
export function externalGrantees(env: AnalyticEnv<unknown>, grantees: readonly Grantee[], owner: string | undefined): { external: Grantee[]; public: boolean } {
  const external: Grantee[] = [];
  let pub = false;
  for (const g of grantees) {
    const c = classifyGrantee(env, g, owner);
    if (c === 'public') {
      pub = true;
      external.push(g);
    } else if (c === 'foreign') external.push(g);
  }
  return { external, public: pub };
}

/** Attributes common to every cloud finding (OpenTelemetry names where one exists). */
export function cloudAttributes(event: CloudApiCallEvent, extra: Record<string, AttributeValue | undefined> = {}): Record<string, AttributeValue> {
  const a: Record<string, AttributeValue> = { 'cloud.provider': event.provider, 'rpc.service': event.service, 'rpc.method': event.operation };
  const owner = resourceOwner(event);
  if (owner) a['cloud.account.id'] = owner;
  if (event.region) a['cloud.region'] = event.region;
  if (event.actor.arn) a['user.id'] = event.actor.arn;
  if (event.actor.userName) a['user.name'] = event.actor.userName;
  if (event.actor.accountId) a['aws.actor.account_id'] = event.actor.accountId;
  if (event.actor.type) a['aws.actor.type'] = event.actor.type;
  if (event.actor.invokedBy) a['aws.actor.invoked_by'] = event.actor.invokedBy;
  if (event.actor.sessionIssuerArn) a['aws.actor.session_issuer.arn'] = event.actor.sessionIssuerArn;
  if (event.sourceIp) a['source.address'] = event.sourceIp;
  if (event.userAgent) a['user_agent.original'] = event.userAgent;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) a[k] = v;
  return a;
}

export interface CloudFindingParts {
  severity: Severity;
  dedupKey: string;
  summary: string;
  observed: string;
  expected?: string;
  reasons?: string[];
  attributes?: Record<string, AttributeValue | undefined>;
  tags?: string[];
}

/** A finding draft for a cloud API call (the rule fills detection, time, evidence and workload). */
export function cloudFinding(event: CloudApiCallEvent, parts: CloudFindingParts): FindingDraft {
  return {
    severity: parts.severity,
    dedupKey: parts.dedupKey,
    explanation: {
      summary: parts.summary,
      observed: parts.observed,
      ...(parts.expected ? { expected: parts.expected } : {}),
      ...(parts.reasons && parts.reasons.length > 0 ? { reasons: parts.reasons } : {}),
    },
    attributes: cloudAttributes(event, parts.attributes),
    tags: ['t1537', 'cloud', ...(parts.tags ?? [])],
  };
}

/** The account of an ARN or bare account id (re-exported for analytics). */
export { accountOf };

/** Sorted, de-duplicated labels for dedup keys and attributes. */
export function labels(grantees: readonly Grantee[]): string[] {
  return [...new Set(grantees.map(granteeLabel))].sort();
}
