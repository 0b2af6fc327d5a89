/**
 * IP address parsing and longest-prefix CIDR maps, shared by receivers
 * (flow direction), enrichers (destination class) and analytics. Parsing is
 * hand-written over char codes, and lookups of IPv4 addresses and of IPv6
 * addresses as words allocate nothing: hot paths call them once per flow.
 */

export type ParsedIp = { version: 4; value: number } | { version: 6; value: bigint };

/** IPv4 dotted quad → unsigned 32-bit integer, or undefined. */
export function parseIPv4(s: string): number | undefined {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || parts === 3) return undefined;
      value = value * 256 + octet;
      parts++;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return undefined; // leading zero
      octet = octet * 10 + (c - 48);
      if (octet > 255 || ++digits > 3) return undefined;
    } else {
      return undefined;
    }
  }
  if (digits === 0 || parts !== 3) return undefined;
  return value * 256 + octet;
}

/** Groups of the IPv6 address being parsed (parsing is synchronous, so one scratch array serves). */
const V6_GROUPS: number[] = [0, 0, 0, 0, 0, 0, 0, 0];

/**
 * Parse the `:`-separated hex groups of `s[from..to)` into V6_GROUPS from
 * `at`; the last group may be a dotted IPv4 address (two groups). Returns the
 * index after the last group written, or -1 when a group is malformed or there
 * are more than fit.
 */
function parseV6Groups(s: string, from: number, to: number, at: number): number {
  if (from === to) return at;
  let n = at;
  let start = from;
  // A dot before the last group fails that group's hex check first.
  const dot = s.indexOf('.', from);
  while (true) {
    let end = s.indexOf(':', start);
    if (end < 0 || end > to) end = to;
    if (end === to && dot >= start && dot < to) {
      const v4 = parseIPv4(s.slice(start, to));
      if (v4 === undefined || n > 6) return -1;
      V6_GROUPS[n++] = v4 >>> 16;
      V6_GROUPS[n++] = v4 & 0xffff;
      return n;
    }
    const length = end - start;
    if (length < 1 || length > 4 || n > 7) return -1;
    let group = 0;
    for (let i = start; i < end; i++) {
      const c = s.charCodeAt(i);
      const h = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (h < 0) return -1;
      group = group * 16 + h;
    }
    V6_GROUPS[n++] = group;
    if (end === to) return n;
    start = end + 1;
  }
}

/** Parse IPv6 text into V6_GROUPS; false when it is not an address. */
function parseV6(input: string): boolean {
  let from = 0;
  let to = input.indexOf('%');
  if (to < 0) to = input.length;
  if (input.charCodeAt(0) === 91 /* [ */ && input.charCodeAt(to - 1) === 93 /* ] */ && to > 1) {
    from = 1;
    to--;
  }
  const colon = input.indexOf(':', from);
  if (colon < 0 || colon >= to) return false;
  let gap = input.indexOf('::', from);
  if (gap + 1 >= to) gap = -1; // a "::" reaching past the end is not one
  if (gap < 0) return parseV6Groups(input, from, to, 0) === 8;
  const again = input.indexOf('::', gap + 2);
  if (again >= 0 && again + 1 < to) return false;
  const head = parseV6Groups(input, from, gap, 0);
  if (head < 0) return false;
  const count = parseV6Groups(input, gap + 2, to, head);
  if (count < 0 || count > 7) return false;
  // Groups after the gap move to the end; the gap is zeros.
  const tail = count - head;
  for (let i = tail - 1; i >= 0; i--) V6_GROUPS[8 - tail + i] = V6_GROUPS[head + i] as number;
  for (let i = head; i < 8 - tail; i++) V6_GROUPS[i] = 0;
  return true;
}

/** Word `i` (0..3, most significant first) of the address in V6_GROUPS. */
function v6Word(i: number): number {
  return (V6_GROUPS[2 * i] as number) * 65536 + (V6_GROUPS[2 * i + 1] as number);
}

/** IPv6 text (with `::`, embedded IPv4, optional `%zone`) → 128-bit bigint, or undefined. */
export function parseIPv6(input: string): bigint | undefined {
  if (!parseV6(input)) return undefined;
  return (BigInt(v6Word(0)) << 96n) | (BigInt(v6Word(1)) << 64n) | (BigInt(v6Word(2)) << 32n) | BigInt(v6Word(3));
}

/**
 * IPv6 text (as `parseIPv6` takes it) → `out[0..3]`, four unsigned 32-bit
 * words, most significant first. Returns false, leaving `out` as it was, when
 * it is not an address. Allocates nothing: for per-flow lookups (`CidrMap.lookupV6`).
 */
export function parseIPv6Words(input: string, out: Uint32Array | number[]): boolean {
  if (!parseV6(input)) return false;
  for (let i = 0; i < 4; i++) out[i] = v6Word(i);
  return true;
}

export function parseIp(address: string): ParsedIp | undefined {
  const v4 = parseIPv4(address);
  if (v4 !== undefined) return { version: 4, value: v4 };
  const v6 = parseIPv6(address);
  if (v6 === undefined) return undefined;
  // IPv4-mapped (::ffff:a.b.c.d) behaves as IPv4
  if (v6 >> 32n === 0xffffn) return { version: 4, value: Number(v6 & 0xffffffffn) };
  return { version: 6, value: v6 };
}

export function isIp(address: string): boolean {
  // parseIp without its result: allocates nothing.
  return parseIPv4(address) !== undefined || parseV6(address);
}

/** Key of the network of `address` with a prefix of `len` bits: its top `len` bits. */
function v4Key(address: number, len: number): number {
  return len === 0 ? 0 : address >>> (32 - len);
}

/** Mask of word `i` (0..3) of an IPv6 prefix of `len` bits. */
function v6Mask(len: number, i: number): number {
  const bits = Math.min(32, Math.max(0, len - 32 * i));
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** Maps of at most this many prefixes (per family) are searched entry by entry: a few integer compares, no hashing. */
const LINEAR_MAX = 16;

interface V4Entry<T> {
  len: number;
  key: number;
  value: T;
}

interface V6Entry<T> {
  /** Per word: the mask, then the network's word under it. */
  m0: number;
  m1: number;
  m2: number;
  m3: number;
  w0: number;
  w1: number;
  w2: number;
  w3: number;
  value: T;
}

/** Address words for `lookup` (lookups are synchronous, so one scratch array serves). */
const LOOKUP_WORDS: number[] = [0, 0, 0, 0];

/**
 * A map from CIDR prefixes to values with longest-prefix-match lookup, for
 * IPv4 and IPv6. Small maps (the usual configured ranges) are searched entry
 * by entry, longest prefix first; larger ones cost one Map probe per distinct
 * prefix length present. IPv4 lookups and IPv6 lookups by words allocate nothing.
 */
export class CidrMap<T> {
  /**
   * One table per prefix length, longest first. IPv4 networks are keyed by
   * their top `len` bits (`address >>> (32 - len)`), IPv6 networks likewise.
   */
  private v4: { len: number; table: Map<number, T> }[] = [];
  private v6: { len: number; shift: bigint; table: Map<bigint, T> }[] = [];
  /**
   * The same entries, longest prefix first, while a family has at most
   * LINEAR_MAX; IPv4 ones in 256 buckets by the first octet they cover.
   */
  private v4Linear: (V4Entry<T>[] | undefined)[] | undefined = [];
  private v6Linear: V6Entry<T>[] | undefined = [];
  private v4Count = 0;
  private v6Count = 0;

  get size(): number {
    return this.v4Count + this.v6Count;
  }

  /** Add `cidr` (`10.0.0.0/8`, `2001:db8::/32`, or a bare address). Throws on invalid input. */
  add(cidr: string, value: T): this {
    const slash = cidr.indexOf('/');
    const addr = slash >= 0 ? cidr.slice(0, slash) : cidr;
    const ip = parseIp(addr);
    if (!ip) throw new Error(`invalid CIDR "${cidr}"`);
    const isV6Text = addr.includes(':') && ip.version === 4;
    const max = ip.version === 4 ? 32 : 128;
    let len = slash >= 0 ? Number(cidr.slice(slash + 1)) : max;
    if (isV6Text) len -= 96; // ::ffff:a.b.c.d/120 → /24
    if (!Number.isInteger(len) || len < 0 || len > max) throw new Error(`invalid prefix length in "${cidr}"`);
    if (ip.version === 4) {
      let tier = this.v4.find((t) => t.len === len);
      if (!tier) {
        tier = { len, table: new Map() };
        this.v4 = [...this.v4, tier].sort((x, y) => y.len - x.len);
      }
      const key = v4Key(ip.value, len);
      if (!tier.table.has(key)) this.v4Count++;
      tier.table.set(key, value);
      this.v4Linear = this.v4Count > LINEAR_MAX ? undefined : v4Buckets(this.v4);
    } else {
      let tier = this.v6.find((t) => t.len === len);
      if (!tier) {
        tier = { len, shift: BigInt(128 - len), table: new Map() };
        this.v6 = [...this.v6, tier].sort((x, y) => y.len - x.len);
      }
      const key = ip.value >> tier.shift;
      if (!tier.table.has(key)) this.v6Count++;
      tier.table.set(key, value);
      this.v6Linear = this.v6Count > LINEAR_MAX ? undefined : this.v6.flatMap((t) => [...t.table].map(([k, v]) => v6Entry(t.len, k << t.shift, v)));
    }
    return this;
  }

  /** Value of the most specific prefix containing `address`, or undefined. */
  lookup(address: string): T | undefined {
    const v4 = parseIPv4(address);
    if (v4 !== undefined) return this.lookupV4(v4);
    if (!parseIPv6Words(address, LOOKUP_WORDS)) return undefined;
    return this.lookupV6(LOOKUP_WORDS);
  }

  lookupV4(value: number): T | undefined {
    const buckets = this.v4Linear;
    if (buckets !== undefined) {
      const linear = buckets[value >>> 24];
      if (linear === undefined) return undefined;
      for (let i = 0; i < linear.length; i++) {
        const e = linear[i] as V4Entry<T>;
        if (v4Key(value, e.len) === e.key) return e.value;
      }
      return undefined;
    }
    const tiers = this.v4;
    for (let i = 0; i < tiers.length; i++) {
      const tier = tiers[i] as { len: number; table: Map<number, T> };
      const hit = tier.table.get(v4Key(value, tier.len));
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  /**
   * Value of the most specific prefix containing the IPv6 address given as
   * four unsigned 32-bit words, most significant first (`parseIPv6Words`). An
   * IPv4-mapped address (`::ffff:a.b.c.d`) is looked up as IPv4, as `lookup` does.
   */
  lookupV6(words: ArrayLike<number>): T | undefined {
    const w0 = words[0] as number;
    const w1 = words[1] as number;
    const w2 = words[2] as number;
    const w3 = words[3] as number;
    if (w0 === 0 && w1 === 0 && w2 === 0xffff) return this.lookupV4(w3);
    const linear = this.v6Linear;
    if (linear !== undefined) {
      for (let i = 0; i < linear.length; i++) {
        const e = linear[i] as V6Entry<T>;
        if ((w0 & e.m0) >>> 0 === e.w0 && (w1 & e.m1) >>> 0 === e.w1 && (w2 & e.m2) >>> 0 === e.w2 && (w3 & e.m3) >>> 0 === e.w3) return e.value;
      }
      return undefined;
    }
    const value = (BigInt(w0) << 96n) | (BigInt(w1) << 64n) | (BigInt(w2) << 32n) | BigInt(w3);
    for (const tier of this.v6) {
      const hit = tier.table.get(value >> tier.shift);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  has(address: string): boolean {
    return this.lookup(address) !== undefined;
  }
}

/** IPv4 entries of `tiers` (longest first) in buckets by the first octets they cover, longest prefix first in each. */
function v4Buckets<T>(tiers: readonly { len: number; table: Map<number, T> }[]): (V4Entry<T>[] | undefined)[] {
  const buckets: (V4Entry<T>[] | undefined)[] = new Array(256).fill(undefined);
  for (const { len, table } of tiers) {
    for (const [key, value] of table) {
      const first = len === 0 ? 0 : len >= 8 ? key >>> (len - 8) : key << (8 - len);
      const span = len >= 8 ? 1 : 2 ** (8 - len);
      for (let o = first; o < first + span; o++) (buckets[o] ??= []).push({ len, key, value });
    }
  }
  return buckets;
}

function v6Entry<T>(len: number, network: bigint, value: T): V6Entry<T> {
  const word = (i: number) => Number((network >> BigInt(96 - 32 * i)) & 0xffffffffn);
  return {
    m0: v6Mask(len, 0),
    m1: v6Mask(len, 1),
    m2: v6Mask(len, 2),
    m3: v6Mask(len, 3),
    w0: word(0),
    w1: word(1),
    w2: word(2),
    w3: word(3),
    value,
  };
}

/**
 * Why `cidr` is not an `address/prefix` range (`10.0.0.0/8`, `fc00::/7`), or
 * undefined when it is one that `CidrMap.add` takes. Stricter than `add`, which
 * also takes bare addresses: for validating configured ranges.
 */
export function cidrProblem(cidr: string): string | undefined {
  const slash = cidr.indexOf('/');
  if (slash < 0) return 'expected address/prefix, e.g. 10.0.0.0/8';
  const addr = cidr.slice(0, slash);
  const bitsText = cidr.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return `invalid prefix length "${bitsText}"`;
  const bits = Number(bitsText);
  if (addr.includes(':')) {
    const v6 = parseIPv6(addr);
    if (v6 === undefined) return `invalid IPv6 address "${addr}"`;
    if (bits > 128) return 'IPv6 prefix length must be 0..128';
    if (v6 >> 32n === 0xffffn && bits < 96) return 'an IPv4-mapped prefix length must be 96..128';
  } else {
    if (parseIPv4(addr) === undefined) return `invalid IPv4 address "${addr}"`;
    if (bits > 32) return 'IPv4 prefix length must be 0..32';
  }
  return undefined;
}

/** Class of an address by the IANA special-purpose registries. */
export type AddressScope = 'loopback' | 'link_local' | 'private' | 'shared' | 'multicast' | 'unspecified' | 'documentation' | 'public' | 'invalid';

const SCOPES = new CidrMap<AddressScope>()
  .add('0.0.0.0/32', 'unspecified')
  .add('127.0.0.0/8', 'loopback')
  .add('10.0.0.0/8', 'private')
  .add('172.16.0.0/12', 'private')
  .add('192.168.0.0/16', 'private')
  .add('100.64.0.0/10', 'shared')
  .add('169.254.0.0/16', 'link_local')
  .add('224.0.0.0/4', 'multicast')
  .add('::/128', 'unspecified')
  .add('::1/128', 'loopback')
  .add('fc00::/7', 'private')
  .add('fe80::/10', 'link_local')
  .add('ff00::/8', 'multicast');

/**
 * Scope of an address: loopback, link-local (incl. the cloud metadata address
 * 169.254.169.254), private (RFC 1918, fc00::/7), shared (RFC 6598 CGNAT),
 * multicast, or public. Documentation ranges (192.0.2.0/24, 198.51.100.0/24,
 * 203.0.113.0/24, 2001:db8::/32) count as public: examples and tests use them
 * for internet hosts.
 */
export function addressScope(address: string): AddressScope {
  const v4 = parseIPv4(address);
  if (v4 !== undefined) return SCOPES.lookupV4(v4) ?? 'public';
  if (!parseIp(address)) return 'invalid';
  return SCOPES.lookup(address) ?? 'public';
}

/** True for private, shared (CGNAT), loopback, link-local and unspecified addresses: everything that is not on the internet. */
export function isPrivateOrLocal(address: string): boolean {
  const scope = addressScope(address);
  return scope !== 'public' && scope !== 'invalid' && scope !== 'documentation';
}

/**
 * A CidrMap holding `true` for each of `cidrs` (`address/prefix`), for
 * membership tests (`lookupV4(...) === true`). Throws a RangeError naming the
 * first invalid range: validate configured ranges with `cidrProblem` first.
 */
export function cidrSet(cidrs: Iterable<string>): CidrMap<true> {
  const set = new CidrMap<true>();
  for (const cidr of cidrs) {
    const problem = cidrProblem(cidr);
    if (problem) throw new RangeError(`invalid CIDR "${cidr}": ${problem}`);
    set.add(cidr, true);
  }
  return set;
}
