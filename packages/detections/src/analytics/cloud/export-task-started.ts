import type { Severity } from '@outflow/core';
import { ATTACK, adjustSeverity, analyticRule, defineAnalytic } from '../../analytic.js';
import { isObject, type Json, propIgnoreCase, str } from '../../util/json.js';
import { bucketName, bucketVerdict } from './buckets.js';
import { cloudFinding, describeActor, resourceOwner, succeeded } from './common.js';

interface ExportShape {
  /** What is exported, for humans. */
  what: string;
  /** The exported resource from the request. */
  source(req: Json): string | undefined;
  /** The destination bucket from the request. */
  bucket(req: Json): string | undefined;
  /** The destination bucket's owner, when the API takes it. */
  bucketOwner?(req: Json): string | undefined;
}

const S3 = (req: Json, ...keys: string[]): string | undefined => {
  let v: unknown = req;
  for (const k of keys) v = propIgnoreCase(v, k);
  return str(v);
};

/** The export APIs, by CloudTrail event name. */
const EXPORTS: Record<string, ExportShape> = {
  CreateInstanceExportTask: {
    what: 'EC2 instance',
    source: (r) => str(r.instanceId),
    bucket: (r) => S3(r, 'exportToS3', 's3Bucket') ?? S3(r, 'exportToS3Task', 's3Bucket'),
  },
  ExportImage: { what: 'AMI', source: (r) => str(r.imageId), bucket: (r) => S3(r, 's3ExportLocation', 's3Bucket') },
  CreateStoreImageTask: { what: 'AMI', source: (r) => str(r.imageId), bucket: (r) => S3(r, 'bucket') },
  StartExportTask: { what: 'RDS snapshot', source: (r) => str(r.sourceArn), bucket: (r) => S3(r, 's3BucketName') },
  ExportTableToPointInTime: {
    what: 'DynamoDB table',
    source: (r) => str(r.tableArn),
    bucket: (r) => S3(r, 's3Bucket'),
    bucketOwner: (r) => S3(r, 's3BucketOwner'),
  },
};

/**
 * 7b. Data exported to S3 by a service: instance, image, RDS snapshot and
 * DynamoDB table exports. To a bucket we do not own: high; to a bucket of
 * unknown owner: medium; to our own bucket: informational (kept as a record
 * of bulk data movement, and for correlation).
 */
export const exportTaskStarted = defineAnalytic({
  id: 'export_task_started',
  title: 'Data export task to S3 started',
  description:
    'CreateInstanceExportTask, ExportImage, CreateStoreImageTask, RDS StartExportTask or DynamoDB ExportTableToPointInTime, rated by who owns the bucket.',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1530],
  kinds: ['cloud_api_call'],
  dataSources: ['AWS CloudTrail management events (ec2, rds, dynamodb)', 'CloudTrail S3 events of our accounts (to learn bucket owners)'],
  dedupKeyDescription: 'owner account + export API + exported resource + destination bucket',
  status: 'test',
  defaultExceptions: [],
  response: {
    investigate: [
      'Identify the destination bucket and its owner (aws.s3.destination.account_id, aws.destination.owner_basis); confirm the export with the resource owner.',
      'Check who started it (user.id) and from where (source.address).',
    ],
    contain: [
      'Cancel the task (ec2 cancel-export-task, rds cancel-export-task; DynamoDB exports cannot be cancelled) and block the destination with a bucket or endpoint policy.',
    ],
    analyse: ['An export writes the full resource: treat the exported data as disclosed if the bucket is not ours.'],
    remediate: ['Restrict the export APIs to a break-glass role with an SCP; require aws:ResourceOrgID on s3:PutObject.'],
  },
  create(env) {
    return analyticRule(env, {
      kinds: ['cloud_api_call'],
      match(event, ctx) {
        const shape = EXPORTS[event.operation];
        if (!shape || !succeeded(event)) return undefined;
        if (event.operation === 'StartExportTask' && !event.service.startsWith('rds.')) return undefined;
        const req = isObject(event.request) ? event.request : undefined;
        const rawBucket = req ? shape.bucket(req) : undefined;
        if (!req || !rawBucket) {
          ctx.deadLetter({ stage: 'detect', reason: 'missing_field', message: `${event.operation} names no destination bucket in requestParameters`, event });
          return undefined;
        }
        const bucket = bucketName(rawBucket);
        const owner = resourceOwner(event);
        const verdict = bucketVerdict(env, bucket, shape.bucketOwner?.(req), owner);
        let severity: Severity;
        let judgement: string;
        if (verdict.class === 'foreign' || verdict.class === 'public') {
          severity = env.severity;
          judgement = `bucket ${bucket} belongs to account ${verdict.account}, outside the organisation`;
        } else if (verdict.class === 'unknown') {
          severity = adjustSeverity(env.severity, -1);
          judgement = `the owner of bucket ${bucket} is unknown (not declared, configured or learned)`;
        } else {
          severity = adjustSeverity(env.severity, -3);
          judgement = `bucket ${bucket} is ours (${verdict.basis})`;
        }
        const source = shape.source(req) ?? 'unknown';
        return cloudFinding(event, {
          severity,
          dedupKey: `${owner ?? ''}|${event.operation}|${source}|${bucket}`,
          summary: `${describeActor(event.actor)} started an export of ${shape.what} ${source} to S3 bucket ${bucket}: ${judgement}.`,
          observed: `${event.operation} ${source} → s3://${bucket}`,
          expected: 'exports only to buckets of the organisation, by the roles that run backups and analytics',
          reasons: [judgement],
          attributes: {
            'aws.export.source': source,
            'aws.s3.destination.bucket': bucket,
            'aws.s3.destination.account_id': verdict.account,
            'aws.destination.owner_basis': verdict.basis,
            'aws.destination.class': verdict.class,
          },
          tags: ['export'],
        });
      },
    });
  },
});
