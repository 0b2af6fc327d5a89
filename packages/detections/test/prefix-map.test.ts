import { describe, expect, it } from 'vitest';
import { PrefixMap, parseAddress, parseCidr } from '../src/index.js';

describe('IP parsing', () => {
  it('parses IPv4, IPv6 (::, embedded IPv4, zone, brackets) and maps IPv4-mapped IPv6 to IPv4', () => {
    expect(parseAddress('10.1.2.3')).toEqual({ family: 4, value: 0x0a010203 });
    expect(parseAddress('::ffff:10.1.2.3')).toEqual({ family: 4, value: 0x0a010203 });
    expect(Array.from((parseAddress('2001:db8::1') as { words: Uint32Array }).words)).toEqual([0x20010db8, 0, 0, 1]);
    expect(Array.from((parseAddress('[fe80::1%eth0]') as { words: Uint32Array }).words)).toEqual([0xfe800000, 0, 0, 1]);
    for (const bad of ['', '1.2.3', '256.1.1.1', '1.2.3.4.5', '1::2::3', 'g::1', 'example.com', '1:2:3:4:5:6:7:8:9']) expect(parseAddress(bad)).toBeUndefined();
  });

  it('parses CIDRs, masks host bits, rejects bad prefixes', () => {
    expect(parseCidr('10.1.2.3/8')).toEqual({ family: 4, start: 0x0a000000n, end: 0x0affffffn, prefix: 8 });
    expect(parseCidr('192.0.2.7')).toMatchObject({ family: 4, prefix: 32, start: 0xc0000207n });
    expect(parseCidr('fd00:ec2::254/128')?.prefix).toBe(128);
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('10.0.0.0/x')).toBeUndefined();
  });
});

describe('PrefixMap', () => {
  it('lowest priority wins; within a priority the most specific prefix; identical prefixes: the last added', () => {
    const m = new PrefixMap<string>();
    m.add('10.0.0.0/8', 'private', 8);
    m.add('10.42.0.0/16', 'pod', 4);
    m.add('10.42.7.0/24', 'allowed-but-worse', 6);
    m.add('52.0.0.0/8', 'amazon', 10);
    m.add('52.216.0.0/15', 's3', 10);
    m.add('52.216.0.0/15', 's3-later', 10);
    expect(m.lookup('10.1.1.1')).toBe('private');
    expect(m.lookup('10.42.7.9')).toBe('pod');
    expect(m.lookup('52.217.255.255')).toBe('s3-later');
    expect(m.lookup('52.218.0.0')).toBe('amazon');
    expect(m.lookup('11.0.0.1')).toBeUndefined();
    expect(m.lookup('not-an-ip')).toBeUndefined();
  });

  it('answers IPv6 and IPv4-mapped IPv6', () => {
    const m = new PrefixMap<string>();
    m.add('2406:da70:2000::/40', 'ec2', 10);
    m.add('2406:da70:2000::/56', 'amazon', 10.5);
    m.add('fd00::/8', 'ula', 8);
    m.add('10.0.0.0/8', 'v4', 8);
    expect(m.lookup('2406:da70:2000::1')).toBe('ec2');
    expect(m.lookup('2406:da70:20ff:ffff::1')).toBe('ec2');
    expect(m.lookup('2406:da70:2100::1')).toBeUndefined();
    expect(m.lookup('fd12::1')).toBe('ula');
    expect(m.lookup('::ffff:10.9.9.9')).toBe('v4');
  });

  it('agrees with a brute-force longest-prefix scan on random prefixes and addresses', () => {
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const entries: { start: number; end: number; prefix: number; priority: number; value: string; order: number }[] = [];
    const m = new PrefixMap<string>();
    for (let i = 0; i < 400; i++) {
      const prefix = 8 + Math.floor(rnd() * 20);
      const base = Math.floor(rnd() * 2 ** 32);
      const size = 2 ** (32 - prefix);
      const start = Math.floor(base / size) * size;
      const priority = Math.floor(rnd() * 3);
      const cidr = `${start >>> 24}.${(start >>> 16) & 255}.${(start >>> 8) & 255}.${start & 255}/${prefix}`;
      m.add(cidr, `v${i}`, priority);
      entries.push({ start, end: start + size - 1, prefix, priority, value: `v${i}`, order: i });
    }
    const brute = (n: number) => {
      let best: (typeof entries)[number] | undefined;
      for (const e of entries) {
        if (n < e.start || n > e.end) continue;
        if (
          !best ||
          e.priority < best.priority ||
          (e.priority === best.priority && (e.prefix > best.prefix || (e.prefix === best.prefix && e.order > best.order)))
        )
          best = e;
      }
      return best?.value;
    };
    for (let i = 0; i < 5000; i++) {
      // Half the probes inside a random prefix, half anywhere.
      const e = entries[Math.floor(rnd() * entries.length)] as (typeof entries)[number];
      const n = i % 2 === 0 ? e.start + Math.floor(rnd() * (e.end - e.start + 1)) : Math.floor(rnd() * 2 ** 32);
      expect(m.lookupV4(n)).toBe(brute(n));
    }
  });
});
