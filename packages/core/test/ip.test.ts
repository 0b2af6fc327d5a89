import { describe, expect, it } from 'vitest';
import { addressScope, CidrMap, isPrivateOrLocal, parseIPv4, parseIPv6, parseIp } from '../src/index.js';

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
});
