import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RUN_DIR_MARKER, sweep, teardown } from '../src/cleanup.js';
import { Ledger, listRecords, ownerAlive, type RunRecord } from '../src/ledger.js';

const base = mkdtempSync(join(tmpdir(), 'outflow-emulate-ledger-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** A pid that existed and is gone. */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

describe('the run ledger', () => {
  it('is on disk after every addition, before the thing it names is created', () => {
    const stateDir = join(base, 'state-1');
    const ledger = Ledger.create(stateDir, 'a1b2');
    const onDisk = () => JSON.parse(readFileSync(ledger.path, 'utf8')) as RunRecord;
    expect(onDisk()).toMatchObject({ version: 1, runId: 'a1b2', owner: { pid: process.pid }, namespaces: [], links: [] });
    ledger.addNamespace('ofx-a1b2-web');
    expect(onDisk().namespaces).toEqual(['ofx-a1b2-web']);
    ledger.addLink('ofx-a1b2-br');
    ledger.addLink('ofx-a1b2-br');
    expect(onDisk().links).toEqual(['ofx-a1b2-br']);
    ledger.addProcess(process.pid, 'root:self');
    expect(onDisk().processes[0]).toMatchObject({ pid: process.pid, name: 'root:self' });
    expect(onDisk().processes[0]?.start).toMatch(/^\d+$/);
    expect(listRecords(stateDir).map((r) => r.record?.runId)).toEqual(['a1b2']);
    expect(ownerAlive(onDisk())).toBe(true);
    ledger.remove();
    expect(existsSync(ledger.path)).toBe(false);
  });

  it('knows a record whose owner is gone, or whose pid was reused', () => {
    const record: RunRecord = { version: 1, runId: 'dead', owner: { pid: deadPid() }, createdAt: '', namespaces: [], links: [], processes: [] };
    expect(ownerAlive(record)).toBe(false);
    expect(ownerAlive({ ...record, owner: { pid: process.pid, start: '1' } })).toBe(false);
  });
});

describe('cleanup driven by records', () => {
  it('teardown removes the run directory and is idempotent', async () => {
    const dir = join(base, 'ofx-run-dir');
    mkdirSync(join(dir, 'pods'), { recursive: true });
    const record: RunRecord = { version: 1, runId: 'c3d4', owner: { pid: deadPid() }, createdAt: '', dir, namespaces: [], links: [], processes: [] };
    const first = await teardown(record);
    expect(first.dirs).toEqual([dir]);
    expect(existsSync(dir)).toBe(false);
    const second = await teardown(record);
    expect(second).toMatchObject({ dirs: [], namespaces: [], links: [], processes: [], failures: [] });
  });

  it('sweep removes the records of dead runs and their files, and leaves live runs alone', async () => {
    const stateDir = join(base, 'state-2');
    mkdirSync(stateDir, { recursive: true });
    const deadDir = join(base, 'dead-run');
    mkdirSync(deadDir);
    writeFileSync(join(deadDir, RUN_DIR_MARKER), 'e5f6\n');
    const dead: RunRecord = { version: 1, runId: 'e5f6', owner: { pid: deadPid() }, createdAt: '', dir: deadDir, namespaces: [], links: [], processes: [] };
    writeFileSync(join(stateDir, 'e5f6.json'), JSON.stringify(dead));
    writeFileSync(join(stateDir, 'junk.json'), '{ not json');
    const live = Ledger.create(stateDir, 'f7a8');
    const liveDir = join(base, 'live-run');
    mkdirSync(liveDir);
    live.setDir(liveDir);

    const report = await sweep(stateDir);
    expect(report.records.sort()).toEqual([join(stateDir, 'e5f6.json'), join(stateDir, 'junk.json')].sort());
    expect(report.dirs).toContain(deadDir);
    expect(existsSync(deadDir)).toBe(false);
    expect(existsSync(liveDir)).toBe(true);
    expect(listRecords(stateDir).map((r) => r.record?.runId)).toEqual(['f7a8']);

    // --cleanup --force takes live runs too
    const forced = await sweep(stateDir, { includeLive: true });
    expect(forced.dirs).toContain(liveDir);
    expect(listRecords(stateDir)).toEqual([]);
  });
});
