/**
 * A small, fast, deterministic 64-bit string hash (two independent 32-bit
 * multiplicative lanes with a final avalanche), for ids of records that carry
 * none. Not cryptographic: it only has to make replays give identical ids and
 * distinct records give distinct ids with overwhelming probability.
 *
 * The state is two numbers; `StreamHash` keeps them in fields so a hash of a
 * common prefix (the file path) can be computed once and resumed per line.
 */
export class StreamHash {
  a = 0x811c9dc5;
  b = 0x2f2a3c5b;

  reset(): this {
    this.a = 0x811c9dc5;
    this.b = 0x2f2a3c5b;
    return this;
  }

  /** Continue from another hash's state. */
  from(other: StreamHash): this {
    this.a = other.a;
    this.b = other.b;
    return this;
  }

  string(s: string): this {
    let a = this.a;
    let b = this.b;
    const n = s.length;
    let i = 0;
    // two UTF-16 units per step: half the dependent multiplies of a per-char loop
    for (; i + 1 < n; i += 2) {
      const w = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
      a = Math.imul(a ^ w, 0x01000193);
      b = Math.imul(b ^ w, 0x5bd1e995);
    }
    const last = (i < n ? s.charCodeAt(i) : 0x10000) ^ (n << 17);
    this.a = Math.imul(a ^ last, 0x01000193);
    this.b = Math.imul(b ^ last, 0x5bd1e995);
    return this;
  }

  /** Fold in a non-negative integer below 2^53 (a line number, a count). Fixed width, so a sequence of ints needs no separators. */
  int(n: number): this {
    const lo = n >>> 0;
    const hi = n > 4294967295 ? Math.floor(n / 4294967296) : 0;
    this.a = Math.imul(Math.imul(this.a ^ lo, 0x01000193) ^ hi, 0x01000193);
    this.b = Math.imul(Math.imul(this.b ^ lo, 0x5bd1e995) ^ hi, 0x5bd1e995);
    return this;
  }

  /** 16 lowercase hex digits. Does not change the state. */
  digest(): string {
    let a = this.a ^ Math.imul(this.b, 0x9e3779b1);
    let b = this.b ^ Math.imul(a, 0x85ebca6b);
    a ^= a >>> 16;
    a = Math.imul(a, 0x85ebca6b);
    a ^= a >>> 13;
    a = Math.imul(a, 0xc2b2ae35);
    a ^= a >>> 16;
    b ^= b >>> 15;
    b = Math.imul(b, 0x2c1b3c6d);
    b ^= b >>> 12;
    b = Math.imul(b, 0x297a2d39);
    b ^= b >>> 15;
    return toHex(a, b);
  }
}

/** Char codes of 0-9a-f. */
const HEX = [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102];

/** 16 hex digits of two 32-bit words in one fromCharCode call (Number#toString(16) is several times slower). */
function toHex(a: number, b: number): string {
  const h = HEX as readonly number[] as number[];
  return String.fromCharCode(
    h[(a >>> 28) & 15] as number,
    h[(a >>> 24) & 15] as number,
    h[(a >>> 20) & 15] as number,
    h[(a >>> 16) & 15] as number,
    h[(a >>> 12) & 15] as number,
    h[(a >>> 8) & 15] as number,
    h[(a >>> 4) & 15] as number,
    h[a & 15] as number,
    h[(b >>> 28) & 15] as number,
    h[(b >>> 24) & 15] as number,
    h[(b >>> 20) & 15] as number,
    h[(b >>> 16) & 15] as number,
    h[(b >>> 12) & 15] as number,
    h[(b >>> 8) & 15] as number,
    h[(b >>> 4) & 15] as number,
    h[b & 15] as number,
  );
}

/** Hash of a list of strings and integers, as 16 hex digits. */
export function hashParts(...parts: readonly (string | number)[]): string {
  const h = new StreamHash();
  for (const p of parts) {
    if (typeof p === 'number') h.int(p);
    else h.string(p);
  }
  return h.digest();
}

/**
 * Id of a line-framed record: hash of `location`, the line number and the
 * line's text. Caches the hash state of the last location, so a file's path
 * is hashed once, not per line.
 */
export class LineIdHasher {
  private location: string | undefined;
  private readonly prefix = new StreamHash();
  private readonly work = new StreamHash();

  id(location: string | undefined, line: number | undefined, text: string): string {
    return this.start(location, line).string(text).digest();
  }

  /** The hash state after `location` and `line`, to fold a record's fields into; finish with `digest()`. */
  begin(location: string | undefined, line: number | undefined): StreamHash {
    return this.start(location, line);
  }

  private start(location: string | undefined, line: number | undefined): StreamHash {
    if (location !== this.location || location === undefined) {
      this.location = location;
      this.prefix.reset();
      if (location !== undefined) this.prefix.string(location);
    }
    const h = this.work.from(this.prefix);
    if (line !== undefined) h.int(line);
    return h;
  }
}
