/**
 * Address classification for flow direction: is an address inside the
 * monitored networks (`internalCidrs`), a public address, or neither
 * (special-purpose ranges such as loopback, link-local, multicast, or not an
 * address at all)?
 *
 * Parsing and prefix matching are core's (`parseIPv4`, `cidrSet`): allocation
 * free for IPv4, which runs twice per flow on the hot path.
 */
import { type CidrMap, cidrProblem, cidrSet, isIp, parseIPv4, parseIPv6Words } from '@outflow/core';

export { cidrProblem };

/** True for a textual IPv4 or IPv6 address. */
export const isIpAddress: (address: string) => boolean = isIp;

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

const special = cidrSet(SPECIAL_CIDRS);

/** An IPv6 address being classified, as four 32-bit words (classification is synchronous). */
const WORDS: number[] = [0, 0, 0, 0];

/** Classifies addresses against a set of internal ranges. */
export class AddressClassifier {
  private readonly internal: CidrMap<true>;

  constructor(internalCidrs: readonly string[] = DEFAULT_INTERNAL_CIDRS) {
    this.internal = cidrSet(internalCidrs);
  }

  classify(address: string): AddressClass {
    const v4 = parseIPv4(address);
    if (v4 !== undefined) return this.classifyV4(v4);
    if (address.indexOf(':') < 0) return 'invalid';
    if (!parseIPv6Words(address, WORDS)) return 'invalid';
    // An IPv4-mapped address (::ffff:a.b.c.d) is looked up as the IPv4 address.
    if (this.internal.lookupV6(WORDS)) return 'internal';
    return special.lookupV6(WORDS) ? 'other' : 'public';
  }

  /** Class of an IPv4 address given as an unsigned 32-bit integer (see `parseIPv4`). */
  classifyV4(v4: number): AddressClass {
    if (this.internal.lookupV4(v4)) return 'internal';
    return special.lookupV4(v4) ? 'other' : 'public';
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
