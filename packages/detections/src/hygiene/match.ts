import { type Finding, z } from '@outflow/core';
import { GlobSet } from '../util/glob.js';
import { type ParsedCidr, parseAddress, parseCidr } from '../util/ip.js';

/**
 * How one field of a finding is matched: a string (equal), a list of strings
 * (equal to any), `{ glob }` (`*` and `?`), `{ cidr }` (an address inside any
 * of the CIDRs), or `{ regex }` (a JavaScript regular expression, anchored by
 * you when you need it).
 */
export type FieldMatcher = string | readonly string[] | { glob: string | readonly string[] } | { cidr: string | readonly string[] } | { regex: string };

/** Field path → matcher. Every entry must match (AND). */
export type MatchSpec = Readonly<Record<string, FieldMatcher>>;

type Getter = (f: Finding) => unknown;

const FINDING_FIELDS: Record<string, Getter> = {
  'detection.id': (f) => f.detection.id,
  'detection.title': (f) => f.detection.title,
  'detection.attack.technique': (f) => f.detection.attack.technique,
  dedupKey: (f) => f.dedupKey,
  severity: (f) => f.severity,
  'evidence.source': (f) => f.evidence.map((e) => e.source),
  'evidence.id': (f) => f.evidence.map((e) => e.id),
  tags: (f) => f.tags,
};

export const FIELD_PATH_HELP = `${Object.keys(FINDING_FIELDS).join(', ')}, workload.<field>, workload.labels.<label>, attributes.<attribute name>`;

/** A getter for a field path over a finding, or an error message. */
export function fieldGetter(path: string): Getter | string {
  const fixed = FINDING_FIELDS[path];
  if (fixed) return fixed;
  if (path.startsWith('attributes.') && path.length > 'attributes.'.length) {
    const key = path.slice('attributes.'.length);
    return (f) => f.attributes?.[key];
  }
  if (path.startsWith('workload.labels.') && path.length > 'workload.labels.'.length) {
    const key = path.slice('workload.labels.'.length);
    return (f) => f.workload?.labels?.[key];
  }
  if (path.startsWith('workload.') && path.length > 'workload.'.length) {
    const key = path.slice('workload.'.length);
    return (f) => (f.workload as Record<string, unknown> | undefined)?.[key];
  }
  return `unknown field "${path}"; use ${FIELD_PATH_HELP}`;
}

function strings(value: unknown): string[] | undefined {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) return value as string[];
  return undefined;
}

/** Compile a matcher into a test over one string, or return an error message. */
export function compileMatcher(spec: unknown): ((value: string) => boolean) | string {
  const list = strings(spec);
  if (list) {
    const set = new Set(list);
    return (v) => set.has(v);
  }
  if (typeof spec === 'object' && spec !== null && !Array.isArray(spec)) {
    const keys = Object.keys(spec);
    if (keys.length !== 1) return 'a matcher object takes exactly one of glob, cidr, regex';
    const key = keys[0] as string;
    const arg = (spec as Record<string, unknown>)[key];
    if (key === 'glob') {
      const globs = strings(arg);
      if (!globs) return 'glob must be a string or a non-empty list of strings';
      const set = new GlobSet(globs);
      return (v) => set.test(v);
    }
    if (key === 'cidr') {
      const cidrs = strings(arg);
      if (!cidrs) return 'cidr must be a string or a non-empty list of strings';
      const parsed: ParsedCidr[] = [];
      for (const c of cidrs) {
        const p = parseCidr(c);
        if (!p) return `"${c}" is not an IP address or CIDR`;
        parsed.push(p);
      }
      return (v) => {
        const a = parseAddress(v);
        if (!a) return false;
        const n = a.family === 4 ? BigInt(a.value) : a.words.reduce((acc, w) => (acc << 32n) | BigInt(w), 0n);
        return parsed.some((p) => p.family === a.family && p.start <= n && n <= p.end);
      };
    }
    if (key === 'regex') {
      if (typeof arg !== 'string') return 'regex must be a string';
      try {
        const re = new RegExp(arg);
        return (v) => re.test(v);
      } catch (err) {
        return `invalid regex: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    return `unknown matcher "${key}"; use a string, a list of strings, { glob }, { cidr } or { regex }`;
  }
  return 'expected a string, a non-empty list of strings, { glob }, { cidr } or { regex }';
}

interface CompiledField {
  path: string;
  get: Getter;
  test: (v: string) => boolean;
}

/**
 * A compiled match spec. A field matches when its value (converted to text)
 * passes the matcher; a list-valued field (evidence ids, tags, list
 * attributes) matches only when it is non-empty and every element passes, so
 * an exception never hides a finding that also names something it does not
 * cover. A missing field never matches.
 */
export class CompiledMatch {
  private readonly fields: CompiledField[];

  constructor(spec: MatchSpec) {
    this.fields = Object.entries(spec).map(([path, matcher]) => {
      const get = fieldGetter(path);
      const test = compileMatcher(matcher);
      if (typeof get === 'string') throw new Error(get);
      if (typeof test === 'string') throw new Error(`${path}: ${test}`);
      return { path, get, test };
    });
  }

  matches(finding: Finding): boolean {
    for (const f of this.fields) {
      const v = f.get(finding);
      if (v === undefined || v === null) return false;
      if (Array.isArray(v)) {
        if (v.length === 0) return false;
        for (const item of v) if (!f.test(String(item))) return false;
      } else if (!f.test(String(v))) return false;
    }
    return true;
  }
}

/** Zod schema of a match spec: every field path and matcher checked, each problem reported at its path. */
export const matchSpecSchema = z.record(z.string(), z.unknown()).superRefine((rec, ctx) => {
  const entries = Object.entries(rec);
  if (entries.length === 0) ctx.addIssue({ code: 'custom', message: 'must name at least one field to match' });
  for (const [path, matcher] of entries) {
    const get = fieldGetter(path);
    if (typeof get === 'string') ctx.addIssue({ code: 'custom', path: [path], message: get });
    const test = compileMatcher(matcher);
    if (typeof test === 'string') ctx.addIssue({ code: 'custom', path: [path], message: test });
  }
}) as unknown as z.ZodType<MatchSpec, MatchSpec>;

/**
 * An ISO 8601 date (`2025-06-30`) or date-time (`2025-06-30T12:00:00Z`).
 * A date alone means the end of that day (UTC) when used as an expiry or an end.
 */
export const isoDateSchema = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}([T ].+)?$/.test(s) && Number.isFinite(Date.parse(s)), {
  message: 'must be an ISO 8601 date or date-time, e.g. 2025-06-30 or 2025-06-30T12:00:00Z',
});

/** Epoch ms of an ISO date; a date alone is the start of that day, or its end (the next midnight) with `endOfDay`. */
export function isoTime(s: string, endOfDay = false): number {
  const t = Date.parse(s);
  if (endOfDay && /^\d{4}-\d{2}-\d{2}$/.test(s)) return t + 86_400_000;
  return t;
}
