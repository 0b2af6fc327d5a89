import { z } from '@outflow/core';
import { ATTACK, adjustSeverity, analyticRule, defineAnalytic } from '../../analytic.js';
import { asArray, isObject, propIgnoreCase, str } from '../../util/json.js';
import { bucketName, bucketVerdict } from './buckets.js';
import { cloudFinding, describeActor, resourceOwner, succeeded } from './common.js';

const params = z
  .object({
    /** Also report replication to a bucket whose owner is unknown (low severity). */
    reportUnknownOwner: z.boolean().default(true),
  })
  .strict();

interface Destination {
  bucket: string;
  account?: string;
  verdict: string;
}

/**
 * 6. Bucket replication to a foreign account or bucket: `PutBucketReplication`
 * whose enabled rules send objects to a destination `Account` we do not own,
 * or to a bucket known to belong to someone else (low severity when the
 * destination's owner is unknown).
 */
export const s3ReplicationExternal = defineAnalytic<z.output<typeof params>>({
  id: 's3_replication_external',
  title: 'S3 replication to an external account or bucket',
  description: 'PutBucketReplication with an enabled rule whose destination account or bucket is not ours.',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1020],
  kinds: ['cloud_api_call'],
  dataSources: ['AWS CloudTrail management events (s3.amazonaws.com)', 'CloudTrail S3 events of our accounts (to learn bucket owners)'],
  dedupKeyDescription: 'owner account + source bucket + destination buckets',
  status: 'test',
  params,
  defaultExceptions: [],
  response: {
    investigate: [
      'Read the replication configuration in the event and identify the destination bucket and account.',
      'Confirm with the bucket owner whether cross-account replication (DR, data sharing) was planned.',
    ],
    contain: ['Delete the replication rule (aws s3api delete-bucket-replication) and revoke the replication role’s permissions on the destination.'],
    analyse: ['Replication copies new objects (and existing ones with batch replication): list what was written since the change.'],
    remediate: ['Restrict s3:PutReplicationConfiguration and iam:PassRole for replication roles; require destinations inside the organisation.'],
  },
  create(env) {
    return analyticRule(env, {
      kinds: ['cloud_api_call'],
      match(event) {
        if (event.operation !== 'PutBucketReplication' || !succeeded(event) || !isObject(event.request)) return undefined;
        const config = propIgnoreCase(event.request, 'ReplicationConfiguration');
        if (!isObject(config)) return undefined;
        const owner = resourceOwner(event);
        const foreign: Destination[] = [];
        const unknown: Destination[] = [];
        for (const r of [...asArray(propIgnoreCase(config, 'Rule')), ...asArray(propIgnoreCase(config, 'Rules'))]) {
          if (!isObject(r)) continue;
          if (str(propIgnoreCase(r, 'Status'))?.toLowerCase() === 'disabled') continue;
          const dest = propIgnoreCase(r, 'Destination');
          const arn = str(propIgnoreCase(dest, 'Bucket'));
          if (!arn) continue;
          const bucket = bucketName(arn);
          const account = str(propIgnoreCase(dest, 'Account'));
          const verdict = bucketVerdict(env, bucket, account, owner);
          const d: Destination = { bucket, ...(verdict.account ? { account: verdict.account } : {}), verdict: verdict.basis };
          if (verdict.class === 'foreign' || verdict.class === 'public') foreign.push(d);
          else if (verdict.class === 'unknown') unknown.push(d);
        }
        const reported = [...foreign, ...(env.params.reportUnknownOwner ? unknown : [])];
        if (reported.length === 0) return undefined;
        const source = str(event.request.bucketName) ?? 'unknown-bucket';
        const names = [...new Set(reported.map((d) => d.bucket))].sort();
        const accounts = [...new Set(reported.map((d) => d.account).filter((a): a is string => a !== undefined))].sort();
        const isForeign = foreign.length > 0;
        return cloudFinding(event, {
          severity: isForeign ? env.severity : adjustSeverity(env.severity, -2),
          dedupKey: `${owner ?? ''}|${source}|${names.join(',')}`,
          summary: isForeign
            ? `Bucket ${source} (account ${owner}) now replicates its objects to ${foreign.map((d) => `${d.bucket}${d.account ? ` of account ${d.account}` : ''}`).join(', ')}, outside the organisation.`
            : `Bucket ${source} (account ${owner}) now replicates to ${names.join(', ')}, whose owner is unknown.`,
          observed: `${describeActor(event.actor)} called PutBucketReplication with destination(s) ${names.join(', ')}`,
          expected: 'replication only to buckets of the organisation’s accounts or trusted partners',
          reasons: reported.map((d) =>
            d.account
              ? `destination ${d.bucket}: account ${d.account} (${d.verdict}) is not ours`
              : `destination ${d.bucket}: owner not declared and not learned`,
          ),
          attributes: {
            'aws.s3.bucket': source,
            'aws.s3.destination.buckets': names,
            ...(accounts.length > 0 ? { 'aws.share.grantees': accounts } : {}),
            'aws.destination.owner_known': isForeign,
          },
          tags: ['s3', 'replication'],
        });
      },
    });
  },
});
