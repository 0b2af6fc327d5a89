import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { generateScenario, writeScenario } from '@outflow/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from './helpers.js';

describe('outflow decode', () => {
  let dir: string;
  let counts: Record<string, number>;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'decode-'));
    const t = generateScenario({ seed: 11, hours: 2, scenarios: ['nightly_backup', 'exfil_chain'], attackAt: 0.3 });
    writeScenario(dir, t);
    counts = t.meta.counts;
  });

  it.each([
    ['k8s-audit', 'k8s_audit'],
    ['cloudtrail', 'aws_cloudtrail'],
    ['vpc-flow', 'aws_vpc_flow'],
    ['falco', 'falco'],
    ['tetragon', 'tetragon'],
  ])('detects and decodes every generated %s record', async (sub, format) => {
    const r = await run(['decode', join(dir, sub)]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(r.stderr.trim().split('\n').at(-1)).toBe(`decoded ${lines.length} events, 0 errors`);
    const events = lines.map((l) => JSON.parse(l) as { source: string; sourceId?: string; kind: string; time: number });
    expect(events.every((e) => e.source === format && typeof e.sourceId === 'string' && Number.isFinite(e.time))).toBe(true);
    // one event per record, except Tetragon (one per exec/exit/kprobe) and flows (one per line)
    expect(lines.length).toBe(counts[format]);
  });

  it('reads gzip, honours --format, counts bad records and keeps going', async () => {
    const file = join(dir, 'mixed.jsonl.gz');
    writeFileSync(
      file,
      gzipSync(
        '{"kind":"network_flow","time":1,"src":{"address":"10.0.0.1"},"dst":{"address":"10.0.0.2"}}\n{oops\n{"kind":"file_access","time":2,"path":"/etc/shadow"}\n',
      ),
    );
    const r = await run(['decode', '--format', 'outflow_json', '--errors', file]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
    expect(r.stderr).toMatch(/mixed\.jsonl\.gz:2: invalid_json/);
    expect(r.stderr.trim().split('\n').at(-1)).toBe('decoded 2 events, 1 errors');
  });

  it('exits 1 when an input cannot be opened, after decoding the others', async () => {
    const r = await run(['decode', join(dir, 'falco'), join(dir, 'does-not-exist')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot open .*does-not-exist/);
    expect(r.stdout.length).toBeGreaterThan(0);
  });

  it('rejects an unknown format with a usage error', async () => {
    const r = await run(['decode', '--format', 'nope', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown format "nope"/);
  });
});

describe('outflow decode: formats carried inside OTLP', () => {
  it('decodes a Falco alert and a Kubernetes audit event shipped as OTLP/JSON log bodies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otlp-'));
    const falcoAlert = {
      uuid: '2c4b5f0e-5f6a-4c55-8c1e-0d3a1f2b7e90',
      time: '2024-03-04T06:00:00.123456789Z',
      rule: 'Terminal shell in container',
      priority: 'Notice',
      source: 'syscall',
      output: 'A shell was spawned in a container with an attached terminal',
      tags: ['container', 'shell'],
      hostname: 'node-1',
      output_fields: {
        'container.id': 'abc123',
        'k8s.ns.name': 'shop',
        'k8s.pod.name': 'api-0',
        'proc.cmdline': 'sh',
        'proc.name': 'sh',
        'proc.pid': 42,
        'proc.tty': 34816,
      },
    };
    const audit = {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: 'a1b2c3d4-0000-4000-8000-000000000001',
      stage: 'ResponseComplete',
      requestURI: '/api/v1/namespaces/shop/secrets/db',
      verb: 'get',
      user: { username: 'alice' },
      sourceIPs: ['10.0.0.1'],
      objectRef: { resource: 'secrets', namespace: 'shop', name: 'db', apiVersion: 'v1' },
      responseStatus: { code: 200 },
      requestReceivedTimestamp: '2024-03-04T06:00:01.000000Z',
      stageTimestamp: '2024-03-04T06:00:01.001000Z',
    };
    const request = {
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'otel-collector' } }] },
          scopeLogs: [
            {
              logRecords: [
                { timeUnixNano: '1709532000123000000', body: { stringValue: JSON.stringify(falcoAlert) } },
                { timeUnixNano: '1709532001000000000', body: { stringValue: JSON.stringify(audit) } },
                { timeUnixNano: '1709532002000000000', body: { stringValue: 'GET /healthz 200' } },
              ],
            },
          ],
        },
      ],
    };
    const file = join(dir, 'logs.otlp.jsonl');
    writeFileSync(file, `${JSON.stringify(request)}\n`);
    const r = await run(['decode', file]);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; sourceId: string; source: string });
    expect(events.map((e) => [e.kind, e.sourceId])).toEqual([
      ['runtime_alert', falcoAlert.uuid],
      ['k8s_audit', audit.auditID],
    ]);
  });
});
