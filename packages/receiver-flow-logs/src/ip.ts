/**
 * Address classification for flow direction: is an address inside the
 * monitored networks (`internalCidrs`), a public address, or neither
 * (special-purpose ranges such as loopback, link-local, multicast, or not an
 * address at all)?
 *
 * Parsing is hand-written over char codes: it runs twice per flow on the hot
 * path, so it must not allocate for IPv4.
 */

/** RFC 1918, RFC 6598 (carrier-grade NAT, used by EKS/GKE pod ranges) and IPv6 unique local addresses (RFC 4193). */
export const DEFAULT_INTERNAL_CIDRS: readonly string[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'];

/**
 * Ranges that are neither internal nor public: this-network, loopback,
 * link-local (cloud metadata services), multicast, reserved and broadcast,
 * documentation ranges are public on purpose (fixtures use them as internet hosts).
 */
const SPECIAL_CIDRS: readonly string[] = ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '240.0.0.0/4', '::/127', 'fe80::/10', 'ff00::/8'];

/** `other`: special-purpose (loopback, link-local, multicast, ...); `invalid`: not an IP address. */
export type AddressClass = 'internal' | 'public' | 'other' | 'invalid';

/** Parse dotted-quad IPv4 into an unsigned 32-bit integer, or -1. */
export function parseIpv4(s: string, from = 0, to = s.length): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parse an IPv6 address (with `::` compression, an embedded dotted IPv4 tail
 * and an optional `%zone`) into eight 16-bit groups, or undefined.
 */
export function parseIpv6(input: string): number[] | undefined {
  let s = input;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.length < 2) return undefined;
  const head: number[] = [];
  const tail: number[] = [];
  let target = head;
  let compressed = false;
  let i = 0;
  if (s.startsWith('::')) {
    compressed = true;
    target = tail;
    i = 2;
    if (s.length === 2) return [0, 0, 0, 0, 0, 0, 0, 0];
  } else if (s.charCodeAt(0) === 58) {
    return undefined;
  }
  while (i < s.length) {
    let end = s.indexOf(':', i);
    if (end < 0) end = s.length;
    const part = end - i;
    if (part === 0) {
      // '::' in the middle
      if (compressed) return undefined;
      compressed = true;
      target = tail;
      i = end + 1;
      if (i === s.length) break;
      continue;
    }
    if (end === s.length && s.indexOf('.', i) >= 0) {
      const v4 = parseIpv4(s, i, end);
      if (v4 < 0) return undefined;
      target.push(Math.floor(v4 / 65536), v4 % 65536);
      i = end;
      break;
    }
    if (part > 4) return undefined;
    let group = 0;
    for (let j = i; j < end; j++) {
      const h = hexValue(s.charCodeAt(j));
      if (h < 0) return undefined;
      group = group * 16 + h;
    }
    target.push(group);
    i = end + 1;
    if (end < s.length && i === s.length) return undefined; // trailing single ':'
  }
  const total = head.length + tail.length;
  if (compressed ? total > 7 : total !== 8) return undefined;
  const out = head.slice();
  for (let k = total; k < 8; k++) out.push(0);
  for (const t of tail) out.push(t);
  return out;
}

/** True for a textual IPv4 or IPv6 address. */
export function isIpAddress(s: string): boolean {
  return s.indexOf(':') < 0 ? parseIpv4(s) >= 0 : parseIpv6(s) !== undefined;
}

interface V4Range {
  base: number;
  /** Prefix length 0..32. */
  bits: number;
}

interface V6Range {
  groups: number[];
  bits: number;
}

/** Why a CIDR string was rejected, or undefined when it is valid. */
export function cidrProblem(cidr: string): string | undefined {
  const slash = cidr.indexOf('/');
  if (slash < 0) return 'expected address/prefix, e.g. 10.0.0.0/8';
  const addr = cidr.slice(0, slash);
  const bitsText = cidr.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return `invalid prefix length "${bitsText}"`;
  const bits = Number(bitsText);
  if (addr.includes(':')) {
    if (!parseIpv6(addr)) return `invalid IPv6 address "${addr}"`;
    if (bits > 128) return 'IPv6 prefix length must be 0..128';
  } else {
    if (parseIpv4(addr) < 0) return `invalid IPv4 address "${addr}"`;
    if (bits > 32) return 'IPv4 prefix length must be 0..32';
  }
  return undefined;
}

function v4InRange(value: number, r: V4Range): boolean {
  if (r.bits === 0) return true;
  const shift = 32 - r.bits;
  return value >>> shift === r.base >>> shift;
}

function v6InRange(groups: readonly number[], r: V6Range): boolean {
  let bits = r.bits;
  for (let g = 0; g < 8 && bits > 0; g++) {
    const take = Math.min(bits, 16);
    const shift = 16 - take;
    if ((groups[g] as number) >> shift !== (r.groups[g] as number) >> shift) return false;
    bits -= take;
  }
  return true;
}

/** A compiled set of CIDR ranges. IPv4 ranges are bucketed by first octet, so a lookup tests only the ranges that can match. */
export class CidrSet {
  private readonly v4ByOctet: (V4Range[] | undefined)[] = new Array(256).fill(undefined);
  private readonly v6: V6Range[] = [];

  /** Throws RangeError for an invalid CIDR (validate configs with `cidrProblem` first). */
  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const problem = cidrProblem(cidr);
      if (problem) throw new RangeError(`invalid CIDR "${cidr}": ${problem}`);
      const slash = cidr.indexOf('/');
      const addr = cidr.slice(0, slash);
      const bits = Number(cidr.slice(slash + 1));
      if (addr.includes(':')) {
        this.v6.push({ groups: parseIpv6(addr) as number[], bits });
        continue;
      }
      const range = { base: parseIpv4(addr), bits };
      const first = range.base >>> 24;
      const span = bits >= 8 ? 1 : 2 ** (8 - bits);
      const from = bits >= 8 ? first : first - (first % span);
      for (let o = from; o < from + span; o++) (this.v4ByOctet[o] ??= []).push(range);
    }
  }

  hasV4(value: number): boolean {
    const bucket = this.v4ByOctet[value >>> 24];
    if (bucket === undefined) return false;
    for (let i = 0; i < bucket.length; i++) if (v4InRange(value, bucket[i] as V4Range)) return true;
    return false;
  }

  hasV6(groups: readonly number[]): boolean {
    for (const r of this.v6) if (v6InRange(groups, r)) return true;
    return false;
  }
}

const special = new CidrSet(SPECIAL_CIDRS);

/** Classifies addresses against a set of internal ranges. */
export class AddressClassifier {
  private readonly internal: CidrSet;

  constructor(internalCidrs: readonly string[] = DEFAULT_INTERNAL_CIDRS) {
    this.internal = new CidrSet(internalCidrs);
  }

  classify(address: string): AddressClass {
    const v4 = parseIpv4(address);
    if (v4 >= 0) return this.classifyV4(v4);
    if (address.indexOf(':') < 0) return 'invalid';
    const groups = parseIpv6(address);
    if (!groups) return 'invalid';
    // IPv4-mapped (::ffff:a.b.c.d): classify the IPv4 address
    if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
      return this.classifyV4((groups[6] as number) * 65536 + (groups[7] as number));
    }
    if (this.internal.hasV6(groups)) return 'internal';
    return special.hasV6(groups) ? 'other' : 'public';
  }

  /** Class of an IPv4 address given as an unsigned 32-bit integer (see `parseIpv4`). */
  classifyV4(v4: number): AddressClass {
    if (this.internal.hasV4(v4)) return 'internal';
    return special.hasV4(v4) ? 'other' : 'public';
  }

  /**
   * Direction from the two ends' classes: internal → public is egress,
   * public → internal is ingress, internal → internal is internal, anything
   * else (public → public, special-purpose or invalid addresses) is unknown.
   */
  direction(src: string, dst: string): 'egress' | 'ingress' | 'internal' | 'unknown' {
    return directionOf(this.classify(src), this.classify(dst));
  }
}

export function directionOf(src: AddressClass, dst: AddressClass): 'egress' | 'ingress' | 'internal' | 'unknown' {
  if (src === 'internal') {
    if (dst === 'public') return 'egress';
    if (dst === 'internal') return 'internal';
    return 'unknown';
  }
  if (src === 'public' && dst === 'internal') return 'ingress';
  return 'unknown';
}

/** Direction from whether each end is inside the monitored network (known from metadata) and its address class. */
export function directionFromSides(
  srcInside: boolean,
  dstInside: boolean,
  srcClass: AddressClass,
  dstClass: AddressClass,
): 'egress' | 'ingress' | 'internal' | 'unknown' {
  if (srcInside && dstInside) return 'internal';
  if (srcInside) return dstClass === 'public' ? 'egress' : dstClass === 'internal' ? 'internal' : 'unknown';
  if (dstInside) return srcClass === 'public' ? 'ingress' : srcClass === 'internal' ? 'internal' : 'unknown';
  return directionOf(srcClass, dstClass);
}
