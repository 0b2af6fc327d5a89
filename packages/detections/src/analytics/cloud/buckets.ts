import type { AnalyticEnv } from '../../analytic.js';
import type { AccountClass } from '../../enrich/account-ownership.js';

/** Whose a bucket is, and how we know. */
export interface BucketVerdict {
  class: AccountClass | 'unknown';
  account?: string;
  /** `declared` (named by the call), `configured` (organization.buckets), `learned` (seen in CloudTrail), or `unknown`. */
  basis: 'declared' | 'configured' | 'learned' | 'unknown';
}

/**
 * Decide whether `bucket` belongs to the organisation: an owner account the
 * call itself declares wins, then the configured own-bucket globs, then the
 * owner learned from CloudTrail; otherwise the owner is unknown.
 */
export function bucketVerdict(
  env: AnalyticEnv<unknown>,
  bucket: string | undefined,
  declaredAccount: string | undefined,
  owner: string | undefined,
): BucketVerdict {
  const ctx = { recipientAccountId: owner };
  if (declaredAccount) return { class: env.accounts.classify(declaredAccount, ctx), account: declaredAccount, basis: 'declared' };
  if (bucket && env.buckets.isConfiguredOwn(bucket)) return { class: 'ours', basis: 'configured' };
  const learned = bucket ? env.buckets.ownerOf(bucket) : undefined;
  if (learned) return { class: env.accounts.classify(learned, ctx), account: learned, basis: 'learned' };
  return { class: 'unknown', basis: 'unknown' };
}

/** Bucket name from `arn:aws:s3:::name`, `s3://name/...`, or a bare name. */
export function bucketName(value: string): string {
  if (value.startsWith('arn:')) return value.slice(value.lastIndexOf(':') + 1).split('/')[0] as string;
  if (value.startsWith('s3://')) return value.slice(5).split('/')[0] as string;
  return value.split('/')[0] as string;
}
