import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MemoryDeadLetter } from '@outflow/core';
import { MemoryExporter } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { examplePipeline } from '../src/pipeline.js';

const data = fileURLToPath(new URL('../data/events.jsonl', import.meta.url));

describe('jsonl-to-console example', () => {
  it('raises one alert for the large external transfer and none for internal traffic', async () => {
    const exporter = new MemoryExporter();
    const pipeline = examplePipeline(data, { exporter });
    await pipeline.start();
    await pipeline.done;
    await pipeline.shutdown();
    expect(exporter.alerts.map((a) => a.dedupKey)).toEqual(['debug-tools-5d8f9->203.0.113.66']);
    expect(exporter.alerts[0]?.evidence).toEqual([{ source: 'example', id: 'flow-3', time: Date.parse('2024-03-04T10:01:00Z') }]);
    // the malformed last line is counted, not fatal
    expect(pipeline.telemetry.total('errors')).toBe(1);
    expect(pipeline.deadLetter).toBeInstanceOf(MemoryDeadLetter);
    expect((pipeline.deadLetter as MemoryDeadLetter).entries()[0]?.reason).toBe('missing_field');
  });

  it('prints the alert on the console when run as a program', () => {
    const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
    if (!existsSync(main)) throw new Error('build the example first (npm test builds it)');
    const out = execFileSync(process.execPath, [main, data], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toMatch(/Large transfer to an external address/);
    expect(out).toMatch(/203\.0\.113\.66/);
    expect(out.includes('\u001b[')).toBe(false); // no colour when not a TTY
  });
});
