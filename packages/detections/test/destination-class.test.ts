import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flowEvent } from '@outflow/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { DestinationClassifier, DestinationClassProcessor, isSelfTraffic, loadAwsIpRanges, parseEndpoint } from '../src/index.js';
import { TESTDATA } from './helpers.js';

const RANGES = join(TESTDATA, 'aws-ip-ranges.excerpt.json');

async function classifier(extra: ConstructorParameters<typeof DestinationClassifier>[0] = {}) {
  const { prefixes, invalid } = await loadAwsIpRanges(RANGES);
  expect(invalid).toBe(0);
  return new DestinationClassifier({
    podCidrs: ['10.42.0.0/16'],
    serviceCidrs: ['172.20.0.0/16'],
    ownCidrs: ['10.0.0.0/16', '203.0.113.0/28'],
    allow: ['198.51.100.0/24', '*.github.com'],
    cloudPrefixes: prefixes,
    ...extra,
  });
}

describe('destination class', () => {
  it('classifies every class, most trusted first', async () => {
    const c = await classifier();
    const cases: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['::1', 'loopback'],
      ['169.254.169.254', 'metadata'],
      ['fd00:ec2::254', 'metadata'],
      ['169.254.170.2', 'metadata'],
      ['169.254.3.3', 'link_local'],
      ['fe80::1', 'link_local'],
      ['10.42.3.4', 'pod'],
      ['172.20.0.10', 'service'],
      ['198.51.100.7', 'allowed'],
      ['10.0.5.5', 'own'],
      ['203.0.113.3', 'own'],
      ['10.99.0.1', 'private'],
      ['192.168.1.1', 'private'],
      ['100.64.1.1', 'private'],
      ['fd12::1', 'private'],
      ['224.0.0.251', 'reserved'],
      ['52.217.10.1', 'cloud'],
      ['8.8.8.8', 'external'],
      ['2001:db8::1', 'external'],
      ['not-an-address', 'unknown'],
    ];
    for (const [addr, cls] of cases) expect(c.classify(addr).class, addr).toBe(cls);
  });

  it('names the cloud service and region from ip-ranges.json, preferring the service over the AMAZON catch-all', async () => {
    const c = await classifier();
    expect(c.classify('52.217.10.1')).toEqual({ class: 'cloud', provider: 'aws', service: 'S3', region: 'us-east-1' });
    expect(c.classify('3.5.141.1')).toMatchObject({ service: 'S3', region: 'ap-northeast-2' }); // same prefix listed as AMAZON and S3
    expect(c.classify('52.4.1.1')).toMatchObject({ service: 'AMAZON' });
    expect(c.classify('64.252.67.9')).toMatchObject({ service: 'EC2', region: 'us-east-1' }); // inside the CLOUDFRONT /18
    expect(c.classify('64.252.100.1')).toMatchObject({ service: 'CLOUDFRONT', region: 'GLOBAL' });
    expect(c.classify('2406:da70:2000::5')).toMatchObject({ service: 'EC2' }); // EC2 /40 wins over the nested AMAZON /56
    expect(c.classify('2620:107:4007::1')).toMatchObject({ service: 'EC2', region: 'us-east-1' });
  });

  it('allow-listed host names match flow DNS names, case-insensitively, and beat private and cloud classes', async () => {
    const c = await classifier();
    expect(c.classify('140.82.112.3', 443, ['api.GitHub.com']).class).toBe('allowed');
    expect(c.classify('52.217.10.1', 443, ['codeload.github.com']).class).toBe('allowed');
    expect(c.classify('10.42.3.4', 443, ['x.github.com']).class).toBe('pod');
    expect(c.classify('140.82.112.3', 443, ['github.com.evil.example']).class).toBe('external');
  });

  it('self endpoints: by URL host and port, host:port, bare address; by name; resolved names', async () => {
    const c = await classifier({
      selfEndpoints: ['http://192.0.2.50:4318/v1/logs', '[2001:db8::9]:9000', '192.0.2.60', 'https://collector.example.internal/v1', 'localhost:4317'],
    });
    expect(c.classify('192.0.2.50', 4318).class).toBe('self');
    expect(c.classify('192.0.2.50', 22).class).toBe('external');
    expect(c.classify('2001:db8:0::9', 9000).class).toBe('self');
    expect(c.classify('192.0.2.60', 1234).class).toBe('self');
    expect(c.classify('192.0.2.70', 443, ['COLLECTOR.example.internal']).class).toBe('self');
    expect(c.classify('127.0.0.1', 4317).class).toBe('loopback');
    await c.resolveSelf(undefined, 2_000);
    expect(c.classify('127.0.0.1', 4317).class).toBe('self');
    expect(c.classify('127.0.0.1', 4318).class).toBe('loopback');
    expect(parseEndpoint('not a url at all')).toBeUndefined();
  });

  it('processor: writes destination.class, source.class and cloud attributes; self traffic is recognisable', async () => {
    const c = await classifier({ selfEndpoints: ['http://192.0.2.50:4318'] });
    const p = new DestinationClassProcessor(c);
    const flow = p.process(flowEvent({ src: { address: '10.42.0.15', port: 40000 }, dst: { address: '52.217.10.1', port: 443 } }));
    expect(flow.attributes).toEqual({
      'destination.class': 'cloud',
      'source.class': 'pod',
      'destination.cloud.provider': 'aws',
      'destination.cloud.service': 'S3',
      'destination.cloud.region': 'us-east-1',
    });
    expect(isSelfTraffic(flow)).toBe(false);
    const self = p.process(flowEvent({ dst: { address: '192.0.2.50', port: 4318 } }));
    expect(self.attributes?.['destination.class']).toBe('self');
    expect(isSelfTraffic(self)).toBe(true);
  });
});

describe('loadAwsIpRanges', () => {
  const dir = mkdtempSync(join(tmpdir(), 'outflow-ranges-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('counts bad entries and rejects files that are not ip-ranges documents', async () => {
    const mixed = join(dir, 'mixed.json');
    writeFileSync(
      mixed,
      JSON.stringify({ prefixes: [{ ip_prefix: '3.5.0.0/18', service: 'S3', region: 'us-east-1' }, { ip_prefix: 'nope' }], ipv6_prefixes: [{}] }),
    );
    expect(await loadAwsIpRanges(mixed)).toEqual({ prefixes: [{ prefix: '3.5.0.0/18', service: 'S3', provider: 'aws', region: 'us-east-1' }], invalid: 2 });
    const notJson = join(dir, 'bad.json');
    writeFileSync(notJson, '{ nope');
    await expect(loadAwsIpRanges(notJson)).rejects.toThrow(/not JSON/);
    const other = join(dir, 'other.json');
    writeFileSync(other, '{"hello": 1}');
    await expect(loadAwsIpRanges(other)).rejects.toThrow(/not an AWS ip-ranges.json/);
    await expect(loadAwsIpRanges(join(dir, 'missing.json'))).rejects.toThrow(/ENOENT/);
  });
});
