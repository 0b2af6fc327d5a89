import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { DEFAULT_PREFIX, serverMappingConfig } from './keys.js';

/** Path of the `nats-server` binary: `$NATS_SERVER_BIN`, else the first on PATH (and /usr/sbin), else undefined. */
export function findNatsServer(): string | undefined {
  const candidates = [
    process.env.NATS_SERVER_BIN,
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'nats-server')),
    '/usr/sbin/nats-server',
    '/usr/bin/nats-server',
  ];
  for (const c of candidates) {
    if (!c) continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

export interface LocalNatsServerOptions {
  /** Partitions of the `<prefix>.keyed.*` → `<prefix>.events.{{partition(N,1)}}` mapping. Default 12. */
  partitions?: number;
  prefix?: string;
  /** JetStream store directory; default a fresh temporary directory, removed by `stop()`. */
  storeDir?: string;
  /** Port on 127.0.0.1; default a random free one. */
  port?: number;
  /** Binary; default `findNatsServer()`. */
  bin?: string;
  /** How long to wait for the server to be ready, ms. Default 10 000. */
  timeoutMs?: number;
}

export interface LocalNatsServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly storeDir: string;
  readonly configPath: string;
  /** Stop the server (SIGTERM, then SIGKILL after 5 s) and remove the temporary directories it created. */
  stop(): Promise<void>;
}

/**
 * Start a JetStream-enabled nats-server on 127.0.0.1 with Outflow's partition
 * mapping, for tests, demos and local development. Never listens beyond
 * loopback. Throws when the binary is missing (check `findNatsServer()` first).
 */
export async function startNatsServer(options: LocalNatsServerOptions = {}): Promise<LocalNatsServer> {
  const bin = options.bin ?? findNatsServer();
  if (!bin) throw new Error('nats-server is not installed (apt-get install nats-server, or set NATS_SERVER_BIN)');
  const work = mkdtempSync(join(tmpdir(), 'outflow-nats-'));
  const storeDir = options.storeDir ?? join(work, 'store');
  mkdirSync(storeDir, { recursive: true });
  const configPath = join(work, 'nats-server.conf');
  writeFileSync(
    configPath,
    [
      `listen: "127.0.0.1:${options.port ?? -1}"`,
      'max_payload: 1048576',
      `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
      serverMappingConfig(options.partitions ?? 12, options.prefix ?? DEFAULT_PREFIX),
    ].join('\n'),
  );
  const child: ChildProcess = spawn(bin, ['-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nats-server did not become ready in ${options.timeoutMs ?? 10_000} ms:\n${log}`));
    }, options.timeoutMs ?? 10_000);
    let found: number | undefined;
    const onData = (chunk: Buffer) => {
      log += chunk.toString('utf8');
      const m = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
      if (m) found = Number(m[1]);
      if (found !== undefined && /Server is ready/.test(log)) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${code}:\n${log}`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  // Keep draining its output so the pipe never fills.
  child.stdout?.resume();
  child.stderr?.resume();
  let stopping: Promise<void> | undefined;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    pid: child.pid as number,
    storeDir,
    configPath,
    stop: () => {
      stopping ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }).then(() => rmSync(work, { recursive: true, force: true }));
      return stopping;
    },
  };
}
