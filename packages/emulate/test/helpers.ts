import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unavailableReason } from '../src/runner.js';

/** Why the lab tests cannot run here (not Linux, not root, a program missing), or undefined. */
export const skipReason = unavailableReason();
if (skipReason) console.warn(`@outflow/emulate: lab tests skipped: outflow emulate ${skipReason}`);

export const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = join(PACKAGE_DIR, 'bin', 'outflow-emulate.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * The child-process tests start `bin/outflow-emulate.js`, which runs the built `dist/`. CI builds before
 * testing; locally, a missing or stale build is rebuilt here.
 */
export function ensureBuilt(): void {
  const dist = join(PACKAGE_DIR, 'dist', 'index.js');
  if (existsSync(dist) && statSync(dist).mtimeMs >= newestMtime(join(PACKAGE_DIR, 'src'))) return;
  const r = spawnSync(process.execPath, [join(PACKAGE_DIR, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
    cwd: PACKAGE_DIR,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`building @outflow/emulate failed: ${r.stdout}${r.stderr}`);
}

/** Network namespace inode (`net:[N]`) of every process now, by pid. */
export function processNetns(): Map<number, string> {
  const out = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      out.set(Number(entry), readlinkSync(`/proc/${entry}/ns/net`));
    } catch {}
  }
  return out;
}

/** The `net:[N]` identity of a named network namespace. */
export function namespaceId(name: string): string | undefined {
  try {
    return `net:[${statSync(`/run/netns/${name}`).ino}]`;
  } catch {
    return undefined;
  }
}
