/**
 * Field helpers for decoders: shared by every receiver package (which may not
 * depend on each other), allocation-light because they run once per record.
 */

/**
 * Epoch milliseconds of an RFC 3339 timestamp with a zone designator
 * (`2019-01-09T08:58:36.335246440Z`, `...+02:00`); sub-millisecond digits are
 * truncated. Undefined for anything else, including timestamps without a zone.
 */
export function parseRfc3339(value: unknown): number | undefined {
  if (typeof value !== 'string' || value.length < 20 || value.length > 40) return undefined;
  const sep = value.charCodeAt(10);
  if (value.charCodeAt(4) !== 45 /* - */ || value.charCodeAt(7) !== 45 || (sep !== 84 /* T */ && sep !== 116 /* t */ && sep !== 32)) return undefined;
  const last = value.charCodeAt(value.length - 1);
  const zulu = last === 90 /* Z */ || last === 122; /* z */
  if (!zulu) {
    const sign = value.charCodeAt(value.length - 6);
    if ((sign !== 43 && sign !== 45) || value.charCodeAt(value.length - 3) !== 58 /* : */) return undefined;
  }
  const ms = Date.parse(sep === 84 ? value : `${value.slice(0, 10)}T${value.slice(11)}`);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * A deterministic 64-bit hash of some strings (as if joined with a separator)
 * as 16 hex digits, for ids of records that carry none. Not cryptographic: it
 * only has to make replays of the same record give the same id and different
 * records different ids. Hashes the parts in place, without joining them.
 */
export function shortHash(...parts: string[]): string {
  let a = 0x811c9dc5;
  let b = 0x27d4eb2f;
  for (let p = 0; p < parts.length; p++) {
    const text = parts[p] as string;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 13;
    }
    // separator, so that ("ab", "c") and ("a", "bc") differ
    a = Math.imul(a ^ 0x1f, 0x01000193);
    b = Math.imul(b ^ 0x1f, 0x5bd1e995);
  }
  a ^= b >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  b ^= a >>> 15;
  b = Math.imul(b, 0xc2b2ae35);
  b ^= b >>> 16;
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/**
 * Split a command line into arguments on blanks, honouring simple single and
 * double quotes and backslash escapes (outside single quotes). An unbalanced
 * quote runs to the end of the line.
 */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  const n = line.length;
  let i = 0;
  while (i < n) {
    let c = line.charCodeAt(i);
    if (isBlank(c)) {
      i++;
      continue;
    }
    // Fast path: a plain token is one slice.
    const start = i;
    while (i < n) {
      c = line.charCodeAt(i);
      if (isBlank(c) || c === 34 || c === 39 || c === 92) break;
      i++;
    }
    if (i >= n || isBlank(c)) {
      out.push(line.slice(start, i));
      continue;
    }
    // Quotes or escapes: build the token character by character.
    let current = line.slice(start, i);
    let quote = 0;
    for (; i < n; i++) {
      c = line.charCodeAt(i);
      if (quote !== 0) {
        if (c === quote) quote = 0;
        else if (c === 92 && quote === 34 && i + 1 < n) current += line[++i];
        else current += line[i];
        continue;
      }
      if (isBlank(c)) break;
      if (c === 34 || c === 39) quote = c;
      else if (c === 92 && i + 1 < n) current += line[++i];
      else current += line[i];
    }
    out.push(current);
  }
  return out;
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** A finite number from a JSON number or a decimal string; undefined otherwise. */
export function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.length > 0 && value.length < 24) {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** True for plain JSON objects (not arrays, not null). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Strip an IPv4-mapped IPv6 prefix (`::ffff:10.0.0.1` → `10.0.0.1`). */
export function unmapAddress(address: string): string {
  return address.length > 7 && (address.startsWith('::ffff:') || address.startsWith('::FFFF:')) && address.indexOf('.') > 0 ? address.slice(7) : address;
}
