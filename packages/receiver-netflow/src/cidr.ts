/** Address ranges for deriving flow direction: parsed once, matched on numbers and bytes (no strings on the hot path). */

/** Private and local ranges counted as internal by default: RFC 1918, RFC 6598 shared space, loopback, link-local, IPv6 ULA, loopback and link-local. */
export const DEFAULT_INTERNAL_CIDRS: readonly string[] = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  'fc00::/7',
  'fe80::/10',
  '::1/128',
];

/** Parse dotted-quad IPv4 text to an unsigned 32-bit number, or undefined. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v;
}

/** Parse IPv6 text (with `::` and an optional trailing dotted quad) to 16 bytes, or undefined. */
export function parseIpv6(text: string): Uint8Array | undefined {
  let s = text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const lastColon = s.lastIndexOf(':');
  if (lastColon >= 0 && s.includes('.', lastColon)) {
    // trailing dotted quad (`::ffff:192.0.2.1`): rewrite it as two hex groups
    const v4 = parseIpv4(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    s = `${s.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0] ?? '');
  const rest = halves.length === 2 ? parse(halves[1] ?? '') : [];
  if (!head || !rest) return undefined;
  const explicit = head.length + rest.length;
  let groups: number[];
  if (halves.length === 2) {
    if (explicit > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - explicit).fill(0), ...rest];
  } else {
    if (explicit !== 8) return undefined;
    groups = head;
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 255;
  });
  return bytes;
}

interface V6Prefix {
  bytes: Uint8Array;
  bits: number;
}

/** Why a CIDR string was rejected, or undefined when it is valid. */
export function cidrProblem(cidr: string): string | undefined {
  const slash = cidr.indexOf('/');
  if (slash < 0) return 'expected address/prefix-length';
  const addr = cidr.slice(0, slash);
  const bitsText = cidr.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return 'prefix length must be a number';
  const bits = Number(bitsText);
  if (addr.includes(':')) {
    if (!parseIpv6(addr)) return `"${addr}" is not an IPv6 address`;
    if (bits > 128) return 'IPv6 prefix length must be at most 128';
    return undefined;
  }
  if (parseIpv4(addr) === undefined) return `"${addr}" is not an IPv4 address`;
  if (bits > 32) return 'IPv4 prefix length must be at most 32';
  return undefined;
}

/** A set of IPv4 and IPv6 ranges. */
export class CidrSet {
  private readonly v4Nets: number[] = [];
  private readonly v4Masks: number[] = [];
  private readonly v6: V6Prefix[] = [];

  /** Throws RangeError on an invalid CIDR (configs are validated before this with `cidrProblem`). */
  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const problem = cidrProblem(cidr);
      if (problem) throw new RangeError(`invalid CIDR "${cidr}": ${problem}`);
      const [addr = '', bitsText = ''] = cidr.split('/');
      const bits = Number(bitsText);
      if (addr.includes(':')) {
        this.v6.push({ bytes: parseIpv6(addr) as Uint8Array, bits });
      } else {
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        this.v4Masks.push(mask);
        this.v4Nets.push(((parseIpv4(addr) as number) & mask) >>> 0);
      }
    }
  }

  /** True when the IPv4 address (unsigned 32-bit) is in a range. */
  hasV4(address: number): boolean {
    const nets = this.v4Nets;
    for (let i = 0; i < nets.length; i++) if ((address & (this.v4Masks[i] as number)) >>> 0 === nets[i]) return true;
    return false;
  }

  /** True when the IPv6 address at `bytes[offset..offset+16)` is in a range. */
  hasV6(bytes: Uint8Array, offset: number): boolean {
    for (const p of this.v6) {
      let bits = p.bits;
      let i = 0;
      let match = true;
      while (bits >= 8) {
        if (bytes[offset + i] !== p.bytes[i]) {
          match = false;
          break;
        }
        i++;
        bits -= 8;
      }
      if (match && bits > 0) {
        const mask = (0xff << (8 - bits)) & 0xff;
        match = ((bytes[offset + i] as number) & mask) === ((p.bytes[i] as number) & mask);
      }
      if (match) return true;
    }
    return false;
  }

  /** True when the address text is in a range (slow path, for tests and tools). */
  has(address: string): boolean {
    if (address.includes(':')) {
      const b = parseIpv6(address);
      return b ? this.hasV6(b, 0) : false;
    }
    const v = parseIpv4(address);
    return v === undefined ? false : this.hasV4(v);
  }
}
