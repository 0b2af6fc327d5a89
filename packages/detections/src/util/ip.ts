/**
 * IP address and CIDR parsing for the enrichers. IPv4 addresses are plain
 * numbers (0 .. 2^32-1); IPv6 addresses are four 32-bit words, most
 * significant first, so that lookups on the hot path allocate nothing.
 */

/** Parse a dotted-quad IPv4 address into a number, or -1 when it is not one. Allocation-free. */
export function parseIPv4(s: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + part;
}

function hexGroup(s: string): number {
  if (s.length === 0 || s.length > 4) return -1;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

function groupsOf(part: string, out: number[]): boolean {
  if (part === '') return true;
  const pieces = part.split(':');
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i] as string;
    if (i === pieces.length - 1 && p.includes('.')) {
      const v4 = parseIPv4(p);
      if (v4 < 0) return false;
      out.push(Math.floor(v4 / 65536), v4 % 65536);
      continue;
    }
    const g = hexGroup(p);
    if (g < 0) return false;
    out.push(g);
  }
  return true;
}

/**
 * Parse an IPv6 address (with `::`, an embedded IPv4 tail, a `%zone` or
 * surrounding brackets) into `out[0..3]`. Returns false when it is not one.
 */
export function parseIPv6Into(input: string, out: Uint32Array | number[]): boolean {
  let s = input;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (!s.includes(':')) return false;
  const dbl = s.indexOf('::');
  const groups: number[] = [];
  if (dbl >= 0) {
    if (s.indexOf('::', dbl + 1) >= 0) return false;
    const head: number[] = [];
    const tail: number[] = [];
    if (!groupsOf(s.slice(0, dbl), head) || !groupsOf(s.slice(dbl + 2), tail)) return false;
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return false;
    groups.push(...head);
    for (let i = 0; i < fill; i++) groups.push(0);
    groups.push(...tail);
  } else {
    if (!groupsOf(s, groups) || groups.length !== 8) return false;
  }
  if (groups.length !== 8) return false;
  for (let w = 0; w < 4; w++) out[w] = ((groups[2 * w] as number) * 65536 + (groups[2 * w + 1] as number)) >>> 0;
  return true;
}

export type ParsedAddress = { family: 4; value: number } | { family: 6; words: Uint32Array };

/** Parse an IPv4 or IPv6 address. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) comes back as IPv4. */
export function parseAddress(s: string): ParsedAddress | undefined {
  const v4 = parseIPv4(s);
  if (v4 >= 0) return { family: 4, value: v4 };
  const words = new Uint32Array(4);
  if (!parseIPv6Into(s, words)) return undefined;
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return { family: 4, value: words[3] as number };
  return { family: 6, words };
}

export function isIpAddress(s: string): boolean {
  return parseAddress(s) !== undefined;
}

/** A parsed CIDR: the first and last address as bigints (IPv4 in the low 32 bits), and the prefix length. */
export interface ParsedCidr {
  family: 4 | 6;
  start: bigint;
  end: bigint;
  prefix: number;
}

function wordsToBigInt(w: ArrayLike<number>): bigint {
  return (BigInt(w[0] as number) << 96n) | (BigInt(w[1] as number) << 64n) | (BigInt(w[2] as number) << 32n) | BigInt(w[3] as number);
}

/** Parse `a.b.c.d/n`, `x::/n`, or a bare address (a /32 or /128). Host bits are masked off. */
export function parseCidr(s: string): ParsedCidr | undefined {
  const slash = s.indexOf('/');
  const addr = slash >= 0 ? s.slice(0, slash) : s;
  const bits = slash >= 0 ? s.slice(slash + 1) : undefined;
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return undefined;
  const v4 = parseIPv4(addr);
  if (v4 >= 0) {
    const prefix = bits === undefined ? 32 : Number(bits);
    if (prefix > 32) return undefined;
    const size = 2n ** BigInt(32 - prefix);
    const start = (BigInt(v4) / size) * size;
    return { family: 4, start, end: start + size - 1n, prefix };
  }
  const words = new Uint32Array(4);
  if (!parseIPv6Into(addr, words)) return undefined;
  const prefix = bits === undefined ? 128 : Number(bits);
  if (prefix > 128) return undefined;
  const size = 2n ** BigInt(128 - prefix);
  const start = (wordsToBigInt(words) / size) * size;
  return { family: 6, start, end: start + size - 1n, prefix };
}

/** True when `inner` lies entirely inside `outer`. */
export function cidrContains(outer: ParsedCidr, inner: ParsedCidr): boolean {
  return outer.family === inner.family && outer.start <= inner.start && inner.end <= outer.end;
}

/** RFC 1918, carrier-grade NAT and IPv6 unique-local ranges. */
export const PRIVATE_CIDRS: readonly string[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'];
