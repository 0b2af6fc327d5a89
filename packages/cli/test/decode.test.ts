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
