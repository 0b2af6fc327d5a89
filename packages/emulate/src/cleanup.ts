import { existsSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listRecords, NAME_PREFIX, ownerAlive, type RunRecord } from './ledger.js';
import { ip, processAlive, processCommandLine, processStartTime, run, sleep } from './sys.js';

/** What a cleanup removed, and what it could not. */
export interface CleanupReport {
  namespaces: string[];
  links: string[];
  processes: number[];
  dirs: string[];
  records: string[];
  failures: string[];
}

export function emptyCleanupReport(): CleanupReport {
  return { namespaces: [], links: [], processes: [], dirs: [], records: [], failures: [] };
}

function merge(into: CleanupReport, from: CleanupReport): CleanupReport {
  into.namespaces.push(...from.namespaces);
  into.links.push(...from.links);
  into.processes.push(...from.processes);
  into.dirs.push(...from.dirs);
  into.records.push(...from.records);
  into.failures.push(...from.failures);
  return into;
}

/** Marker file in every run directory, so the prefix sweep only removes directories the lab made. */
export const RUN_DIR_MARKER = '.outflow-emulate';

/** The lab's network namespaces (`ip netns list`) whose names start with the prefix. */
export async function labNamespaces(): Promise<string[]> {
  const r = await ip(['netns', 'list'], { allowFailure: true });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(NAME_PREFIX));
}

/** The lab's links in the root namespace whose names start with the prefix. */
export async function labLinks(): Promise<string[]> {
  const r = await ip(['-o', 'link', 'show'], { allowFailure: true });
  const out: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m?.[1]?.startsWith(NAME_PREFIX)) out.push(m[1]);
  }
  return out;
}

/** softflowd processes capturing on a lab interface (`-i ofx-...`), by pid. */
export function labSoftflowds(): { pid: number; iface: string }[] {
  const out: { pid: number; iface: string }[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const cmd = processCommandLine(pid);
    if (!cmd || !/(^|\/)softflowd /.test(cmd)) continue;
    const m = /(?:^| )-i (\S+)/.exec(cmd);
    if (m?.[1]?.startsWith(NAME_PREFIX)) out.push({ pid, iface: m[1] });
  }
  return out;
}

/** Send SIGTERM, wait up to `graceMs` for the processes to go, then SIGKILL what is left. */
async function killAll(procs: { pid: number; start?: string }[], graceMs: number): Promise<number[]> {
  const alive = procs.filter((p) => processAlive(p.pid, p.start));
  for (const p of alive) {
    try {
      process.kill(p.pid, 'SIGTERM');
    } catch {}
  }
  const deadline = Date.now() + graceMs;
  while (alive.some((p) => processAlive(p.pid, p.start)) && Date.now() < deadline) await sleep(25);
  for (const p of alive) {
    if (!processAlive(p.pid, p.start)) continue;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {}
  }
  // SIGKILL is delivered at once, but the process may take a moment to exit
  const reapDeadline = Date.now() + 2_000;
  while (alive.some((p) => processAlive(p.pid, p.start)) && Date.now() < reapDeadline) await sleep(10);
  return alive.map((p) => p.pid);
}

/** Kill every process inside a network namespace, then delete it. Missing namespaces are fine. */
async function removeNamespace(name: string, report: CleanupReport): Promise<void> {
  const existing = await labNamespacesOrAll();
  if (!existing.includes(name)) return;
  const pids = await ip(['netns', 'pids', name], { allowFailure: true });
  const procs = pids.stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0)
    .map((pid) => ({ pid, ...startOf(pid) }));
  report.processes.push(...(await killAll(procs, 300)));
  const del = await ip(['netns', 'del', name], { allowFailure: true });
  if (del.code === 0) report.namespaces.push(name);
  else report.failures.push(`ip netns del ${name}: ${del.stderr.trim()}`);
}

async function labNamespacesOrAll(): Promise<string[]> {
  const r = await ip(['netns', 'list'], { allowFailure: true });
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '');
}

function startOf(pid: number): { start?: string } {
  const start = processStartTime(pid);
  return start === undefined ? {} : { start };
}

async function removeLink(name: string, report: CleanupReport): Promise<void> {
  const show = await ip(['link', 'show', 'dev', name], { allowFailure: true });
  if (show.code !== 0) return; // gone (a veth goes with its peer's namespace)
  const del = await ip(['link', 'del', 'dev', name], { allowFailure: true });
  if (del.code === 0) report.links.push(name);
  // a veth also goes when its peer's namespace is destroyed, which the kernel finishes asynchronously
  else if ((await ip(['link', 'show', 'dev', name], { allowFailure: true })).code !== 0) return;
  else report.failures.push(`ip link del ${name}: ${del.stderr.trim()}`);
}

function removeDir(dir: string, report: CleanupReport): void {
  if (!existsSync(dir)) return;
  try {
    rmSync(dir, { recursive: true, force: true });
    report.dirs.push(dir);
  } catch (err) {
    report.failures.push(`rm -r ${dir}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Remove everything a run record names: its processes (SIGTERM, then SIGKILL),
 * its links (deleting a veth deletes its peer in the namespace at once; the
 * bridge goes last), every process left in its namespaces and the
 * namespaces, its directory. Idempotent: what is already gone is skipped.
 */
export async function teardown(record: RunRecord): Promise<CleanupReport> {
  const report = emptyCleanupReport();
  report.processes.push(...(await killAll(record.processes, 1_000)));
  for (const link of [...record.links].reverse()) await removeLink(link, report);
  for (const ns of record.namespaces) await removeNamespace(ns, report);
  if (record.dir) removeDir(record.dir, report);
  return report;
}

export interface SweepOptions {
  /** Run ids to leave alone besides those whose owner is alive (the current run). */
  keepRunIds?: readonly string[];
  /** Also remove runs whose owner is alive (`--cleanup --force`). Default false. */
  includeLive?: boolean;
}

/**
 * Remove what earlier runs left behind: first every run record whose owner
 * is gone (or every record with `includeLive`), then anything named with the
 * lab prefix that no live run claims: namespaces (and the processes in
 * them), links, softflowd processes capturing on a lab interface, and marked
 * run directories under the temp directory.
 */
export async function sweep(stateDir: string, options: SweepOptions = {}): Promise<CleanupReport> {
  const report = emptyCleanupReport();
  const keep = new Set(options.keepRunIds ?? []);
  const live: RunRecord[] = [];
  for (const entry of listRecords(stateDir)) {
    if (!entry.record) {
      rmSync(entry.path, { force: true });
      report.records.push(entry.path);
      continue;
    }
    const record = entry.record;
    if (keep.has(record.runId) || (!options.includeLive && ownerAlive(record))) {
      live.push(record);
      continue;
    }
    merge(report, await teardown(record));
    rmSync(entry.path, { force: true });
    report.records.push(entry.path);
  }
  const claimedNs = new Set(live.flatMap((r) => r.namespaces));
  const claimedLinks = new Set(live.flatMap((r) => r.links));
  const liveRunIds = new Set(live.map((r) => r.runId));
  const ownedByLiveRun = (name: string) => [...liveRunIds].some((id) => name.startsWith(`${NAME_PREFIX}${id}`));

  const strayDaemons = labSoftflowds().filter((s) => !claimedLinks.has(s.iface) && !ownedByLiveRun(s.iface));
  report.processes.push(
    ...(await killAll(
      strayDaemons.map((s) => ({ pid: s.pid, ...startOf(s.pid) })),
      1_000,
    )),
  );
  for (const link of await labLinks()) if (!claimedLinks.has(link) && !ownedByLiveRun(link)) await removeLink(link, report);
  for (const ns of await labNamespaces()) if (!claimedNs.has(ns) && !ownedByLiveRun(ns)) await removeNamespace(ns, report);
  const tmp = tmpdir();
  for (const name of existsSync(tmp) ? readdirSync(tmp) : []) {
    if (!name.startsWith(NAME_PREFIX) || ownedByLiveRun(name)) continue;
    const dir = join(tmp, name);
    if (existsSync(join(dir, RUN_DIR_MARKER))) removeDir(dir, report);
  }
  return report;
}

/** What of the lab is left on this machine: namespaces, links and softflowd processes with the prefix. */
export async function leftovers(runId?: string): Promise<{ namespaces: string[]; links: string[]; processes: number[] }> {
  const match = (name: string) => (runId ? name.startsWith(`${NAME_PREFIX}${runId}`) : true);
  return {
    namespaces: (await labNamespaces()).filter(match),
    links: (await labLinks()).filter(match),
    processes: labSoftflowds()
      .filter((s) => match(s.iface))
      .map((s) => s.pid),
  };
}

/** `true` when the `ip` tool works (for callers that want a clear message before cleaning). */
export async function ipAvailable(): Promise<boolean> {
  const r = await run('ip', ['-V'], { allowFailure: true });
  return r.code === 0;
}
