import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Result of a finished command. */
export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A command that exited non-zero (or could not start). */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: readonly string[],
    readonly result: CommandResult,
  ) {
    super(`${command.join(' ')} failed (${result.signal ?? `exit ${result.code}`}): ${(result.stderr || result.stdout).trim().slice(0, 500)}`);
  }
}

export interface RunOptions {
  /** Written to stdin, then stdin is closed. */
  input?: string | Buffer;
  /** Kill the command (SIGKILL) after this long. Default 30 s. */
  timeoutMs?: number;
  /** Resolve with the result instead of rejecting on a non-zero exit. */
  allowFailure?: boolean;
  signal?: AbortSignal;
}

/** Run a command to completion and collect its output. Never goes through a shell. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let settled = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    const onAbort = () => child.kill('SIGKILL');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < 1 << 20) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 1 << 20) stderr += d;
    });
    child.stdin.on('error', () => {});
    child.once('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const result = { code: null, signal: null, stdout, stderr: `${stderr}${err.message}` };
      if (options.allowFailure) resolve(result);
      else reject(new CommandError([command, ...args], result));
    });
    child.once('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const result = { code, signal, stdout, stderr };
      if (code === 0 || options.allowFailure) resolve(result);
      else reject(new CommandError([command, ...args], result));
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** `ip <args>`; rejects with the command and its stderr on failure. */
export function ip(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  return run('ip', args, options);
}

/** True when `command` can be started (it is on PATH). */
export function hasCommand(command: string, probeArgs: readonly string[] = ['-h']): boolean {
  const r = spawnSync(command, probeArgs, { stdio: 'ignore', timeout: 5_000 });
  return !(r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT');
}

/** Process start time (clock ticks since boot, field 22 of /proc/<pid>/stat), to tell a pid from a reused one. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may contain spaces: split after the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

/** The command line of a process, arguments joined by spaces; undefined when it is gone. */
export function processCommandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return undefined;
  }
}

/** Process state letter (field 3 of /proc/<pid>/stat: R, S, D, Z, ...), undefined when it is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** True when `pid` runs (a zombie does not) and, if `start` is given, is the same process (same start time). */
export function processAlive(pid: number, start?: string): boolean {
  const now = processStartTime(pid);
  if (now === undefined) return false;
  if (start !== undefined && now !== start) return false;
  const state = processState(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** The error an aborted emulation ends with. */
export class EmulationAborted extends Error {
  override readonly name = 'EmulationAborted';
}

export function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  return new EmulationAborted(reason instanceof Error ? reason.message : reason !== undefined ? String(reason) : 'aborted');
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}
