import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Alert, createPipeline, JsonSchemaValidator, rule } from '@outflow/core';
import { alert as buildAlert, createTestContext, exporterConformance, flowEvent, MemoryReceiver } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { afterEach, describe, expect, it } from 'vitest';
import { FileExporter, fileExporter } from '../src/index.js';

const require = createRequire(import.meta.url);
const alertSchema = new JsonSchemaValidator(JSON.parse(readFileSync(require.resolve('@outflow/core/schema/alert.schema.json'), 'utf8')));

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'outflow-file-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const signal = () => new AbortController().signal;
const readLines = (path: string): Alert[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Alert)
    : [];

function create(config: Record<string, unknown>) {
  const ctx = createTestContext({ kind: 'exporter', name: 'file' });
  return { ctx, exporter: new FileExporter(ctx, fileExporter.validate(config)) };
}

describe('file exporter', () => {
  it('appends one schema-valid JSON line per alert, creating the directory, private by default', async () => {
    const path = join(tempDir(), 'nested', 'alerts.jsonl');
    const { exporter } = create({ path });
    const alerts = [buildAlert({ severity: 'high', labels: { environment: 'prod' } }), buildAlert()];
    await exporter.export(alerts, signal());
    await exporter.export([buildAlert()], signal());
    await exporter.shutdown();
    const lines = readLines(path);
    expect(lines.map((a) => a.id)).toEqual([...alerts.map((a) => a.id), lines[2]?.id]);
    expect(lines[0]).toEqual(JSON.parse(JSON.stringify(alerts[0])));
    for (const line of lines) expect(alertSchema.validate(line)).toEqual([]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('rotates by size, keeps maxFiles, and loses no alert across files', async () => {
    const dir = tempDir();
    const path = join(dir, 'alerts.jsonl');
    const { exporter } = create({ path, maxBytes: 4000, maxFiles: 3 });
    const alerts = Array.from({ length: 60 }, (_, i) => buildAlert({ explanation: { summary: `alert number ${i}` } }));
    for (let i = 0; i < alerts.length; i += 7) await exporter.export(alerts.slice(i, i + 7), signal());
    await exporter.shutdown();
    expect(readdirSync(dir).sort()).toEqual(['alerts.jsonl', 'alerts.jsonl.1', 'alerts.jsonl.2', 'alerts.jsonl.3']);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(4000);
    // Oldest first: .3, .2, .1, then the live file; together the newest alerts in order, with a contiguous tail.
    const kept = [`${path}.3`, `${path}.2`, `${path}.1`, path].flatMap(readLines).map((a) => a.explanation.summary);
    expect(kept.length).toBeGreaterThan(20);
    expect(kept).toEqual(alerts.slice(alerts.length - kept.length).map((a) => a.explanation.summary));
    expect(exporter.rotations).toBeGreaterThanOrEqual(4);
  });

  it('keeps everything when rotation is off, and rotates into nothing with maxFiles 0', async () => {
    const dir = tempDir();
    const a = create({ path: join(dir, 'all.jsonl'), maxBytes: 0 });
    const many = Array.from({ length: 50 }, () => buildAlert());
    await a.exporter.export(many, signal());
    await a.exporter.shutdown();
    expect(readLines(join(dir, 'all.jsonl'))).toHaveLength(50);
    const b = create({ path: join(dir, 'one.jsonl'), maxBytes: 2000, maxFiles: 0 });
    await b.exporter.export(many, signal());
    await b.exporter.shutdown();
    expect(readdirSync(dir).sort()).toEqual(['all.jsonl', 'one.jsonl']);
    expect(readLines(join(dir, 'one.jsonl')).map((x) => x.id)).toEqual(many.slice(50 - readLines(join(dir, 'one.jsonl')).length).map((x) => x.id));
  });

  it('fsyncs every batch only when asked', async () => {
    const dir = tempDir();
    const synced = create({ path: join(dir, 's.jsonl'), fsync: true });
    const plain = create({ path: join(dir, 'p.jsonl') });
    for (let i = 0; i < 3; i++) {
      await synced.exporter.export([buildAlert()], signal());
      await plain.exporter.export([buildAlert()], signal());
    }
    expect(synced.exporter.syncs).toBe(3);
    expect(plain.exporter.syncs).toBe(0);
    await synced.exporter.shutdown();
    await plain.exporter.shutdown();
  });

  it('appends after a restart, and does not write a retried batch twice', async () => {
    const path = join(tempDir(), 'alerts.jsonl');
    const first = create({ path });
    const a = buildAlert();
    await first.exporter.export([a], signal());
    await first.exporter.export([a], signal()); // a retry of a batch that was in fact written
    await first.exporter.shutdown();
    const second = create({ path });
    const b = buildAlert();
    await second.exporter.export([b], signal());
    await second.exporter.shutdown();
    expect(readLines(path).map((x) => x.id)).toEqual([a.id, b.id]);
  });

  it('a path it cannot write is a permanent error; a malformed alert is dead-lettered', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), 'x');
    const blocked = create({ path: join(dir, 'file', 'alerts.jsonl') });
    await expect(blocked.exporter.export([buildAlert()], signal())).rejects.toMatchObject({ name: 'PermanentError' });
    const readOnly = join(dir, 'ro');
    mkdirSync(readOnly);
    chmodSync(readOnly, 0o500);
    if (process.getuid?.() !== 0) {
      const denied = create({ path: join(readOnly, 'alerts.jsonl') });
      await expect(denied.exporter.export([buildAlert()], signal())).rejects.toMatchObject({
        name: 'PermanentError',
        message: expect.stringContaining('EACCES'),
      });
    }
    const ok = create({ path: join(dir, 'ok.jsonl') });
    const bad = { ...buildAlert(), detection: undefined } as unknown as Alert;
    const good = buildAlert();
    await ok.exporter.export([bad, good], signal());
    await ok.exporter.shutdown();
    expect(readLines(join(dir, 'ok.jsonl')).map((x) => x.id)).toEqual([good.id]);
    expect(ok.ctx.deadLetters.map((d) => d.reason)).toEqual(['invalid_alert']);
  });

  it('validates its config with paths', () => {
    expect(() => fileExporter.validate({ maxBytes: -1, fsync: 'yes' }, 'exporters[1]')).toThrow(
      /exporters\[1\]\.path[\s\S]*exporters\[1\]\.maxBytes[\s\S]*exporters\[1\]\.fsync/,
    );
    expect(fileExporter.validate({ path: '/x' })).toMatchObject({ path: '/x', maxBytes: 104857600, maxFiles: 5, fsync: false, fileMode: 0o600 });
  });

  it('writes the alerts of a pipeline run', async () => {
    const path = join(tempDir(), 'alerts.jsonl');
    const events = Array.from({ length: 20 }, (_, i) => flowEvent({ bytes: i, sourceId: `f${i}` }));
    const pipeline = createPipeline({
      receivers: [new MemoryReceiver(events)],
      detections: [
        rule({
          id: 'r',
          title: 'R',
          severity: 'medium',
          kinds: ['network_flow'],
          match: (e) => (e.bytes !== undefined && e.bytes % 2 === 0 ? { dedupKey: String(e.bytes), explanation: { summary: `even ${e.bytes}` } } : undefined),
        }),
      ],
      exporters: [fileExporter({ path, fsync: true, labels: { cluster: 'c1' } })],
      labels: { environment: 'test' },
    });
    await pipeline.start();
    await pipeline.done;
    await pipeline.shutdown();
    const lines = readLines(path);
    expect(lines.map((a) => a.explanation.summary)).toEqual(Array.from({ length: 10 }, (_, i) => `even ${i * 2}`));
    expect(lines.every((a) => a.labels?.cluster === 'c1' && a.labels?.environment === 'test')).toBe(true);
    for (const line of lines) expect(alertSchema.validate(line)).toEqual([]);
  });
});

defineConformanceTests(
  'file exporter conformance',
  exporterConformance({
    factory: fileExporter,
    defaultConfigRequiresInput: true,
    async setup(env) {
      const path = join(env.dir, 'alerts.jsonl');
      return { config: { path }, received: async () => readLines(path).map((a) => a.id) };
    },
  }),
);
