import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labNamespaces, leftovers } from '../src/cleanup.js';
import { ip, processAlive } from '../src/sys.js';
import { BIN, ensureBuilt, namespaceId, processNetns, skipReason } from './helpers.js';

// `outflow emulate` in a child process, killed midway: with SIGINT it removes its lab itself; with SIGKILL it
// cannot, and `outflow emulate --cleanup` must remove what its record (and the ofx- prefix) names.

const stateDir = mkdtempSync(join(tmpdir(), 'outflow-emulate-kill-'));
const env = { ...process.env, OUTFLOW_EMULATE_STATE_DIR: stateDir };
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

interface Running {
  child: ChildProcess;
  runId: string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start a run and wait until its lab is up and traffic flows (the warm-up has begun). */
async function startRun(): Promise<Running> {
  const child = spawn(process.execPath, [BIN, '--scenario', 'archive_nc', '--warmup', '120'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + 30_000;
  while (!/emulate: warm-up/.test(stderr) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const m = /emulate: lab ([0-9a-f]{4}):/.exec(stderr);
  if (!m || !/emulate: warm-up/.test(stderr)) {
    child.kill('SIGKILL');
    throw new Error(`the run did not come up: ${stderr}`);
  }
  return { child, runId: m[1] as string, stderr: () => stderr, exit };
}

/** What of the run exists now: namespaces (with their identities), links, softflowd, processes inside its namespaces. */
async function inventory(runId: string) {
  const left = await leftovers(runId);
  const ids = left.namespaces.map(namespaceId).filter((x): x is string => x !== undefined);
  const inside = [...processNetns()].filter(([, ns]) => ids.includes(ns)).map(([pid]) => pid);
  return { ...left, ids, inside };
}

describe.skipIf(skipReason)('outflow emulate killed midway', () => {
  beforeAll(() => ensureBuilt(), 120_000);

  it('SIGINT: the run removes its namespaces, links, processes and files, and exits 130', { timeout: 90_000 }, async () => {
    const run = await startRun();
    const before = await inventory(run.runId);
    // the lab is really there: 13 namespaces (switch, pods, external, storage, S3, API server, probe), the bridge in
    // the switch, softflowd, servers; and nothing of it in the root namespace's links
    expect(before.namespaces).toContain(`ofx-${run.runId}-sw`);
    expect(before.namespaces.length).toBeGreaterThanOrEqual(12);
    expect((await ip(['-n', `ofx-${run.runId}-sw`, 'link', 'show', 'dev', `ofx-${run.runId}-br`], { allowFailure: true })).code).toBe(0);
    expect(before.links).toEqual([]);
    expect(before.processes.length).toBe(1);
    expect(before.inside.length).toBeGreaterThan(5);
    expect(existsSync(join(tmpdir(), `ofx-${run.runId}`))).toBe(true);

    run.child.kill('SIGINT');
    const { code } = await run.exit;
    expect(code, run.stderr()).toBe(130);
    expect(run.stderr()).toMatch(/interrupted .*the lab was removed/);
    const after = await inventory(run.runId);
    expect(after).toMatchObject({ namespaces: [], links: [], processes: [], inside: [] });
    // nothing still runs in the namespaces the lab had (a deleted namespace lives on while a process holds it)
    expect([...processNetns()].filter(([, ns]) => before.ids.includes(ns))).toEqual([]);
    for (const pid of [...before.inside, ...before.processes]) expect(processAlive(pid), `pid ${pid}`).toBe(false);
    expect(existsSync(join(tmpdir(), `ofx-${run.runId}`))).toBe(false);
    expect(readdirSync(stateDir).filter((f) => f.startsWith(run.runId))).toEqual([]);
  });

  it('SIGKILL: the lab outlives the run; `outflow emulate --cleanup` removes all of it', { timeout: 90_000 }, async () => {
    const run = await startRun();
    const before = await inventory(run.runId);
    expect(before.namespaces.length).toBeGreaterThanOrEqual(12);
    run.child.kill('SIGKILL');
    await run.exit;
    await new Promise((r) => setTimeout(r, 300));
    // nobody cleaned: namespaces, softflowd and the processes inside are still there, and so is the record
    const orphaned = await inventory(run.runId);
    expect(orphaned.namespaces.sort()).toEqual(before.namespaces.sort());
    expect(orphaned.processes.length).toBe(1);
    expect(orphaned.inside.length).toBeGreaterThan(5);
    expect(readdirSync(stateDir)).toContain(`${run.runId}.json`);

    const cleanup = spawn(process.execPath, [BIN, '--cleanup'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cleanup.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => cleanup.once('exit', (c) => resolve(c)));
    expect(code, out).toBe(0);
    expect(out).toMatch(new RegExp(`removed ${before.namespaces.length} namespaces`));
    const after = await inventory(run.runId);
    expect(after).toMatchObject({ namespaces: [], links: [], processes: [], inside: [] });
    expect([...processNetns()].filter(([, ns]) => before.ids.includes(ns))).toEqual([]);
    expect((await labNamespaces()).filter((n) => n.startsWith(`ofx-${run.runId}`))).toEqual([]);
    expect(existsSync(join(tmpdir(), `ofx-${run.runId}`))).toBe(false);
    expect(readdirSync(stateDir)).toEqual([]);
  });
});
