import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EwmaBaseline } from '@outflow/baselines';
import { decodeAll } from '@outflow/core';
import { receiverConformance, scorerConformance } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { describe, expect, it } from 'vitest';
import { PoissonSurpriseScorer, poissonUpperTail, zeekConn, zeekConnDecoder } from '../src/index.js';

const fixture = fileURLToPath(new URL('../testdata/conn.log', import.meta.url));

// One call each proves the plugin against the same suite every Outflow component passes.
defineConformanceTests(
  'zeek_conn receiver',
  receiverConformance({
    factory: zeekConn,
    defaultConfigRequiresInput: true, // a file path is required
    config: (env) => ({ file: { paths: [env.dir], follow: true, pollIntervalMs: 20 } }),
    sendValid: async (env) =>
      appendFileSync(join(env.dir, 'conn.log'), '{"ts":1709532000,"uid":"C1","id.orig_h":"10.0.0.1","id.resp_h":"198.51.100.9","orig_bytes":10}\n'),
    sendInvalid: async (env) => writeFileSync(join(env.dir, 'bad.log'), '{"ts": oops\n'),
  }),
);

defineConformanceTests(
  'poisson_surprise scorer',
  scorerConformance({
    scorer: new PoissonSurpriseScorer(),
    baseline: new EwmaBaseline({ halfLifeMs: 86_400_000 }),
    sample: (i) => 10 + (i % 5),
    anomalous: 80,
    invalid: [Number.NaN, -3],
  }),
);

describe('zeek_conn decoder (golden)', () => {
  it('decodes the fixture into flows and reports the bad line', async () => {
    const { readFileSync } = await import('node:fs');
    const lines = readFileSync(fixture, 'utf8').trim().split('\n');
    const results = lines.map((l, i) => decodeAll(zeekConnDecoder, l, { observedTime: 0, location: 'conn.log', line: i + 1 }));
    const events = results.flatMap((r) => r.events);
    expect(events.map((e) => e.kind === 'network_flow' && [e.sourceId, e.src.address, e.dst.address, e.direction, e.bytes, e.reverseBytes])).toEqual([
      ['CQh2Yx3b0Zq9mZ1k7', '10.20.10.5', '203.0.113.66', 'egress', 2400000000, 48000],
      ['C8sK2v1a9QwRt5Lm3', '10.20.10.9', '10.20.20.1', 'internal', 900, 64000],
    ]);
    expect(events[0]?.time).toBe(1709532000123 + 12500);
    expect(results[2]?.errors.map((e) => [e.reason, e.location])).toEqual([['missing_field', 'conn.log:3']]);
  });
});

describe('poisson tail', () => {
  it('matches known values', () => {
    expect(poissonUpperTail(0, 3)).toBe(1);
    expect(poissonUpperTail(1, 3)).toBeCloseTo(1 - Math.exp(-3), 10);
    // P(X >= 10 | 3) = 0.001102488...
    expect(poissonUpperTail(10, 3)).toBeCloseTo(0.0011025, 6);
  });
});
