import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@outflow/core';
import { createTestContext, createTestHost, receiverConformance } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { afterEach, describe, expect, it } from 'vitest';
import { type TetragonReceiver, tetragon } from '../src/index.js';

const testdata = join(import.meta.dirname, '..', 'testdata');
const examples = readFileSync(join(testdata, 'examples.jsonl'), 'utf8').trimEnd().split('\n');
const EXEC = examples[2] as string;

defineConformanceTests(
  'tetragon receiver',
  receiverConformance({
    factory: tetragon,
    defaultConfigRequiresInput: true,
    config: (env) => ({ file: { paths: [env.dir], follow: true, pollIntervalMs: 20 } }),
    sendValid: async (env) => appendFileSync(join(env.dir, 'tetragon.log'), `${EXEC}\n`),
    sendInvalid: async (env) => appendFileSync(join(env.dir, 'tetragon.log'), '{"process_exec": \n'),
  }),
);

describe('tetragon receiver over files', () => {
  const dirs: string[] = [];
  const running: TetragonReceiver[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.shutdown()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'tetragon-'));
    dirs.push(d);
    return d;
  };
  async function start(config: unknown) {
    const ctx = createTestContext({ name: 'tetragon' });
    const receiver = tetragon.create(ctx, tetragon.validate(config)) as TetragonReceiver;
    running.push(receiver);
    const host = createTestHost({ ctx });
    await receiver.start(host);
    return { host, receiver };
  }

  it('reads an export file once, counts skipped records as dropped, dead-letters bad lines, and completes', async () => {
    const dir = tempDir();
    const path = join(dir, 'tetragon.log');
    writeFileSync(path, readFileSync(join(testdata, 'kprobes.jsonl')));
    const { host } = await start({ file: { paths: [path] } });
    await host.waitForComplete();
    expect(host.events.map((e) => e.kind)).toEqual([...new Array(6).fill('network_flow'), ...new Array(6).fill('file_access'), 'process_exec']);
    expect(host.telemetry.total('dropped', { reason: 'unsupported_kprobe' })).toBe(1);
    expect(host.telemetry.total('dropped', { reason: 'unsupported_event' })).toBe(1);
    expect(host.deadLetters).toHaveLength(10);
    expect(host.deadLetters[0]).toMatchObject({ reason: 'invalid_json', location: `${path}:16`, stage: 'decode' });
    expect(host.events[0]?.location).toBe(`${path}:1`);
  });

  it('tails a growing file and resumes from its checkpoint after a restart', async () => {
    const dir = tempDir();
    const path = join(dir, 'tetragon.log');
    const checkpoint = join(dir, 'checkpoint.json');
    writeFileSync(path, `${examples.slice(0, 3).join('\n')}\n`);
    const config = { file: { paths: [path], follow: true, pollIntervalMs: 20, checkpoint: { path: checkpoint, intervalMs: 20 } } };
    const first = await start(config);
    await first.host.waitForEvents(3);
    appendFileSync(path, `${examples[3]}\n`);
    await first.host.waitForEvents(4);
    await first.receiver.shutdown();
    appendFileSync(path, `${examples.slice(6, 9).join('\n')}\n`);
    const second = await start(config);
    await second.host.waitForEvents(3);
    await new Promise((r) => setTimeout(r, 100));
    // only the lines appended while stopped: no replay of the first four
    expect(second.host.events.map((e) => e.location)).toEqual([`${path}:5`, `${path}:6`, `${path}:7`]);
  });

  it('requires a file source and reports config problems with paths', () => {
    expect(() => tetragon.validate({})).toThrow(ConfigError);
    let error: unknown;
    try {
      tetragon.validate({ file: { paths: [], follow: 'yes' } }, 'receivers[1]');
    } catch (err) {
      error = err;
    }
    expect((error as ConfigError).issues.map((i) => i.path).sort()).toEqual(['receivers[1].file.follow', 'receivers[1].file.paths']);
  });
});
