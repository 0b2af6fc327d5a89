import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAll } from '@outflow/core';
import { describe, expect, it } from 'vitest';
import { ipv6Bytes, ipv6Text } from '../src/bytes.js';
import { CidrSet, cidrProblem } from '../src/cidr.js';
import { encodeV5 } from '../src/encoder.js';
import { formats, NetflowHexLineDecoder, sniffNetflowHexLines } from '../src/format.js';
import { TESTDATA } from './helpers.js';

describe('formats', () => {
  const [netflowFormat] = formats;
  const hexLines = readFileSync(join(TESTDATA, 'softflowd', 'tshark-fields.hexlines'), 'utf8');

  it('exports one line-framed format named netflow', () => {
    expect(formats.map((f) => [f.name, f.framing])).toEqual([['netflow', 'lines']]);
  });

  it('sniffs tshark field output as NetFlow, and other formats low', () => {
    expect(netflowFormat?.sniff?.(hexLines)).toBeGreaterThan(0.9);
    const others = [
      '{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x"}\n{"kind":"Event"}\n',
      '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n',
      '{"Records":[{"eventVersion":"1.08","eventID":"abc"}]}',
      'deadbeef\ncafebabe\n', // hex, but not NetFlow
      '',
    ];
    for (const head of others) expect(sniffNetflowHexLines(head), head).toBeLessThan(0.2);
  });

  it('decodes lines with or without the exporter fields, with colons between bytes, and reports bad lines', () => {
    const hex = Buffer.from(encodeV5([{ src: '10.0.0.1', dst: '192.0.2.1', bytes: 5 }])).toString('hex');
    const decoder = new NetflowHexLineDecoder();
    const meta = { observedTime: 1, location: 'flows.txt', line: 3 };
    const bare = decodeAll(decoder, hex, meta);
    expect(bare.events[0]).toMatchObject({ location: 'flows.txt:3', sourceId: 'flows.txt/0/0/0', bytes: 5 });
    const withExporter = decodeAll(decoder, `192.0.2.9\t2055\t${hex.match(/../g)?.join(':')}`, meta);
    expect(withExporter.events[0]).toMatchObject({ location: 'flows.txt:3', sourceId: '192.0.2.9/0/0/0' });
    expect(decodeAll(decoder, '# comment', meta)).toEqual({ events: [], errors: [] });
    const bad = decodeAll(decoder, '192.0.2.9 2055 0005zz', meta);
    expect(bad.errors).toEqual([{ reason: 'invalid_hex', message: expect.any(String), raw: '192.0.2.9 2055 0005zz', location: 'flows.txt:3' }]);
  });
});

describe('addresses and ranges', () => {
  it.each([
    ['2001:db8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:192.0.2.128', '::ffff:192.0.2.128'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ])('formats %s as %s (RFC 5952)', (input, canonical) => {
    const bytes = ipv6Bytes(input);
    expect(bytes).toBeDefined();
    expect(ipv6Text(bytes as Uint8Array, 0)).toBe(canonical);
  });

  it('rejects malformed IPv6 text', () => {
    for (const bad of ['1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', 'g::1', '::ffff:300.1.1.1']) expect(ipv6Bytes(bad), bad).toBeUndefined();
  });

  it('matches IPv4 and IPv6 ranges, and explains bad CIDRs', () => {
    const set = new CidrSet(['10.0.0.0/8', '192.168.4.0/22', 'fd00::/8', '2001:db8:abc0::/44', '0.0.0.0/0']);
    expect(set.has('10.255.0.1')).toBe(true);
    expect(set.has('192.168.7.255')).toBe(true);
    expect(set.has('fd12::1')).toBe(true);
    expect(set.has('2001:db8:abcf::1')).toBe(true);
    expect(set.has('2001:db8:abd0::1')).toBe(false);
    expect(set.has('fe00::1')).toBe(false);
    expect(set.has('8.8.8.8')).toBe(true); // 0.0.0.0/0
    const narrow = new CidrSet(['192.168.4.0/22']);
    expect(narrow.has('192.168.8.1')).toBe(false);
    expect(cidrProblem('10.0.0.0/33')).toMatch(/0\.\.32/);
    expect(cidrProblem('10.0.0.0')).toMatch(/address\/prefix/);
    expect(cidrProblem('fd00::/129')).toMatch(/0\.\.128/);
    expect(cidrProblem('fd00::/8')).toBeUndefined();
  });

  it('matches addresses in datagram bytes at any offset, IPv4-mapped ones by their IPv4 address', () => {
    const set = new CidrSet(['10.0.0.0/8', 'fd00::/8']);
    const datagram = new Uint8Array(40);
    datagram.set(ipv6Bytes('fd12::1') as Uint8Array, 3);
    datagram.set(ipv6Bytes('::ffff:10.1.2.3') as Uint8Array, 19);
    expect(set.hasV6(datagram, 3)).toBe(true);
    expect(set.hasV6(datagram, 19)).toBe(true);
    expect(set.hasV6(datagram.subarray(1), 2)).toBe(true);
    expect(set.hasV6(ipv6Bytes('fe00::1') as Uint8Array, 0)).toBe(false);
    expect(set.hasV4(0x0a000001)).toBe(true);
    expect(set.hasV4(0x08080808)).toBe(false);
  });
});
