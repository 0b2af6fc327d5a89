import { ATTACK, adjustSeverity, analyticRule, defineAnalytic } from '../../analytic.js';
import { bucketFromArn } from '../../enrich/cloud-resources.js';
import { isObject, str } from '../../util/json.js';
import { cloudFinding, describeActor, resourceOwner, succeeded } from './common.js';

const OPERATIONS = new Set(['CopyObject', 'UploadPartCopy']);

/** The source bucket of `x-amz-copy-source` (`bucket/key`, `/bucket/key?versionId=...`, URL-encoded, or an access point ARN). */
export function copySourceBucket(value: string | undefined): string | undefined {
  if (!value) return undefined;
  let s = value;
  try {
    s = decodeURIComponent(s);
  } catch {
    // keep as is
  }
  if (s.startsWith('/')) s = s.slice(1);
  if (s.startsWith('arn:')) return undefined;
  const slash = s.indexOf('/');
  const bucket = slash >= 0 ? s.slice(0, slash) : s;
  return bucket.length > 0 ? bucket : undefined;
}

/**
 * 7a. Objects copied to a bucket of another account: `CopyObject` /
 * `UploadPartCopy` data events whose source and destination buckets belong to
 * different accounts and the destination is not ours. Bucket owners come from
 * the event's `resources[]` (CloudTrail names each bucket's account), then
 * from owners learned earlier.
 */
export const s3CopyExternal = defineAnalytic({
  id: 's3_copy_external',
  title: 'S3 objects copied to a bucket of another account',
  description: 'CopyObject / UploadPartCopy where the destination bucket belongs to an account outside the organisation.',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1530],
  kinds: ['cloud_api_call'],
  dataSources: ['AWS CloudTrail S3 data events (write events on the source buckets)'],
  dedupKeyDescription: 'actor + source bucket + destination bucket',
  status: 'test',
  defaultExceptions: [],
  response: {
    investigate: [
      'Identify the destination bucket’s account (aws.s3.destination.account_id) and the principal that copied (user.id).',
      'Count the objects copied (the alert count) and list their keys from the data events.',
    ],
    contain: ['Revoke the principal’s session and keys; deny s3:PutObject to foreign buckets with a VPC endpoint policy or an SCP (aws:ResourceOrgID).'],
    analyse: ['Treat the copied objects as disclosed; establish how the principal got its credentials.'],
    remediate: ['Enforce aws:ResourceOrgID on s3:PutObject through an SCP or resource control policy.'],
  },
  create(env) {
    return analyticRule(env, {
      kinds: ['cloud_api_call'],
      match(event) {
        if (!OPERATIONS.has(event.operation) || !succeeded(event) || !isObject(event.request)) return undefined;
        const dest = str(event.request.bucketName);
        const src = copySourceBucket(str(event.request['x-amz-copy-source']));
        const owners = new Map<string, string>();
        for (const r of event.resources ?? []) {
          const b = r.type === 'AWS::S3::Bucket' ? bucketFromArn(r.arn) : undefined;
          if (b && r.accountId) owners.set(b, r.accountId);
        }
        const owner = resourceOwner(event);
        const destAccount = (dest && (owners.get(dest) ?? env.buckets.ownerOf(dest))) || undefined;
        const srcAccount = (src && (owners.get(src) ?? env.buckets.ownerOf(src))) || undefined;
        const ctx = { recipientAccountId: owner };
        let directionKnown = true;
        let foreignAccount: string | undefined;
        if (destAccount && srcAccount) {
          if (destAccount === srcAccount) return undefined;
          const c = env.accounts.classify(destAccount, ctx);
          if (c !== 'foreign') return undefined;
          foreignAccount = destAccount;
        } else {
          // The buckets named in resources[] do not line up with the request: judge by their accounts alone.
          const accounts = [...new Set(owners.values())];
          if (accounts.length < 2) return undefined;
          foreignAccount = accounts.find((a) => env.accounts.classify(a, ctx) === 'foreign');
          if (!foreignAccount) return undefined;
          directionKnown = false;
        }
        return cloudFinding(event, {
          severity: directionKnown ? env.severity : adjustSeverity(env.severity, -1),
          dedupKey: `${event.actor.arn ?? event.actor.accountId ?? ''}|${src ?? ''}|${dest ?? ''}`,
          summary: directionKnown
            ? `${describeActor(event.actor)} copied objects from ${src} (account ${srcAccount}) to ${dest}, a bucket of account ${destAccount} outside the organisation.`
            : `${describeActor(event.actor)} copied objects between buckets of different accounts, one of them (${foreignAccount}) outside the organisation.`,
          observed: `${event.operation} ${src ?? '?'}/… → ${dest ?? '?'}/${str(event.request.key) ?? ''}`,
          expected: 'copies only between buckets of the organisation’s accounts or trusted partners',
          reasons: directionKnown
            ? [`destination bucket ${dest} belongs to account ${destAccount}`]
            : ['the bucket names in the request do not match the resources, so the direction could not be established'],
          attributes: {
            'aws.s3.bucket': src,
            'aws.s3.destination.bucket': dest,
            'aws.s3.destination.account_id': foreignAccount,
            'aws.s3.key': str(event.request.key),
          },
          tags: ['s3', 'copy'],
        });
      },
    });
  },
});
