import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** A line a child process printed (JSON), tagged with who printed it. */
export interface ChildEvent {
  instance: string;
  type: string;
  at: number;
  partition?: number;
  restored?: boolean;
  position?: number;
  [key: string]: unknown;
}

/** A demo process (detector or exporter) and what it has said so far. */
export class Child {
  readonly process: ChildProcess;
  readonly events: ChildEvent[] = [];
  stderr = '';
  exited: Promise<number | null>;
  private listeners = new Set<(e: ChildEvent) => void>();

  constructor(
    readonly name: string,
    script: string,
    args: string[],
  ) {
    const path = fileURLToPath(new URL(script, import.meta.url));
    // OUTFLOW_CHILD_NODE_ARGS: extra node flags for the children (profiling: `--cpu-prof --cpu-prof-dir=/tmp/prof`).
    const nodeArgs = process.env.OUTFLOW_CHILD_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    this.process = spawn(process.execPath, [...nodeArgs, path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.process.once('exit', (code) => resolve(code)));
    createInterface({ input: this.process.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let e: ChildEvent;
      try {
        e = JSON.parse(line) as ChildEvent;
      } catch {
        return;
      }
      this.events.push(e);
      for (const l of this.listeners) l(e);
    });
    this.process.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-20_000);
    });
  }

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  on(listener: (e: ChildEvent) => void): void {
    this.listeners.add(listener);
  }

  /** Ask it to stop (SIGTERM); SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.alive) return;
    const kill = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    this.process.kill('SIGTERM');
    await this.exited;
    clearTimeout(kill);
  }

  /** Crash it: SIGKILL, no shutdown, no checkpoint, no lease release. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.process.kill('SIGKILL');
    await this.exited;
  }
}

export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, children: Child[] = []): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) {
      const logs = children.map((c) => `--- ${c.name} stderr ---\n${c.stderr}`).join('\n');
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Which partitions each live detector runs now, from what the detectors printed. */
export function ownership(detectors: Child[]): Map<number, string> {
  const owner = new Map<number, string>();
  const all = detectors.flatMap((d) => d.events.map((e) => ({ d, e }))).sort((a, b) => a.e.at - b.e.at);
  for (const { d, e } of all) {
    if (e.partition === undefined) continue;
    if (e.type === 'started') owner.set(e.partition, d.name);
    else if (e.type === 'stopped' && owner.get(e.partition) === d.name) owner.delete(e.partition);
  }
  for (const d of detectors) if (!d.alive) for (const [p, o] of owner) if (o === d.name) owner.delete(p);
  return owner;
}
