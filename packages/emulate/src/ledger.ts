import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processStartTime } from './sys.js';

/**
 * Every name the lab creates starts with this prefix (network namespaces,
 * links, temp directories), so a later run can sweep what a killed run left.
 */
export const NAME_PREFIX = 'ofx-';

/** A process the lab started, with its start time so a reused pid is never killed. */
export interface RecordedProcess {
  pid: number;
  start?: string;
  name: string;
}

/** What one run created: the cleanup is driven by this record. */
export interface RunRecord {
  version: 1;
  runId: string;
  /** The emulation process; while it lives, other runs leave this record alone. */
  owner: { pid: number; start?: string };
  createdAt: string;
  /** Temp directory of the run (files, logs, sockets). */
  dir?: string;
  namespaces: string[];
  links: string[];
  processes: RecordedProcess[];
}

/** A fresh run id: 4 hex digits, so that names stay within Linux's 15-character interface names. */
export function newRunId(): string {
  return randomBytes(2).toString('hex');
}

/** Where run records are kept: `/run/outflow-emulate` when writable (root), else `<tmpdir>/outflow-emulate`. */
export function defaultStateDir(): string {
  const env = process.env.OUTFLOW_EMULATE_STATE_DIR;
  if (env) return env;
  try {
    accessSync('/run', constants.W_OK);
    return '/run/outflow-emulate';
  } catch {
    return join(tmpdir(), 'outflow-emulate');
  }
}

/**
 * The record of one run, written to disk before each thing is created (a
 * namespace, a link, a directory) and right after each process starts, so
 * that a run killed at any point leaves a record that names what to remove.
 */
export class Ledger {
  readonly path: string;
  private readonly record: RunRecord;

  private constructor(
    readonly stateDir: string,
    record: RunRecord,
  ) {
    this.record = record;
    this.path = join(stateDir, `${record.runId}.json`);
  }

  /** Start the record of a new run owned by this process. */
  static create(stateDir: string, runId = newRunId()): Ledger {
    mkdirSync(stateDir, { recursive: true });
    const ledger = new Ledger(stateDir, {
      version: 1,
      runId,
      owner: { pid: process.pid, ...startOf(process.pid) },
      createdAt: new Date().toISOString(),
      namespaces: [],
      links: [],
      processes: [],
    });
    ledger.save();
    return ledger;
  }

  get runId(): string {
    return this.record.runId;
  }

  /** A copy of the record as it is on disk. */
  snapshot(): RunRecord {
    return structuredClone(this.record);
  }

  setDir(dir: string): void {
    this.record.dir = dir;
    this.save();
  }

  addNamespace(name: string): void {
    if (!this.record.namespaces.includes(name)) this.record.namespaces.push(name);
    this.save();
  }

  addLink(name: string): void {
    if (!this.record.links.includes(name)) this.record.links.push(name);
    this.save();
  }

  addProcess(pid: number, name: string): void {
    this.record.processes.push({ pid, name, ...startOf(pid) });
    this.save();
  }

  private save(): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.record, null, 2)}\n`);
    renameSync(tmp, this.path);
  }

  /** Forget the record (after a complete cleanup). */
  remove(): void {
    rmSync(this.path, { force: true });
  }
}

function startOf(pid: number): { start?: string } {
  const start = processStartTime(pid);
  return start === undefined ? {} : { start };
}

/** Every run record in `stateDir`, with unreadable files reported as such. */
export function listRecords(stateDir: string): { path: string; record?: RunRecord; error?: string }[] {
  if (!existsSync(stateDir)) return [];
  const out: { path: string; record?: RunRecord; error?: string }[] = [];
  for (const name of readdirSync(stateDir).sort()) {
    if (!name.endsWith('.json')) continue;
    const path = join(stateDir, name);
    try {
      const record = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
      if (record?.version !== 1 || typeof record.runId !== 'string') throw new Error('not a run record');
      out.push({ path, record });
    } catch (err) {
      out.push({ path, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return out;
}

/** True while the process that owns `record` is running (same pid and start time). */
export function ownerAlive(record: RunRecord): boolean {
  const start = processStartTime(record.owner.pid);
  if (start === undefined) return false;
  return record.owner.start === undefined || record.owner.start === start;
}
