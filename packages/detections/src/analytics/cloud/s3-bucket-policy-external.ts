import { ATTACK, adjustSeverity, analyticRule, defineAnalytic } from '../../analytic.js';
import { isObject, str } from '../../util/json.js';
import { cloudFinding, describeActor, resourceOwner, succeeded } from './common.js';
import { analysePolicy, describeGrants, grantLabels, parsePolicyDocument } from './policy.js';

/**
 * 5. A bucket policy grants an external account or everyone: `Allow`
 * statements whose AWS principal is `*` or a foreign account, with no
 * condition keeping them inside the organisation.
 */
export const s3BucketPolicyExternal = defineAnalytic({
  id: 's3_bucket_policy_external',
  title: 'S3 bucket policy grants an external or public principal',
  description: 'PutBucketPolicy with an Allow statement for a foreign account or "*" and no organisation condition.',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1530],
  kinds: ['cloud_api_call'],
  dataSources: ['AWS CloudTrail management events (s3.amazonaws.com)'],
  dedupKeyDescription: 'owner account + bucket + external grantees',
  status: 'test',
  defaultExceptions: [],
  response: {
    investigate: [
      'Read the policy (the event’s requestParameters.bucketPolicy) and the statements named in the explanation.',
      'Confirm who made the change and whether the bucket is meant to be public (static website, public dataset).',
      'Query S3 server access logs or CloudTrail data events for reads by the granted principals since the change.',
    ],
    contain: [
      'Restore the previous policy or delete the statement; enable S3 Block Public Access on the bucket and the account.',
      'Revoke the credentials used if the actor is not recognised.',
    ],
    analyse: ['List what the bucket holds and which objects the granted actions expose.'],
    remediate: ['Add aws:PrincipalOrgID conditions to cross-account statements; enforce Block Public Access with an SCP.'],
  },
  create(env) {
    return analyticRule(env, {
      kinds: ['cloud_api_call'],
      match(event, ctx) {
        if (event.operation !== 'PutBucketPolicy' || !succeeded(event) || !isObject(event.request)) return undefined;
        const raw = event.request.bucketPolicy ?? event.request.policy;
        if (raw === undefined || raw === null) return undefined;
        const doc = parsePolicyDocument(raw);
        if (!doc) {
          ctx.deadLetter({ stage: 'detect', reason: 'invalid_policy', message: 'PutBucketPolicy policy is not a JSON policy document', event });
          return undefined;
        }
        const owner = resourceOwner(event);
        const { grants, restricted } = analysePolicy(doc, env, owner);
        if (grants.length === 0) return undefined;
        const bucket = str(event.request.bucketName) ?? 'unknown-bucket';
        const pub = grants.some((g) => g.public);
        const grantees = grantLabels(grants);
        const actions = [...new Set(grants.flatMap((g) => g.actions))];
        return cloudFinding(event, {
          severity: pub ? adjustSeverity(env.severity, 1) : env.severity,
          dedupKey: `${owner ?? ''}|${bucket}|${grantees.join(',')}`,
          summary: pub
            ? `The policy of bucket ${bucket} (account ${owner}) now allows anyone to ${actions.join(', ') || 'act on it'}.`
            : `The policy of bucket ${bucket} (account ${owner}) now allows account(s) ${grantees.join(', ')}, outside the organisation, to ${actions.join(', ') || 'act on it'}.`,
          observed: `${describeActor(event.actor)} called PutBucketPolicy granting ${describeGrants(grants)}`,
          expected:
            'bucket policies that grant only the organisation’s accounts, trusted partners, or AWS services, or that carry an aws:PrincipalOrgID condition',
          reasons: [
            ...grants.map(
              (g) =>
                `statement ${g.sid ?? `#${g.statement}`}: Allow ${g.actions.join(', ') || '(no action)'} to ${g.public ? `${g.principal} (public)` : g.principal} without an organisation condition`,
            ),
            ...restricted.map((r) => `statement #${r.statement} not counted: ${r.reason}`),
          ],
          attributes: { 'aws.s3.bucket': bucket, 'aws.share.grantees': grantees, 'aws.share.public': pub, 'aws.policy.actions': actions },
          tags: ['s3', 'policy'],
        });
      },
    });
  },
});
