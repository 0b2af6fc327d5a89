/**
 * Glob patterns for exception matching and allow-lists: `*` matches any run
 * of characters (including none), `?` one character; everything else is
 * literal. Matching is case-sensitive unless `ignoreCase` is set.
 */
export function globToRegExp(pattern: string, ignoreCase = false): RegExp {
  let re = '^';
  for (const ch of pattern) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`${re}$`, ignoreCase ? 'i' : '');
}

/** A compiled set of globs: `test(value)` is true when any pattern matches. */
export class GlobSet {
  private readonly exact = new Set<string>();
  private readonly patterns: RegExp[] = [];

  constructor(
    patterns: readonly string[],
    private readonly ignoreCase = false,
  ) {
    for (const p of patterns) {
      if (p.includes('*') || p.includes('?')) this.patterns.push(globToRegExp(p, ignoreCase));
      else this.exact.add(ignoreCase ? p.toLowerCase() : p);
    }
  }

  get empty(): boolean {
    return this.exact.size === 0 && this.patterns.length === 0;
  }

  test(value: string): boolean {
    if (this.exact.has(this.ignoreCase ? value.toLowerCase() : value)) return true;
    for (const re of this.patterns) if (re.test(value)) return true;
    return false;
  }
}
