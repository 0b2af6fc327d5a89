/**
 * Address ranges for deriving flow direction: parsed once (with core's
 * `cidrSet`), matched on numbers and bytes (no strings on the hot path).
 */
import { type CidrMap, cidrProblem, cidrSet } from '@outflow/core';
import { ipv6Words } from './bytes.js';

export { cidrProblem };

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

/** A set of IPv4 and IPv6 ranges. */
export class CidrSet {
  private readonly ranges: CidrMap<true>;
  /** Scratch for the address being matched. */
  private readonly words: number[] = [0, 0, 0, 0];

  /** Throws RangeError on an invalid CIDR (configs are validated before this with `cidrProblem`). */
  constructor(cidrs: readonly string[]) {
    this.ranges = cidrSet(cidrs);
  }

  /** True when the IPv4 address (unsigned 32-bit) is in a range. */
  hasV4(address: number): boolean {
    return this.ranges.lookupV4(address) === true;
  }

  /** True when the IPv6 address at `bytes[offset..offset+16)` is in a range (an IPv4-mapped one when its IPv4 address is). */
  hasV6(bytes: Uint8Array, offset: number): boolean {
    return this.ranges.lookupV6(ipv6Words(bytes, offset, this.words)) === true;
  }

  /** True when the address text is in a range (slow path, for tests and tools). */
  has(address: string): boolean {
    return this.ranges.has(address);
  }
}
