import type { CheckpointHandle, CloudApiCallEvent, OutflowEvent, Processor } from '@outflow/core';
import { isObject, str } from '../util/json.js';
import type { BucketOwnership } from './account-ownership.js';
import { decodeKeyed, decodeTime, encodeTime, expectNumber, expectObject, expectString, snapshotKeyed, stateVersion } from './checkpoint.js';

const BUCKET_ARN = /^arn:aws[a-z-]*:s3:::([^/]+)$/;
const EXPIRE_EVERY = 4096;

/** The bucket name in `arn:aws:s3:::name` (not object ARNs), or undefined. */
export function bucketFromArn(arn: string | undefined): string | undefined {
  if (!arn) return undefined;
  const m = BUCKET_ARN.exec(arn);
  return m ? m[1] : undefined;
}

/**
 * Processor: learns who owns which S3 bucket from successful CloudTrail calls,
 * for the analytics that must tell "our bucket" from "somebody else's":
 * `resources[]` entries of type `AWS::S3::Bucket` carry the owner's account id,
 * and bucket calls made by the recipient account itself (`CreateBucket`,
 * `PutBucket*`, ...) name a bucket of that account. Events pass unchanged.
 *
 * Checkpointed (`checkpoint`): the owners learned, so a restarted pipeline
 * still knows a bucket it saw created weeks ago. Versioned by the TTL.
 * Configured own buckets (`organization.buckets`) are configuration.
 */
export class CloudResourceLearner implements Processor {
  readonly name = 'bucket_owners';
  readonly checkpoint: CheckpointHandle;
  private counter = 0;
  private clock = Number.NEGATIVE_INFINITY;

  constructor(private readonly buckets: BucketOwnership) {
    const learned = buckets.learned;
    this.checkpoint = {
      version: stateVersion('bucket_owners/1', { ttlMs: learned.ttlMs }),
      snapshot: () => ({ counter: this.counter, clock: encodeTime(this.clock), owners: snapshotKeyed(learned, (account) => account) }),
      restore: (state) => {
        const s = expectObject(state, 'bucket owners state');
        const owners = decodeKeyed(s.owners, (raw, bucket) => expectString(raw, `owner of ${bucket}`), 'owners');
        const counter = expectNumber(s.counter, 'counter');
        const clock = decodeTime(s.clock, Number.NEGATIVE_INFINITY, 'clock');
        learned.restore(owners);
        this.counter = counter;
        this.clock = clock;
      },
    };
  }

  process(event: OutflowEvent): OutflowEvent {
    if (event.kind !== 'cloud_api_call') return event;
    if (event.time > this.clock) this.clock = event.time;
    if (++this.counter >= EXPIRE_EVERY) {
      this.counter = 0;
      this.buckets.expire(this.clock);
    }
    if (event.errorCode || event.service !== 's3.amazonaws.com') return event;
    learn(this.buckets, event);
    return event;
  }
}

function learn(buckets: BucketOwnership, event: CloudApiCallEvent): void {
  let fromResources = false;
  for (const r of event.resources ?? []) {
    if (r.type !== 'AWS::S3::Bucket' || !r.accountId) continue;
    const bucket = bucketFromArn(r.arn);
    if (bucket) {
      buckets.note(bucket, r.accountId, event.time);
      fromResources = true;
    }
  }
  if (fromResources) return;
  const bucket = isObject(event.request) ? str(event.request.bucketName) : undefined;
  const recipient = event.recipientAccountId;
  if (bucket && recipient && event.actor.accountId === recipient && /Bucket/.test(event.operation)) buckets.note(bucket, recipient, event.time);
}
