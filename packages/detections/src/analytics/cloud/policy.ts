import type { AnalyticEnv } from '../../analytic.js';
import { accountOf } from '../../enrich/account-ownership.js';
import { cidrContains, type ParsedCidr, PRIVATE_CIDRS, parseCidr } from '../../util/ip.js';
import { asArray, isObject, type Json, parseJsonValue, str } from '../../util/json.js';

/** A grant of an `Allow` statement to someone outside the organisation. */
export interface ExternalGrant {
  /** Index of the statement in the policy. */
  statement: number;
  sid?: string;
  /** The principal as written (`*`, an account id, an ARN). */
  principal: string;
  public: boolean;
  /** The principal's account, for account grants. */
  account?: string;
  actions: string[];
}

export interface PolicyAnalysis {
  grants: ExternalGrant[];
  /** Statements with an external principal that a restricting condition keeps inside the organisation. */
  restricted: { statement: number; reason: string }[];
}

/** A policy document from a JSON string or an object; undefined when it is neither. */
export function parsePolicyDocument(value: unknown): Json | undefined {
  const doc = parseJsonValue(value);
  if (!isObject(doc)) return undefined;
  if (doc.Statement === undefined) return undefined;
  return doc;
}

const POSITIVE_OPERATOR = /^(ForAnyValue:)?(StringEquals|StringEqualsIgnoreCase|StringLike|ArnEquals|ArnLike)$/;
const ORG_KEYS = new Set(['aws:principalorgid', 'aws:sourceorgid', 'aws:resourceorgid']);
const ORG_PATH_KEYS = new Set(['aws:principalorgpaths', 'aws:sourceorgpaths', 'aws:resourceorgpaths']);
const ACCOUNT_KEYS = new Set(['aws:principalaccount', 'aws:sourceaccount', 'aws:resourceaccount']);
const ARN_KEYS = new Set(['aws:principalarn', 'aws:sourcearn', 'aws:sourceowner']);

function strings(value: unknown): string[] {
  return asArray(value)
    .map((v) => (typeof v === 'number' ? String(v) : str(v)))
    .filter((v): v is string => v !== undefined);
}

const privateRanges: ParsedCidr[] = PRIVATE_CIDRS.map((c) => parseCidr(c) as ParsedCidr);

/**
 * Why a statement's condition keeps its principals inside the organisation,
 * or undefined when it does not. Conditions count only with positive
 * operators (`StringEquals`, `StringLike`, `ArnLike`, ... and their
 * `ForAnyValue:` forms; not `Not*`, `*IfExists` or `ForAllValues:`, which pass
 * when the key is absent).
 */
export function restrictingCondition(condition: unknown, env: AnalyticEnv<unknown>, owner: string | undefined): string | undefined {
  if (!isObject(condition)) return undefined;
  const ctx = { recipientAccountId: owner };
  const inside = (account: string | undefined) => {
    if (!account) return false;
    const c = env.accounts.classify(account, ctx);
    return c === 'ours' || c === 'partner';
  };
  const orgOk = (orgId: string): boolean => {
    if (orgId.includes('*') || orgId.includes('?')) return false;
    const ours = env.accounts.isOurOrganization(orgId);
    return ours === undefined ? true : ours;
  };
  for (const [operator, block] of Object.entries(condition)) {
    if (!isObject(block)) continue;
    for (const [rawKey, rawValue] of Object.entries(block)) {
      const key = rawKey.toLowerCase();
      const values = strings(rawValue);
      if (values.length === 0) continue;
      if (operator === 'IpAddress' && key === 'aws:sourceip') {
        const own = env.config.organization.cidrs.map((c) => parseCidr(c)).filter((c): c is ParsedCidr => c !== undefined);
        const ranges = [...privateRanges, ...own];
        if (
          values.every((v) => {
            const p = parseCidr(v);
            return p !== undefined && ranges.some((r) => cidrContains(r, p));
          })
        )
          return `aws:SourceIp limited to private or own ranges (${values.join(', ')})`;
        continue;
      }
      if (!POSITIVE_OPERATOR.test(operator)) continue;
      if (ORG_KEYS.has(key) && values.every(orgOk)) {
        return env.accounts.organizationsConfigured
          ? `${rawKey} limited to our organisation (${values.join(', ')})`
          : `${rawKey} condition (${values.join(', ')}; organisation ids not configured, assumed ours)`;
      }
      if (ORG_PATH_KEYS.has(key) && values.every((v) => orgOk(v.split('/')[0] ?? ''))) return `${rawKey} limited to our organisation (${values.join(', ')})`;
      if (ACCOUNT_KEYS.has(key) && values.every((v) => !v.includes('*') && inside(v))) return `${rawKey} limited to our accounts (${values.join(', ')})`;
      if (ARN_KEYS.has(key) && values.every((v) => inside(accountOf(v)))) return `${rawKey} limited to principals of our accounts`;
      if (key === 'aws:sourcevpc' && env.config.organization.vpcIds.length > 0 && values.every((v) => env.config.organization.vpcIds.includes(v)))
        return `aws:SourceVpc limited to our VPCs (${values.join(', ')})`;
    }
  }
  return undefined;
}

/**
 * The grants of a resource policy to principals outside the organisation:
 * `Allow` statements whose `Principal` is `*` (or `{"AWS": "*"}`) or an AWS
 * account (id or ARN) that is neither ours nor a trusted partner, and whose
 * condition does not restrict them to the organisation. `NotPrincipal` with
 * `Allow` grants everyone else: public. Service, federated and canonical-user
 * principals are not grants to an account and are skipped.
 */
export function analysePolicy(doc: Json, env: AnalyticEnv<unknown>, owner: string | undefined): PolicyAnalysis {
  const out: PolicyAnalysis = { grants: [], restricted: [] };
  asArray(doc.Statement).forEach((st, index) => {
    if (!isObject(st) || str(st.Effect) !== 'Allow') return;
    const sid = str(st.Sid);
    const actions = strings(st.Action);
    const found: ExternalGrant[] = [];
    const add = (principal: string, pub: boolean, account?: string) =>
      found.push({ statement: index, ...(sid ? { sid } : {}), principal, public: pub, ...(account ? { account } : {}), actions });
    if (st.NotPrincipal !== undefined) add('NotPrincipal', true);
    const principal = st.Principal;
    if (principal === '*') add('*', true);
    else if (isObject(principal)) {
      for (const p of strings(principal.AWS)) {
        // `*`, and ARNs with a wildcard account (`arn:aws:iam::*:root`), name every AWS account.
        if (p === '*' || /^arn:aws[a-z-]*:(iam|sts)::\*:/.test(p)) {
          add(p, true);
          continue;
        }
        const account = accountOf(p);
        if (!account) continue;
        const c = env.accounts.classify(account, { recipientAccountId: owner });
        if (c === 'foreign') add(p, false, account);
      }
    }
    if (found.length === 0) return;
    const restriction = restrictingCondition(st.Condition, env, owner);
    if (restriction) {
      out.restricted.push({ statement: index, reason: restriction });
      return;
    }
    out.grants.push(...found);
  });
  return out;
}

/** Short text for a list of grants: `* (public)`, `arn:aws:iam::222233334444:root`. */
export function describeGrants(grants: readonly ExternalGrant[]): string {
  return [...new Set(grants.map((g) => (g.public ? `${g.principal} (public)` : g.principal)))].join(', ');
}

/** Sorted labels of the grantees: `all` for public grants, else the account ids. */
export function grantLabels(grants: readonly ExternalGrant[]): string[] {
  return [...new Set(grants.map((g) => (g.public ? 'all' : (g.account as string))))].sort();
}
