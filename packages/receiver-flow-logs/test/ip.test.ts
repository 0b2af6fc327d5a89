import { describe, expect, it } from 'vitest';
import { AddressClassifier, CidrSet, cidrProblem, directionFromSides, isIpAddress, parseIpv4, parseIpv6 } from '../src/ip.js';

describe('IPv4 parsing', () => {
  it('parses dotted quads to unsigned integers', () => {
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('10.0.1.5')).toBe(10 * 2 ** 24 + 1 * 256 + 5);
    expect(parseIpv4('255.255.255.255')).toBe(2 ** 32 - 1);
  });
  it('rejects malformed addresses', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '1.2.3.', 'a.b.c.d', '1.2.3.4 ', '1234.1.1.1', '-'])
      expect(parseIpv4(bad), bad).toBe(-1);
  });
});

describe('IPv6 parsing', () => {
  it('expands :: and embedded IPv4', () => {
    expect(parseIpv6('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIpv6('::1')).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIpv6('fd00:ec2::23')).toEqual([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23]);
    expect(parseIpv6('2001:db8:0:0:0:0:2:1')).toEqual([0x2001, 0xdb8, 0, 0, 0, 0, 2, 1]);
    expect(parseIpv6('::ffff:10.0.0.1')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]);
    expect(parseIpv6('fe80::1%eth0')).toEqual([0xfe80, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIpv6('1::')).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
  });
  it('rejects malformed addresses', () => {
    for (const bad of ['', ':', '1:2', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', '::ffff:300.1.1.1'])
      expect(parseIpv6(bad), bad).toBeUndefined();
  });
  it('isIpAddress covers both families', () => {
    expect(isIpAddress('10.0.0.1')).toBe(true);
    expect(isIpAddress('2001:db8::1')).toBe(true);
    expect(isIpAddress('eni-123')).toBe(false);
  });
});

describe('CIDRs', () => {
  it('explains invalid CIDRs', () => {
    expect(cidrProblem('10.0.0.0/8')).toBeUndefined();
    expect(cidrProblem('fc00::/7')).toBeUndefined();
    expect(cidrProblem('10.0.0.0')).toMatch(/address\/prefix/);
    expect(cidrProblem('10.0.0.0/33')).toMatch(/0\.\.32/);
    expect(cidrProblem('fc00::/129')).toMatch(/0\.\.128/);
    expect(cidrProblem('10.0.0/8')).toMatch(/invalid IPv4/);
    expect(cidrProblem('10.0.0.0/x')).toMatch(/prefix length/);
  });
  it('matches prefixes of any length, including ones spanning several first octets', () => {
    const set = new CidrSet(['172.16.0.0/12', '64.0.0.0/2', '192.168.1.128/25', '0.0.0.0/0']);
    const wide = new CidrSet(['64.0.0.0/2']);
    expect(wide.hasV4(parseIpv4('64.0.0.1'))).toBe(true);
    expect(wide.hasV4(parseIpv4('127.255.255.255'))).toBe(true);
    expect(wide.hasV4(parseIpv4('128.0.0.0'))).toBe(false);
    expect(wide.hasV4(parseIpv4('63.255.255.255'))).toBe(false);
    const narrow = new CidrSet(['192.168.1.128/25', '172.16.0.0/12']);
    expect(narrow.hasV4(parseIpv4('192.168.1.200'))).toBe(true);
    expect(narrow.hasV4(parseIpv4('192.168.1.100'))).toBe(false);
    expect(narrow.hasV4(parseIpv4('172.31.255.255'))).toBe(true);
    expect(narrow.hasV4(parseIpv4('172.32.0.0'))).toBe(false);
    expect(set.hasV4(parseIpv4('8.8.8.8'))).toBe(true);
    expect(() => new CidrSet(['nope'])).toThrow(RangeError);
  });
});

describe('AddressClassifier', () => {
  const c = new AddressClassifier();
  it('classifies the default internal ranges (RFC 1918, RFC 6598, fc00::/7)', () => {
    for (const a of ['10.1.2.3', '172.16.0.1', '172.31.255.254', '192.168.0.1', '100.64.0.1', '100.127.255.255', 'fd00::1', 'fc12::1', '::ffff:10.0.0.1'])
      expect(c.classify(a), a).toBe('internal');
  });
  it('classifies public and special-purpose addresses', () => {
    for (const a of ['8.8.8.8', '172.32.0.1', '100.128.0.1', '198.51.100.7', '2001:db8::1', '2600::1']) expect(c.classify(a), a).toBe('public');
    for (const a of ['127.0.0.1', '169.254.169.254', '224.0.0.1', '255.255.255.255', '0.0.0.0', '::1', 'fe80::1', 'ff02::2'])
      expect(c.classify(a), a).toBe('other');
    for (const a of ['not-an-ip', '-', '10.0.0', '']) expect(c.classify(a), a).toBe('invalid');
  });
  it('derives direction from the two ends', () => {
    expect(c.direction('10.0.0.1', '8.8.8.8')).toBe('egress');
    expect(c.direction('8.8.8.8', '10.0.0.1')).toBe('ingress');
    expect(c.direction('10.0.0.1', '192.168.0.1')).toBe('internal');
    expect(c.direction('8.8.8.8', '1.1.1.1')).toBe('unknown');
    expect(c.direction('10.0.0.1', '169.254.169.254')).toBe('unknown');
  });
  it('uses the configured ranges only', () => {
    const custom = new AddressClassifier(['203.0.113.0/24']);
    expect(custom.classify('203.0.113.9')).toBe('internal');
    expect(custom.classify('10.0.0.1')).toBe('public');
    expect(custom.direction('203.0.113.9', '10.0.0.1')).toBe('egress');
  });
  it('directionFromSides trusts metadata about which end is inside', () => {
    expect(directionFromSides(true, false, 'internal', 'public')).toBe('egress');
    expect(directionFromSides(false, true, 'public', 'internal')).toBe('ingress');
    expect(directionFromSides(true, true, 'internal', 'public')).toBe('internal');
    expect(directionFromSides(true, false, 'public', 'public')).toBe('egress');
    expect(directionFromSides(false, false, 'internal', 'public')).toBe('egress');
    expect(directionFromSides(true, false, 'internal', 'other')).toBe('unknown');
  });
});
