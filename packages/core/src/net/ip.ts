/**
 * IP address parsing and longest-prefix CIDR maps, shared by receivers
 * (flow direction), enrichers (destination class) and analytics. Allocation
 * free for IPv4 lookups: hot paths call them once per flow.
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

/** IPv6 text (with `::`, embedded IPv4, optional `%zone`) → 128-bit bigint, or undefined. */
export function parseIPv6(input: string): bigint | undefined {
  let s = input;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (!s.includes(':')) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as string;
      if (i === items.length - 1 && item.includes('.')) {
        const v4 = parseIPv4(item);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return undefined;
        out.push(Number.parseInt(item, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0 || (halves.length === 2 && missing < 1)) return undefined;
  const all = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
  let value = 0n;
  for (const g of all) value = (value << 16n) | BigInt(g);
  return value;
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
  return parseIp(address) !== undefined;
}

const V4_MASKS: number[] = Array.from({ length: 33 }, (_, len) => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0));

/**
 * A map from CIDR prefixes to values with longest-prefix-match lookup, for
 * IPv4 and IPv6. Lookups cost one Map probe per distinct prefix length present.
 */
export class CidrMap<T> {
  private readonly v4 = new Map<number, Map<number, T>>();
  private v4Lengths: number[] = [];
  private readonly v6 = new Map<number, Map<bigint, T>>();
  private v6Lengths: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
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
      const network = (ip.value & (V4_MASKS[len] as number)) >>> 0;
      let table = this.v4.get(len);
      if (!table) {
        this.v4.set(len, (table = new Map()));
        this.v4Lengths = [...this.v4.keys()].sort((a, b) => b - a);
      }
      if (!table.has(network)) this.count++;
      table.set(network, value);
    } else {
      const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len);
      const network = ip.value & mask;
      let table = this.v6.get(len);
      if (!table) {
        this.v6.set(len, (table = new Map()));
        this.v6Lengths = [...this.v6.keys()].sort((a, b) => b - a);
      }
      if (!table.has(network)) this.count++;
      table.set(network, value);
    }
    return this;
  }

  /** Value of the most specific prefix containing `address`, or undefined. */
  lookup(address: string): T | undefined {
    const v4 = parseIPv4(address);
    if (v4 !== undefined) return this.lookupV4(v4);
    const ip = parseIp(address);
    if (!ip) return undefined;
    if (ip.version === 4) return this.lookupV4(ip.value);
    for (const len of this.v6Lengths) {
      const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len);
      const hit = this.v6.get(len)?.get(ip.value & mask);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  lookupV4(value: number): T | undefined {
    for (const len of this.v4Lengths) {
      const hit = (this.v4.get(len) as Map<number, T>).get((value & (V4_MASKS[len] as number)) >>> 0);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  has(address: string): boolean {
    return this.lookup(address) !== undefined;
  }
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
