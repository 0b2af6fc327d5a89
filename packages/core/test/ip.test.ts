import { describe, expect, it } from 'vitest';
import { addressScope, CidrMap, cidrProblem, cidrSet, isIp, isPrivateOrLocal, parseIPv4, parseIPv6, parseIPv6Words, parseIp } from '../src/index.js';

describe('ip', () => {
  it('parses IPv4 strictly', () => {
    expect(parseIPv4('10.1.2.3')).toBe(0x0a010203);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', 'a.b.c.d', '1.2.3.4 ']) expect(parseIPv4(bad)).toBeUndefined();
  });

  it('parses IPv6 including :: and embedded IPv4', () => {
    expect(parseIPv6('::1')).toBe(1n);
    expect(parseIPv6('2001:db8::1')).toBe((0x20010db8n << 96n) | 1n);
    expect(parseIPv6('::ffff:10.0.0.1')).toBe((0xffffn << 32n) | 0x0a000001n);
    expect(parseIPv6('fe80::1%eth0')).toBe((0xfe80n << 112n) | 1n);
    for (const bad of ['1::2::3', ':::', '12345::', '1:2:3:4:5:6:7:8:9', 'g::1']) expect(parseIPv6(bad)).toBeUndefined();
    expect(parseIp('::ffff:10.0.0.1')).toEqual({ version: 4, value: 0x0a000001 });
  });

  it('finds the longest matching prefix', () => {
    const m = new CidrMap<string>()
      .add('10.0.0.0/8', 'vpc')
      .add('10.20.0.0/16', 'pods')
      .add('10.20.5.7', 'one-pod')
      .add('2001:db8::/32', 'doc6')
      .add('0.0.0.0/0', 'any');
    expect(m.lookup('10.20.5.7')).toBe('one-pod');
    expect(m.lookup('10.20.5.8')).toBe('pods');
    expect(m.lookup('10.9.0.1')).toBe('vpc');
    expect(m.lookup('8.8.8.8')).toBe('any');
    expect(m.lookup('2001:db8:1::5')).toBe('doc6');
    expect(m.lookup('2001:db9::5')).toBeUndefined();
    expect(m.lookup('not an ip')).toBeUndefined();
    expect(m.size).toBe(5);
    expect(() => m.add('10.0.0.0/33', 'x')).toThrow(/prefix length/);
    expect(() => m.add('10.0.0/8', 'x')).toThrow(/invalid CIDR/);
  });

  it('classifies scopes', () => {
    expect(addressScope('10.2.3.4')).toBe('private');
    expect(addressScope('100.64.1.1')).toBe('shared');
    expect(addressScope('169.254.169.254')).toBe('link_local');
    expect(addressScope('127.0.0.1')).toBe('loopback');
    expect(addressScope('fd00:ec2::254')).toBe('private');
    expect(addressScope('203.0.113.66')).toBe('public');
    expect(addressScope('nope')).toBe('invalid');
    expect(isPrivateOrLocal('192.168.1.1')).toBe(true);
    expect(isPrivateOrLocal('52.218.4.10')).toBe(false);
  });

  it('parses the addresses receivers see (flow logs, NetFlow) and rejects malformed ones', () => {
    expect(parseIPv4('0.0.0.0')).toBe(0);
    expect(parseIPv4('10.0.1.5')).toBe(10 * 2 ** 24 + 1 * 256 + 5);
    for (const bad of ['1.2.3.', '1234.1.1.1', '-']) expect(parseIPv4(bad), bad).toBeUndefined();
    const groups = (...g: number[]) => g.reduce((v, x) => (v << 16n) | BigInt(x), 0n);
    expect(parseIPv6('::')).toBe(0n);
    expect(parseIPv6('fd00:ec2::23')).toBe(groups(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23));
    expect(parseIPv6('2001:db8:0:0:0:0:2:1')).toBe(groups(0x2001, 0xdb8, 0, 0, 0, 0, 2, 1));
    expect(parseIPv6('1::')).toBe(groups(1, 0, 0, 0, 0, 0, 0, 0));
    expect(parseIPv6('2001:0db8:0000:0000:0001:0000:0000:0001')).toBe(groups(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1));
    for (const bad of ['', ':', '1:2', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', '::ffff:300.1.1.1']) expect(parseIPv6(bad), bad).toBeUndefined();
    expect(isIp('10.0.0.1')).toBe(true);
    expect(isIp('2001:db8::1')).toBe(true);
    expect(isIp('eni-123')).toBe(false);
  });

  it('matches prefixes spanning several first octets, and IPv6 words (IPv4-mapped ones as IPv4)', () => {
    const wide = new CidrMap<string>().add('64.0.0.0/2', 'wide');
    expect(wide.lookupV4(parseIPv4('64.0.0.1') as number)).toBe('wide');
    expect(wide.lookupV4(parseIPv4('127.255.255.255') as number)).toBe('wide');
    expect(wide.lookupV4(parseIPv4('128.0.0.0') as number)).toBeUndefined();
    expect(wide.lookupV4(parseIPv4('63.255.255.255') as number)).toBeUndefined();
    const m = new CidrMap<string>().add('10.0.0.0/8', 'v4').add('2001:db8:abc0::/44', 'v6');
    const words = (a: string) => {
      const w = [0, 0, 0, 0];
      expect(parseIPv6Words(a, w), a).toBe(true);
      return w;
    };
    expect(words('2001:db8::1')).toEqual([0x20010db8, 0, 0, 1]);
    expect(words('::ffff:10.1.2.3')).toEqual([0, 0, 0xffff, 0x0a010203]);
    const untouched = [7, 7, 7, 7];
    expect(parseIPv6Words('1::2::3', untouched)).toBe(false);
    expect(untouched).toEqual([7, 7, 7, 7]);
    expect(m.lookupV6(words('2001:db8:abcf::1'))).toBe('v6');
    expect(m.lookupV6(new Uint32Array(words('2001:db8:abcf::1')))).toBe('v6');
    expect(m.lookupV6(words('2001:db8:abd0::1'))).toBeUndefined();
    expect(m.lookupV6(words('::ffff:10.1.2.3'))).toBe('v4');
    expect(m.lookupV6(words('::10.1.2.3'))).toBeUndefined();
  });

  it('answers the same for small maps (searched entry by entry) and large ones (a table per prefix length)', () => {
    const entries: [string, string][] = [
      ['0.0.0.0/0', 'any'],
      ['10.0.0.0/8', 'ten'],
      ['10.20.0.0/16', 'pods'],
      ['10.20.5.7/32', 'one'],
      ['64.0.0.0/3', 'wide'],
      ['::/0', 'any6'],
      ['2001:db8::/32', 'doc6'],
      ['2001:db8:1::/48', 'site'],
      ['2001:db8:1::5/128', 'host6'],
    ];
    const small = new CidrMap<string>();
    const large = new CidrMap<string>();
    for (const [cidr, value] of entries) {
      small.add(cidr, value);
      large.add(cidr, value);
    }
    // Enough other prefixes of each family that `large` leaves the small-map search.
    for (let i = 0; i < 20; i++) {
      large.add(`192.0.${i}.0/24`, `x${i}`);
      large.add(`2001:db9:${i.toString(16)}::/48`, `y${i}`);
    }
    const probes = ['10.20.5.7', '10.20.5.8', '10.9.0.1', '64.1.2.3', '95.255.255.255', '96.0.0.0', '8.8.8.8', '2001:db8:1::5', '2001:db8:1::6'];
    const expected = ['one', 'pods', 'ten', 'wide', 'wide', 'any', 'any', 'host6', 'site'];
    expect(probes.map((p) => small.lookup(p))).toEqual(expected);
    expect(probes.map((p) => large.lookup(p))).toEqual(expected);
    expect(['2001:db8:2::1', '2600::1', '::ffff:10.20.5.7'].map((p) => [small.lookup(p), large.lookup(p)])).toEqual([
      ['doc6', 'doc6'],
      ['any6', 'any6'],
      ['one', 'one'],
    ]);
    expect(large.lookup('192.0.7.9')).toBe('x7');
    expect(large.lookup('2001:db9:7::1')).toBe('y7');
    expect(small.add('10.0.0.0/8', 'TEN').lookup('10.9.0.1')).toBe('TEN');
    expect([small.size, large.size]).toEqual([9, 49]);
  });

  it('explains invalid CIDRs, and builds sets of valid ones', () => {
    expect(cidrProblem('10.0.0.0/8')).toBeUndefined();
    expect(cidrProblem('fc00::/7')).toBeUndefined();
    expect(cidrProblem('::ffff:10.0.0.0/104')).toBeUndefined();
    expect(cidrProblem('10.0.0.0')).toMatch(/address\/prefix/);
    expect(cidrProblem('10.0.0.0/33')).toMatch(/0\.\.32/);
    expect(cidrProblem('fc00::/129')).toMatch(/0\.\.128/);
    expect(cidrProblem('10.0.0/8')).toMatch(/invalid IPv4/);
    expect(cidrProblem('fc00:::/8')).toMatch(/invalid IPv6/);
    expect(cidrProblem('10.0.0.0/x')).toMatch(/prefix length/);
    expect(cidrProblem('10.0.0.0/-1')).toMatch(/prefix length/);
    expect(cidrProblem('::ffff:10.0.0.0/8')).toMatch(/IPv4-mapped/);
    const set = cidrSet(['10.0.0.0/8', 'fd00::/8', '::ffff:192.168.0.0/112']);
    expect(set.size).toBe(3);
    expect(set.has('10.1.2.3')).toBe(true);
    expect(set.has('fd12::1')).toBe(true);
    expect(set.has('192.168.7.1')).toBe(true);
    expect(set.has('8.8.8.8')).toBe(false);
    expect(() => cidrSet(['10.0.0.0/8', '10.0.0.0'])).toThrow(RangeError);
    expect(() => cidrSet(['nope'])).toThrow(/invalid CIDR "nope"/);
  });
});
