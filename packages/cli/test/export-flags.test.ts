import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPipeline, rule } from '@outflow/core';
import { flowEvent, MemoryReceiver } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/cli-io.js';
import { DEFAULT_OTLP_URL, exportersFromFlags } from '../src/export-flags.js';

describe('exportersFromFlags', () => {
  it('parses every type with its target', () => {
    const specs = exportersFromFlags([
      'console',
      'file=/var/log/outflow/alerts.jsonl',
      'otlp=http://collector:4318/v1/logs',
      'otlp',
      'webhook=https://hooks.example/a?x=1',
    ]);
    expect(specs.map((s) => [s.factory.type, s.config])).toEqual([
      ['console', {}],
      ['file', { path: '/var/log/outflow/alerts.jsonl' }],
      ['otlp', { url: 'http://collector:4318/v1/logs' }],
      ['otlp', { url: DEFAULT_OTLP_URL }],
      ['webhook', { url: 'https://hooks.example/a?x=1' }],
    ]);
    for (const s of specs) expect(s.factory.kind).toBe('exporter');
    expect(exportersFromFlags([])).toEqual([]);
  });

  it('throws UsageError for bad values', () => {
    const bad: [string, RegExp][] = [
      ['kafka=broker:9092', /unknown type "kafka"; expected console, file, otlp, webhook/],
      ['', /unknown type/],
      ['file', /--export file needs a target: --export file=<path>/],
      ['file=', /needs a target/],
      ['webhook', /--export webhook=<url>/],
      ['webhook=ftp://x', /not an http:\/\/ or https:\/\/ URL/],
      ['webhook=not a url', /not an http/],
      ['otlp=', /needs a URL/],
      ['otlp=localhost:4318', /not an http/],
      ['console=stderr', /console takes no target/],
    ];
    for (const [value, message] of bad) {
      expect(() => exportersFromFlags([value]), value).toThrow(UsageError);
      expect(() => exportersFromFlags([value]), value).toThrow(message);
    }
  });

  it('the specs run in a pipeline (file target)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outflow-cli-export-'));
    try {
      const path = join(dir, 'alerts.jsonl');
      const pipeline = createPipeline({
        receivers: [new MemoryReceiver([flowEvent({ bytes: 5 })])],
        detections: [
          rule({ id: 'r', title: 'R', severity: 'high', kinds: ['network_flow'], match: () => ({ dedupKey: 'k', explanation: { summary: 'hit' } }) }),
        ],
        exporters: exportersFromFlags([`file=${path}`]),
      });
      await pipeline.start();
      await pipeline.done;
      await pipeline.shutdown();
      const lines = readFileSync(path, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] as string).explanation.summary).toBe('hit');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
