import { describe, expect, it } from 'vitest';
import { AddressClassifier, cidrProblem, directionFromSides, isIpAddress } from '../src/ip.js';

// Parsing itself is core's (parseIPv4, parseIPv6: see core's ip tests); these check what the receivers see of it.
describe('IPv4 addresses', () => {
  it('accepts dotted quads', () => {
    for (const good of ['0.0.0.0', '10.0.1.5', '255.255.255.255']) expect(isIpAddress(good), good).toBe(true);
    expect(new AddressClassifier(['10.0.1.5/32']).classify('10.0.1.5')).toBe('internal');
  });
  it('rejects malformed addresses', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '1.2.3.', 'a.b.c.d', '1.2.3.4 ', '1234.1.1.1', '-']) {
      expect(isIpAddress(bad), bad).toBe(false);
      expect(new AddressClassifier().classify(bad), bad).toBe('invalid');
    }
  });
});

describe('IPv6 addresses', () => {
  it('expands :: and embedded IPv4', () => {
    for (const good of ['::', '::1', 'fd00:ec2::23', '2001:db8:0:0:0:0:2:1', '::ffff:10.0.0.1', 'fe80::1%eth0', '1::'])
      expect(isIpAddress(good), good).toBe(true);
    const c = new AddressClassifier(['fd00:ec2::/32', '2001:db8::2:1/128', '1::/16']);
    for (const a of ['fd00:ec2::23', '2001:db8:0:0:0:0:2:1', '1::']) expect(c.classify(a), a).toBe('internal');
    expect(c.classify('2001:db8::2:2')).toBe('public');
  });
  it('rejects malformed addresses', () => {
    for (const bad of ['', ':', '1:2', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', '::ffff:300.1.1.1']) {
      expect(isIpAddress(bad), bad).toBe(false);
      expect(new AddressClassifier().classify(bad), bad).toBe('invalid');
    }
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
    const set = new AddressClassifier(['172.16.0.0/12', '64.0.0.0/2', '192.168.1.128/25', '0.0.0.0/0']);
    const wide = new AddressClassifier(['64.0.0.0/2']);
    expect(wide.classify('64.0.0.1')).toBe('internal');
    expect(wide.classify('127.255.255.255')).toBe('internal');
    expect(wide.classify('128.0.0.0')).toBe('public');
    expect(wide.classify('63.255.255.255')).toBe('public');
    const narrow = new AddressClassifier(['192.168.1.128/25', '172.16.0.0/12']);
    expect(narrow.classify('192.168.1.200')).toBe('internal');
    expect(narrow.classify('192.168.1.100')).toBe('public');
    expect(narrow.classify('172.31.255.255')).toBe('internal');
    expect(narrow.classify('172.32.0.0')).toBe('public');
    expect(set.classify('8.8.8.8')).toBe('internal');
    expect(() => new AddressClassifier(['nope'])).toThrow(RangeError);
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
