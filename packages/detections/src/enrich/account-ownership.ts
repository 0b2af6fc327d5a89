import { KeyedState } from '@outflow/core';
import { GlobSet } from '../util/glob.js';

/** How an account relates to the organisation: ours, a trusted partner, somebody else, or everyone (`all`, `*`). */
export type AccountClass = 'ours' | 'partner' | 'foreign' | 'public';

export interface AccountOwnershipOptions {
  /** The organisation's own account ids. Empty: the account that owns the resource of each call is ours. */
  accounts?: readonly string[];
  /** Partner accounts data may legitimately go to. */
  trustedAccounts?: readonly string[];
  /** AWS Organizations ids (`o-...`) of the organisation, for `aws:PrincipalOrgID` conditions. */
  organizationIds?: readonly string[];
}

/** What a decision about one account may take into account: the owner of the resource the call acted on. */
export interface OwnershipContext {
  /** CloudTrail `recipientAccountId`: the account that owns the resource. */
  recipientAccountId?: string | undefined;
}

/** Account ids in the "public" sense: shares with everyone. */
export function isPublicGrantee(value: string): boolean {
  return value === 'all' || value === '*';
}

const ACCOUNT_RE = /^\d{12}$/;
const ARN_ACCOUNT_RE = /^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):/;

/**
 * The 12-digit account in a principal: a bare account id, or the account
 * field of an ARN (`arn:aws:iam::123456789012:root`, `...:role/x`,
 * `arn:aws:sts::123456789012:assumed-role/...`). Undefined for anything else
 * (service principals, canonical user ids, unique ids, wildcards).
 */
export function accountOf(principal: string): string | undefined {
  if (ACCOUNT_RE.test(principal)) return principal;
  const m = ARN_ACCOUNT_RE.exec(principal);
  return m ? m[1] : undefined;
}

/**
 * Account ownership: whether an account is the organisation's own, a trusted
 * partner's, or foreign. Used by the cloud analytics (not a processor).
 *
 * Without configured accounts, the account that owns the resource of the call
 * (`recipientAccountId`) is ours and every other account is foreign.
 */
export class AccountOwnership {
  private readonly ours: ReadonlySet<string>;
  private readonly partners: ReadonlySet<string>;
  private readonly orgs: ReadonlySet<string>;

  constructor(options: AccountOwnershipOptions = {}) {
    this.ours = new Set(options.accounts ?? []);
    this.partners = new Set(options.trustedAccounts ?? []);
    this.orgs = new Set(options.organizationIds ?? []);
  }

  /** True when the organisation's accounts were configured (otherwise ownership is judged per call). */
  get configured(): boolean {
    return this.ours.size > 0;
  }

  /** True when organisation ids were configured. */
  get organizationsConfigured(): boolean {
    return this.orgs.size > 0;
  }

  isOurs(accountId: string, context: OwnershipContext = {}): boolean {
    if (this.ours.size > 0) return this.ours.has(accountId);
    return context.recipientAccountId !== undefined && accountId === context.recipientAccountId;
  }

  isTrustedPartner(accountId: string): boolean {
    return this.partners.has(accountId);
  }

  /**
   * Whether `orgId` is the organisation's. Without configured organisation
   * ids the answer is unknown (`undefined`); callers decide how to treat it.
   */
  isOurOrganization(orgId: string): boolean | undefined {
    if (this.orgs.size === 0) return undefined;
    return this.orgs.has(orgId);
  }

  /** Classify an account id (or `all` / `*`). */
  classify(accountId: string, context: OwnershipContext = {}): AccountClass {
    if (isPublicGrantee(accountId)) return 'public';
    if (this.isOurs(accountId, context)) return 'ours';
    if (this.isTrustedPartner(accountId)) return 'partner';
    return 'foreign';
  }
}

export interface BucketOwnershipOptions {
  /** Bucket names (globs) known to belong to the organisation. */
  ownBuckets?: readonly string[];
  maxKeys?: number;
  /** Forget a learned bucket owner after this much event time without seeing the bucket again. */
  ttlMs?: number;
}

/**
 * Who owns an S3 bucket, as far as the telemetry tells: configured bucket
 * name globs, and owners learned from CloudTrail (`resources[]` entries of
 * type `AWS::S3::Bucket` carry the owner's account id; bucket management calls
 * made by the owning account). Bounded: a key cap and a TTL in event time.
 */
export class BucketOwnership {
  private readonly own: GlobSet;
  readonly learned: KeyedState<string, string>;

  constructor(options: BucketOwnershipOptions = {}) {
    this.own = new GlobSet(options.ownBuckets ?? []);
    this.learned = new KeyedState<string, string>({ maxKeys: options.maxKeys ?? 50_000, ttlMs: options.ttlMs ?? 30 * 86_400_000 });
  }

  /** True when `bucket` matches a configured own-bucket glob. */
  isConfiguredOwn(bucket: string): boolean {
    return this.own.test(bucket);
  }

  /** Record that `accountId` owns `bucket` as of event time `time`. */
  note(bucket: string, accountId: string, time: number): void {
    this.learned.set(bucket, accountId, time);
  }

  /** The owning account learned for `bucket`, if any. */
  ownerOf(bucket: string): string | undefined {
    return this.learned.peek(bucket);
  }

  expire(now: number): void {
    this.learned.expire(now);
  }
}
