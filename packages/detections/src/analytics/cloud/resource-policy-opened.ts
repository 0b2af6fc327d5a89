import type { CloudApiCallEvent, DetectionContext, FindingDraft } from '@outflow/core';
import { type AnalyticEnv, ATTACK, adjustSeverity, analyticRule, defineAnalytic } from '../../analytic.js';
import { accountOf } from '../../enrich/account-ownership.js';
import { isObject, str } from '../../util/json.js';
import { cloudFinding, describeActor, resourceOwner, succeeded } from './common.js';
import { analysePolicy, describeGrants, grantLabels, parsePolicyDocument } from './policy.js';

/**
 * 8. Resource policies opened to external or public principals: ECR
 * repository policies (`SetRepositoryPolicy`), ECR registry policies
 * (`PutRegistryPolicy`, which grant replication into other accounts), and
 * Lambda layer permissions (`AddLayerVersionPermission` with principal `*`
 * and no organisation, or a foreign account).
 */
export const resourcePolicyOpened = defineAnalytic({
  id: 'resource_policy_opened',
  title: 'Resource policy opened to an external or public principal',
  description: 'ECR repository/registry policies and Lambda layer permissions granting a foreign account or everyone.',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1098],
  kinds: ['cloud_api_call'],
  dataSources: ['AWS CloudTrail management events (ecr.amazonaws.com, lambda.amazonaws.com)'],
  dedupKeyDescription: 'owner account + resource + external grantees',
  status: 'test',
  defaultExceptions: [],
  response: {
    investigate: [
      'Read the granted actions and principals (aws.policy.actions, aws.share.grantees); confirm with the resource owner.',
      'For ECR, list pulls by the granted principals (ecr:BatchGetImage / GetDownloadUrlForLayer in CloudTrail) since the change.',
    ],
    contain: [
      'Remove the statement: aws ecr delete-repository-policy / put-registry-policy with the previous document; aws lambda remove-layer-version-permission.',
    ],
    analyse: ['Images and layers often embed configuration and credentials: scan what was exposed and rotate what you find.'],
    remediate: ['Share images and layers with the organisation (aws:PrincipalOrgID, organizationId) rather than with accounts or "*".'],
  },
  create(env) {
    return analyticRule(env, {
      kinds: ['cloud_api_call'],
      match(event, ctx) {
        if (!succeeded(event) || !isObject(event.request)) return undefined;
        if (event.operation === 'SetRepositoryPolicy' || event.operation === 'PutRegistryPolicy') return ecrPolicy(env, event, ctx);
        if (event.operation.startsWith('AddLayerVersionPermission')) return layerPermission(env, event);
        return undefined;
      },
    });
  },
});

function ecrPolicy(env: AnalyticEnv<unknown>, event: CloudApiCallEvent, ctx: DetectionContext): FindingDraft | undefined {
  const req = event.request as Record<string, unknown>;
  const raw = req.policyText;
  if (raw === undefined || raw === null) return undefined;
  const doc = parsePolicyDocument(raw);
  if (!doc) {
    ctx.deadLetter({ stage: 'detect', reason: 'invalid_policy', message: `${event.operation} policyText is not a JSON policy document`, event });
    return undefined;
  }
  const owner = resourceOwner(event);
  const { grants, restricted } = analysePolicy(doc, env, owner);
  if (grants.length === 0) return undefined;
  const registry = event.operation === 'PutRegistryPolicy';
  const resource = registry ? `registry ${str(req.registryId) ?? owner}` : `repository ${str(req.repositoryName) ?? 'unknown'}`;
  const pub = grants.some((g) => g.public);
  const grantees = grantLabels(grants);
  const actions = [...new Set(grants.flatMap((g) => g.actions))];
  return cloudFinding(event, {
    severity: pub ? adjustSeverity(env.severity, 1) : env.severity,
    dedupKey: `${owner ?? ''}|ecr:${resource}|${grantees.join(',')}`,
    summary: pub
      ? `The ECR ${resource} of account ${owner} is now open to anyone (${actions.join(', ') || 'no actions listed'}).`
      : `The ECR ${resource} of account ${owner} now grants ${grantees.join(', ')}, outside the organisation: ${actions.join(', ') || 'no actions listed'}.`,
    observed: `${describeActor(event.actor)} called ${event.operation} granting ${describeGrants(grants)}`,
    expected: 'ECR policies that grant only the organisation’s accounts or trusted partners, or carry an aws:PrincipalOrgID condition',
    reasons: [
      ...grants.map((g) => `statement ${g.sid ?? `#${g.statement}`}: Allow ${g.actions.join(', ')} to ${g.public ? `${g.principal} (public)` : g.principal}`),
      ...restricted.map((r) => `statement #${r.statement} not counted: ${r.reason}`),
    ],
    attributes: {
      'aws.ecr.repository': registry ? undefined : str(req.repositoryName),
      'aws.ecr.registry_id': str(req.registryId) ?? owner,
      'aws.share.grantees': grantees,
      'aws.share.public': pub,
      'aws.policy.actions': actions,
    },
    tags: ['ecr', 'policy'],
  });
}

function layerPermission(env: AnalyticEnv<unknown>, event: CloudApiCallEvent): FindingDraft | undefined {
  const req = event.request as Record<string, unknown>;
  const principal = str(req.principal);
  if (!principal) return undefined;
  const owner = resourceOwner(event);
  const org = str(req.organizationId);
  let pub = false;
  let grantee: string;
  let reason: string;
  if (principal === '*') {
    if (org) {
      if (env.accounts.isOurOrganization(org) !== false) return undefined;
      grantee = org;
      reason = `principal "*" limited to organisation ${org}, which is not ours`;
    } else {
      pub = true;
      grantee = 'all';
      reason = 'principal "*" without an organizationId: every AWS account';
    }
  } else {
    const account = accountOf(principal);
    if (!account || env.accounts.classify(account, { recipientAccountId: owner }) !== 'foreign') return undefined;
    grantee = account;
    reason = `account ${account} is neither ours nor a trusted partner`;
  }
  const layer = str(req.layerName) ?? 'unknown-layer';
  const version = req.versionNumber !== undefined ? String(req.versionNumber) : '?';
  return cloudFinding(event, {
    severity: pub ? adjustSeverity(env.severity, 1) : env.severity,
    dedupKey: `${owner ?? ''}|lambda-layer:${layer}:${version}|${grantee}`,
    summary: pub
      ? `Lambda layer ${layer} version ${version} of account ${owner} can now be used by any AWS account.`
      : `Lambda layer ${layer} version ${version} of account ${owner} can now be used by ${grantee}, outside the organisation.`,
    observed: `${describeActor(event.actor)} called ${event.operation} (principal ${principal}${org ? `, organizationId ${org}` : ''}, action ${str(req.action) ?? '?'})`,
    expected: 'layers shared with the organisation (organizationId) or its accounts only',
    reasons: [reason],
    attributes: {
      'aws.lambda.layer': layer,
      'aws.lambda.layer.version': version,
      'aws.share.grantees': [grantee],
      'aws.share.public': pub,
      'aws.policy.actions': str(req.action) ? [str(req.action) as string] : undefined,
    },
    tags: ['lambda', 'policy'],
  });
}
